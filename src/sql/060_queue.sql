
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
-- The price: claimed SMS stay in the claim index until acknowledged, near
-- its start (they were the oldest), and every claim steps over them (a
-- heap visit each, skipped by the status/lease test).  With the usual few
-- senders and batches of hundreds that is a few thousand cheap visits per
-- claim; it is also how a claim finds leases that ran out, in the same
-- scan, with no second index.
ALTER TABLE sms ADD COLUMN finished boolean NOT NULL
	GENERATED ALWAYS AS (status NOT IN ('queued', 'sending')) STORED;
COMMENT ON COLUMN sms.finished IS
	'true once the SMS left the queue for good (sent, delivered, failed or canceled); generated from status';
CREATE INDEX sms_claim ON sms (available_at) WHERE NOT finished;

-- Room for the claimed version of each SMS on its own page: fan-out fills
-- pages only to fillfactor, and a claim of a few hundred SMS updates most
-- rows of the pages it touches in one transaction.  Vacuum after 2% of the
-- queue changed (default 20%): its dead versions are reclaimed early.
ALTER TABLE sms SET (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.02,
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
