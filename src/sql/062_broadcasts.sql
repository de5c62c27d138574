
-- ---------------------------------------------------------------------------
-- Broadcasts for application code (src/broadcasts.c); the HTTP routes under
-- /v1/marketing/channels/:channel_id/messages call the same C code
-- ---------------------------------------------------------------------------

-- A broadcast as the typed SQL functions return it (the counts are the
-- SMS of the broadcast by state).
CREATE TYPE broadcast AS (
	id				text,
	audience_id		text,
	body			text,
	status			text,
	recipient_count bigint,
	suppressed_count bigint,
	encoding		text,
	segments		integer,
	send_at			timestamptz,
	queued			bigint,
	sending			bigint,
	sent			bigint,
	delivered		bigint,
	failed			bigint,
	canceled		bigint,
	created_at		timestamptz,
	"from"			text		-- its sender address; NULL: the SMSC's default
);
COMMENT ON TYPE broadcast IS
	'a broadcast (marketing message) as returned by create_broadcast, get_broadcast, list_broadcasts and cancel_broadcast';

-- Each function takes the account first; another account's broadcast or
-- audience does not exist (42704).

CREATE FUNCTION create_broadcast(account_id text, audience_id text, body text,
								 send_at timestamptz DEFAULT NULL,
								 "from" text DEFAULT NULL)
	RETURNS broadcast
	AS 'MODULE_PATHNAME', 'bar9_create_broadcast'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION create_broadcast(text, text, text, timestamptz, text) IS
	'creates a broadcast of body (1 to 1600 characters) to the audience''s numbers, now or at send_at (1 minute to 35 days ahead), from the sender address "from" (one of the account''s, 22023 otherwise; NULL: the account''s default); returns at once, the background worker creates the SMS';

CREATE FUNCTION get_broadcast(account_id text, broadcast_id text)
	RETURNS broadcast
	AS 'MODULE_PATHNAME', 'bar9_get_broadcast'
	LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION get_broadcast(text, text) IS
	'one broadcast of the account, with its status and counts';

CREATE FUNCTION list_broadcasts(account_id text, audience_id text,
								"limit" integer DEFAULT 20,
								starting_after text DEFAULT NULL)
	RETURNS SETOF broadcast
	AS 'MODULE_PATHNAME', 'bar9_list_broadcasts'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION list_broadcasts(text, text, integer, text) IS
	'broadcasts of an audience, newest first, at most "limit" (1 to 1000: every SQL list; HTTP pages hold at most 100), after the broadcast starting_after';

CREATE FUNCTION cancel_broadcast(account_id text, broadcast_id text)
	RETURNS broadcast
	AS 'MODULE_PATHNAME', 'bar9_cancel_broadcast'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION cancel_broadcast(text, text) IS
	'cancels a scheduled, pending, queued or sending broadcast: its SMS not yet claimed by a sender are canceled, claimed ones finish as reported; 55000 if it is completed or canceled';
