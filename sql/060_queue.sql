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
-- It files its SMS history under day (its broadcast_no says so): by default a
-- day far ahead, whose numbers (and so the sms_ids below) do not depend on
-- the day the test runs, and which no retirement reaches.
SELECT bar9.sms_add_partition('2060-01-01');
CREATE FUNCTION mk(label text, n int, status text DEFAULT 'queued', done boolean DEFAULT true, day date DEFAULT '2060-01-01') RETURNS void LANGUAGE sql AS $$ INSERT INTO bar9.broadcasts (account_id, broadcast_id, audience_id, body, encoding, segments, status, fanout_done, recipient_count, n_queued, account_no, broadcast_no) SELECT c.account_id, 'msg_' || label, c.audience_id, 'Hello ' || label, 'GSM-7', 1, status, done, n, n, a.account_no, ((day - date '2000-01-01') << 15) + 1 + (SELECT count(*) FROM bar9.broadcasts)::int FROM bar9.audiences c JOIN bar9.accounts a USING (account_id); INSERT INTO bar9.sms_queue SELECT m.account_no, m.broadcast_no, ('+2135550000' || lpad(g::text, 2, '0'))::bar9.e164 FROM bar9.broadcasts m, generate_series(1, n) g WHERE m.broadcast_id = 'msg_' || label; $$;
-- The sms_id of the current claim of the SMS of msg_<label> to +2135550000NN; for one no claim holds, an id with a claim that never was (claim 0).
CREATE FUNCTION sid(label text, nn int) RETURNS text LANGUAGE sql AS $$ SELECT coalesce((SELECT s.sms_id FROM bar9.sms s WHERE s.broadcast_id = m.broadcast_id AND s.to_number::text = '+2135550000' || lpad(nn::text, 2, '0')), m.account_no || '.' || m.broadcast_no || '.2135550000' || lpad(nn::text, 2, '0') || '.c0') FROM bar9.broadcasts m WHERE m.broadcast_id = 'msg_' || label $$;
-- Status and counters of every broadcast, and whether the counters match the SMS.
CREATE VIEW counts AS SELECT m.broadcast_id, m.status, m.n_queued AS queued, m.n_sending AS sending, m.n_sent AS sent, m.n_delivered AS delivered, m.n_failed AS failed, m.n_canceled AS canceled, (m.n_queued, m.n_sending, m.n_sent, m.n_delivered, m.n_failed, m.n_canceled) = (SELECT count(*) FILTER (WHERE s.status = 'queued'), count(*) FILTER (WHERE s.status = 'sending'), count(*) FILTER (WHERE s.status = 'sent'), count(*) FILTER (WHERE s.status = 'delivered'), count(*) FILTER (WHERE s.status = 'failed'), count(*) FILTER (WHERE s.status = 'canceled') FROM bar9.sms s WHERE s.broadcast_id = m.broadcast_id) AS exact FROM bar9.broadcasts m ORDER BY m.broadcast_id;
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
SELECT to_number, status, attempt, lease_until BETWEEN now() + interval '50 seconds' AND now() + interval '60 seconds' AS one_minute_lease, sms_id IS NOT NULL AS claimed FROM bar9.sms WHERE broadcast_id = 'msg_A' ORDER BY to_number;
-- one claim for the two: one sms_claims row, no SMS row written
SELECT first_number, last_number, remaining, attempt FROM bar9.sms_claims;
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
SELECT to_number, status, attempt, provider_ref, error, lease_until IS NULL AS no_lease FROM bar9.sms WHERE broadcast_id = 'msg_A' ORDER BY to_number;
-- the claim is gone once both are acknowledged
SELECT count(*) FROM bar9.sms_claims;
SELECT * FROM counts;
--
-- Bad acknowledgements
--
SELECT bar9.ack_sms('1.1.2135550000.c1', 'sent');
SELECT bar9.ack_sms('-1', 'sent');
SELECT bar9.ack_sms('1.1.213555000001', 'sent');
SELECT bar9.ack_sms('1.1.213555000001.x1', 'sent');
SELECT bar9.ack_sms('1.1.213555000001.c1 ', 'sent');
SELECT bar9.ack_sms('1.1.+213555000001.c1', 'sent');
SELECT bar9.ack_sms('1.1.999555000001.c1', 'sent');
SELECT bar9.ack_sms('99999999999.1.213555000001.c1', 'sent');
SELECT bar9.ack_sms(sid('A', 1), 'bogus');
SELECT bar9.ack_sms(sid('A', 1), 'SENT');
SELECT bar9.ack_sms(sid('A', 1), '');
SELECT bar9.ack_sms(NULL, 'sent');
SELECT bar9.ack_sms(sid('A', 1), NULL);
-- the SQLSTATEs senders can rely on
DO $$ BEGIN PERFORM bar9.ack_sms('7.7.2135550000.c7', 'sent'); EXCEPTION WHEN no_data_found THEN RAISE NOTICE 'unknown sms: %', SQLSTATE; END $$;
DO $$ BEGIN PERFORM bar9.ack_sms('garbage', 'sent'); EXCEPTION WHEN invalid_text_representation THEN RAISE NOTICE 'malformed sms_id: %', SQLSTATE; END $$;
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
SELECT sms_id AS first_claim, to_number, attempt FROM bar9.claim_sms(10, '100 milliseconds') \gset
\echo :to_number :attempt
SELECT pg_sleep(0.3);
\c
-- another session takes the SMS over: attempt 2, still counted once as sending
SELECT sms_id AS second_claim, to_number, attempt FROM bar9.claim_sms(10, '3 seconds') \gset
\echo :to_number :attempt
SELECT :'first_claim' <> :'second_claim' AS new_id;
SELECT * FROM counts WHERE broadcast_id = 'msg_B';
\c
-- the first claim's id is stale, whichever session presents it
SELECT bar9.ack_sms(:'first_claim', 'sent');
DO $$ BEGIN PERFORM bar9.ack_sms(sid('B', 1) || '0', 'sent'); EXCEPTION WHEN object_not_in_prerequisite_state THEN RAISE NOTICE 'stale ack: %', SQLSTATE; END $$;
SELECT count(*) FROM bar9.claim_sms(10);
SELECT status, attempt FROM bar9.sms WHERE broadcast_id = 'msg_B';
-- the current claim may be acknowledged from any session: this is not the one that claimed
SELECT bar9.ack_sms(:'second_claim', 'sent');
SELECT * FROM counts WHERE broadcast_id = 'msg_B';
-- a lease that ran out with nobody taking over: the claim still stands
SELECT mk('B2', 1);
SELECT sms_id AS b2 FROM bar9.claim_sms(10, '10 milliseconds') \gset
SELECT pg_sleep(0.05);
SELECT bar9.ack_sms(:'b2', 'sent');
-- a run longer than the claim may take is split: the rest stays with the old claim
SELECT mk('B3', 3);
SELECT array_agg(sms_id ORDER BY to_number) AS b3 FROM bar9.claim_sms(10, '10 milliseconds') \gset
SELECT pg_sleep(0.05);
SELECT to_number, attempt FROM bar9.claim_sms(2, '1 hour');
SELECT bar9.ack_sms((:'b3'::text[])[3], 'sent');
SELECT bar9.ack_sms((:'b3'::text[])[1], 'sent');
SELECT first_number, last_number, remaining, attempt FROM bar9.sms_claims ORDER BY first_number;
SELECT bar9.ack_sms_batch(ARRAY(SELECT sms_id FROM bar9.sms WHERE broadcast_id = 'msg_B3' AND status = 'sending'), 'sent');
SELECT * FROM counts WHERE broadcast_id = 'msg_B3';
--
-- Retry: back-off doubling from bar9.retry_delay up to bar9.retry_delay_max,
-- then failed after bar9.max_attempts claims
--
SET bar9.max_attempts = 4;
SET bar9.retry_delay = '100ms';
SET bar9.retry_delay_max = '300ms';
SELECT mk('C', 1);
SELECT to_number, attempt FROM bar9.claim_sms(10);
-- (each retry in one transaction: the back-off is exactly due_at - now())
BEGIN;
SELECT bar9.ack_sms(sid('C', 1), 'retry', NULL, 'carrier timeout');
SELECT status, attempt, lease_until IS NULL AS no_lease, error FROM bar9.sms WHERE broadcast_id = 'msg_C';
SELECT attempt, due_at - now() AS backoff, claim_no IS NULL AS unclaimed FROM bar9.sms_retry;
SELECT * FROM counts WHERE broadcast_id = 'msg_C';
-- not due yet
SELECT count(*) FROM bar9.claim_sms(10);
COMMIT;
-- put back for a retry: its old id is refused, as it is not claimed
SELECT bar9.ack_sms(sid('C', 1), 'retry');
SELECT pg_sleep(0.15);
SELECT to_number, attempt FROM bar9.claim_sms(10);
BEGIN;
SELECT bar9.ack_sms(sid('C', 1), 'retry');
SELECT attempt, due_at - now() AS backoff FROM bar9.sms_retry;
COMMIT;
SELECT pg_sleep(0.25);
SELECT to_number, attempt FROM bar9.claim_sms(10);
BEGIN;
SELECT bar9.ack_sms(sid('C', 1), 'retry');
-- 0.4 s capped at 0.3 s
SELECT attempt, due_at - now() AS backoff FROM bar9.sms_retry;
COMMIT;
SELECT pg_sleep(0.35);
SELECT to_number, attempt FROM bar9.claim_sms(10);
-- the fourth claim was the last: failed
SELECT bar9.ack_sms(sid('C', 1), 'retry');
SELECT status, attempt, error FROM bar9.sms WHERE broadcast_id = 'msg_C';
SELECT * FROM counts WHERE broadcast_id = 'msg_C';
SELECT bar9.ack_sms(sid('C', 1), 'retry');
-- a retried SMS claimed again is acknowledged like any other
SELECT mk('C2', 1);
SELECT count(*) FROM bar9.claim_sms(10);
SELECT bar9.ack_sms(sid('C2', 1), 'retry');
SELECT pg_sleep(0.15);
SELECT sms_id LIKE '%.r%' AS retry_claim, attempt FROM bar9.claim_sms(10);
SELECT bar9.ack_sms(sid('C2', 1), 'sent', 'ref-c2');
SELECT bar9.ack_sms(sid('C2', 1), 'delivered');
SELECT status, attempt, provider_ref, error FROM bar9.sms WHERE broadcast_id = 'msg_C2';
SELECT * FROM counts WHERE broadcast_id = 'msg_C2';
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
SELECT (bar9.cancel_broadcast(:'acct', 'msg_D')).status;
SELECT count(*) FROM bar9.claim_sms(10);
SELECT * FROM counts WHERE broadcast_id = 'msg_D';
SELECT mk('E', 3);
SELECT to_number, attempt FROM bar9.claim_sms(10, '1 hour') ORDER BY to_number;
SELECT (bar9.cancel_broadcast(:'acct', 'msg_E')).status;
SELECT bar9.ack_sms(sid('E', 1), 'sent');
SELECT bar9.ack_sms(sid('E', 2), 'retry');
SELECT bar9.ack_sms(sid('E', 2), 'sent');
SELECT * FROM counts WHERE broadcast_id = 'msg_E';
-- a claim whose lease runs out after its broadcast was canceled is not handed out again
SELECT mk('E2', 2);
SELECT count(*) FROM bar9.claim_sms(10, '10 milliseconds');
SELECT (bar9.cancel_broadcast(:'acct', 'msg_E2')).status;
SELECT pg_sleep(0.05);
SELECT count(*) FROM bar9.claim_sms(10);
SELECT * FROM counts WHERE broadcast_id = 'msg_E2';
--
-- A broadcast still fanning out stays pending while its SMS are claimed;
-- when its fan-out ends its status follows the counters
--
SELECT mk('F', 2, 'pending', false);
SELECT to_number, attempt FROM bar9.claim_sms(1);
SELECT bar9.ack_sms(sid('F', 1), 'sent');
SELECT * FROM counts WHERE broadcast_id = 'msg_F';
UPDATE bar9.broadcasts SET status = 'queued', fanout_done = true WHERE broadcast_id = 'msg_F';
SELECT * FROM counts WHERE broadcast_id = 'msg_F';
SELECT to_number, attempt FROM bar9.claim_sms(1);
SELECT bar9.ack_sms(sid('F', 2), 'delivered');
SELECT * FROM counts WHERE broadcast_id = 'msg_F';
-- a fan-out that created no SMS at all completes at once
SELECT mk('G', 0, 'pending', false);
UPDATE bar9.broadcasts SET status = 'queued', fanout_done = true WHERE broadcast_id = 'msg_G';
SELECT * FROM counts WHERE broadcast_id = 'msg_G';
--
-- Batch acknowledgement: all or none
--
SELECT mk('H', 4);
SELECT count(*) FROM bar9.claim_sms(3);
SELECT bar9.ack_sms_batch(ARRAY[sid('H', 1), sid('H', 2), sid('H', 4)], 'sent');
SELECT status FROM bar9.sms WHERE broadcast_id = 'msg_H' ORDER BY to_number;
SELECT bar9.ack_sms_batch(ARRAY[sid('H', 1), sid('H', 1)], 'sent');
SELECT bar9.ack_sms_batch(ARRAY[sid('H', 1), 'x'], 'sent');
SELECT bar9.ack_sms_batch(ARRAY[sid('H', 1), NULL], 'sent');
SELECT bar9.ack_sms_batch(ARRAY[sid('H', 1)], 'sent', ARRAY['a', 'b']);
SELECT bar9.ack_sms_batch(ARRAY[[sid('H', 1)]], 'sent');
SELECT bar9.ack_sms_batch('{}', 'sent');
SELECT bar9.ack_sms_batch('{}', 'bogus');
SELECT bar9.ack_sms_batch(NULL, 'sent');
SELECT bar9.ack_sms_batch(ARRAY[sid('H', 1), sid('H', 2)], 'sent', ARRAY['ref-1', NULL]);
SELECT to_number, status, provider_ref FROM bar9.sms WHERE broadcast_id = 'msg_H' ORDER BY to_number;
SELECT bar9.ack_sms_batch(ARRAY[sid('H', 2), sid('H', 1)], 'delivered', ARRAY['ref-2', NULL]);
SELECT to_number, status, provider_ref FROM bar9.sms WHERE broadcast_id = 'msg_H' ORDER BY to_number;
-- claim and acknowledge in one statement, as a sender loop does
WITH c AS (SELECT * FROM bar9.claim_sms(500)) SELECT bar9.ack_sms_batch(array_agg(sms_id), 'sent') FROM c;
SELECT * FROM counts WHERE broadcast_id = 'msg_H';
SELECT bar9.ack_sms_batch(ARRAY[sid('H', 3)], 'failed', NULL, 'no route');
SELECT * FROM counts WHERE broadcast_id = 'msg_H';
-- several broadcasts in one claim, each counted once
SELECT mk('I', 3);
SELECT mk('J', 2);
SELECT message_id, count(*) FROM bar9.claim_sms(100) GROUP BY message_id ORDER BY message_id;
SELECT bar9.ack_sms_batch(ARRAY(SELECT sms_id FROM bar9.sms WHERE status = 'sending' AND broadcast_id IN ('msg_I', 'msg_J')), 'sent');
SELECT * FROM counts WHERE broadcast_id IN ('msg_I', 'msg_J');
-- every broadcast's counters match its SMS
SELECT count(*) AS broadcasts, bool_and(exact) AS all_exact FROM counts;
--
-- Retiring old SMS: whole days of history, once every broadcast of the day
-- is finished; the counters keep the history
--
SELECT bar9.retire_sms('-1 day');
SELECT bar9.retire_sms(NULL);
SELECT bar9.retire_sms();
-- today, tomorrow and the day after have their partition
SELECT count(*) FROM bar9.sms_days WHERE sms_day BETWEEN (now() AT TIME ZONE 'UTC')::date AND (now() AT TIME ZONE 'UTC')::date + 2;
SELECT bar9.sms_add_partitions();
-- a broadcast's number carries its day; a new one is today's (this one is
-- canceled at once: no claim of the tests below may take it)
SELECT bar9.add_number(:'acct', :'chan', '+213555009999') \g /dev/null
SELECT id AS today_msg FROM bar9.create_broadcast(:'acct', :'chan', 'today') \gset
SELECT (bar9.cancel_broadcast(:'acct', :'today_msg')).status;
SELECT bar9.broadcast_day(broadcast_no) = (now() AT TIME ZONE 'UTC')::date AS today, broadcast_no & 32767 AS nth_today FROM bar9.broadcasts WHERE broadcast_id = :'today_msg';
SELECT bar9.broadcast_day(0), bar9.broadcast_day(32767), bar9.broadcast_day(32768);
SELECT bar9.sms_add_partition('1999-12-31');
SELECT bar9.sms_add_partition('2180-01-01');
SELECT bar9.sms_add_partition(NULL);
-- two old days: one whose broadcast is completed, one with a broadcast still sending
SELECT bar9.sms_add_partition('2026-01-05'), bar9.sms_add_partition('2026-01-06');
SELECT bar9.sms_add_partition('2026-01-05');
SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'sms_history_20260105';
SELECT mk('OLD1', 2, day => '2026-01-05');
SELECT mk('OLD2', 1, day => '2026-01-06');
SELECT count(*) FROM bar9.claim_sms(10);
SELECT bar9.ack_sms_batch(ARRAY[sid('OLD1', 1), sid('OLD1', 2)], 'sent');
SELECT bar9.broadcast_day(broadcast_no), count(*) FROM bar9.sms_history WHERE broadcast_no < (date '2026-02-01' - date '2000-01-01') << 15 GROUP BY 1 ORDER BY 1;
SELECT broadcast_id, status, sent FROM counts WHERE broadcast_id LIKE 'msg_OLD%';
SELECT bar9.retire_sms('30 days');
SELECT sms_day FROM bar9.sms_days WHERE sms_day < '2026-02-01' ORDER BY 1;
SELECT relname FROM pg_class WHERE relname LIKE 'sms_history_202601%' ORDER BY 1;
-- the counters keep the history
SELECT broadcast_id, status, queued, sending, sent, delivered, failed, canceled FROM counts WHERE broadcast_id LIKE 'msg_OLD%';
SELECT bar9.ack_sms(sid('OLD2', 1), 'sent');
SELECT bar9.retire_sms('30 days');
SELECT sms_day FROM bar9.sms_days WHERE sms_day < '2026-02-01' ORDER BY 1;
--
-- A claim writes no SMS row; an acknowledgement moves each SMS once, from
-- the queue to the history; a delivery receipt changes its history row
--
SELECT mk('L', 2);
-- (statistics are not flushed inside a transaction: differences are exact)
BEGIN;
CREATE TEMP VIEW writes_now AS SELECT CASE WHEN c.relname LIKE 'sms_history_%' THEN 'sms_history (its day)' ELSE c.relname::text END AS relname, pg_stat_get_xact_tuples_inserted(c.oid) AS ins, pg_stat_get_xact_tuples_updated(c.oid) AS upd, pg_stat_get_xact_tuples_deleted(c.oid) AS del FROM pg_class c WHERE c.relnamespace = 'bar9'::regnamespace AND c.relname IN ('sms_queue', 'sms_claims', 'sms_retry') OR c.oid = (SELECT p.oid FROM pg_class p JOIN bar9.broadcasts m ON p.relname = 'sms_history_' || to_char(bar9.broadcast_day(m.broadcast_no), 'YYYYMMDD') WHERE m.broadcast_id = 'msg_L');
CREATE TEMP TABLE writes_before AS SELECT * FROM writes_now;
CREATE TEMP VIEW writes AS SELECT n.relname, n.ins - b.ins AS inserted, n.upd - b.upd AS updated, n.del - b.del AS deleted FROM writes_now n JOIN writes_before b USING (relname) ORDER BY 1;
SELECT count(*) FROM bar9.claim_sms(10);
SELECT * FROM writes;
SELECT bar9.ack_sms_batch(ARRAY[sid('L', 1), sid('L', 2)], 'sent');
SELECT * FROM writes;
SELECT bar9.ack_sms_batch(ARRAY[sid('L', 1), sid('L', 2)], 'delivered');
SELECT * FROM writes;
COMMIT;
SELECT * FROM counts WHERE broadcast_id = 'msg_L';
-- every broadcast's counters match its SMS (but those whose SMS were retired)
SELECT count(*) AS broadcasts, bool_and(exact) AS all_exact FROM counts WHERE broadcast_id NOT LIKE 'msg_OLD%';
--
-- GET …/messages/:message_id/recipients: every SMS of a broadcast with its
-- status, in bar9.e164 order; ?status= filters, pages by phone number
--
SELECT bar9.create_api_key(:'acct', ARRAY['marketing:channels:read']) AS key \gset
SELECT bar9.create_api_key(bar9.create_account('someone else'), ARRAY['marketing:channels:read']) AS other_key \gset
CREATE FUNCTION pg_temp.get(key text, path text) RETURNS TABLE (status int, body text) LANGUAGE sql AS $$ SELECT r.status, regexp_replace(r.body, '"updated_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"', '"updated_at":"<time>"', 'g') FROM bar9.api('GET', path, jsonb_build_object('authorization', 'Bearer ' || key), NULL) r $$;
SELECT mk('Recipients000000000000', 6);
SELECT '/v1/marketing/channels/' || :'chan' || '/messages/msg_Recipients000000000000/recipients' AS rec \gset
SELECT array_agg(sms_id ORDER BY to_number) AS r FROM bar9.claim_sms(4) \gset
SELECT bar9.ack_sms((:'r'::text[])[1], 'sent'), bar9.ack_sms((:'r'::text[])[2], 'failed', NULL, 'no route'), bar9.ack_sms((:'r'::text[])[3], 'retry');
SELECT canceled_sms > 0 AS canceled FROM bar9.add_opt_out(:'acct', '+213555000006');
SELECT * FROM pg_temp.get(:'key', :'rec');
SELECT * FROM pg_temp.get(:'key', :'rec' || '?status=queued');
SELECT * FROM pg_temp.get(:'key', :'rec' || '?status=canceled');
SELECT * FROM pg_temp.get(:'key', :'rec' || '?limit=2');
SELECT * FROM pg_temp.get(:'key', :'rec' || '?limit=2&starting_after=%2B213555000002');
SELECT * FROM pg_temp.get(:'key', :'rec' || '?status=queued&starting_after=%2B213555000003');
SELECT * FROM pg_temp.get(:'key', :'rec' || '?status=bogus');
SELECT * FROM pg_temp.get(:'key', :'rec' || '?starting_after=0555');
SELECT * FROM pg_temp.get(:'key', :'rec' || '?limit=0');
SELECT * FROM pg_temp.get(:'key', '/v1/marketing/channels/' || :'chan' || '/messages/msg_Nosuch0000000000000000/recipients');
SELECT * FROM pg_temp.get(:'key', '/v1/marketing/channels/' || :'chan' || '/messages/nope/recipients');
-- another account sees nothing of it
SELECT status, body::jsonb->'error'->>'code' AS code FROM pg_temp.get(:'other_key', :'rec');
SELECT status FROM bar9.api('POST', :'rec', jsonb_build_object('authorization', 'Bearer ' || :'key'), NULL);
--
-- Indexes serve the claim and the acknowledgement
--
SET enable_seqscan = off;
SET enable_bitmapscan = off;
-- the broadcasts in turn, then the run after a broadcast's cursor
EXPLAIN (COSTS OFF) SELECT account_no, broadcast_no FROM bar9.broadcasts WHERE status IN ('pending', 'queued', 'sending') AND n_queued > 0 ORDER BY claimed_at NULLS FIRST LIMIT 16;
EXPLAIN (COSTS OFF) SELECT to_number FROM bar9.sms_queue WHERE account_no = 1 AND broadcast_no = 1 AND to_number OPERATOR(bar9.>) '+213555000001' ORDER BY to_number LIMIT 500;
-- an acknowledgement probes the key of its broadcast's day, one partition
SELECT bar9.sms_add_partition('2025-01-01');
EXPLAIN (COSTS OFF) SELECT * FROM bar9.sms_history WHERE account_no = 1 AND broadcast_no = ((date '2025-01-01' - date '2000-01-01') << 15) + 7 AND to_number OPERATOR(bar9.=) '+213555000001';
RESET enable_seqscan;
RESET enable_bitmapscan;
-- an expired claim with no SMS left in the queue (acks drop a run with its
-- last SMS, so only a bug could leave one) is dropped, not renewed for ever
INSERT INTO bar9.sms_claims SELECT account_no, broadcast_no, -1, '+213555999998', '+213555999999', 2, 1, now() - interval '1 year', now() - interval '1 year' FROM bar9.broadcasts ORDER BY broadcast_no LIMIT 1;
SET client_min_messages = error;
SELECT count(*) <= 1 AS at_most_one FROM bar9.claim_sms(1);
RESET client_min_messages;
SELECT count(*) AS empty_claims_left FROM bar9.sms_claims WHERE first_number OPERATOR(bar9.=) '+213555999998';
--
-- The bar9_sender role: a sender logs in with a member of it and may run
-- the sender functions, nothing else
--
CREATE ROLE regress_bar9_sender LOGIN IN ROLE bar9_sender;
SELECT mk('Sender', 2);
\c - regress_bar9_sender
WITH c AS (SELECT * FROM bar9.claim_sms(100)) SELECT count(*) > 0 AS claimed, bar9.ack_sms_batch(array_agg(sms_id), 'sent') > 0 AS acknowledged FROM c;
SELECT count(*) FROM bar9.claim_sms(100);
SELECT bar9.receive_sms(:'acct', '+213555000009', 'HELP') IS NOT NULL AS replied;
SELECT bar9.report_delivery('no-such-ref', 'delivered') AS receipt_matched;
SELECT bar9.receive_sms_at('99999', '+213555000009', 'HELP');
-- and nothing else
SELECT bar9.add_sender(:'acct', 'MINE');
SELECT * FROM bar9.sms_receipt_wait;
SELECT count(*) FROM bar9.sms_queue;
SELECT * FROM bar9.sms LIMIT 1;
UPDATE bar9.broadcasts SET n_sent = 0;
SELECT bar9.create_account('not a sender''s business');
SELECT bar9.retire_sms();
SELECT status FROM bar9.api('GET', '/v1/marketing/channels', '{}', NULL);
-- exactly these functions run, beside the type's own (operators, casts, I/O)
SELECT p.oid::regprocedure AS executable FROM pg_proc p WHERE p.pronamespace = 'bar9'::regnamespace AND has_function_privilege(p.oid, 'EXECUTE') AND NOT (p.oid IN (SELECT oprcode FROM pg_operator) OR p.oid IN (SELECT castfunc FROM pg_cast) OR p.oid IN (SELECT amproc FROM pg_amproc) OR p.oid IN (SELECT unnest(ARRAY[typinput, typoutput, typreceive, typsend]) FROM pg_type WHERE typnamespace = 'bar9'::regnamespace)) ORDER BY p.oid::regprocedure::text;
-- and no table or view is readable or writable
SELECT count(*) AS reachable FROM pg_class c WHERE c.relnamespace = 'bar9'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S') AND (has_table_privilege(c.oid, 'SELECT') OR has_table_privilege(c.oid, 'INSERT') OR has_table_privilege(c.oid, 'UPDATE') OR has_table_privilege(c.oid, 'DELETE'));
\c - postgres
\c postgres
DROP DATABASE bar9_queue_regress;
DROP ROLE regress_bar9_sender;
