
-- ---------------------------------------------------------------------------
-- E.164 phone numbers: the bar9.e164 type (src/e164.c, src/e164_parse.c)
-- ---------------------------------------------------------------------------

CREATE TYPE e164;

-- Type input: strict E.164 text ("+213555123456") to the 8-byte encoding.
CREATE FUNCTION e164_in(cstring) RETURNS e164
	AS 'MODULE_PATHNAME', 'bar9_e164_in'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Type output: "+" and the digits.
CREATE FUNCTION e164_out(e164) RETURNS cstring
	AS 'MODULE_PATHNAME', 'bar9_e164_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Binary input: the 8-byte encoding in network order, validated.
CREATE FUNCTION e164_recv(internal) RETURNS e164
	AS 'MODULE_PATHNAME', 'bar9_e164_recv'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Binary output: the 8-byte encoding in network order.
CREATE FUNCTION e164_send(e164) RETURNS bytea
	AS 'MODULE_PATHNAME', 'bar9_e164_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE e164 (
	INPUT = e164_in,
	OUTPUT = e164_out,
	RECEIVE = e164_recv,
	SEND = e164_send,
	INTERNALLENGTH = 8,
	PASSEDBYVALUE,
	ALIGNMENT = double,
	STORAGE = plain
);

COMMENT ON TYPE e164 IS
	'E.164 phone number (+, 7 to 15 digits, ITU-T assigned country calling code) in 8 bytes; orders as its text, digit by digit';
COMMENT ON FUNCTION e164_in(cstring) IS 'input function of type bar9.e164';
COMMENT ON FUNCTION e164_out(e164) IS 'output function of type bar9.e164';
COMMENT ON FUNCTION e164_recv(internal) IS 'binary input function of type bar9.e164';
COMMENT ON FUNCTION e164_send(e164) IS 'binary output function of type bar9.e164';

-- Casts to and from text.
CREATE FUNCTION e164_from_text(text) RETURNS e164
	AS 'MODULE_PATHNAME', 'bar9_e164_from_text'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION e164_from_text(text) IS
	'parse text as an E.164 phone number, strictly (cast text to bar9.e164)';

CREATE FUNCTION e164_to_text(e164) RETURNS text
	AS 'MODULE_PATHNAME', 'bar9_e164_to_text'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION e164_to_text(e164) IS
	'E.164 phone number as text, e.g. +213555123456 (cast bar9.e164 to text)';

CREATE CAST (text AS e164) WITH FUNCTION e164_from_text(text) AS ASSIGNMENT;
CREATE CAST (e164 AS text) WITH FUNCTION e164_to_text(e164) AS ASSIGNMENT;

-- Helpers.
CREATE FUNCTION e164_valid(text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'bar9_e164_valid'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION e164_valid(text) IS
	'true if the text is a valid E.164 phone number, false otherwise; never raises an error';

CREATE FUNCTION e164_country_code(e164) RETURNS integer
	AS 'MODULE_PATHNAME', 'bar9_e164_country_code'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION e164_country_code(e164) IS
	'ITU-T country calling code of an E.164 phone number, e.g. 213';

-- Comparison.
CREATE FUNCTION e164_eq(e164, e164) RETURNS boolean
	AS 'MODULE_PATHNAME', 'bar9_e164_eq'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION e164_eq(e164, e164) IS 'implementation of = for bar9.e164';

CREATE FUNCTION e164_ne(e164, e164) RETURNS boolean
	AS 'MODULE_PATHNAME', 'bar9_e164_ne'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION e164_ne(e164, e164) IS 'implementation of <> for bar9.e164';

CREATE FUNCTION e164_lt(e164, e164) RETURNS boolean
	AS 'MODULE_PATHNAME', 'bar9_e164_lt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION e164_lt(e164, e164) IS 'implementation of < for bar9.e164';

CREATE FUNCTION e164_le(e164, e164) RETURNS boolean
	AS 'MODULE_PATHNAME', 'bar9_e164_le'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION e164_le(e164, e164) IS 'implementation of <= for bar9.e164';

CREATE FUNCTION e164_gt(e164, e164) RETURNS boolean
	AS 'MODULE_PATHNAME', 'bar9_e164_gt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION e164_gt(e164, e164) IS 'implementation of > for bar9.e164';

CREATE FUNCTION e164_ge(e164, e164) RETURNS boolean
	AS 'MODULE_PATHNAME', 'bar9_e164_ge'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION e164_ge(e164, e164) IS 'implementation of >= for bar9.e164';

CREATE FUNCTION e164_cmp(e164, e164) RETURNS integer
	AS 'MODULE_PATHNAME', 'bar9_e164_cmp'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION e164_cmp(e164, e164) IS 'btree comparison function of bar9.e164';

CREATE FUNCTION e164_smaller(e164, e164) RETURNS e164
	AS 'MODULE_PATHNAME', 'bar9_e164_smaller'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION e164_smaller(e164, e164) IS 'the lesser of two bar9.e164 values';

CREATE FUNCTION e164_larger(e164, e164) RETURNS e164
	AS 'MODULE_PATHNAME', 'bar9_e164_larger'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION e164_larger(e164, e164) IS 'the greater of two bar9.e164 values';

CREATE FUNCTION e164_sortsupport(internal) RETURNS void
	AS 'MODULE_PATHNAME', 'bar9_e164_sortsupport'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION e164_sortsupport(internal) IS 'btree sort support function of bar9.e164';

CREATE FUNCTION e164_hash(e164) RETURNS integer
	AS 'MODULE_PATHNAME', 'bar9_e164_hash'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION e164_hash(e164) IS 'hash function of bar9.e164';

CREATE FUNCTION e164_hash_extended(e164, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'bar9_e164_hash_extended'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION e164_hash_extended(e164, bigint) IS 'seeded 64-bit hash function of bar9.e164';

CREATE OPERATOR = (
	LEFTARG = e164, RIGHTARG = e164, FUNCTION = e164_eq,
	COMMUTATOR = =, NEGATOR = <>,
	RESTRICT = eqsel, JOIN = eqjoinsel,
	HASHES, MERGES
);
CREATE OPERATOR <> (
	LEFTARG = e164, RIGHTARG = e164, FUNCTION = e164_ne,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR < (
	LEFTARG = e164, RIGHTARG = e164, FUNCTION = e164_lt,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR <= (
	LEFTARG = e164, RIGHTARG = e164, FUNCTION = e164_le,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR > (
	LEFTARG = e164, RIGHTARG = e164, FUNCTION = e164_gt,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR >= (
	LEFTARG = e164, RIGHTARG = e164, FUNCTION = e164_ge,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);

-- Index support.  Equal values are bitwise equal, so btree deduplication is
-- safe (support function 4, btequalimage).
CREATE OPERATOR CLASS e164_ops
	DEFAULT FOR TYPE e164 USING btree AS
		OPERATOR 1 <,
		OPERATOR 2 <=,
		OPERATOR 3 =,
		OPERATOR 4 >=,
		OPERATOR 5 >,
		FUNCTION 1 e164_cmp(e164, e164),
		FUNCTION 2 e164_sortsupport(internal),
		FUNCTION 4 btequalimage(oid);

CREATE OPERATOR CLASS e164_ops
	DEFAULT FOR TYPE e164 USING hash AS
		OPERATOR 1 =,
		FUNCTION 1 e164_hash(e164),
		FUNCTION 2 e164_hash_extended(e164, bigint);

-- min and max, answered from a btree index when there is one (SORTOP).
CREATE AGGREGATE min(e164) (
	SFUNC = e164_smaller, STYPE = e164, COMBINEFUNC = e164_smaller,
	SORTOP = <, PARALLEL = SAFE
);
COMMENT ON AGGREGATE min(e164) IS 'least bar9.e164 value, in text order';

CREATE AGGREGATE max(e164) (
	SFUNC = e164_larger, STYPE = e164, COMBINEFUNC = e164_larger,
	SORTOP = >, PARALLEL = SAFE
);
COMMENT ON AGGREGATE max(e164) IS 'greatest bar9.e164 value, in text order';
