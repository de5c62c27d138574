-- Idempotency-Key on POST: replay, reuse with another request (422), key length, per account, 24 hours
\pset format unaligned
CREATE FUNCTION pg_temp.mask(t text) RETURNS text LANGUAGE sql AS $$ SELECT regexp_replace(regexp_replace(t, '(mkt|acct|key|msg)_[0-9A-Za-z]{22}', '\1_X', 'g'), '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', 'TIME', 'g') $$;
CREATE FUNCTION pg_temp.call(m text, p text, h jsonb, b text DEFAULT NULL) RETURNS TABLE (status int, headers jsonb, body text) LANGUAGE sql AS $$ SELECT a.status, a.headers, pg_temp.mask(a.body) FROM bar9.api(m, p, h, convert_to(b, 'UTF8')) a $$;
SELECT bar9.create_account('Idempotency A') AS acct \gset
SELECT bar9.create_account('Idempotency B') AS acct2 \gset
SELECT jsonb_build_object('authorization', 'Bearer ' || bar9.create_api_key(:'acct', ARRAY['marketing:channels:read', 'marketing:channels:write']), 'content-type', 'application/json') AS h \gset
SELECT jsonb_build_object('authorization', 'Bearer ' || bar9.create_api_key(:'acct2', ARRAY['marketing:channels:read', 'marketing:channels:write']), 'content-type', 'application/json') AS h2 \gset
SELECT (:'h'::jsonb || '{"idempotency-key": "order-1"}') AS hk, (:'h2'::jsonb || '{"idempotency-key": "order-1"}') AS hk2 \gset
-- the first request runs; the same request again replays it (same id), flagged by a header
SELECT status, headers, body::jsonb->>'id' AS first_id FROM bar9.api('POST', '/v1/marketing/channels', :'hk', convert_to('{"name": "Once"}', 'UTF8')) \gset
SELECT :status AS status, :'headers' AS headers;
SELECT status, headers, body::jsonb->>'id' = :'first_id' AS same_audience FROM bar9.api('POST', '/v1/marketing/channels', :'hk', convert_to('{"name": "Once"}', 'UTF8'));
SELECT status, headers, body::jsonb->>'id' = :'first_id' AS same_audience FROM bar9.api('POST', '/v1/marketing/channels', :'hk', convert_to('{"name": "Once"}', 'UTF8'));
SELECT count(*) AS audiences_named_once FROM bar9.channels WHERE account_id = :'acct' AND name = 'Once';
-- the same key with another body, path or method: 422
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'hk', '{"name": "Twice"}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'hk', '{"name":"Once"}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/' || :'first_id' || '/numbers', :'hk', '{"name": "Once"}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels?x=1', :'hk', '{"name": "Once"}');
-- keys are per account: account B's "order-1" is its own
SELECT status, body::jsonb->>'id' <> :'first_id' AS another_audience FROM bar9.api('POST', '/v1/marketing/channels', :'hk2', convert_to('{"name": "Once"}', 'UTF8'));
-- Idempotency-Key is 1 to 255 characters
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h'::jsonb || '{"idempotency-key": ""}', '{"name": "k"}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h'::jsonb || jsonb_build_object('idempotency-key', repeat('k', 256)), '{"name": "k"}');
SELECT status FROM bar9.api('POST', '/v1/marketing/channels', :'h'::jsonb || jsonb_build_object('idempotency-key', repeat('é', 255)), convert_to('{"name": "k"}', 'UTF8'));
SELECT status, headers->>'idempotent-replayed' AS replayed FROM bar9.api('POST', '/v1/marketing/channels', :'h'::jsonb || jsonb_build_object('idempotency-key', repeat('é', 255)), convert_to('{"name": "k"}', 'UTF8'));
-- a 4xx answered by the route is stored and replayed too; a body refused as not JSON is not (the client may fix it and retry)
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h'::jsonb || '{"idempotency-key": "bad-1"}', '{"name": 5}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h'::jsonb || '{"idempotency-key": "bad-1"}', '{"name": 5}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h'::jsonb || '{"idempotency-key": "bad-2"}', '{"name": ');
SELECT count(*) AS stored_bad_2 FROM bar9.idempotency_keys WHERE idem_key = 'bad-2';
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h'::jsonb || '{"idempotency-key": "bad-2"}', '{"name": "fixed"}');
-- bulk adds replay their report instead of adding again
SELECT (:'h'::jsonb || '{"idempotency-key": "bulk-1"}') AS hb \gset
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/' || :'first_id' || '/numbers', :'hb', '{"phone_numbers": ["+213555000001", "+213555000002", "x"]}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/' || :'first_id' || '/numbers', :'hb', '{"phone_numbers": ["+213555000001", "+213555000002", "x"]}');
-- GET and DELETE ignore the header
SELECT status, headers FROM bar9.api('GET', '/v1/marketing/channels', :'hk', NULL);
-- after 24 hours a key is forgotten: the request runs again
UPDATE bar9.idempotency_keys SET created_at = created_at - interval '25 hours' WHERE account_id = :'acct' AND idem_key = 'order-1';
SELECT status, headers, body::jsonb->>'id' <> :'first_id' AS new_audience FROM bar9.api('POST', '/v1/marketing/channels', :'hk', convert_to('{"name": "Once"}', 'UTF8'));
SELECT status, headers FROM bar9.api('POST', '/v1/marketing/channels', :'hk', convert_to('{"name": "Once"}', 'UTF8'));
SELECT count(*) AS audiences_named_once FROM bar9.channels WHERE account_id = :'acct' AND name = 'Once';
-- a transaction that rolls back stores nothing
BEGIN;
SELECT status FROM bar9.api('POST', '/v1/marketing/channels', :'h'::jsonb || '{"idempotency-key": "rolled-back"}', convert_to('{"name": "Gone"}', 'UTF8'));
ROLLBACK;
SELECT status, headers FROM bar9.api('POST', '/v1/marketing/channels', :'h'::jsonb || '{"idempotency-key": "rolled-back"}', convert_to('{"name": "Gone"}', 'UTF8'));
-- purging old keys
UPDATE bar9.idempotency_keys SET created_at = created_at - interval '2 days' WHERE account_id = :'acct2';
SELECT bar9.purge_idempotency_keys() >= 1 AS purged_some;
SELECT count(*) AS left_for_b FROM bar9.idempotency_keys WHERE account_id = :'acct2';
