--
-- The sender queue: bar9.claim_sms, bar9.ack_sms, bar9.ack_sms_batch,
-- bar9.retire_sms and the broadcast status they move.
--
-- It runs in a database of its own: SMS that other tests left queued must
-- not be claimed here, nor ours there.  Broadcasts and their SMS are written
-- directly (as a finished fan-out leaves them), to control every state.
--
DROP DATABASE IF EXISTS bar9_queue_regress;
CREATE DATABASE bar9_queue_regress;
ALTER DATABASE bar9_queue_regress SET lc_messages TO 'C';
\c bar9_queue_regress
CREATE EXTENSION bar9;
\set VERBOSITY default
SELECT bar9.create_account('queue test') AS acct \gset
SELECT id AS chan FROM bar9.create_audience(:'acct', 'queue test') \gset
-- A broadcast "msg_<label>" with n queued SMS to +2135550000NN, as fan-out leaves it.
CREATE FUNCTION mk(label text, n int, status text DEFAULT 'queued', done boolean DEFAULT true) RETURNS void LANGUAGE sql AS $$ INSERT INTO bar9.messages (account_id, message_id, channel_id, body, encoding, segments, status, fanout_done, recipient_count, n_queued) SELECT account_id, 'msg_' || label, channel_id, 'Hello ' || label, 'GSM-7', 1, status, done, n, n FROM bar9.channels; INSERT INTO bar9.sms (account_id, message_id, to_number) SELECT account_id, 'msg_' || label, ('+2135550000' || lpad(g::text, 2, '0'))::bar9.e164 FROM bar9.channels, generate_series(1, n) g; $$;
-- The sms_id of the SMS of msg_<label> to +2135550000NN.
CREATE FUNCTION sid(label text, nn int) RETURNS bigint LANGUAGE sql AS $$ SELECT sms_id FROM bar9.sms WHERE message_id = 'msg_' || label AND to_number OPERATOR(bar9.=) ('+2135550000' || lpad(nn::text, 2, '0'))::bar9.e164 $$;
-- Status and counters of every broadcast, and whether the counters match the SMS.
CREATE VIEW counts AS SELECT m.message_id, m.status, m.n_queued AS queued, m.n_sending AS sending, m.n_sent AS sent, m.n_delivered AS delivered, m.n_failed AS failed, m.n_canceled AS canceled, (m.n_queued, m.n_sending, m.n_sent, m.n_delivered, m.n_failed, m.n_canceled) = (SELECT count(*) FILTER (WHERE s.status = 'queued'), count(*) FILTER (WHERE s.status = 'sending'), count(*) FILTER (WHERE s.status = 'sent'), count(*) FILTER (WHERE s.status = 'delivered'), count(*) FILTER (WHERE s.status = 'failed'), count(*) FILTER (WHERE s.status = 'canceled') FROM bar9.sms s WHERE s.message_id = m.message_id) AS exact FROM bar9.messages m ORDER BY m.message_id;
--
-- Arguments of claim_sms
--
SELECT * FROM bar9.claim_sms(0);
SELECT * FROM bar9.claim_sms(10001);
SELECT * FROM bar9.claim_sms(-5);
SELECT * FROM bar9.claim_sms(1, '0');
SELECT * FROM bar9.claim_sms(1, '-1 minute');
SELECT count(*) FROM bar9.claim_sms(NULL);
SELECT count(*) FROM bar9.claim_sms(1, NULL);
-- an empty queue
SELECT count(*) FROM bar9.claim_sms();
--
-- Claim, then acknowledge: sent, delivered, failed
--
SELECT mk('A', 3);
SELECT * FROM counts;
SELECT to_number, body, message_id, attempt FROM bar9.claim_sms(2) ORDER BY to_number;
SELECT to_number, status, attempt, lease_until - updated_at AS lease, claimed_by IS NOT NULL AS claimed FROM bar9.sms WHERE message_id = 'msg_A' ORDER BY to_number;
-- one claimer id for the session's claims
SELECT count(DISTINCT claimed_by) FROM bar9.sms WHERE message_id = 'msg_A';
SELECT * FROM counts;
SELECT bar9.ack_sms(sid('A', 1), 'sent', 'prov-1');
SELECT bar9.ack_sms(sid('A', 1), 'sent');
SELECT bar9.ack_sms(sid('A', 1), 'retry');
SELECT bar9.ack_sms(sid('A', 1), 'delivered');
-- a repeated delivery receipt changes nothing
SELECT bar9.ack_sms(sid('A', 1), 'delivered');
SELECT bar9.ack_sms(sid('A', 2), 'failed', NULL, 'carrier rejected the number');
SELECT bar9.ack_sms(sid('A', 2), 'delivered');
-- +213555000003 is still queued: not claimed
SELECT bar9.ack_sms(sid('A', 3), 'sent');
SELECT to_number, status, attempt, provider_ref, error, lease_until IS NULL AS no_lease FROM bar9.sms WHERE message_id = 'msg_A' ORDER BY to_number;
SELECT * FROM counts;
--
-- Bad acknowledgements
--
SELECT bar9.ack_sms(-1, 'sent');
SELECT bar9.ack_sms(sid('A', 1), 'bogus');
SELECT bar9.ack_sms(sid('A', 1), 'SENT');
SELECT bar9.ack_sms(sid('A', 1), '');
SELECT bar9.ack_sms(NULL, 'sent');
SELECT bar9.ack_sms(sid('A', 1), NULL);
-- the SQLSTATEs senders can rely on
DO $$ BEGIN PERFORM bar9.ack_sms(-1, 'sent'); EXCEPTION WHEN no_data_found THEN RAISE NOTICE 'unknown sms: %', SQLSTATE; END $$;
DO $$ BEGIN PERFORM bar9.ack_sms(sid('A', 3), 'sent'); EXCEPTION WHEN object_not_in_prerequisite_state THEN RAISE NOTICE 'not claimed: %', SQLSTATE; END $$;
DO $$ BEGIN PERFORM bar9.ack_sms(sid('A', 1), 'nope'); EXCEPTION WHEN invalid_parameter_value THEN RAISE NOTICE 'bad outcome: %', SQLSTATE; END $$;
-- the last SMS: the broadcast completes
SELECT to_number, attempt FROM bar9.claim_sms(10);
SELECT bar9.ack_sms(sid('A', 3), 'sent');
SELECT * FROM counts;
-- a delivery receipt may come from any session
\c
SELECT bar9.ack_sms(sid('A', 3), 'delivered');
SELECT * FROM counts;
--
-- A lease that runs out is taken over; the earlier claimer's ack is refused
--
SELECT mk('B', 1);
SELECT to_number, attempt FROM bar9.claim_sms(10, '100 milliseconds');
SELECT pg_sleep(0.3);
\c
-- another session takes the SMS over: attempt 2, still counted once as sending
SELECT to_number, attempt FROM bar9.claim_sms(10, '3 seconds');
SELECT * FROM counts WHERE message_id = 'msg_B';
\c
-- this session does not hold the current claim
SELECT bar9.ack_sms(sid('B', 1), 'sent');
DO $$ BEGIN PERFORM bar9.ack_sms(sid('B', 1), 'sent'); EXCEPTION WHEN object_not_in_prerequisite_state THEN RAISE NOTICE 'stale ack: %', SQLSTATE; END $$;
SELECT count(*) FROM bar9.claim_sms(10);
SELECT status, attempt FROM bar9.sms WHERE message_id = 'msg_B';
SELECT pg_sleep(3.1);
SELECT to_number, attempt FROM bar9.claim_sms(10);
SELECT bar9.ack_sms(sid('B', 1), 'sent');
SELECT * FROM counts WHERE message_id = 'msg_B';
--
-- Retry: back-off doubling from bar9.retry_delay up to bar9.retry_delay_max,
-- then failed after bar9.max_attempts claims
--
SET bar9.max_attempts = 4;
SET bar9.retry_delay = '100ms';
SET bar9.retry_delay_max = '300ms';
SELECT mk('C', 1);
SELECT to_number, attempt FROM bar9.claim_sms(10);
-- (in one transaction, so that "not due yet" does not depend on the clock)
BEGIN;
SELECT bar9.ack_sms(sid('C', 1), 'retry', NULL, 'carrier timeout');
SELECT status, attempt, available_at - updated_at AS backoff, claimed_by IS NULL AS unclaimed, lease_until IS NULL AS no_lease, error FROM bar9.sms WHERE message_id = 'msg_C';
SELECT * FROM counts WHERE message_id = 'msg_C';
-- not due yet
SELECT count(*) FROM bar9.claim_sms(10);
COMMIT;
SELECT bar9.ack_sms(sid('C', 1), 'retry');
SELECT pg_sleep(0.15);
SELECT to_number, attempt FROM bar9.claim_sms(10);
SELECT bar9.ack_sms(sid('C', 1), 'retry');
SELECT status, attempt, available_at - updated_at AS backoff FROM bar9.sms WHERE message_id = 'msg_C';
SELECT pg_sleep(0.25);
SELECT to_number, attempt FROM bar9.claim_sms(10);
SELECT bar9.ack_sms(sid('C', 1), 'retry');
-- 0.4 s capped at 0.3 s
SELECT status, attempt, available_at - updated_at AS backoff FROM bar9.sms WHERE message_id = 'msg_C';
SELECT pg_sleep(0.35);
SELECT to_number, attempt FROM bar9.claim_sms(10);
-- the fourth claim was the last: failed
SELECT bar9.ack_sms(sid('C', 1), 'retry');
SELECT status, attempt, error FROM bar9.sms WHERE message_id = 'msg_C';
SELECT * FROM counts WHERE message_id = 'msg_C';
SELECT bar9.ack_sms(sid('C', 1), 'retry');
RESET bar9.max_attempts;
RESET bar9.retry_delay;
RESET bar9.retry_delay_max;
SHOW bar9.max_attempts;
SHOW bar9.retry_delay;
SHOW bar9.retry_delay_max;
SET bar9.max_attempts = 0;
SET bar9.max_attempts = 101;
--
-- Canceled broadcasts: queued SMS a cancel skipped are canceled by the claim;
-- claimed ones finish as their sender reports, a retry cancels them
--
SELECT mk('D', 2);
UPDATE bar9.messages SET status = 'canceled' WHERE message_id = 'msg_D';
SELECT count(*) FROM bar9.claim_sms(10);
SELECT * FROM counts WHERE message_id = 'msg_D';
SELECT mk('E', 3);
SELECT to_number, attempt FROM bar9.claim_sms(10, '1 hour') ORDER BY to_number;
UPDATE bar9.messages SET status = 'canceled' WHERE message_id = 'msg_E';
SELECT bar9.ack_sms(sid('E', 1), 'sent');
SELECT bar9.ack_sms(sid('E', 2), 'retry');
SELECT bar9.ack_sms(sid('E', 2), 'sent');
SELECT * FROM counts WHERE message_id = 'msg_E';
--
-- A broadcast still fanning out stays pending while its SMS are claimed;
-- when its fan-out ends its status follows the counters
--
SELECT mk('F', 2, 'pending', false);
SELECT to_number, attempt FROM bar9.claim_sms(1);
SELECT bar9.ack_sms(sid('F', 1), 'sent');
SELECT * FROM counts WHERE message_id = 'msg_F';
UPDATE bar9.messages SET status = 'queued', fanout_done = true WHERE message_id = 'msg_F';
SELECT * FROM counts WHERE message_id = 'msg_F';
SELECT to_number, attempt FROM bar9.claim_sms(1);
SELECT bar9.ack_sms(sid('F', 2), 'delivered');
SELECT * FROM counts WHERE message_id = 'msg_F';
-- a fan-out that created no SMS at all completes at once
SELECT mk('G', 0, 'pending', false);
UPDATE bar9.messages SET status = 'queued', fanout_done = true WHERE message_id = 'msg_G';
SELECT * FROM counts WHERE message_id = 'msg_G';
--
-- Batch acknowledgement: all or none
--
SELECT mk('H', 4);
SELECT count(*) FROM bar9.claim_sms(3);
SELECT bar9.ack_sms_batch(ARRAY[sid('H', 1), sid('H', 2), sid('H', 4)], 'sent');
SELECT status FROM bar9.sms WHERE message_id = 'msg_H' ORDER BY to_number;
SELECT bar9.ack_sms_batch(ARRAY[sid('H', 1), sid('H', 1)], 'sent');
SELECT bar9.ack_sms_batch(ARRAY[sid('H', 1), -7], 'sent');
SELECT bar9.ack_sms_batch(ARRAY[sid('H', 1), NULL], 'sent');
SELECT bar9.ack_sms_batch(ARRAY[sid('H', 1)], 'sent', ARRAY['a', 'b']);
SELECT bar9.ack_sms_batch(ARRAY[[sid('H', 1)]], 'sent');
SELECT bar9.ack_sms_batch('{}', 'sent');
SELECT bar9.ack_sms_batch('{}', 'bogus');
SELECT bar9.ack_sms_batch(NULL, 'sent');
SELECT bar9.ack_sms_batch(ARRAY[sid('H', 1), sid('H', 2)], 'sent', ARRAY['ref-1', NULL]);
SELECT to_number, status, provider_ref FROM bar9.sms WHERE message_id = 'msg_H' ORDER BY to_number;
SELECT bar9.ack_sms_batch(ARRAY[sid('H', 2), sid('H', 1)], 'delivered', ARRAY['ref-2', NULL]);
SELECT to_number, status, provider_ref FROM bar9.sms WHERE message_id = 'msg_H' ORDER BY to_number;
-- claim and acknowledge in one statement, as a sender loop does
WITH c AS (SELECT * FROM bar9.claim_sms(500)) SELECT bar9.ack_sms_batch(array_agg(sms_id), 'sent') FROM c;
SELECT * FROM counts WHERE message_id = 'msg_H';
SELECT bar9.ack_sms_batch(ARRAY[sid('H', 3)], 'failed', NULL, 'no route');
SELECT * FROM counts WHERE message_id = 'msg_H';
-- several broadcasts in one claim, each counted once
SELECT mk('I', 3);
SELECT mk('J', 2);
SELECT message_id, count(*) FROM bar9.claim_sms(100) GROUP BY message_id ORDER BY message_id;
SELECT bar9.ack_sms_batch(ARRAY(SELECT sms_id FROM bar9.sms WHERE status = 'sending' AND message_id IN ('msg_I', 'msg_J')), 'sent');
SELECT * FROM counts WHERE message_id IN ('msg_I', 'msg_J');
-- every broadcast's counters match its SMS
SELECT count(*) AS broadcasts, bool_and(exact) AS all_exact FROM counts;
--
-- Retiring old finished SMS
--
SELECT bar9.retire_sms('-1 day');
SELECT bar9.retire_sms('1 day', 0);
SELECT bar9.retire_sms(NULL);
SELECT bar9.retire_sms();
-- a month passes (msg_K keeps a queued SMS, msg_E a sending one)
SELECT mk('K', 1);
UPDATE bar9.messages SET updated_at = updated_at - interval '31 days';
UPDATE bar9.sms SET updated_at = updated_at - interval '31 days';
SELECT bar9.retire_sms('30 days', 5);
SELECT bar9.retire_sms('30 days', 100);
SELECT bar9.retire_sms('30 days', 100);
SELECT message_id, status FROM bar9.sms ORDER BY message_id, to_number;
-- the counters keep the history
SELECT message_id, status, queued, sending, sent, delivered, failed, canceled FROM counts;
--
-- A claim is a HOT update (no index entries), the final ack is not (it takes
-- the SMS out of the claim index), a delivery receipt is HOT again
--
-- no index of bar9.sms may use a column that a claim changes
SELECT c.relname AS index, a.attname AS blocks_hot FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attname IN ('status', 'attempt', 'lease_until', 'claimed_by', 'updated_at') WHERE i.indrelid = 'bar9.sms'::regclass AND (a.attnum = ANY (i.indkey) OR coalesce(pg_get_expr(i.indpred, i.indrelid), '') ~ ('\m' || a.attname || '\M') OR coalesce(pg_get_expr(i.indexprs, i.indrelid), '') ~ ('\m' || a.attname || '\M')) ORDER BY 1, 2;
SELECT reloptions FROM pg_class WHERE oid = 'bar9.sms'::regclass;
SELECT to_number, attempt FROM bar9.claim_sms(10);
SELECT bar9.ack_sms(sid('K', 1), 'sent');
SELECT mk('L', 2);
VACUUM bar9.sms;
-- (statistics are not flushed inside a transaction: differences are exact)
BEGIN;
SELECT pg_stat_get_xact_tuples_updated('bar9.sms'::regclass) AS u0, pg_stat_get_xact_tuples_hot_updated('bar9.sms'::regclass) AS h0 \gset
SELECT count(*) FROM bar9.claim_sms(10);
SELECT pg_stat_get_xact_tuples_updated('bar9.sms'::regclass) - :u0 AS updated, pg_stat_get_xact_tuples_hot_updated('bar9.sms'::regclass) - :h0 AS hot;
SELECT bar9.ack_sms_batch(ARRAY[sid('L', 1), sid('L', 2)], 'sent');
SELECT pg_stat_get_xact_tuples_updated('bar9.sms'::regclass) - :u0 AS updated, pg_stat_get_xact_tuples_hot_updated('bar9.sms'::regclass) - :h0 AS hot;
SELECT bar9.ack_sms_batch(ARRAY[sid('L', 1), sid('L', 2)], 'delivered');
SELECT pg_stat_get_xact_tuples_updated('bar9.sms'::regclass) - :u0 AS updated, pg_stat_get_xact_tuples_hot_updated('bar9.sms'::regclass) - :h0 AS hot;
COMMIT;
SELECT * FROM counts WHERE message_id = 'msg_L';
--
-- Indexes serve the claim
--
SET enable_seqscan = off;
SET enable_bitmapscan = off;
-- from the start of the index, and from where the last claim ended
EXPLAIN (COSTS OFF) SELECT ctid FROM bar9.sms WHERE NOT finished AND available_at <= now() AND (status = 'queued' OR lease_until < now()) ORDER BY available_at, sms_id LIMIT 10 FOR NO KEY UPDATE SKIP LOCKED;
EXPLAIN (COSTS OFF) SELECT ctid FROM bar9.sms WHERE NOT finished AND available_at <= now() AND (available_at, sms_id) > (now() - interval '1 hour', 42) AND (status = 'queued' OR lease_until < now()) ORDER BY available_at, sms_id LIMIT 10 FOR NO KEY UPDATE SKIP LOCKED;
RESET enable_seqscan;
RESET enable_bitmapscan;
\c postgres
DROP DATABASE bar9_queue_regress;
