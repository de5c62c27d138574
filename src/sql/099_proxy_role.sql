
-- ---------------------------------------------------------------------------
-- The roles of the programs around bar9: the HTTP proxy (proxy/,
-- docs/proxy.md) may EXECUTE bar9.api and nothing else; a sender, the
-- sender functions and nothing else.
--
-- This file comes last in the script on purpose: the REVOKE below must see
-- every function the other files created.
-- ---------------------------------------------------------------------------

-- A group role (NOLOGIN): `make up` and the tests create a LOGIN role that
-- is a member of it.  Roles belong to the cluster, not to the extension, so
-- it may exist already (another database, or a re-created extension).
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'bar9_api') THEN
		CREATE ROLE bar9_api NOLOGIN;
	END IF;
END
$$;

-- PostgreSQL lets PUBLIC execute every new function.  None of bar9's stays
-- that way: a role with USAGE on the schema (bar9_api has it, to reach
-- bar9.api) could otherwise call every SECURITY DEFINER function.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM PUBLIC;

-- Except the e164 type's own functions (operators, casts, I/O, index
-- support): pure functions that anyone using the type needs.
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid::regprocedure
		  FROM pg_catalog.pg_proc p
		 WHERE p.pronamespace = '@extschema@'::regnamespace
		   AND NOT p.prosecdef
		   AND (p.oid IN (SELECT oprcode FROM pg_catalog.pg_operator)
				OR p.oid IN (SELECT castfunc FROM pg_catalog.pg_cast)
				OR p.oid IN (SELECT amproc FROM pg_catalog.pg_amproc)
				OR p.oid IN (SELECT unnest(ARRAY[typinput, typoutput,
												 typreceive, typsend])
							   FROM pg_catalog.pg_type
							  WHERE typnamespace = '@extschema@'::regnamespace))
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f);
	END LOOP;
END
$$;

GRANT USAGE ON SCHEMA @extschema@ TO bar9_api;
GRANT EXECUTE ON FUNCTION api(text, text, jsonb, bytea) TO bar9_api;

-- ---------------------------------------------------------------------------
-- The role of sender programs (README, "Senders"): it may EXECUTE the sender
-- functions and nothing else.  They are SECURITY DEFINER with a pinned
-- search_path: a sender needs no right on any table.
-- ---------------------------------------------------------------------------

DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'bar9_sender') THEN
		CREATE ROLE bar9_sender NOLOGIN;
	END IF;
END
$$;

GRANT USAGE ON SCHEMA @extschema@ TO bar9_sender;
GRANT EXECUTE ON FUNCTION claim_sms(integer, interval) TO bar9_sender;
GRANT EXECUTE ON FUNCTION ack_sms(text, text, text, text) TO bar9_sender;
GRANT EXECUTE ON FUNCTION ack_sms_batch(text[], text, text[], text) TO bar9_sender;
GRANT EXECUTE ON FUNCTION receive_sms(text, e164, text) TO bar9_sender;
GRANT EXECUTE ON FUNCTION report_delivery(text, text, text) TO bar9_sender;
GRANT EXECUTE ON FUNCTION report_deliveries(text[], text[], text[]) TO bar9_sender;
GRANT EXECUTE ON FUNCTION receive_sms_at(text, e164, text) TO bar9_sender;

-- ---------------------------------------------------------------------------
-- The owner of the SECURITY DEFINER functions (bar9.api and the sender
-- functions): a role that is not a superuser and holds rights on bar9's
-- objects only, so that a bug in a handler runs with those rights and no
-- more (README, "Security model").  NOLOGIN and without members: nobody
-- can become it.  It may read and write bar9's tables (the partitions of
-- the SMS history through their parent), use its sequences and call its
-- functions; it owns nothing else and may create nothing.
-- ---------------------------------------------------------------------------

DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'bar9_definer') THEN
		CREATE ROLE bar9_definer NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
			NOINHERIT NOREPLICATION NOBYPASSRLS;
	END IF;
END
$$;

GRANT USAGE ON SCHEMA @extschema@ TO bar9_definer;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA @extschema@ TO bar9_definer;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA @extschema@ TO bar9_definer;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA @extschema@ TO bar9_definer;

ALTER FUNCTION api(text, text, jsonb, bytea) OWNER TO bar9_definer;
ALTER FUNCTION claim_sms(integer, interval) OWNER TO bar9_definer;
ALTER FUNCTION ack_sms(text, text, text, text) OWNER TO bar9_definer;
ALTER FUNCTION ack_sms_batch(text[], text, text[], text) OWNER TO bar9_definer;
ALTER FUNCTION receive_sms(text, e164, text) OWNER TO bar9_definer;
ALTER FUNCTION report_delivery(text, text, text) OWNER TO bar9_definer;
ALTER FUNCTION report_deliveries(text[], text[], text[]) OWNER TO bar9_definer;
ALTER FUNCTION receive_sms_at(text, e164, text) OWNER TO bar9_definer;

-- ---------------------------------------------------------------------------
-- The role of the background worker (src/worker.c, src/launcher.c): not a
-- superuser, rights on bar9's objects only, and of those exactly what
-- fan-out, scheduling, housekeeping (partitions, retirement, purges) and
-- the cancel of a deleted audience's broadcasts use.  No SQL it runs can
-- read an account, a key, a claim or a keyword reply.
--
-- LOGIN because PostgreSQL 15 lets a background worker connect only as a
-- role that can log in; CONNECTION LIMIT 0 because background workers are
-- not counted against it while every client is: nobody can open a session
-- as it, whatever pg_hba.conf says (TAP 054).  No password, no members.
-- ---------------------------------------------------------------------------

DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'bar9_worker') THEN
		CREATE ROLE bar9_worker;
	END IF;
	ALTER ROLE bar9_worker LOGIN CONNECTION LIMIT 0 PASSWORD NULL
		NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;
	-- in case an operator revoked CONNECT from PUBLIC
	EXECUTE pg_catalog.format('GRANT CONNECT ON DATABASE %I TO bar9_worker',
							  pg_catalog.current_database());
END
$$;

-- CREATE: the worker creates the day partitions of sms_history in bar9.
GRANT USAGE, CREATE ON SCHEMA @extschema@ TO bar9_worker;

-- the to-do list, fan-out, scheduling (FOR NO KEY UPDATE needs UPDATE)
GRANT SELECT, UPDATE ON broadcasts, audiences TO bar9_worker;
GRANT SELECT ON opt_outs TO bar9_worker;
-- an account's number from its public id (fan-out names it in every
-- statement): those two columns only, no name, no limits
GRANT SELECT (account_id, account_no) ON accounts TO bar9_worker;
GRANT SELECT, INSERT, DELETE ON sms_queue TO bar9_worker;
GRANT EXECUTE ON FUNCTION max(e164) TO bar9_worker;
-- a deleted audience: its unclaimed SMS are canceled, its numbers purged
GRANT SELECT, UPDATE, DELETE ON sms_retry TO bar9_worker;
GRANT SELECT, DELETE ON audience_numbers TO bar9_worker;
GRANT SELECT, UPDATE, DELETE ON audience_purges TO bar9_worker;
GRANT EXECUTE ON FUNCTION purge_deleted_audiences(int) TO bar9_worker;
-- housekeeping: old Idempotency-Key answers, SMS history partitions
GRANT SELECT, UPDATE, DELETE ON idempotency_keys TO bar9_worker;
GRANT EXECUTE ON FUNCTION purge_idempotency_keys(int) TO bar9_worker;
GRANT SELECT, INSERT, DELETE ON sms_days TO bar9_worker;
GRANT EXECUTE ON FUNCTION sms_add_partitions() TO bar9_worker;
GRANT EXECUTE ON FUNCTION retire_sms(interval) TO bar9_worker;
-- a retired day's receipts that never came stop waiting (sms_history.c)
GRANT SELECT, DELETE ON sms_receipt_wait TO bar9_worker;

-- Creating a partition takes the ownership of its parent, dropping one
-- the ownership of the partition: the worker owns sms_history and its
-- days (sms_history.c gives a partition the parent's owner, whoever made
-- it).  bar9_definer writes it through its grants, as before.
ALTER TABLE sms_history OWNER TO bar9_worker;
DO $$
DECLARE
	p regclass;
BEGIN
	FOR p IN SELECT inhrelid::regclass FROM pg_catalog.pg_inherits
			  WHERE inhparent = '@extschema@.sms_history'::regclass
	LOOP
		EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO bar9_worker', p);
	END LOOP;
END
$$;

-- The launcher starts the worker once this commits (rather than at its
-- next look, bar9.poll_interval later).
SELECT wake_worker();
