-- Sender addresses (bar9.add_sender, remove_sender, list_senders), the
-- broadcast's "from" checked against them and handed out by claim_sms,
-- delivery receipts by provider_ref (bar9.report_delivery, its batched
-- form bar9.report_deliveries, and the sms_receipt_wait rows they
-- consume), inbound SMS by destination address
-- (bar9.receive_sms_at), and what the bar9_sender role may call.
-- It runs in a database of its own: it claims SMS, which must be its own.
DROP DATABASE IF EXISTS bar9_senders_regress;
CREATE DATABASE bar9_senders_regress;
ALTER DATABASE bar9_senders_regress SET lc_messages TO 'C';
\c bar9_senders_regress
CREATE EXTENSION bar9;
\set VERBOSITY default
CREATE FUNCTION pg_temp.mask(t text) RETURNS text LANGUAGE sql AS $$ SELECT regexp_replace(regexp_replace(t, '(mkt|acct|key|msg)_[0-9A-Za-z]{22}', '\1_X', 'g'), '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', 'TIME', 'g') $$;
-- run q; its error (SQLSTATE and message, ids masked) if it fails
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN EXECUTE q; RETURN 'ok'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || pg_temp.mask(SQLERRM); END $$;
SELECT bar9.create_account('Senders') AS acct \gset
SELECT bar9.create_account('Other') AS acct2 \gset
SELECT jsonb_build_object('authorization', 'Bearer ' || bar9.create_api_key(:'acct', ARRAY['marketing:channels:read', 'marketing:channels:write', 'marketing:channels:send']), 'content-type', 'application/json') AS h \gset
SELECT (bar9.create_audience(:'acct', 'Promo')).id AS cid \gset
SELECT added FROM bar9.add_numbers(:'acct', :'cid', ARRAY['+213555123456', '+33612345678', '+447911123456']);
\set msgs '/v1/marketing/channels/' :cid '/messages'
--
-- add_sender: the three kinds of address, in canonical form
--
SELECT bar9.add_sender(:'acct', '+213555000001');
SELECT bar9.add_sender(:'acct', '38383');
SELECT bar9.add_sender(:'acct', 'BAR9', true);
SELECT bar9.add_sender(:'acct', 'Shop 2');
SELECT address, is_default, created_at IS NOT NULL AS has_time FROM bar9.list_senders(:'acct');
-- anything else is 22023, and adds nothing
SELECT pg_temp.try(format('SELECT bar9.add_sender(%L, %L)', :'acct', a)) FROM unnest(ARRAY['12', '123456789', '+0123', '+2135550000011234567', '', 'TWELVE CHARS', '12345-6', 'Ωμέγα€', 'emoji😀', '213 555']) a;
SELECT count(*) AS senders FROM bar9.senders;
-- the error says what an address is
SELECT bar9.add_sender(:'acct', '42');
-- an unknown account: 42704; NULL: nothing (STRICT)
SELECT bar9.add_sender('acct_nosuch', 'BAR9');
SELECT bar9.add_sender(NULL, 'BAR9') IS NULL AS strict;
-- one default: a new default takes over
SELECT bar9.add_sender(:'acct', '38383', true);
SELECT address, is_default FROM bar9.list_senders(:'acct');
-- adding again sets is_default and keeps one row
SELECT bar9.add_sender(:'acct', 'BAR9', true);
SELECT bar9.add_sender(:'acct', 'BAR9', false);
SELECT address, is_default FROM bar9.list_senders(:'acct');
SELECT bar9.add_sender(:'acct', 'BAR9', true);
-- an address has one account: the inbound route needs it
SELECT bar9.add_sender(:'acct2', '38383');
SELECT bar9.add_sender(:'acct2', 'OTHER', true);
SELECT address FROM bar9.list_senders(:'acct2');
-- remove_sender: true once, then false; another account's address: false
SELECT bar9.remove_sender(:'acct', 'Shop 2');
SELECT bar9.remove_sender(:'acct', 'Shop 2');
SELECT bar9.remove_sender(:'acct', 'OTHER');
SELECT bar9.remove_sender(:'acct', 'not valid!!!!');
SELECT address FROM bar9.list_senders(:'acct');
SELECT bar9.list_senders('acct_nosuch');
--
-- POST …/messages with "from"
--
-- an address the account has not registered: 400 invalid_parameter, param from
SELECT status, body FROM bar9.api('POST', :'msgs', :'h', convert_to('{"body": "Hi", "from": "OTHER"}', 'UTF8'));
SELECT status, body FROM bar9.api('POST', :'msgs', :'h', convert_to('{"body": "Hi", "from": "NOPE"}', 'UTF8'));
SELECT status, body FROM bar9.api('POST', :'msgs', :'h', convert_to('{"body": "Hi", "from": 38383}', 'UTF8'));
SELECT count(*) AS no_broadcast_made FROM bar9.broadcasts;
-- a registered one
CREATE TEMP TABLE r AS SELECT * FROM bar9.api('POST', :'msgs', :'h', convert_to('{"body": "From the short code", "from": "38383"}', 'UTF8'));
SELECT status, body::jsonb->'from' AS "from" FROM r;
SELECT body::jsonb->>'id' AS m1 FROM r \gset
-- none: the account's default
TRUNCATE r;
INSERT INTO r SELECT * FROM bar9.api('POST', :'msgs', :'h', convert_to('{"body": "From the default"}', 'UTF8'));
SELECT status, body::jsonb->'from' AS "from" FROM r;
SELECT body::jsonb->>'id' AS m2 FROM r \gset
-- GET shows it too
SELECT a.body::jsonb->'from' AS "from" FROM bar9.api('GET', :'msgs' || '/' || :'m1', :'h', NULL) a;
-- removing the sender later changes no broadcast already made
SELECT bar9.remove_sender(:'acct', '+213555000001');
-- no default, none named: null, and the gateway's default applies
UPDATE bar9.senders SET is_default = false;
TRUNCATE r;
INSERT INTO r SELECT * FROM bar9.api('POST', :'msgs', :'h', convert_to('{"body": "From nobody"}', 'UTF8'));
SELECT status, body::jsonb->'from' AS "from" FROM r;
SELECT body::jsonb->>'id' AS m3 FROM r \gset
SELECT bar9.fanout_run(:'acct', :'m1'), bar9.fanout_run(:'acct', :'m2'), bar9.fanout_run(:'acct', :'m3');
--
-- claim_sms hands out the address
--
CREATE TEMP TABLE c AS SELECT * FROM bar9.claim_sms(100);
SELECT message_id = :'m1' AS m1, message_id = :'m2' AS m2, to_number, from_address FROM c ORDER BY 1 DESC, 2 DESC, to_number;
--
-- Receipts: ack 'sent' with a provider_ref leaves one sms_receipt_wait row
-- each; report_delivery finds the SMS by it
--
SELECT bar9.ack_sms_batch(array_agg(sms_id ORDER BY sms_id), 'sent', array_agg('ref-' || substr(to_number::text, 2) || '-' || right(message_id, 4) ORDER BY sms_id)) FROM c WHERE message_id = :'m1';
SELECT bar9.ack_sms_batch(array_agg(sms_id), 'sent') FROM c WHERE message_id = :'m2';
SELECT count(*) AS waiting FROM bar9.sms_receipt_wait;
SELECT w.ref_hash = hashtext(s.provider_ref) AS keyed_by_hash FROM bar9.sms_receipt_wait w JOIN bar9.sms s ON w.to_number::text = s.to_number::text WHERE s.broadcast_id = :'m1' ORDER BY s.to_number;
SELECT 'ref-213555123456-' || right(:'m1', 4) AS ref1, 'ref-33612345678-' || right(:'m1', 4) AS ref2, 'ref-447911123456-' || right(:'m1', 4) AS ref3 \gset
SELECT bar9.report_delivery(:'ref1', 'delivered');
SELECT bar9.report_delivery(:'ref2', 'failed', 'DELIVRD? no: UNDELIV err 001');
SELECT bar9.report_delivery(:'ref3', 'failed');
SELECT to_number, status, error FROM bar9.sms WHERE broadcast_id = :'m1' ORDER BY to_number;
SELECT status, n_sent, n_delivered, n_failed FROM bar9.broadcasts WHERE broadcast_id = :'m1';
SELECT count(*) AS waiting FROM bar9.sms_receipt_wait;
-- a repeated receipt, or one for an SMS already failed, changes nothing: false
SELECT bar9.report_delivery(:'ref1', 'delivered');
SELECT bar9.report_delivery(:'ref1', 'failed');
SELECT bar9.report_delivery(:'ref2', 'delivered');
SELECT to_number, status FROM bar9.sms WHERE broadcast_id = :'m1' ORDER BY to_number;
SELECT n_sent, n_delivered, n_failed FROM bar9.broadcasts WHERE broadcast_id = :'m1';
-- an unknown reference: false
SELECT bar9.report_delivery('no-such-ref', 'delivered');
-- bad arguments: 22023, 22004
SELECT bar9.report_delivery(:'ref1', 'sent');
SELECT bar9.report_delivery(NULL, 'delivered');
SELECT bar9.report_delivery(:'ref1', NULL);
-- a reference whose hash another SMS's reference shares is told apart
INSERT INTO bar9.sms_receipt_wait SELECT hashtext('collide'), account_no, broadcast_no, to_number FROM bar9.sms_history h JOIN bar9.broadcasts m USING (account_no, broadcast_no) WHERE m.broadcast_id = :'m2' AND h.to_number::text = '+213555123456';
SELECT bar9.report_delivery('collide', 'delivered');
SELECT status FROM bar9.sms WHERE broadcast_id = :'m2' AND to_number::text = '+213555123456';
SELECT count(*) AS collision_row_kept FROM bar9.sms_receipt_wait WHERE ref_hash = hashtext('collide');
DELETE FROM bar9.sms_receipt_wait;
--
-- A delivery reported by sms_id (ack_sms 'delivered' after 'sent') ends
-- the wait too: a later receipt by reference changes nothing
--
SELECT bar9.ack_sms(sms_id, 'sent', 'ref-m3-' || to_number) FROM c WHERE message_id = :'m3';
SELECT count(*) AS waiting FROM bar9.sms_receipt_wait;
SELECT bar9.ack_sms(sms_id, 'delivered') FROM c WHERE message_id = :'m3' AND to_number::text = '+213555123456';
SELECT count(*) AS waiting FROM bar9.sms_receipt_wait;
SELECT bar9.report_delivery('ref-m3-+213555123456', 'failed');
SELECT to_number, status FROM bar9.sms WHERE broadcast_id = :'m3' ORDER BY to_number;
SELECT bar9.report_delivery('ref-m3-+33612345678', 'delivered');
SELECT n_sent, n_delivered, n_failed, status FROM bar9.broadcasts WHERE broadcast_id = :'m3';
-- one SMS still waits for its receipt
SELECT count(*) AS waiting FROM bar9.sms_receipt_wait;
-- the receipt lookup is one probe of the index on ref_hash
EXPLAIN (COSTS OFF) SELECT x.account_no, x.broadcast_no, x.to_number FROM bar9.sms_receipt_wait x WHERE x.ref_hash = hashtext('ref-m3-+447911123456');
--
-- Inbound SMS by destination address: the owning account's keywords
--
SELECT bar9.receive_sms_at('38383', '+213555123456', 'STOP') IS NOT NULL AS confirmed;
SELECT a.account_id = :'acct' AS own_account, o.phone_number, o.source FROM bar9.opt_outs o JOIN bar9.accounts a USING (account_id);
SELECT bar9.receive_sms_at('38383', '+213555123456', 'hello') IS NULL AS no_reply;
SELECT bar9.receive_sms_at('99999', '+213555123456', 'STOP');
SELECT count(*) AS opt_outs FROM bar9.opt_outs;
--
-- The bar9_sender role reports receipts and inbound SMS, and manages no
-- sender address
--
CREATE ROLE regress_bar9_sender80 LOGIN IN ROLE bar9_sender;
\c - regress_bar9_sender80
SELECT bar9.report_delivery('ref-m3-+447911123456', 'delivered');
SELECT bar9.receive_sms_at('38383', '+33612345678', 'HELP') IS NOT NULL AS replied;
SELECT bar9.report_deliveries(ARRAY['no-such-ref'], ARRAY['delivered']);
SELECT bar9.add_sender(:'acct', 'MINE');
SELECT bar9.remove_sender(:'acct', 'BAR9');
SELECT * FROM bar9.list_senders(:'acct');
SELECT * FROM bar9.senders;
DELETE FROM bar9.sms_receipt_wait;
\c - postgres
SELECT status, n_sent, n_delivered FROM bar9.broadcasts WHERE broadcast_id = :'m3';
SELECT count(*) AS waiting FROM bar9.sms_receipt_wait;
--
-- report_deliveries: many receipts in one call, the same results as
-- report_delivery for each in order (states, errors, counters, what still
-- waits, what each returns), on the same data: two broadcasts, single and
-- split SMS (b4-3 in 2 parts, b4-4 in 3), a repeated receipt, an unknown
-- reference, receipts of parts of an SMS already failed
--
SELECT (bar9.create_audience(:'acct', 'Batch')).id AS cid2 \gset
SELECT added FROM bar9.add_numbers(:'acct', :'cid2', ARRAY['+447700900001', '+447700900002', '+447700900003', '+447700900004']);
\set msgs2 '/v1/marketing/channels/' :cid2 '/messages'
SELECT body::jsonb->>'id' AS m4 FROM bar9.api('POST', :'msgs2', :'h', convert_to('{"body": "Four"}', 'UTF8')) \gset
SELECT body::jsonb->>'id' AS m5 FROM bar9.api('POST', :'msgs2', :'h', convert_to('{"body": "Five"}', 'UTF8')) \gset
SELECT bar9.fanout_run(:'acct', :'m4'), bar9.fanout_run(:'acct', :'m5');
CREATE TEMP TABLE c2 AS SELECT * FROM bar9.claim_sms(100);
SELECT bar9.ack_sms_batch(array_agg(sms_id ORDER BY sms_id), 'sent', array_agg(CASE WHEN message_id = :'m4' THEN CASE right(to_number::text, 1) WHEN '3' THEN 'b4-3a b4-3b' WHEN '4' THEN 'b4-4a b4-4b b4-4c' ELSE 'b4-' || right(to_number::text, 1) END ELSE 'b5-' || right(to_number::text, 1) END ORDER BY sms_id)) FROM c2;
SELECT count(*) AS waiting FROM bar9.sms_receipt_wait;
-- the SMS of both broadcasts, their counters and what still waits, as text
CREATE FUNCTION pg_temp.receipts_state(m4 text, m5 text) RETURNS text LANGUAGE sql AS $$
SELECT (SELECT string_agg(concat_ws(' ', CASE s.broadcast_id WHEN m4 THEN 'b4' ELSE 'b5' END, s.to_number, s.status, s.error), '; ' ORDER BY s.broadcast_id = m5, s.to_number) FROM bar9.sms s WHERE s.broadcast_id IN (m4, m5))
	|| ' | ' || (SELECT string_agg(concat_ws(' ', b.n_sent, b.n_delivered, b.n_failed, b.status), '; ' ORDER BY b.broadcast_id = m5) FROM bar9.broadcasts b WHERE b.broadcast_id IN (m4, m5))
	|| ' | ' || (SELECT count(*) FROM bar9.sms_receipt_wait)
$$;
\set refs '{b5-1,b4-1,b4-2,b4-3a,b4-4b,b5-1,nope,b4-4a,b4-3b,b5-2,b4-4c}'
\set outs '{delivered,delivered,failed,delivered,failed,delivered,delivered,delivered,delivered,failed,failed}'
\set errs '{NULL,NULL,E1,NULL,"part 2 failed",NULL,NULL,NULL,NULL,NULL,NULL}'
BEGIN;
SAVEPOINT one_by_one;
SELECT array_agg(bar9.report_delivery(u.r, u.o, u.e) ORDER BY u.i) AS single FROM ROWS FROM (unnest(:'refs'::text[]), unnest(:'outs'::text[]), unnest(:'errs'::text[])) WITH ORDINALITY AS u(r, o, e, i) \gset
SELECT pg_temp.receipts_state(:'m4', :'m5') AS single_state \gset
ROLLBACK TO SAVEPOINT one_by_one;
SELECT count(*) AS waiting_again FROM bar9.sms_receipt_wait;
SELECT bar9.report_deliveries(:'refs', :'outs', :'errs') AS batch \gset
SELECT pg_temp.receipts_state(:'m4', :'m5') AS batch_state \gset
COMMIT;
SELECT :'single' AS one_by_one, :'batch' AS batched, :'single' = :'batch' AS same_results;
SELECT :'single_state' = :'batch_state' AS same_states_and_counters;
SELECT broadcast_id = :'m4' AS b4, to_number, status, error FROM bar9.sms WHERE broadcast_id IN (:'m4', :'m5') ORDER BY 1 DESC, 2;
SELECT broadcast_id = :'m4' AS b4, n_sent, n_delivered, n_failed FROM bar9.broadcasts WHERE broadcast_id IN (:'m4', :'m5') ORDER BY 1 DESC;
SELECT to_number, part_ref, parts_left FROM bar9.sms_receipt_wait ORDER BY to_number;
-- nothing: an empty array; errors may be NULL, or hold NULLs
SELECT bar9.report_deliveries('{}', '{}');
SELECT bar9.report_deliveries(ARRAY['nope'], ARRAY['failed'], NULL);
-- bad input (the session's pg_temp functions went with \c: again)
CREATE FUNCTION pg_temp.mask(t text) RETURNS text LANGUAGE sql AS $$ SELECT regexp_replace(regexp_replace(t, '(mkt|acct|key|msg)_[0-9A-Za-z]{22}', '\1_X', 'g'), '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', 'TIME', 'g') $$;
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN EXECUTE q; RETURN 'ok'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || pg_temp.mask(SQLERRM); END $$;
-- lengths that differ or arrays of 2 dimensions 22023, NULL
-- arrays or elements 22004, an outcome other than delivered or failed
-- 22023; and no receipt of the call is applied (b5-3 still waits)
SELECT pg_temp.try($$SELECT bar9.report_deliveries(ARRAY['b5-3', 'b5-4'], ARRAY['delivered'])$$);
SELECT pg_temp.try($$SELECT bar9.report_deliveries(ARRAY['b5-3'], ARRAY['delivered'], ARRAY['a', 'b'])$$);
SELECT pg_temp.try($$SELECT bar9.report_deliveries(ARRAY[['b5-3'], ['b5-4']], ARRAY['delivered', 'delivered'])$$);
SELECT pg_temp.try($$SELECT bar9.report_deliveries(NULL, ARRAY['delivered'])$$);
SELECT pg_temp.try($$SELECT bar9.report_deliveries(ARRAY['b5-3'], NULL)$$);
SELECT pg_temp.try($$SELECT bar9.report_deliveries(ARRAY['b5-3', NULL], ARRAY['delivered', 'delivered'])$$);
SELECT pg_temp.try($$SELECT bar9.report_deliveries(ARRAY['b5-3', 'b5-4'], ARRAY['delivered', NULL])$$);
SELECT pg_temp.try($$SELECT bar9.report_deliveries(ARRAY['b5-3', 'b5-4'], ARRAY['delivered', 'sent'])$$);
SELECT pg_temp.try($$SELECT bar9.report_deliveries(array_fill('x'::text, ARRAY[10001]), array_fill('delivered'::text, ARRAY[10001]))$$);
SELECT to_number, part_ref, parts_left FROM bar9.sms_receipt_wait ORDER BY to_number;
SELECT n_sent, n_delivered, n_failed FROM bar9.broadcasts WHERE broadcast_id = :'m5';
\c postgres
DROP DATABASE bar9_senders_regress;
DROP ROLE regress_bar9_sender80;
