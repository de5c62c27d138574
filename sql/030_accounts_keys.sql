-- Accounts and scoped API keys: creation, storage, authentication, revocation
\pset format unaligned
-- ids, keys and times are random or moving: mask them in what is shown
CREATE FUNCTION pg_temp.mask(t text) RETURNS text LANGUAGE sql AS $$ SELECT regexp_replace(regexp_replace(t, '(mkt|acct|key|msg)_[0-9A-Za-z]{22}', '\1_X', 'g'), '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', 'TIME', 'g') $$;
CREATE FUNCTION pg_temp.call(m text, p text, h jsonb, b text DEFAULT NULL) RETURNS TABLE (status int, headers jsonb, body text) LANGUAGE sql AS $$ SELECT a.status, (a.headers - '{ratelimit-limit,ratelimit-remaining,ratelimit-reset}'::text[]), pg_temp.mask(a.body) FROM bar9.api(m, p, h, convert_to(b, 'UTF8')) a $$;
-- accounts
SELECT bar9.create_account('Acme') AS acct \gset
SELECT :'acct' ~ '^acct_[0-9A-Za-z]{22}$' AS account_id_ok;
SELECT name FROM bar9.accounts WHERE account_id = :'acct';
SELECT bar9.create_account('   ');
SELECT bar9.create_account(repeat('x', 201));
SELECT bar9.create_account(NULL) IS NULL AS null_name_gives_null;
SELECT bar9.create_account('Other') AS acct2 \gset
-- keys: the format, and only a SHA-256 of the secret is stored
SELECT bar9.create_api_key(:'acct', ARRAY['marketing:channels:read', 'marketing:channels:write'], 'server') AS key \gset
SELECT :'key' ~ '^bar9_key_[0-9A-Za-z]{22}_[0-9A-Za-z]{32}$' AS key_format_ok;
SELECT count(*) AS rows_with_hash FROM bar9.api_keys WHERE secret_sha256 = sha256(convert_to(split_part(:'key', '_', 4), 'UTF8')) AND key_id = 'key_' || split_part(:'key', '_', 3);
SELECT count(*) AS rows_holding_secret FROM bar9.api_keys k WHERE position(split_part(:'key', '_', 4) IN k::text) > 0;
-- scopes: canonical order, duplicates dropped, unknown or none refused
SELECT bar9.create_api_key(:'acct', ARRAY['marketing:channels:send', 'marketing:channels:read', 'marketing:channels:send']) AS key_rs \gset
SELECT bar9.create_api_key(:'acct', ARRAY['marketing:channels:read']) AS key_r \gset
SELECT bar9.create_api_key(:'acct', ARRAY['marketing:channels:write']) AS key_w \gset
SELECT bar9.create_api_key(:'acct2', ARRAY['marketing:channels:read']) AS key2 \gset
SELECT bar9.create_api_key(:'acct', ARRAY['marketing:channels:admin']);
SELECT bar9.create_api_key(:'acct', ARRAY['marketing:channels:read', NULL]);
SELECT bar9.create_api_key(:'acct', ARRAY[]::text[]);
SELECT bar9.create_api_key(:'acct', NULL);
SELECT bar9.create_api_key('acct_nosuchaccount', ARRAY['marketing:channels:read']);
SELECT bar9.create_api_key(:'acct', ARRAY['marketing:channels:read'], '');
-- listing keys: never the secret or its hash
SELECT pg_temp.mask(key_id) AS key_id, label, scopes, created_at IS NOT NULL AS created, last_used_at, revoked_at FROM bar9.list_api_keys(:'acct') ORDER BY scopes::text, label;
SELECT count(*) AS other_account_keys FROM bar9.list_api_keys(:'acct2');
SELECT proargnames FROM pg_proc WHERE oid = 'bar9.list_api_keys'::regproc;
-- authentication: Bearer (any case) or X-API-Key
SELECT status FROM bar9.api('GET', '/v1/marketing/channels', jsonb_build_object('authorization', 'Bearer ' || :'key'), NULL);
SELECT status FROM bar9.api('GET', '/v1/marketing/channels', jsonb_build_object('authorization', 'bearer  ' || :'key' || ' '), NULL);
SELECT status FROM bar9.api('GET', '/v1/marketing/channels', jsonb_build_object('x-api-key', :'key'), NULL);
SELECT status FROM bar9.api('GET', '/v1/marketing/channels', jsonb_build_object('Authorization', 'Bearer ' || :'key'), NULL);
-- missing, malformed, unknown, tampered: one identical 401
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels', '{}');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels', NULL);
CREATE TEMP TABLE unauthorized AS SELECT label, a.* FROM (VALUES ('missing', '{}'::jsonb), ('empty bearer', '{"authorization": "Bearer "}'), ('basic scheme', jsonb_build_object('authorization', 'Basic ' || :'key')), ('malformed', '{"authorization": "Bearer bar9_nope"}'), ('key id only', jsonb_build_object('x-api-key', 'key_' || split_part(:'key', '_', 3))), ('unknown id', jsonb_build_object('x-api-key', 'bar9_key_0000000000000000000000_' || split_part(:'key', '_', 4))), ('tampered secret', jsonb_build_object('x-api-key', left(:'key', -1) || CASE right(:'key', 1) WHEN 'a' THEN 'b' ELSE 'a' END)), ('key too long', jsonb_build_object('x-api-key', :'key' || 'x')), ('headers not an object', '[]')) AS v(label, h), bar9.api('GET', '/v1/marketing/channels', v.h, NULL) AS a;
SELECT label, status FROM unauthorized ORDER BY label;
SELECT count(DISTINCT (status, headers, body)) AS distinct_401_answers FROM unauthorized;
-- last_used_at: set by a request, then written at most once a minute
SELECT last_used_at IS NOT NULL AS used FROM bar9.api_keys WHERE key_id = 'key_' || split_part(:'key', '_', 3);
UPDATE bar9.api_keys SET last_used_at = now() - interval '30 seconds' WHERE key_id = 'key_' || split_part(:'key', '_', 3) RETURNING last_used_at AS recent \gset
SELECT status FROM bar9.api('GET', '/v1/marketing/channels', jsonb_build_object('x-api-key', :'key'), NULL);
SELECT last_used_at = :'recent' AS unchanged_within_a_minute FROM bar9.api_keys WHERE key_id = 'key_' || split_part(:'key', '_', 3);
UPDATE bar9.api_keys SET last_used_at = now() - interval '2 minutes' WHERE key_id = 'key_' || split_part(:'key', '_', 3) RETURNING last_used_at AS old \gset
SELECT status FROM bar9.api('GET', '/v1/marketing/channels', jsonb_build_object('x-api-key', :'key'), NULL);
SELECT last_used_at > :'old' AS touched_after_a_minute FROM bar9.api_keys WHERE key_id = 'key_' || split_part(:'key', '_', 3);
-- scopes are checked per route; 403 names the missing scope
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', jsonb_build_object('x-api-key', :'key_r', 'content-type', 'application/json'), '{"name": "x"}');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels', jsonb_build_object('x-api-key', :'key_w'));
SELECT * FROM pg_temp.call('DELETE', '/v1/marketing/channels/mkt_0000000000000000000000', jsonb_build_object('x-api-key', :'key_rs'));
SELECT status FROM bar9.api('GET', '/v1/marketing/channels', jsonb_build_object('x-api-key', :'key_rs'), NULL);
-- revocation: by whole key or by id; twice is harmless; then 401
SELECT bar9.revoke_api_key(:'key_r');
SELECT revoked_at IS NOT NULL AS revoked FROM bar9.api_keys WHERE key_id = 'key_' || split_part(:'key_r', '_', 3);
SELECT bar9.revoke_api_key(:'key_r');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels', jsonb_build_object('x-api-key', :'key_r'));
SELECT bar9.revoke_api_key('key_' || split_part(:'key_w', '_', 3));
SELECT status FROM bar9.api('POST', '/v1/marketing/channels', jsonb_build_object('x-api-key', :'key_w', 'content-type', 'application/json'), convert_to('{"name": "x"}', 'UTF8'));
SELECT bar9.revoke_api_key('key_0000000000000000000000');
SELECT bar9.revoke_api_key('bar9_key_0000000000000000000000_00000000000000000000000000000000');
SELECT bar9.revoke_api_key(left(:'key', -1) || CASE right(:'key', 1) WHEN 'a' THEN 'b' ELSE 'a' END);
SELECT bar9.revoke_api_key('hello');
SELECT pg_temp.mask(key_id) AS key_id, revoked_at IS NOT NULL AS revoked FROM bar9.list_api_keys(:'acct') ORDER BY scopes::text, revoked;
-- the other keys still work
SELECT status FROM bar9.api('GET', '/v1/marketing/channels', jsonb_build_object('x-api-key', :'key'), NULL);
SELECT status FROM bar9.api('GET', '/v1/marketing/channels', jsonb_build_object('x-api-key', :'key2'), NULL);
-- bar9.api runs with its owner's rights and a pinned search_path
SELECT prosecdef, proconfig FROM pg_proc WHERE oid = 'bar9.api'::regproc;
