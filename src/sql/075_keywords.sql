-- ---------------------------------------------------------------------------
-- Consent: inbound keywords (STOP, START, HELP) and their replies
-- (src/keywords.c; the matching rule is in src/keywords.h)
-- ---------------------------------------------------------------------------

-- An account's own reply texts; NULL (or no row): the default reply.
CREATE TABLE keyword_replies (
	account_id		text NOT NULL,
	opt_out_reply	text,
	opt_in_reply	text,
	help_reply		text,
	updated_at		timestamptz NOT NULL DEFAULT now(),
	account_no		integer NOT NULL,			-- the account's shard (distribute())
	PRIMARY KEY (account_id, account_no)
);

-- Which keyword list the whole body (trimmed, NFC, case-folded) is on.
CREATE FUNCTION match_keyword(body text) RETURNS text
	AS 'MODULE_PATHNAME', 'bar9_match_keyword_sql'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION match_keyword(text) IS
	'''opt_out'', ''opt_in'' or ''help'' when the whole body, trimmed and case-folded, is one of the keywords of that list, else NULL; changes nothing';

-- Act on an inbound SMS and return the reply to send back (NULL: none).
CREATE FUNCTION receive_sms(account_id text, from_number e164, body text)
	RETURNS text
	AS 'MODULE_PATHNAME', 'bar9_receive_sms'
	LANGUAGE C VOLATILE STRICT
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION receive_sms(text, e164, text) IS
	'handle an inbound SMS: an opt-out keyword opts the sender out (cancelling its queued SMS) and returns the confirmation, an opt-in keyword re-subscribes it, HELP returns the help text; any other body returns NULL and changes nothing';

-- Set the account's three replies at once; NULL means the default reply.
CREATE FUNCTION set_keyword_replies(account_id text, opt_out text,
									opt_in text, help text)
	RETURNS void
	AS 'MODULE_PATHNAME', 'bar9_set_keyword_replies'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION set_keyword_replies(text, text, text, text) IS
	'set the replies receive_sms sends for the account (1 to 1600 characters each); a NULL argument means the default reply';

-- The replies receive_sms sends for the account now.
CREATE FUNCTION keyword_replies(account_id text, OUT opt_out text,
								OUT opt_in text, OUT help text)
	AS 'MODULE_PATHNAME', 'bar9_keyword_replies'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION keyword_replies(text) IS
	'the replies receive_sms sends for the account: its own texts where set, else the defaults';
