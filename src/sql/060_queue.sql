
-- ---------------------------------------------------------------------------
-- The sender queue (src/queue.c, src/claim.c, src/ack.c, src/sms_history.c)
-- ---------------------------------------------------------------------------
--
-- An SMS lives in one of three tables, by where it is in its life:
--
--   sms_queue    fanned out, not yet acknowledged: three fixed-width columns
--                (40-byte rows, the same as a bare (bigint, e164) row) and
--                one primary key, written once by the fan-out and deleted
--                once by the acknowledgement.  A claim does not write these
--                rows: it writes one sms_claims row for a run of them.
--   sms_retry    put back by an acknowledgement 'retry', with its back-off;
--                claimed row by row (the rare path).
--   sms_history  finished (sent, delivered, failed, canceled): appended once,
--                partitioned by day, retired by dropping whole partitions.
--
-- Claims.  The SMS of a broadcast are claimed in phone-number order: its
-- claim_cursor (bar9.broadcasts) is the last number claimed so far, and each
-- claim of new SMS takes the next run after it and records that run as one
-- sms_claims row (first and last number, lease, attempt, a claim number).
-- An SMS in sms_queue is 'sending' when it is at or before the cursor (a
-- claims row covers it) and 'queued' after it.  A claim whose lease ran out
-- is taken over whole by a later claim under a new claim number; the SMS of
-- the run not yet acknowledged come back with attempt + 1.
--
-- sms_id.  A claim hands out ids that carry the claim: account number,
-- broadcast number, phone number and claim number, as text
-- ('<account>.<broadcast>.<digits>.c<claim>' or '.r<claim>' for a retry).
-- Any session may acknowledge with it while that claim stands; once another
-- claim took the SMS over, the old id is refused.
--
-- Lock order (src/queue.h): SMS-level rows (sms_claims, sms_retry,
-- sms_queue) before bar9.broadcasts rows, and bar9.broadcasts rows in
-- (account_no, broadcast_no) order; a claim waits for a broadcast lock only
-- while it holds none.

CREATE TABLE sms_queue (
	account_no		integer NOT NULL,
	broadcast_no	integer NOT NULL,
	to_number		e164 NOT NULL,
	-- one SMS per number per broadcast, whatever crashes or retries happen;
	-- the fan-out appends in key order: pack the leaves full
	PRIMARY KEY (account_no, broadcast_no, to_number) WITH (fillfactor = 100)
);
-- Rows are inserted and deleted, never updated: no room kept for updates;
-- vacuum soon after a drain so that the next fan-out reuses the space.
ALTER TABLE sms_queue SET (fillfactor = 100,
						   autovacuum_vacuum_scale_factor = 0.02,
						   autovacuum_vacuum_insert_scale_factor = 0.02);
COMMENT ON TABLE sms_queue IS
	'SMS fanned out and not yet acknowledged; queued after the broadcast''s claim_cursor, sending up to it';

-- Claim numbers: unique, so that an id names one claim for ever.
CREATE SEQUENCE claim_no_seq;

CREATE TABLE sms_claims (
	account_no		integer NOT NULL,
	broadcast_no	integer NOT NULL,
	claim_no		bigint NOT NULL,
	first_number	e164 NOT NULL,		-- the run of sms_queue it covers
	last_number		e164 NOT NULL,
	remaining		integer NOT NULL,	-- SMS of the run not yet acknowledged
	attempt			smallint NOT NULL,	-- claims of these SMS so far
	lease_until		timestamptz NOT NULL,
	claimed_at		timestamptz NOT NULL,	-- when this claim took them
	PRIMARY KEY (account_no, broadcast_no, claim_no)
);
CREATE INDEX sms_claims_lease ON sms_claims (lease_until);
COMMENT ON TABLE sms_claims IS
	'one row per claim of a run of new SMS of a broadcast: the run, its lease and how many of it are not acknowledged yet';

CREATE TABLE sms_retry (
	account_no		integer NOT NULL,
	broadcast_no	integer NOT NULL,
	to_number		e164 NOT NULL,
	attempt			smallint NOT NULL,	-- claims so far
	due_at			timestamptz NOT NULL,	-- claimable from (back-off or lease end)
	claim_no		bigint,				-- set while claimed
	error			text,
	PRIMARY KEY (account_no, broadcast_no, to_number)
);
CREATE INDEX sms_retry_due ON sms_retry (due_at);
COMMENT ON TABLE sms_retry IS
	'SMS put back by an acknowledgement ''retry'': queued until due_at, or claimed (claim_no) until due_at';

-- The day of SMS history a broadcast files under is in its number:
-- broadcast_no = day << 15 | n, the day counted from 2000-01-01 (a date's
-- internal value), n the account's n-th broadcast of the day (32,768 a day;
-- more spill into the next day's numbers).  So the history is partitioned
-- by ranges of broadcast_no, one day each, and a lookup by broadcast
-- prunes to its partition with no column spent on the day.
CREATE FUNCTION broadcast_day(broadcast_no integer) RETURNS date
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT date '2000-01-01' + (broadcast_no >> 15) $$;
COMMENT ON FUNCTION broadcast_day(integer) IS
	'the day of SMS history a broadcast files its SMS under, from its broadcast_no';

CREATE TABLE sms_history (
	account_no		integer NOT NULL,
	broadcast_no	integer NOT NULL,	-- its high bits: the day, the partition
	to_number		e164 NOT NULL,
	state			smallint NOT NULL,	-- 2 sent, 3 delivered, 4 failed, 5 canceled
	attempt			smallint NOT NULL,
	changed_s		integer NOT NULL,	-- when it changed: seconds since 00:00 UTC
										-- of its broadcast's day (sms_changed_at)
	provider_ref	text,
	error			text
) PARTITION BY RANGE (broadcast_no);
-- 24 bytes of fixed columns and eight columns in all: a row takes 52 bytes
-- of its page (a 24-byte header with its null bitmap; a ninth column would
-- make the header 32, a timestamptz the fixed part 32).  Not unique (a unique index could not be enforced
-- across partitions anyway): an SMS enters the history only by leaving
-- sms_queue or sms_retry, whose keys are unique.  Inserted mostly in key
-- order: leaves packed full.
CREATE INDEX sms_history_key ON sms_history (account_no, broadcast_no, to_number)
	WITH (fillfactor = 100);
COMMENT ON TABLE sms_history IS
	'finished SMS (state 2 sent, 3 delivered, 4 failed, 5 canceled), one partition per day of broadcasts; retired by dropping partitions';

-- The days that have a partition of sms_history (sms_history.c keeps it).
CREATE TABLE sms_days (
	sms_day			date PRIMARY KEY
);

-- Create the partitions of sms_history for today and the next two days.
CREATE FUNCTION sms_add_partitions() RETURNS integer
	AS 'MODULE_PATHNAME', 'bar9_sms_add_partitions'
	LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION sms_add_partitions() IS
	'creates the partitions of bar9.sms_history for today and the next two days (UTC) that are missing; returns how many it created';

-- Not on a Citus worker node (the coordinator created the extension there):
-- its days of history are the coordinator's partitions, which Citus makes.
DO $$
DECLARE
	on_worker boolean := false;
BEGIN
	IF pg_catalog.to_regclass('pg_catalog.pg_dist_local_group') IS NOT NULL THEN
		EXECUTE 'SELECT groupid > 0 FROM pg_catalog.pg_dist_local_group' INTO on_worker;
	END IF;
	IF NOT coalesce(on_worker, false) THEN
		PERFORM @extschema@.sms_add_partitions();
	END IF;
END
$$;

-- Create the partition of one day of sms_history, if missing.
CREATE FUNCTION sms_add_partition(day date) RETURNS boolean
	AS 'MODULE_PATHNAME', 'bar9_sms_add_partition'
	LANGUAGE C VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION sms_add_partition(date) IS
	'creates the partition of bar9.sms_history for one day unless it exists (true when created): for days the worker does not make ahead';

-- The first broadcast_no of the day a broadcast created at "at" files its
-- SMS under: today's (UTC), or the newest day before it that has a
-- partition, if the worker has not created today's yet.
CREATE FUNCTION broadcast_no_floor(at timestamptz) RETURNS integer
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT ((coalesce(max(d.sms_day), (at AT TIME ZONE 'UTC')::date)
			 - date '2000-01-01') << 15)
	  FROM @extschema@.sms_days d
	 WHERE d.sms_day <= (at AT TIME ZONE 'UTC')::date
$$;
COMMENT ON FUNCTION broadcast_no_floor(timestamptz) IS
	'the first broadcast_no of the day of SMS history that a broadcast created at "at" files under';

-- When a history row last changed, from its broadcast and changed_s.
CREATE FUNCTION sms_changed_at(broadcast_no integer, changed_s integer)
	RETURNS timestamptz
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT to_timestamp(946684800 + (broadcast_no >> 15)::bigint * 86400 + changed_s) $$;
COMMENT ON FUNCTION sms_changed_at(integer, integer) IS
	'the time an sms_history row last changed: changed_s seconds after 00:00 UTC of its broadcast''s day';

-- The name of an SMS state (the numbers of sms_history.state).
CREATE FUNCTION sms_state_name(state smallint) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $$
	SELECT (ARRAY['queued', 'sending', 'sent', 'delivered', 'failed',
				  'canceled'])[state + 1]
$$;
COMMENT ON FUNCTION sms_state_name(smallint) IS
	'the status name of an SMS state number: 0 queued, 1 sending, 2 sent, 3 delivered, 4 failed, 5 canceled';

-- Every SMS with its status, one row each, for operators and tests.
CREATE VIEW sms AS
SELECT m.account_id, m.broadcast_id, q.to_number,
	   CASE WHEN c.claim_no IS NULL THEN 'queued' ELSE 'sending' END AS status,
	   coalesce(c.attempt, 0)::integer AS attempt,
	   c.lease_until,
	   NULL::text AS provider_ref, NULL::text AS error,
	   CASE WHEN c.claim_no IS NOT NULL THEN
		   q.account_no || '.' || q.broadcast_no || '.' ||
		   pg_catalog.substr(q.to_number::text, 2) || '.c' || c.claim_no
	   END AS sms_id,
	   NULL::timestamptz AS updated_at
  FROM sms_queue q
  JOIN broadcasts m USING (account_no, broadcast_no)
  LEFT JOIN sms_claims c
	ON c.account_no = q.account_no AND c.broadcast_no = q.broadcast_no
   AND q.to_number >= c.first_number AND q.to_number <= c.last_number
UNION ALL
SELECT m.account_id, m.broadcast_id, r.to_number,
	   CASE WHEN r.claim_no IS NULL THEN 'queued' ELSE 'sending' END,
	   r.attempt, CASE WHEN r.claim_no IS NOT NULL THEN r.due_at END,
	   NULL, r.error,
	   CASE WHEN r.claim_no IS NOT NULL THEN
		   r.account_no || '.' || r.broadcast_no || '.' ||
		   pg_catalog.substr(r.to_number::text, 2) || '.r' || r.claim_no
	   END,
	   NULL
  FROM sms_retry r
  JOIN broadcasts m USING (account_no, broadcast_no)
UNION ALL
SELECT m.account_id, m.broadcast_id, h.to_number, sms_state_name(h.state),
	   h.attempt, NULL, h.provider_ref, h.error, NULL,
	   sms_changed_at(h.broadcast_no, h.changed_s)
  FROM sms_history h
  JOIN broadcasts m USING (account_no, broadcast_no);
COMMENT ON VIEW sms IS
	'every SMS with its status (queued, sending, sent, delivered, failed, canceled), attempt, lease and, while claimed, its sms_id';

-- Claim up to max_count SMS for lease (each SMS to one claim at a time).
CREATE FUNCTION claim_sms(max_count integer DEFAULT 100,
						  lease interval DEFAULT '1 minute')
	RETURNS TABLE (sms_id text, to_number e164, body text,
				   message_id text, attempt integer, from_address text)
	AS 'MODULE_PATHNAME', 'bar9_claim_sms'
	LANGUAGE C VOLATILE STRICT ROWS 100
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION claim_sms(integer, interval) IS
	'claims up to max_count (1-10000) queued SMS, or SMS whose lease ran out, until now() + lease; broadcasts take turns; the sms_id carries the claim, so any session may acknowledge it';

-- Record what happened to one claimed SMS; returns its new status.
CREATE FUNCTION ack_sms(sms_id text, outcome text,
						provider_ref text DEFAULT NULL, error text DEFAULT NULL)
	RETURNS text
	AS 'MODULE_PATHNAME', 'bar9_ack_sms'
	LANGUAGE C VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ack_sms(text, text, text, text) IS
	'acknowledges a claimed SMS from any session while its claim stands: outcome sent, delivered, failed or retry (back to the queue with back-off until bar9.max_attempts, then failed); delivered may also follow sent; returns the new status';

-- The same for many SMS in one statement, all or none.
CREATE FUNCTION ack_sms_batch(sms_ids text[], outcome text,
							  provider_refs text[] DEFAULT NULL,
							  error text DEFAULT NULL)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'bar9_ack_sms_batch'
	LANGUAGE C VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ack_sms_batch(text[], text, text[], text) IS
	'acknowledges every SMS of sms_ids (at most 10000) with one outcome, as bar9.ack_sms does one, all or none; provider_refs, when given, has one element per id; returns the number acknowledged';

-- Drop the days of SMS history that are old enough and finished.
CREATE FUNCTION retire_sms(older_than interval DEFAULT '30 days')
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'bar9_retire_sms'
	LANGUAGE C VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION retire_sms(interval) IS
	'drops each partition of bar9.sms_history whose day ended more than older_than ago and whose broadcasts are all completed or canceled; returns how many SMS that retired (from the broadcasts'' counts: no SMS row is read)';

-- Broadcast status follows its counters (see queue.h).
CREATE FUNCTION broadcasts_settle_status() RETURNS trigger
	AS 'MODULE_PATHNAME', 'bar9_broadcasts_settle_status'
	LANGUAGE C;
COMMENT ON FUNCTION broadcasts_settle_status() IS
	'trigger: a fanned-out queued broadcast becomes sending once an SMS was claimed, and a queued or sending one completed once none is queued or sending';

CREATE TRIGGER broadcasts_settle_status
	BEFORE UPDATE OF status, fanout_done, n_queued, n_sending ON broadcasts
	FOR EACH ROW
	WHEN (NEW.fanout_done AND NEW.status IN ('queued', 'sending'))
	EXECUTE FUNCTION broadcasts_settle_status();
