
-- ---------------------------------------------------------------------------
-- The numbers of an audience: typed SQL functions (src/numbers.c)
-- ---------------------------------------------------------------------------

-- Add one number; added is false when it was already in the audience.
CREATE FUNCTION add_number(account_id text, audience_id text, phone_number e164)
	RETURNS TABLE (phone_number e164, audience_id text, created_at timestamptz,
				   added boolean)
	AS 'MODULE_PATHNAME', 'bar9_add_number'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION add_number(text, text, e164) IS
	'adds a number to an audience; added = false when it was already there';

-- Add up to 10,000 numbers given as text; invalid ones are reported by index.
CREATE FUNCTION add_numbers(account_id text, audience_id text, phone_numbers text[])
	RETURNS TABLE (added bigint, already_present bigint, invalid jsonb)
	AS 'MODULE_PATHNAME', 'bar9_add_numbers'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION add_numbers(text, text, text[]) IS
	'adds up to 10000 numbers to an audience in one statement; invalid = [{index (0-based), phone_number, message}]';

-- Numbers of an audience in bar9.e164 order, after starting_after.
CREATE FUNCTION list_numbers(account_id text, audience_id text, "limit" int DEFAULT 20,
							 starting_after e164 DEFAULT NULL)
	RETURNS TABLE (phone_number e164, audience_id text, created_at timestamptz)
	AS 'MODULE_PATHNAME', 'bar9_list_numbers'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION list_numbers(text, text, int, e164) IS
	'numbers of an audience in e164 order, at most "limit" (1 to 1000: every SQL list; HTTP pages hold at most 100), after starting_after';

-- Remove a number; false when it was not in the audience.
CREATE FUNCTION remove_number(account_id text, audience_id text, phone_number e164)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'bar9_remove_number'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION remove_number(text, text, e164) IS
	'removes a number from an audience; returns false when it was not there';
