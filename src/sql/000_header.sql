-- bar9 1.0 install script, assembled by the Makefile from src/sql/*.sql
-- (one file per concern, in the order of their numeric prefixes).

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION bar9" to load this file. \quit
