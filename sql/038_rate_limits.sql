-- Rate limits: a token bucket per account in shared memory (docs/api.md, "Rate limits")
\pset format unaligned
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN EXECUTE q; RETURN 'ok'; EXCEPTION WHEN OTHERS THEN RETURN 'ERROR ' || SQLSTATE || ': ' || regexp_replace(SQLERRM, 'acct_[0-9A-Za-z]{22}', 'acct_X', 'g'); END $$;
SELECT bar9.create_account('Limited') AS acct \gset
SELECT bar9.create_account('Other') AS other \gset
SELECT jsonb_build_object('authorization', 'Bearer ' || bar9.create_api_key(:'acct', ARRAY['marketing:channels:read', 'marketing:channels:write']), 'content-type', 'application/json') AS h \gset
SELECT jsonb_build_object('authorization', 'Bearer ' || bar9.create_api_key(:'other', ARRAY['marketing:channels:read']), 'content-type', 'application/json') AS h2 \gset
-- the defaults: 100 requests per second, a burst of 200, in every authenticated answer
SELECT requests_per_second, burst FROM bar9.accounts WHERE account_id = :'acct';
SELECT status, headers->>'ratelimit-limit' AS "limit", (headers->>'ratelimit-remaining')::int BETWEEN 190 AND 199 AS remaining_199ish FROM bar9.api('GET', '/v1/marketing/channels', :'h', NULL);
-- an operator allows 1 per second with a burst of 3: of four requests in a row the fourth is 429, with Retry-After, and changes nothing
SELECT bar9.set_account_limits(:'acct', 1, 3);
SELECT requests_per_second, burst FROM bar9.accounts WHERE account_id = :'acct';
SELECT i, a.status, a.headers->>'ratelimit-limit' AS "limit", a.headers->>'ratelimit-remaining' AS remaining, a.headers->>'ratelimit-reset' AS reset, a.headers->>'retry-after' AS retry_after, CASE WHEN a.status = 429 THEN a.body END AS body
  FROM generate_series(1, 4) i, LATERAL bar9.api('POST', '/v1/marketing/channels', :'h', convert_to('{"name": "call ' || i || '"}', 'UTF8')) a ORDER BY i;
SELECT string_agg(name, ', ' ORDER BY name) AS created FROM bar9.audiences WHERE account_id = :'acct';
-- another account is not affected
SELECT status, headers->>'ratelimit-limit' AS "limit" FROM bar9.api('GET', '/v1/marketing/channels', :'h2', NULL);
-- a request without a valid key is not counted and carries no RateLimit headers
SELECT status, headers ? 'ratelimit-limit' AS has_ratelimit FROM bar9.api('GET', '/v1/marketing/channels', '{"authorization": "Bearer bar9_key_nope_nope"}', NULL);
-- a change rolled back changes nothing (the bucket starts again, full, with the committed limits)
BEGIN;
SELECT bar9.set_account_limits(:'acct', 50, 60);
ROLLBACK;
SELECT status, headers->>'ratelimit-limit' AS "limit", headers->>'ratelimit-remaining' AS remaining FROM bar9.api('GET', '/v1/marketing/channels', :'h', NULL);
-- a committed change takes effect at the next request, with a full bucket
SELECT bar9.set_account_limits(:'acct', 1000, 2000);
SELECT status, headers->>'ratelimit-limit' AS "limit", headers->>'ratelimit-remaining' AS remaining FROM bar9.api('GET', '/v1/marketing/channels', :'h', NULL);
-- bad limits and unknown accounts are refused (22023) and change nothing
SELECT pg_temp.try($$SELECT bar9.set_account_limits('$$ || :'acct' || $$', 0, 3)$$);
SELECT pg_temp.try($$SELECT bar9.set_account_limits('$$ || :'acct' || $$', 1, 0)$$);
SELECT pg_temp.try($$SELECT bar9.set_account_limits('$$ || :'acct' || $$', 1000001, 3)$$);
SELECT pg_temp.try($$SELECT bar9.set_account_limits('acct_nope', 1, 3)$$);
SELECT requests_per_second, burst FROM bar9.accounts WHERE account_id = :'acct';
