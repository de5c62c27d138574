-- Broadcasts through bar9.api: POST/GET/list/cancel of messages, status
-- pending -> queued -> sending -> completed driven by the real fan-out
-- (bar9.fanout_run) and the sender queue, body and send_at validation,
-- cancel in every state, and the typed SQL functions.
-- It runs in a database of its own: it claims SMS, which must be its own.
DROP DATABASE IF EXISTS bar9_broadcasts_regress;
CREATE DATABASE bar9_broadcasts_regress;
ALTER DATABASE bar9_broadcasts_regress SET lc_messages TO 'C';
\c bar9_broadcasts_regress
CREATE EXTENSION bar9;
\pset format unaligned
CREATE FUNCTION pg_temp.mask(t text) RETURNS text LANGUAGE sql AS $$ SELECT regexp_replace(regexp_replace(t, '(mkt|acct|key|msg)_[0-9A-Za-z]{22}', '\1_X', 'g'), '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', 'TIME', 'g') $$;
CREATE FUNCTION pg_temp.call(m text, p text, h jsonb, b text DEFAULT NULL) RETURNS TABLE (status int, body text) LANGUAGE sql AS $$ SELECT a.status, pg_temp.mask(a.body) FROM bar9.api(m, p, h, convert_to(b, 'UTF8')) a $$;
-- an RFC 3339 UTC text for now() + d
-- run q; its error (SQLSTATE and message, ids masked) if it fails
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN EXECUTE q; RETURN 'ok'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || pg_temp.mask(SQLERRM); END $$;
CREATE FUNCTION pg_temp.ahead(d interval) RETURNS text LANGUAGE sql AS $$ SELECT to_char((now() + d) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$;
SELECT bar9.create_account('Broadcasts') AS acct \gset
SELECT bar9.create_account('Other') AS acct2 \gset
SELECT jsonb_build_object('authorization', 'Bearer ' || bar9.create_api_key(:'acct', ARRAY['marketing:channels:read', 'marketing:channels:write', 'marketing:channels:send']), 'content-type', 'application/json') AS h \gset
SELECT jsonb_build_object('authorization', 'Bearer ' || bar9.create_api_key(:'acct', ARRAY['marketing:channels:read', 'marketing:channels:write']), 'content-type', 'application/json') AS h_rw \gset
SELECT jsonb_build_object('authorization', 'Bearer ' || bar9.create_api_key(:'acct2', ARRAY['marketing:channels:read', 'marketing:channels:send']), 'content-type', 'application/json') AS h2 \gset
SELECT (bar9.create_audience(:'acct', 'Ramadan')).id AS cid \gset
SELECT (bar9.create_audience(:'acct', 'Empty')).id AS empty \gset
SELECT (bar9.create_audience(:'acct2', 'Theirs')).id AS cid2 \gset
SELECT added FROM bar9.add_numbers(:'acct', :'cid', ARRAY['+213555123456', '+33612345678', '+447911123456']);
SELECT added FROM bar9.add_numbers(:'acct2', :'cid2', ARRAY['+213555123456']);
\set msgs '/v1/marketing/channels/' :cid '/messages'
--
-- POST: 201 at once, status pending, recipients counted from the audience
--
CREATE TEMP TABLE r AS SELECT * FROM bar9.api('POST', :'msgs', :'h', convert_to('{"body": "Big discount this weekend!"}', 'UTF8'));
SELECT status, pg_temp.mask(body) FROM r;
SELECT body::jsonb->>'id' AS m1 FROM r \gset
SELECT :'m1' ~ '^msg_[0-9A-Za-z]{22}$' AS id_ok;
SELECT status, fanout_done, send_at IS NULL AS now, recipient_count FROM bar9.broadcasts WHERE broadcast_id = :'m1';
SELECT count(*) AS sms_at_request FROM bar9.sms WHERE broadcast_id = :'m1';
-- the recipients: members whose added_seq is at most the cutoff
SELECT member_seq_cutoff = (SELECT max(added_seq) FROM bar9.audience_numbers) AS cutoff_is_last_member FROM bar9.broadcasts WHERE broadcast_id = :'m1';
-- a number added after the request gets nothing
SELECT added FROM bar9.add_numbers(:'acct', :'cid', ARRAY['+213555000999']);
SELECT (SELECT added_seq FROM bar9.audience_numbers WHERE phone_number::text = '+213555000999') > member_seq_cutoff AS later_number_excluded FROM bar9.broadcasts WHERE broadcast_id = :'m1';
SELECT * FROM pg_temp.call('GET', :'msgs' || '/' || :'m1', :'h');
--
-- Status: pending -> queued (fan-out) -> sending (claims) -> completed (acks)
--
SELECT bar9.fanout_run(:'acct', :'m1');
SELECT * FROM pg_temp.call('GET', :'msgs' || '/' || :'m1', :'h');
SELECT to_number, body, attempt FROM bar9.claim_sms(1);
SELECT * FROM pg_temp.call('GET', :'msgs' || '/' || :'m1', :'h');
SELECT bar9.ack_sms_batch(ARRAY(SELECT sms_id FROM bar9.sms WHERE broadcast_id = :'m1' AND status = 'sending'), 'sent');
SELECT * FROM pg_temp.call('GET', :'msgs' || '/' || :'m1', :'h');
SELECT count(*) AS claimed FROM bar9.claim_sms(100);
SELECT bar9.ack_sms(sms_id, 'delivered') FROM bar9.sms WHERE broadcast_id = :'m1' AND to_number::text = '+33612345678';
SELECT bar9.ack_sms(sms_id, 'failed', NULL, 'unreachable') FROM bar9.sms WHERE broadcast_id = :'m1' AND to_number::text = '+447911123456';
SELECT * FROM pg_temp.call('GET', :'msgs' || '/' || :'m1', :'h');
--
-- Body: 1 to 1600 characters (not bytes), a JSON string, required
--
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": "x"}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', jsonb_build_object('body', repeat('a', 1600))::text);
SELECT status, body::jsonb->'segments' AS segments, body::jsonb->'encoding' AS encoding FROM bar9.api('POST', :'msgs', :'h', convert_to(jsonb_build_object('body', repeat('é', 1600))::text, 'UTF8'));
SELECT status, body::jsonb->'segments' AS segments, body::jsonb->'encoding' AS encoding FROM bar9.api('POST', :'msgs', :'h', convert_to(jsonb_build_object('body', repeat('ش', 1600))::text, 'UTF8'));
SELECT status, body::jsonb->'segments' AS segments, body::jsonb->'encoding' AS encoding FROM bar9.api('POST', :'msgs', :'h', convert_to(jsonb_build_object('body', repeat('😀', 1600))::text, 'UTF8'));
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', jsonb_build_object('body', repeat('a', 1601))::text);
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', jsonb_build_object('body', repeat('😀', 1601))::text);
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": ""}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": 42}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": null}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": ["hi"]}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": {"text": "hi"}}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": true}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": "hi", "to": "+213555123456"}');
-- a missing required field is named even beside an unknown one
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"text": "hi"}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": "hi"');
--
-- Audience: empty is 422, absent or another account's is 404; scope send
--
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/' || :'empty' || '/messages', :'h', '{"body": "hi"}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/mkt_0000000000000000000000/messages', :'h', '{"body": "hi"}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/nope/messages', :'h', '{"body": "hi"}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/' || :'cid2' || '/messages', :'h', '{"body": "hi"}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h2', '{"body": "hi"}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h_rw', '{"body": "hi"}');
SELECT * FROM pg_temp.call('PUT', :'msgs', :'h', '{"body": "hi"}');
-- a deleted audience takes its broadcasts out of the API
SELECT (bar9.create_audience(:'acct', 'Doomed')).id AS doomed \gset
SELECT added FROM bar9.add_numbers(:'acct', :'doomed', ARRAY['+213555123456']);
SELECT body::jsonb->>'id' AS md FROM bar9.api('POST', '/v1/marketing/channels/' || :'doomed' || '/messages', :'h', convert_to('{"body": "bye"}', 'UTF8')) \gset
SELECT bar9.delete_audience(:'acct', :'doomed');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'doomed' || '/messages/' || :'md', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'doomed' || '/messages', :'h');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/' || :'doomed' || '/messages', :'h', '{"body": "hi"}');
--
-- send_at: RFC 3339, 1 minute to 35 days ahead
--
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', jsonb_build_object('body', 'later', 'send_at', pg_temp.ahead('30 seconds'))::text);
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', jsonb_build_object('body', 'later', 'send_at', pg_temp.ahead('36 days'))::text);
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', jsonb_build_object('body', 'later', 'send_at', pg_temp.ahead('-1 hour'))::text);
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": "later", "send_at": 1893456000}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": "later", "send_at": null}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": "later", "send_at": true}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": "later", "send_at": "tomorrow"}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": "later", "send_at": ""}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', jsonb_build_object('body', 'later', 'send_at', replace(pg_temp.ahead('1 day'), 'T', ' '))::text);
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', jsonb_build_object('body', 'later', 'send_at', rtrim(pg_temp.ahead('1 day'), 'Z'))::text);
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', jsonb_build_object('body', 'later', 'send_at', left(pg_temp.ahead('1 day'), 10))::text);
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', jsonb_build_object('body', 'later', 'send_at', rtrim(pg_temp.ahead('1 day'), 'Z') || '+0100')::text);
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": "later", "send_at": "2030-13-01T10:00:00Z"}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": "later", "send_at": "2030-02-30T10:00:00Z"}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": "later", "send_at": "2030-01-01T24:00:00Z"}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": "later", "send_at": "2030-01-01T10:00:00+24:00"}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": "later", "send_at": "2030-01-01T10:00:00.Z"}');
SELECT * FROM pg_temp.call('POST', :'msgs', :'h', '{"body": "later", "send_at": "+2030-01-01T10:00:00Z"}');
-- accepted: UTC, an offset, lower case, a fraction; shown in UTC
BEGIN;  -- one transaction: now() is the same in the request and in the checks
CREATE TEMP TABLE s AS SELECT * FROM bar9.api('POST', :'msgs', :'h', convert_to(jsonb_build_object('body', 'later', 'send_at', pg_temp.ahead('1 hour'))::text, 'UTF8'));
SELECT status, pg_temp.mask(body) FROM s;
SELECT body::jsonb->>'id' AS ms FROM s \gset
SELECT (body::jsonb->>'send_at')::timestamptz = date_trunc('second', now() + interval '1 hour') AS send_at_echoed FROM s;
SELECT status, member_seq_cutoff IS NULL AS cutoff_at_send_at, send_at = date_trunc('second', now() + interval '1 hour') AS send_at_stored FROM bar9.broadcasts WHERE broadcast_id = :'ms';
COMMIT;
SELECT status, body::jsonb->>'send_at' = to_char(date_trunc('second', now() + interval '2 hours') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS utc FROM bar9.api('POST', :'msgs', :'h', convert_to(jsonb_build_object('body', 'later', 'send_at', to_char((now() + interval '2 hours') AT TIME ZONE 'UTC' + interval '1 hour', 'YYYY-MM-DD"T"HH24:MI:SS"+01:00"'))::text, 'UTF8'));
SELECT status, body::jsonb->>'send_at' = to_char(date_trunc('second', now() + interval '2 hours') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS utc FROM bar9.api('POST', :'msgs', :'h', convert_to(jsonb_build_object('body', 'later', 'send_at', to_char((now() + interval '2 hours') AT TIME ZONE 'UTC' - interval '5 hours 30 minutes', 'YYYY-MM-DD"t"HH24:MI:SS".123456789-05:30"'))::text, 'UTF8'));
SELECT status, body::jsonb->>'status' AS message_status FROM bar9.api('POST', :'msgs', :'h', convert_to(jsonb_build_object('body', 'later', 'send_at', lower(pg_temp.ahead('34 days')))::text, 'UTF8'));
--
-- GET one and the list: newest first, limit / starting_after
--
SELECT * FROM pg_temp.call('GET', :'msgs' || '/' || :'ms', :'h');
SELECT * FROM pg_temp.call('GET', :'msgs' || '/msg_0000000000000000000000', :'h');
SELECT * FROM pg_temp.call('GET', :'msgs' || '/nope', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'empty' || '/messages/' || :'m1', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'cid2' || '/messages/' || :'m1', :'h2');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'cid' || '/messages/' || :'m1', :'h2');
SELECT * FROM pg_temp.call('GET', :'msgs' || '/' || :'m1', :'h_rw');
SELECT array_agg(broadcast_id ORDER BY created_at DESC, broadcast_id DESC) AS ids, count(*) AS nids FROM bar9.broadcasts WHERE account_id = :'acct' AND audience_id = :'cid' \gset
SELECT :nids AS broadcasts_of_the_audience;
SELECT status, ARRAY(SELECT e->>'id' FROM jsonb_array_elements(body::jsonb->'data') e) = (:'ids'::text[])[1:20] AS newest_first, body::jsonb->'has_more' AS has_more FROM bar9.api('GET', :'msgs', :'h', NULL);
SELECT ARRAY(SELECT e->>'id' FROM jsonb_array_elements(body::jsonb->'data') e) = (:'ids'::text[])[1:2] AS page_1, body::jsonb->'has_more' AS has_more FROM bar9.api('GET', :'msgs' || '?limit=2', :'h', NULL);
SELECT ARRAY(SELECT e->>'id' FROM jsonb_array_elements(body::jsonb->'data') e) = (:'ids'::text[])[3:4] AS page_2, body::jsonb->'has_more' AS has_more FROM bar9.api('GET', :'msgs' || '?limit=2&starting_after=' || (:'ids'::text[])[2], :'h', NULL);
SELECT ARRAY(SELECT e->>'id' FROM jsonb_array_elements(body::jsonb->'data') e) = ARRAY[(:'ids'::text[])[:nids]] AS last_page, body::jsonb->'has_more' AS has_more FROM bar9.api('GET', :'msgs' || '?limit=2&starting_after=' || (:'ids'::text[])[:nids - 1], :'h', NULL);
SELECT jsonb_array_length(body::jsonb->'data') AS n, body::jsonb->'has_more' AS has_more FROM bar9.api('GET', :'msgs' || '?starting_after=' || :'m1', :'h', NULL);
SELECT * FROM pg_temp.call('GET', :'msgs' || '?starting_after=msg_0000000000000000000000', :'h');
SELECT * FROM pg_temp.call('GET', :'msgs' || '?starting_after=' || :'md', :'h');
SELECT * FROM pg_temp.call('GET', :'msgs' || '?limit=0', :'h');
SELECT * FROM pg_temp.call('GET', :'msgs' || '?limit=101', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'empty' || '/messages', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'cid' || '/messages', :'h2');
--
-- Cancel in every state
--
-- scheduled
SELECT * FROM pg_temp.call('POST', :'msgs' || '/' || :'ms' || '/cancel', :'h');
SELECT bar9.fanout_run(:'acct', :'ms');
-- pending: the fan-out then stops, nothing is queued
SELECT body::jsonb->>'id' AS mp FROM bar9.api('POST', :'msgs', :'h', convert_to('{"body": "pending"}', 'UTF8')) \gset
SELECT * FROM pg_temp.call('POST', :'msgs' || '/' || :'mp' || '/cancel', :'h');
SELECT bar9.fanout_run(:'acct', :'mp');
SELECT count(*) AS sms FROM bar9.sms WHERE broadcast_id = :'mp';
-- queued: every SMS canceled
SELECT body::jsonb->>'id' AS mq FROM bar9.api('POST', :'msgs', :'h', convert_to('{"body": "queued"}', 'UTF8')) \gset
SELECT bar9.fanout_run(:'acct', :'mq');
SELECT * FROM pg_temp.call('POST', :'msgs' || '/' || :'mq' || '/cancel', :'h');
SELECT status, count(*) FROM bar9.sms WHERE broadcast_id = :'mq' GROUP BY status;
-- sending: the claimed SMS is left to its sender, which finishes it
SELECT body::jsonb->>'id' AS mg FROM bar9.api('POST', :'msgs', :'h', convert_to('{"body": "sending"}', 'UTF8')) \gset
SELECT bar9.fanout_run(:'acct', :'mg');
SELECT to_number AS claimed_number, sms_id AS claimed FROM bar9.claim_sms(1) \gset
SELECT * FROM pg_temp.call('POST', :'msgs' || '/' || :'mg' || '/cancel', :'h');
SELECT count(*) AS nothing_left_to_claim FROM bar9.claim_sms(100);
SELECT bar9.ack_sms(:'claimed', 'sent');
SELECT * FROM pg_temp.call('GET', :'msgs' || '/' || :'mg', :'h');
-- completed and canceled: 409
SELECT * FROM pg_temp.call('POST', :'msgs' || '/' || :'m1' || '/cancel', :'h');
SELECT * FROM pg_temp.call('POST', :'msgs' || '/' || :'mg' || '/cancel', :'h');
-- unknown, another account's, wrong scope, a body
SELECT * FROM pg_temp.call('POST', :'msgs' || '/msg_0000000000000000000000/cancel', :'h');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/' || :'cid2' || '/messages/' || :'mq' || '/cancel', :'h2');
SELECT * FROM pg_temp.call('POST', :'msgs' || '/' || :'mq' || '/cancel', :'h_rw');
SELECT * FROM pg_temp.call('POST', :'msgs' || '/' || :'mq' || '/cancel', :'h', '{"reason": "oops"}');
SELECT * FROM pg_temp.call('GET', :'msgs' || '/' || :'mq' || '/cancel', :'h');
--
-- Idempotency-Key: the first response is replayed, one broadcast is created
--
SELECT status, coalesce(headers->>'idempotent-replayed', 'absent') AS replayed, body::jsonb->>'id' AS id FROM bar9.api('POST', :'msgs', :'h'::jsonb || '{"idempotency-key": "k-1"}', convert_to('{"body": "once"}', 'UTF8')) \gset first_
SELECT status, coalesce(headers->>'idempotent-replayed', 'absent') AS replayed, body::jsonb->>'id' AS id FROM bar9.api('POST', :'msgs', :'h'::jsonb || '{"idempotency-key": "k-1"}', convert_to('{"body": "once"}', 'UTF8')) \gset again_
SELECT :first_status AS first, :'first_replayed' AS first_replayed, :again_status AS again, :'again_replayed' AS again_replayed, :'first_id' = :'again_id' AS same_id;
SELECT count(*) AS broadcasts_of_once FROM bar9.broadcasts WHERE body = 'once';
SELECT * FROM pg_temp.call('POST', :'msgs', :'h'::jsonb || '{"idempotency-key": "k-1"}', '{"body": "twice"}');
--
-- Typed SQL functions
--
SELECT id = :'m1' AS same, audience_id = :'cid' AS audience, body, status, recipient_count, suppressed_count, encoding, segments, send_at, queued, sending, sent, delivered, failed, canceled FROM bar9.get_broadcast(:'acct', :'m1');
SELECT status, recipient_count, encoding, segments, send_at IS NULL AS now FROM bar9.create_broadcast(:'acct', :'cid', 'Ramadan Mubarak! رمضان مبارك') \gset sql_
SELECT :'sql_status' AS status, :sql_recipient_count AS recipient_count, :'sql_encoding' AS encoding, :sql_segments AS segments, :'sql_now' AS now;
SELECT status, send_at = date_trunc('second', now()) + interval '2 days' AS send_at_ok FROM bar9.create_broadcast(:'acct', :'cid', 'later', date_trunc('second', now()) + interval '2 days');
SELECT bar9.create_broadcast(:'acct', :'cid', '');
SELECT bar9.create_broadcast(:'acct', :'cid', repeat('x', 1601));
SELECT bar9.create_broadcast(:'acct', :'cid', 'x', now() + interval '10 seconds');
SELECT bar9.create_broadcast(:'acct', :'cid', 'x', now() + interval '40 days');
SELECT pg_temp.try(format('SELECT bar9.create_broadcast(%L, %L, ''x'')', :'acct', :'empty'));
SELECT pg_temp.try(format('SELECT bar9.create_broadcast(%L, %L, ''x'')', :'acct', :'cid2'));
SELECT bar9.create_broadcast(NULL, :'cid', 'x');
SELECT bar9.create_broadcast(:'acct', :'cid', NULL);
SELECT pg_temp.try(format('SELECT bar9.get_broadcast(%L, %L)', :'acct2', :'m1'));
SELECT pg_temp.try(format('SELECT bar9.get_broadcast(%L, ''msg_nope'')', :'acct'));
SELECT count(*), bool_and(audience_id = :'cid') FROM bar9.list_broadcasts(:'acct', :'cid', 1000);
SELECT count(*) FROM bar9.list_broadcasts(:'acct', :'cid', 2, :'m1');
SELECT body FROM bar9.list_broadcasts(:'acct', :'cid', 2);
SELECT bar9.list_broadcasts(:'acct', :'cid', 0);
SELECT bar9.list_broadcasts(:'acct', :'cid', 20, 'msg_nope');
SELECT pg_temp.try(format('SELECT bar9.list_broadcasts(%L, %L)', :'acct2', :'cid'));
SELECT status, canceled FROM bar9.cancel_broadcast(:'acct', (SELECT broadcast_id FROM bar9.broadcasts WHERE body = 'later' AND status = 'scheduled' ORDER BY created_at LIMIT 1));
SELECT pg_temp.try(format('SELECT bar9.cancel_broadcast(%L, %L)', :'acct', :'m1'));
SELECT pg_temp.try(format('SELECT bar9.cancel_broadcast(%L, %L)', :'acct2', :'mq'));
-- "from" as the HTTP body's: one of the account's sender addresses, else 22023
SELECT bar9.add_sender(:'acct', 'SqlShop') \g /dev/null
SELECT "from", (bar9.get_broadcast(:'acct', id))."from" AS stored FROM bar9.create_broadcast(:'acct', :'cid', 'from SQL', NULL, 'SqlShop');
SELECT "from" IS NULL AS no_default FROM bar9.create_broadcast(:'acct', :'cid', 'no from');
SELECT bar9.create_broadcast(:'acct', :'cid', 'x', NULL, 'Unknown1');
SELECT bar9.remove_sender(:'acct', 'SqlShop');
-- every broadcast's counters match its SMS
SELECT bool_and((m.n_queued, m.n_sending, m.n_sent, m.n_delivered, m.n_failed, m.n_canceled) = (SELECT count(*) FILTER (WHERE s.status = 'queued'), count(*) FILTER (WHERE s.status = 'sending'), count(*) FILTER (WHERE s.status = 'sent'), count(*) FILTER (WHERE s.status = 'delivered'), count(*) FILTER (WHERE s.status = 'failed'), count(*) FILTER (WHERE s.status = 'canceled') FROM bar9.sms s WHERE s.broadcast_id = m.broadcast_id)) AS all_exact FROM bar9.broadcasts m;
\c postgres
DROP DATABASE bar9_broadcasts_regress;
