-- Idempotency-Key on POST: replay, reuse with another request (422), key length, per account, 24 hours
\pset format unaligned
CREATE FUNCTION pg_temp.mask(t text) RETURNS text LANGUAGE sql AS $$ SELECT regexp_replace(regexp_replace(t, '(mkt|acct|key|msg)_[0-9A-Za-z]{22}', '\1_X', 'g'), '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', 'TIME', 'g') $$;
CREATE FUNCTION pg_temp.call(m text, p text, h jsonb, b text DEFAULT NULL) RETURNS TABLE (status int, headers jsonb, body text) LANGUAGE sql AS $$ SELECT a.status, (a.headers - '{ratelimit-limit,ratelimit-remaining,ratelimit-reset}'::text[]), pg_temp.mask(a.body) FROM bar9.api(m, p, h, convert_to(b, 'UTF8')) a $$;
SELECT bar9.create_account('Idempotency A') AS acct \gset
SELECT bar9.create_account('Idempotency B') AS acct2 \gset
SELECT jsonb_build_object('authorization', 'Bearer ' || bar9.create_api_key(:'acct', ARRAY['marketing:channels:read', 'marketing:channels:write']), 'content-type', 'application/json') AS h \gset
SELECT jsonb_build_object('authorization', 'Bearer ' || bar9.create_api_key(:'acct2', ARRAY['marketing:channels:read', 'marketing:channels:write']), 'content-type', 'application/json') AS h2 \gset
SELECT (:'h'::jsonb || '{"idempotency-key": "order-1"}') AS hk, (:'h2'::jsonb || '{"idempotency-key": "order-1"}') AS hk2 \gset
-- the first request runs; the same request again replays it (same id), flagged by a header
SELECT status, headers - '{ratelimit-limit,ratelimit-remaining,ratelimit-reset}'::text[] AS headers, body::jsonb->>'id' AS first_id FROM bar9.api('POST', '/v1/marketing/channels', :'hk', convert_to('{"name": "Once"}', 'UTF8')) \gset
SELECT :status AS status, :'headers' AS headers;
SELECT status, headers - '{ratelimit-limit,ratelimit-remaining,ratelimit-reset}'::text[] AS headers, body::jsonb->>'id' = :'first_id' AS same_audience FROM bar9.api('POST', '/v1/marketing/channels', :'hk', convert_to('{"name": "Once"}', 'UTF8'));
SELECT status, headers - '{ratelimit-limit,ratelimit-remaining,ratelimit-reset}'::text[] AS headers, body::jsonb->>'id' = :'first_id' AS same_audience FROM bar9.api('POST', '/v1/marketing/channels', :'hk', convert_to('{"name": "Once"}', 'UTF8'));
SELECT count(*) AS audiences_named_once FROM bar9.audiences WHERE account_id = :'acct' AND name = 'Once';
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
SELECT status, headers - '{ratelimit-limit,ratelimit-remaining,ratelimit-reset}'::text[] AS headers FROM bar9.api('GET', '/v1/marketing/channels', :'hk', NULL);
-- after 24 hours a key is forgotten: the request runs again
UPDATE bar9.idempotency_keys SET created_at = now() - interval '25 hours' WHERE account_id = :'acct' AND idem_key = 'order-1';
SELECT status, headers - '{ratelimit-limit,ratelimit-remaining,ratelimit-reset}'::text[] AS headers, body::jsonb->>'id' <> :'first_id' AS new_audience FROM bar9.api('POST', '/v1/marketing/channels', :'hk', convert_to('{"name": "Once"}', 'UTF8'));
SELECT status, headers - '{ratelimit-limit,ratelimit-remaining,ratelimit-reset}'::text[] AS headers FROM bar9.api('POST', '/v1/marketing/channels', :'hk', convert_to('{"name": "Once"}', 'UTF8'));
SELECT count(*) AS audiences_named_once FROM bar9.audiences WHERE account_id = :'acct' AND name = 'Once';
-- a transaction that rolls back stores nothing
BEGIN;
SELECT status FROM bar9.api('POST', '/v1/marketing/channels', :'h'::jsonb || '{"idempotency-key": "rolled-back"}', convert_to('{"name": "Gone"}', 'UTF8'));
ROLLBACK;
SELECT status, headers - '{ratelimit-limit,ratelimit-remaining,ratelimit-reset}'::text[] AS headers FROM bar9.api('POST', '/v1/marketing/channels', :'h'::jsonb || '{"idempotency-key": "rolled-back"}', convert_to('{"name": "Gone"}', 'UTF8'));
-- purging old keys
UPDATE bar9.idempotency_keys SET created_at = now() - interval '2 days' WHERE account_id = :'acct2';
SELECT bar9.purge_idempotency_keys() >= 1 AS purged_some;
SELECT count(*) AS left_for_b FROM bar9.idempotency_keys WHERE account_id = :'acct2';
-- an answer over 64 kB is not kept: the key is, and a retry is 409 idempotency_answer_not_stored, not a second run
SELECT (:'h'::jsonb || '{"idempotency-key": "big-1"}') AS hbig \gset
SELECT jsonb_build_object('phone_numbers', (SELECT jsonb_agg('not-a-number-' || i) FROM generate_series(1, 1000) i))::text AS bigbody \gset
SELECT status, length(body) > 65536 AS over_64_kb, jsonb_array_length(body::jsonb->'invalid') AS invalid FROM bar9.api('POST', '/v1/marketing/channels/' || :'first_id' || '/numbers', :'hbig', convert_to(:'bigbody', 'UTF8'));
SELECT status, response_body IS NULL AS answer_not_kept FROM bar9.idempotency_keys WHERE account_id = :'acct' AND idem_key = 'big-1';
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/' || :'first_id' || '/numbers', :'hbig', :'bigbody');
-- another request with that key is still 422
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/' || :'first_id' || '/numbers', :'hbig', '{"phone_numbers": ["x"]}');
-- an answer of just under 64 kB is kept and replayed whole
SELECT (:'h'::jsonb || '{"idempotency-key": "big-2"}') AS hbig2 \gset
SELECT jsonb_build_object('phone_numbers', (SELECT jsonb_agg('not-a-number-' || i) FROM generate_series(1, 300) i))::text AS body2 \gset
SELECT status, length(body) BETWEEN 20000 AND 65536 AS under_64_kb, md5(body) AS first_md5 FROM bar9.api('POST', '/v1/marketing/channels/' || :'first_id' || '/numbers', :'hbig2', convert_to(:'body2', 'UTF8')) \gset
SELECT :status AS status, :'under_64_kb' AS under_64_kb;
SELECT status, headers->>'idempotent-replayed' AS replayed, md5(body) = :'first_md5' AS same_answer FROM bar9.api('POST', '/v1/marketing/channels/' || :'first_id' || '/numbers', :'hbig2', convert_to(:'body2', 'UTF8'));
-- old answers go in batches of at most max_rows, oldest first; fresh ones stay
-- (rows written by hand name their account_no, the column Citus routes them by)
SELECT account_no AS acct2_no FROM bar9.accounts WHERE account_id = :'acct2' \gset
INSERT INTO bar9.idempotency_keys (account_id, idem_key, method, path, body_sha256, status, response_body, created_at, account_no)
SELECT :'acct2', 'old-' || i, 'POST', '/v1/marketing/channels', '\x00', 201, '{}', now() - interval '2 days' - i * interval '1 minute', :acct2_no FROM generate_series(1, 25) i;
SELECT bar9.purge_idempotency_keys(10) AS first_batch;
SELECT count(*) AS old_left, max(substr(idem_key, 5)::int) AS oldest_left FROM bar9.idempotency_keys WHERE idem_key LIKE 'old-%';
SELECT bar9.purge_idempotency_keys(10) AS second_batch, bar9.purge_idempotency_keys(10) AS third_batch, bar9.purge_idempotency_keys(10) AS fourth_batch;
SELECT count(*) AS old_left FROM bar9.idempotency_keys WHERE created_at <= now() - interval '24 hours';
SELECT count(*) AS fresh_kept FROM bar9.idempotency_keys WHERE idem_key IN ('big-1', 'big-2');
