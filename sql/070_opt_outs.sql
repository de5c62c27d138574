--
-- The opt-out list: the /v1/marketing/opt-outs routes, the typed SQL
-- functions, and the cancel of queued SMS that an opt-out makes at once.
--
-- Timestamps are checked for their RFC 3339 form and then masked.
CREATE FUNCTION pg_temp.req(key text, method text, path text, body text DEFAULT NULL, idem text DEFAULT NULL) RETURNS TABLE (status int, body text) LANGUAGE sql AS $$ SELECT r.status, regexp_replace(r.body, '"created_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"', '"created_at":"<time>"', 'g') FROM bar9.api(method, path, jsonb_strip_nulls(jsonb_build_object('authorization', 'Bearer ' || key, 'content-type', CASE WHEN body IS NOT NULL THEN 'application/json' END, 'idempotency-key', idem)), convert_to(body, 'UTF8')) r $$;
-- The SMS of a broadcast by number, and its counters (PL/pgSQL: so they
-- run on Citus too, which plans no SQL function's parameters)
CREATE FUNCTION pg_temp.sms(acct text) RETURNS TABLE (broadcast_id text, to_number text, status text) LANGUAGE plpgsql AS $$ BEGIN RETURN QUERY SELECT s.broadcast_id, s.to_number::text, s.status FROM bar9.sms s WHERE s.account_id = acct ORDER BY 1, 2; END $$;
CREATE FUNCTION pg_temp.counts(acct text) RETURNS TABLE (broadcast_id text, status text, n_queued bigint, n_sending bigint, n_canceled bigint, recipient_count bigint, suppressed_count bigint) LANGUAGE plpgsql AS $$ BEGIN RETURN QUERY SELECT m.broadcast_id, m.status, m.n_queued, m.n_sending, m.n_canceled, m.recipient_count, m.suppressed_count FROM bar9.broadcasts m WHERE m.account_id = acct ORDER BY m.broadcast_id; END $$;
SELECT bar9.create_account('Consent A') AS acct \gset
SELECT bar9.create_account('Consent B') AS acct_b \gset
SELECT bar9.create_api_key(:'acct', ARRAY['marketing:channels:read', 'marketing:channels:write'], 'rw') AS rw \gset
SELECT bar9.create_api_key(:'acct', ARRAY['marketing:channels:read'], 'ro') AS ro \gset
SELECT bar9.create_api_key(:'acct', ARRAY['marketing:channels:send'], 'send') AS send \gset
SELECT bar9.create_api_key(:'acct_b', ARRAY['marketing:channels:read', 'marketing:channels:write'], 'b') AS rw_b \gset
--
-- POST: 201 when new, 200 when already opted out (same object)
--
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+213555123456"}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+213555123456"}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+33612345678"}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+447911123456"}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+12025550123"}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+213555000001"}');
-- the created_at of a repeat is the first one's
SELECT count(DISTINCT created_at) FROM bar9.opt_outs WHERE account_id = :'acct' AND phone_number OPERATOR(bar9.=) '+213555123456';
--
-- POST: bad bodies
--
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": 213555123456}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": null}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": ["+213555123456"]}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": true}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": ""}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "0555123456"}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "213555123456"}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+213 555 12 34 56"}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "00213555123456"}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+2135551234567890"}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+21355512345x"}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+213555123456", "source": "keyword"}');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+213555123456"');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '["+213555123456"]');
-- nothing was added by the bad requests
SELECT count(*) FROM bar9.opt_outs WHERE account_id = :'acct';
--
-- scopes and keys: read for GET, write for POST and DELETE
--
SELECT * FROM pg_temp.req(:'ro', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+213555999999"}');
SELECT * FROM pg_temp.req(:'send', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+213555999999"}');
SELECT * FROM pg_temp.req(:'send', 'GET', '/v1/marketing/opt-outs');
SELECT * FROM pg_temp.req(:'ro', 'DELETE', '/v1/marketing/opt-outs/%2B213555123456');
SELECT * FROM pg_temp.req('bar9_nope', 'GET', '/v1/marketing/opt-outs');
SELECT * FROM pg_temp.req(:'rw', 'PATCH', '/v1/marketing/opt-outs/%2B213555123456');
SELECT count(*) FROM bar9.opt_outs WHERE account_id = :'acct';
--
-- GET: bar9.e164 order, limit and starting_after as the other lists
--
SELECT * FROM pg_temp.req(:'ro', 'GET', '/v1/marketing/opt-outs');
SELECT * FROM pg_temp.req(:'ro', 'GET', '/v1/marketing/opt-outs?limit=2');
SELECT * FROM pg_temp.req(:'ro', 'GET', '/v1/marketing/opt-outs?limit=2&starting_after=%2B213555000001');
SELECT * FROM pg_temp.req(:'ro', 'GET', '/v1/marketing/opt-outs?limit=2&starting_after=%2B33612345678');
SELECT * FROM pg_temp.req(:'ro', 'GET', '/v1/marketing/opt-outs?starting_after=%2B447911123456');
SELECT * FROM pg_temp.req(:'ro', 'GET', '/v1/marketing/opt-outs?limit=100');
SELECT * FROM pg_temp.req(:'ro', 'GET', '/v1/marketing/opt-outs?limit=1');
-- as for the numbers of an audience, any number is a cursor
SELECT * FROM pg_temp.req(:'ro', 'GET', '/v1/marketing/opt-outs?starting_after=%2B3312345678');
-- bad page parameters ("+" in a query string is a space)
SELECT * FROM pg_temp.req(:'ro', 'GET', '/v1/marketing/opt-outs?limit=2&starting_after=+33612345678');
SELECT * FROM pg_temp.req(:'ro', 'GET', '/v1/marketing/opt-outs?starting_after=abc');
SELECT * FROM pg_temp.req(:'ro', 'GET', '/v1/marketing/opt-outs?starting_after=');
SELECT * FROM pg_temp.req(:'ro', 'GET', '/v1/marketing/opt-outs?limit=0');
SELECT * FROM pg_temp.req(:'ro', 'GET', '/v1/marketing/opt-outs?limit=101');
SELECT * FROM pg_temp.req(:'ro', 'GET', '/v1/marketing/opt-outs?limit=ten');
--
-- another account sees none of it, and has its own list
--
SELECT * FROM pg_temp.req(:'rw_b', 'GET', '/v1/marketing/opt-outs');
SELECT * FROM pg_temp.req(:'rw_b', 'GET', '/v1/marketing/opt-outs?starting_after=%2B213555123456');
SELECT * FROM pg_temp.req(:'rw_b', 'DELETE', '/v1/marketing/opt-outs/%2B213555123456');
SELECT * FROM pg_temp.req(:'rw_b', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+213555123456"}');
SELECT * FROM pg_temp.req(:'rw_b', 'GET', '/v1/marketing/opt-outs');
SELECT account_id = :'acct' AS is_a, count(*) FROM bar9.opt_outs WHERE account_id IN (:'acct', :'acct_b') GROUP BY 1 ORDER BY 1;
--
-- DELETE: re-subscribe, 404 when not on the list
--
SELECT * FROM pg_temp.req(:'rw', 'DELETE', '/v1/marketing/opt-outs/%2B213555123456');
SELECT * FROM pg_temp.req(:'rw', 'DELETE', '/v1/marketing/opt-outs/%2B213555123456');
SELECT * FROM pg_temp.req(:'rw', 'DELETE', '/v1/marketing/opt-outs/+33612345678');
SELECT * FROM pg_temp.req(:'rw', 'DELETE', '/v1/marketing/opt-outs/%2B4930123456');
SELECT * FROM pg_temp.req(:'rw', 'DELETE', '/v1/marketing/opt-outs/0612345678');
SELECT * FROM pg_temp.req(:'rw', 'DELETE', '/v1/marketing/opt-outs/%2B33%206%2012%2034%2056%2078');
SELECT * FROM pg_temp.req(:'rw', 'GET', '/v1/marketing/opt-outs');
-- account B's entry for the same number is still there
SELECT * FROM pg_temp.req(:'rw_b', 'GET', '/v1/marketing/opt-outs');
--
-- an opt-out made by keyword is the recipient's: neither the API nor
-- remove_opt_out lifts it (409 opt_out_by_recipient, 55000), their START does
--
SELECT bar9.receive_sms(:'acct', '+213555000002', 'STOP');
SELECT * FROM pg_temp.req(:'rw', 'GET', '/v1/marketing/opt-outs?starting_after=%2B213555000001&limit=1');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+213555000002"}');
SELECT * FROM pg_temp.req(:'rw', 'DELETE', '/v1/marketing/opt-outs/%2B213555000002');
SELECT bar9.is_opted_out(:'acct', '+213555000002');
SELECT bar9.remove_opt_out(:'acct', '+213555000002');
DO $$ BEGIN PERFORM bar9.remove_opt_out((SELECT account_id FROM bar9.opt_outs WHERE source = 'keyword' LIMIT 1), '+213555000002'); EXCEPTION WHEN object_not_in_prerequisite_state THEN RAISE NOTICE 'by recipient: %', SQLSTATE; END $$;
SELECT bar9.is_opted_out(:'acct', '+213555000002');
SELECT bar9.receive_sms(:'acct', '+213555000002', 'START');
SELECT bar9.is_opted_out(:'acct', '+213555000002');
--
-- Idempotency-Key: the same POST replays the first answer
--
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+213555000003"}', 'consent-key-1');
SELECT status, headers->>'idempotent-replayed' AS replayed FROM bar9.api('POST', '/v1/marketing/opt-outs', jsonb_build_object('authorization', 'Bearer ' || :'rw', 'content-type', 'application/json', 'idempotency-key', 'consent-key-1'), convert_to('{"phone_number": "+213555000003"}', 'UTF8'));
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+213555000004"}', 'consent-key-1');
--
-- typed SQL functions
--
SELECT phone_number, source, created, canceled_sms FROM bar9.add_opt_out(:'acct', '+213555000005');
SELECT phone_number, source, created, canceled_sms FROM bar9.add_opt_out(:'acct', '+213555000005', 'keyword');
SELECT phone_number, source, created, canceled_sms FROM bar9.add_opt_out(:'acct', '+213555000006', 'keyword');
SELECT phone_number, source FROM bar9.list_opt_outs(:'acct');
SELECT phone_number, source FROM bar9.list_opt_outs(:'acct', 2);
SELECT phone_number, source FROM bar9.list_opt_outs(:'acct', 2, '+213555000003');
SELECT phone_number, source FROM bar9.list_opt_outs(:'acct', starting_after => '+213555000004');
SELECT bar9.is_opted_out(:'acct', '+213555000005'), bar9.is_opted_out(:'acct', '+213555000007'), bar9.is_opted_out(:'acct_b', '+213555000005');
SELECT bar9.remove_opt_out(:'acct', '+213555000005');
SELECT bar9.remove_opt_out(:'acct', '+213555000005');
SELECT bar9.is_opted_out(:'acct', '+213555000005');
-- errors
SELECT * FROM bar9.add_opt_out(:'acct', '+213555000005', 'sms');
SELECT * FROM bar9.add_opt_out('acct_nope', '+213555000005');
-- (the bar9.e164 input refuses the number before any account is looked up)
SELECT * FROM bar9.add_opt_out('acct_nope', '+213 555 000 005');
SELECT bar9.remove_opt_out('acct_nope', '+213555000005');
SELECT bar9.is_opted_out('acct_nope', '+213555000005');
SELECT * FROM bar9.list_opt_outs('acct_nope');
SELECT * FROM bar9.list_opt_outs(:'acct', 0);
SELECT * FROM bar9.list_opt_outs(:'acct', 1001);
SELECT * FROM bar9.list_opt_outs(:'acct', NULL);
SELECT * FROM bar9.list_opt_outs(NULL);
SELECT * FROM bar9.add_opt_out(:'acct', NULL);
--
-- An opt-out cancels at once the number's queued SMS, in every broadcast of
-- the account, and leaves claimed ('sending') ones to their senders.  The
-- broadcasts are made by hand here (the worker serves another database: it
-- never sees them): m1 sending (fanned out), m2 queued (fanned out), m3
-- pending (fan-out under way), m4 sending with the number's SMS claimed;
-- account B's m5.
--
-- Rows made by hand name account_no, and a broadcast its number, drawn as
-- the code draws it: Citus routes and keys rows by them.  Each statement
-- commits on its own, and pg_temp.forget removes the rows afterwards: on
-- Citus a transaction may not write an account's shard as one user and then
-- read it as another (bar9.api and the SMS functions run as bar9_definer).
--
-- broadcast(acct, id, audience, status, fanout_done, recipients, queued, sending, text): a broadcast made by hand
CREATE PROCEDURE pg_temp.broadcast(acct text, id text, aud text, st text, done boolean DEFAULT false, recipients bigint DEFAULT 0, queued bigint DEFAULT 0, sending bigint DEFAULT 0, txt text DEFAULT 'hello') LANGUAGE plpgsql AS $$ DECLARE a int; n int := bar9.broadcast_no_floor(now()); BEGIN SELECT account_no INTO a FROM bar9.accounts WHERE account_id = acct; UPDATE bar9.account_counters SET last_broadcast_no = greatest(last_broadcast_no + 1, n) WHERE account_no = a RETURNING last_broadcast_no INTO n; INSERT INTO bar9.broadcasts (account_id, broadcast_id, audience_id, body, encoding, segments, status, fanout_done, recipient_count, n_queued, n_sending, account_no, broadcast_no) VALUES (acct, id, aud, txt, 'GSM-7', 1, st, done, recipients, queued, sending, a, n); END $$;
-- forget(acct, acct_b): remove the audiences, broadcasts, SMS and opt-outs made below
CREATE PROCEDURE pg_temp.forget(acct text, acct_b text) LANGUAGE plpgsql AS $$ DECLARE a int[] := ARRAY(SELECT account_no FROM bar9.accounts WHERE account_id IN (acct, acct_b)); BEGIN DELETE FROM bar9.sms_queue WHERE account_no = ANY (a); DELETE FROM bar9.sms_claims WHERE account_no = ANY (a); DELETE FROM bar9.sms_retry WHERE account_no = ANY (a); DELETE FROM bar9.sms_history WHERE account_no = ANY (a); DELETE FROM bar9.broadcasts WHERE account_no = ANY (a); DELETE FROM bar9.audience_numbers WHERE account_no = ANY (a) AND audience_id LIKE 'mkt_consent%'; DELETE FROM bar9.audiences WHERE account_no = ANY (a) AND audience_id LIKE 'mkt_consent%'; DELETE FROM bar9.opt_outs WHERE account_no = ANY (a) AND (phone_number::text LIKE '+213666%' OR phone_number::text LIKE '+213777%'); END $$;
SELECT account_no AS acct_no FROM bar9.accounts WHERE account_id = :'acct' \gset
SELECT account_no AS acct_b_no FROM bar9.accounts WHERE account_id = :'acct_b' \gset
INSERT INTO bar9.audiences (account_id, audience_id, name, account_no) VALUES (:'acct', 'mkt_consent1', 'consent', :acct_no), (:'acct_b', 'mkt_consent2', 'consent b', :acct_b_no);
CALL pg_temp.broadcast(:'acct', 'msg_m1', 'mkt_consent1', 'sending', true, 3, 2, 1);
CALL pg_temp.broadcast(:'acct', 'msg_m2', 'mkt_consent1', 'queued', true, 1, 1, 0);
CALL pg_temp.broadcast(:'acct', 'msg_m3', 'mkt_consent1', 'pending', false, 2, 2, 0);
CALL pg_temp.broadcast(:'acct', 'msg_m4', 'mkt_consent1', 'sending', true, 1, 0, 1);
CALL pg_temp.broadcast(:'acct_b', 'msg_m5', 'mkt_consent2', 'queued', true, 1, 1, 0);
-- their SMS as fan-out and claims leave them (060_queue.sql): claimed ones up to each broadcast's claim cursor, under a claim; queued ones after it
INSERT INTO bar9.sms_queue SELECT m.account_no, m.broadcast_no, v.n::bar9.e164 FROM bar9.broadcasts m JOIN (VALUES ('msg_m1', '+213666000000'), ('msg_m1', '+213666000001'), ('msg_m1', '+213666000002'), ('msg_m2', '+213666000001'), ('msg_m3', '+213666000001'), ('msg_m3', '+213666000004'), ('msg_m4', '+213666000001'), ('msg_m5', '+213666000001')) v(id, n) ON m.broadcast_id = v.id;
INSERT INTO bar9.sms_claims SELECT m.account_no, m.broadcast_no, nextval('bar9.claim_no_seq'), v.n::bar9.e164, v.n::bar9.e164, 1, 1, now() + interval '1 hour', now() FROM bar9.broadcasts m JOIN (VALUES ('msg_m1', '+213666000000'), ('msg_m4', '+213666000001')) v(id, n) ON m.broadcast_id = v.id;
UPDATE bar9.broadcasts m SET claim_cursor = c.last_number FROM bar9.sms_claims c WHERE (c.account_no, c.broadcast_no) = (m.account_no, m.broadcast_no);
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+213666000001"}');
SELECT * FROM pg_temp.sms(:'acct');
SELECT * FROM pg_temp.counts(:'acct');
-- account B's SMS to the same number is untouched
SELECT * FROM pg_temp.sms(:'acct_b');
SELECT * FROM pg_temp.counts(:'acct_b');
-- opting out again cancels nothing more
SELECT phone_number, created, canceled_sms FROM bar9.add_opt_out(:'acct', '+213666000001');
-- a claimed SMS that goes back to the queue after the opt-out is canceled
-- by the next opt-out of the number (a repeated STOP, say)
SELECT sms_id AS m4_sms FROM bar9.sms WHERE broadcast_id = 'msg_m4' \gset
BEGIN;
SET LOCAL bar9.retry_delay = '1h';
SELECT bar9.ack_sms(:'m4_sms', 'retry');
COMMIT;
SELECT * FROM pg_temp.counts(:'acct') WHERE broadcast_id = 'msg_m4';
SELECT bar9.receive_sms(:'acct', '+213666000001', 'stop');
SELECT * FROM pg_temp.sms(:'acct') WHERE broadcast_id = 'msg_m4';
SELECT * FROM pg_temp.counts(:'acct') WHERE broadcast_id = 'msg_m4';
-- an opt-out by keyword cancels the same way
SELECT bar9.receive_sms(:'acct', '+213666000002', E' Stop\n');
SELECT * FROM pg_temp.sms(:'acct') WHERE to_number = '+213666000002';
SELECT * FROM pg_temp.counts(:'acct') WHERE broadcast_id = 'msg_m1';
-- the cancel finds each SMS with one probe of the queue's primary key per unfinished broadcast
-- plan(q): the lines of EXPLAIN (COSTS OFF) q; on Citus only the router's part, a
-- custom scan of one task (the account's shard plans it with the values as constants)
CREATE FUNCTION pg_temp.plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$ DECLARE l text; citus boolean := false; BEGIN FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP citus := citus OR l LIKE 'Custom Scan (Citus %'; IF NOT citus OR l LIKE 'Custom Scan (Citus %' OR l ~ '^ *Task Count: ' THEN RETURN NEXT l; END IF; END LOOP; END $$;
BEGIN;
SET LOCAL enable_seqscan = off;
SELECT pg_temp.plan($$DELETE FROM bar9.sms_queue WHERE account_no = 1 AND broadcast_no = 1 AND to_number OPERATOR(bar9.>) '+213666000000' AND to_number OPERATOR(bar9.=) '+213666000001'$$) AS "QUERY PLAN";
ROLLBACK;
CALL pg_temp.forget(:'acct', :'acct_b');
--
-- The same with the real fan-out: an audience of four, fanned out, then one
-- number opts out; a second broadcast leaves it out (suppressed).
--
INSERT INTO bar9.audiences (account_id, audience_id, name, subscriber_count, account_no) VALUES (:'acct', 'mkt_consent3', 'consent', 4, :acct_no);
INSERT INTO bar9.audience_numbers (account_id, audience_id, phone_number, account_no) VALUES (:'acct', 'mkt_consent3', '+213777000001', :acct_no), (:'acct', 'mkt_consent3', '+213777000002', :acct_no), (:'acct', 'mkt_consent3', '+213777000003', :acct_no), (:'acct', 'mkt_consent3', '+213777000004', :acct_no);
CALL pg_temp.broadcast(:'acct', 'msg_f1', 'mkt_consent3', 'pending');
SELECT bar9.fanout_run(:'acct', 'msg_f1');
SELECT * FROM pg_temp.counts(:'acct');
SELECT * FROM pg_temp.req(:'rw', 'POST', '/v1/marketing/opt-outs', '{"phone_number": "+213777000003"}');
SELECT * FROM pg_temp.sms(:'acct');
SELECT * FROM pg_temp.counts(:'acct');
CALL pg_temp.broadcast(:'acct', 'msg_f2', 'mkt_consent3', 'pending', txt => 'hello again');
SELECT bar9.fanout_run(:'acct', 'msg_f2');
SELECT * FROM pg_temp.sms(:'acct') WHERE broadcast_id = 'msg_f2';
SELECT * FROM pg_temp.counts(:'acct');
-- re-subscribed, the number gets the next broadcast
SELECT * FROM pg_temp.req(:'rw', 'DELETE', '/v1/marketing/opt-outs/%2B213777000003');
CALL pg_temp.broadcast(:'acct', 'msg_f3', 'mkt_consent3', 'pending', txt => 'welcome back');
SELECT bar9.fanout_run(:'acct', 'msg_f3');
SELECT * FROM pg_temp.sms(:'acct') WHERE broadcast_id = 'msg_f3';
SELECT * FROM pg_temp.counts(:'acct');
CALL pg_temp.forget(:'acct', :'acct_b');
