
-- ---------------------------------------------------------------------------
-- The sender queue (src/queue.c): claim, acknowledge, retire SMS
-- ---------------------------------------------------------------------------

-- How claim finds work, and why a claim is a HOT update.
--
-- An update is HOT (no new index entries; the old version is pruned on its
-- page) when no column used by an index changes value and the new version
-- fits on the same page.  A partial index "uses" the columns of its
-- predicate, so an index WHERE status = 'queued' would make every claim
-- (queued -> sending) non-HOT: new entries in the primary key, in the
-- sms_id index and in the claim index, per SMS claimed.
--
-- So the claim index is keyed on available_at (unchanged by a claim) and
-- its predicate uses the generated column finished (false while queued or
-- sending: unchanged by a claim either).  A claim changes only status,
-- attempt, lease_until, claimed_by and updated_at: HOT when the page has
-- room, hence the fillfactor below.  The final ack (sending -> sent,
-- delivered or failed) flips finished and is an ordinary update that takes
-- the SMS out of the claim index; a delivery receipt (sent -> delivered)
-- changes no indexed value and is HOT again.  A retry moves available_at
-- (non-HOT, rare).  One update per change of state, no separate "mark"
-- update: 2 index insertions per SMS from queued to sent, instead of 5.
--
-- The price: claimed SMS stay in the claim index until acknowledged (and
-- finished ones until no snapshot sees them), and a scan from the start of
-- the index steps over them, a heap visit each.  So a claim goes on from
-- where the latest claim ended (a hint in shared memory, see ClaimPick in
-- queue.c) and steps over only what other senders are claiming; a scan
-- from the start, once a second per sender or when the other comes up
-- short, finds what the hint skips, leases that ran out among them: no
-- second index.
ALTER TABLE sms ADD COLUMN finished boolean NOT NULL
	GENERATED ALWAYS AS (status NOT IN ('queued', 'sending')) STORED;
COMMENT ON COLUMN sms.finished IS
	'true once the SMS left the queue for good (sent, delivered, failed or canceled); generated from status';
CREATE INDEX sms_claim ON sms (available_at, sms_id) WHERE NOT finished;

-- Room on each page for two more versions of every row: the claimed one
-- (HOT) and the acknowledged one.  A sender acknowledges soon after it
-- claims, often before the old versions may be pruned (another session's
-- snapshot still sees them), so both must fit without pruning; then the
-- table does not grow while a queue drains (200,000 SMS: 92 MB before and
-- after; with fillfactor 50, 54 MB grown to 109 MB, and senders waiting on
-- the relation extension lock), and vacuum or pruning hands the space to
-- the next fan-out.  Vacuum after 2% of the queue changed (default 20%).
ALTER TABLE sms SET (fillfactor = 30, autovacuum_vacuum_scale_factor = 0.02,
					 autovacuum_vacuum_insert_scale_factor = 0.02);

-- Claim up to max_count SMS for lease (each SMS to one claimer at a time).
CREATE FUNCTION claim_sms(max_count integer DEFAULT 100,
						  lease interval DEFAULT '1 minute')
	RETURNS TABLE (sms_id bigint, to_number e164, body text,
				   message_id text, attempt integer)
	AS 'MODULE_PATHNAME', 'claim_sms'
	LANGUAGE C VOLATILE STRICT ROWS 100;
COMMENT ON FUNCTION claim_sms(integer, interval) IS
	'claims up to max_count (1-10000) queued SMS, or SMS whose lease ran out, for this session until now() + lease; each SMS goes to one claimer at a time';

-- Record what happened to one claimed SMS; returns its new status.
CREATE FUNCTION ack_sms(sms_id bigint, outcome text,
						provider_ref text DEFAULT NULL, error text DEFAULT NULL)
	RETURNS text
	AS 'MODULE_PATHNAME', 'ack_sms'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ack_sms(bigint, text, text, text) IS
	'acknowledges an SMS claimed by this session: outcome sent, delivered, failed or retry (back to the queue with back-off until bar9.max_attempts, then failed); delivered may also follow sent from any session; returns the new status';

-- The same for many SMS in one statement, all or none.
CREATE FUNCTION ack_sms_batch(sms_ids bigint[], outcome text,
							  provider_refs text[] DEFAULT NULL,
							  error text DEFAULT NULL)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'ack_sms_batch'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ack_sms_batch(bigint[], text, text[], text) IS
	'acknowledges every SMS of sms_ids (at most 10000) with one outcome, as bar9.ack_sms does one, all or none; provider_refs, when given, has one element per id; returns the number acknowledged';

-- Delete old finished SMS of finished broadcasts, one batch per call.
CREATE FUNCTION retire_sms(older_than interval DEFAULT '30 days',
						   max_rows integer DEFAULT 10000)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'retire_sms'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION retire_sms(interval, integer) IS
	'deletes at most max_rows sent, delivered, failed or canceled SMS of completed or canceled broadcasts unchanged for older_than; returns how many (call until 0)';

-- Broadcast status follows its counters (see queue.h).
CREATE FUNCTION messages_settle_status() RETURNS trigger
	AS 'MODULE_PATHNAME', 'messages_settle_status'
	LANGUAGE C;
COMMENT ON FUNCTION messages_settle_status() IS
	'trigger: a fanned-out queued broadcast becomes sending once an SMS was claimed, and a queued or sending one completed once none is queued or sending';

CREATE TRIGGER messages_settle_status
	BEFORE UPDATE OF status, fanout_done, n_queued, n_sending ON messages
	FOR EACH ROW
	WHEN (NEW.fanout_done AND NEW.status IN ('queued', 'sending'))
	EXECUTE FUNCTION messages_settle_status();
