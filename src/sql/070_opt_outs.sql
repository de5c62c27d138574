
-- ---------------------------------------------------------------------------
-- Consent: the account-wide opt-out list
-- ---------------------------------------------------------------------------

CREATE TABLE opt_outs (
	account_id		text NOT NULL,
	phone_number	e164 NOT NULL,
	source			text NOT NULL CHECK (source IN ('api', 'keyword')),
	created_at		timestamptz NOT NULL DEFAULT now(),
	account_no		integer NOT NULL,			-- the account's shard (distribute())
	PRIMARY KEY (account_id, phone_number, account_no)
);

-- The SMS an opt-out cancels are found by one probe of the primary key of
-- sms_queue per unfinished broadcast of the account (src/optouts.c): no
-- index by number, which every queued SMS would pay for.

-- Put a number on the account's opt-out list (source 'api' or 'keyword') and,
-- in the same transaction, cancel its queued SMS that no sender has claimed.
-- An entry already there is kept as it is (created = false).
CREATE FUNCTION add_opt_out(account_id text, phone_number e164,
							source text DEFAULT 'api',
							OUT phone_number e164, OUT source text,
							OUT created_at timestamptz, OUT created boolean,
							OUT canceled_sms bigint)
	AS 'MODULE_PATHNAME', 'bar9_add_opt_out'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION add_opt_out(text, e164, text) IS
	'opt a number out of every audience of the account: adds it to the opt-out list (created = false when it was already there) and cancels its queued SMS not yet claimed by a sender';

-- Take a number off the list: it receives the account's broadcasts again.
CREATE FUNCTION remove_opt_out(account_id text, phone_number e164)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'bar9_remove_opt_out'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION remove_opt_out(text, e164) IS
	're-subscribe a number: removes it from the account''s opt-out list; false when it was not on it';

-- Is the number on the account's opt-out list?
CREATE FUNCTION is_opted_out(account_id text, phone_number e164)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'bar9_is_opted_out_sql'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION is_opted_out(text, e164) IS
	'true when the number is on the account''s opt-out list';

-- One page of the account's opt-out list, in bar9.e164 order: the entries
-- after starting_after (NULL: from the first), at most "limit" (1 to 1000).
CREATE FUNCTION list_opt_outs(account_id text, "limit" integer DEFAULT 20,
							  starting_after e164 DEFAULT NULL)
	RETURNS TABLE (phone_number e164, source text, created_at timestamptz)
	AS 'MODULE_PATHNAME', 'bar9_list_opt_outs'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION list_opt_outs(text, integer, e164) IS
	'one page of the account''s opt-out list in bar9.e164 order: at most "limit" (1 to 1000: every SQL list; HTTP pages hold at most 100) entries after starting_after (NULL: from the start)';
