-- bar9.api routing: paths, methods (404, 405 + Allow), percent-decoding, query strings
\pset format unaligned
CREATE FUNCTION pg_temp.mask(t text) RETURNS text LANGUAGE sql AS $$ SELECT regexp_replace(regexp_replace(t, '(mkt|acct|key|msg)_[0-9A-Za-z]{22}', '\1_X', 'g'), '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', 'TIME', 'g') $$;
CREATE FUNCTION pg_temp.call(m text, p text, h jsonb, b text DEFAULT NULL) RETURNS TABLE (status int, headers jsonb, body text) LANGUAGE sql AS $$ SELECT a.status, (a.headers - '{ratelimit-limit,ratelimit-remaining,ratelimit-reset}'::text[]), pg_temp.mask(a.body) FROM bar9.api(m, p, h, convert_to(b, 'UTF8')) a $$;
SELECT bar9.create_account('Routing') AS acct \gset
SELECT jsonb_build_object('authorization', 'Bearer ' || bar9.create_api_key(:'acct', ARRAY['marketing:channels:read', 'marketing:channels:write']), 'content-type', 'application/json') AS h \gset
SELECT (bar9.create_audience(:'acct', 'Routes')).id AS cid \gset
SELECT added FROM bar9.add_numbers(:'acct', :'cid', ARRAY['+213555123456', '+33612345678', '+447911123456']);
-- unknown paths: 404 (after authentication)
SELECT * FROM pg_temp.call('GET', '/', :'h');
SELECT * FROM pg_temp.call('GET', '/v1', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channel', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/', :'h');
SELECT * FROM pg_temp.call('GET', '//v1/marketing/channels', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'cid' || '/numbers/%2B213555123456/extra', :'h');
SELECT * FROM pg_temp.call('GET', 'v1/marketing/channels', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s', :'h');
SELECT * FROM pg_temp.call('GET', '/nothing/here', '{}');
-- known paths, other methods: 405 with Allow
SELECT * FROM pg_temp.call('PUT', '/v1/marketing/channels', :'h');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/' || :'cid', :'h', '{}');
SELECT * FROM pg_temp.call('PATCH', '/v1/marketing/channels/' || :'cid' || '/numbers', :'h');
SELECT * FROM pg_temp.call('PATCH', '/v1/marketing/channels/' || :'cid' || '/numbers/%2B213555123456', :'h');
-- one number of the audience, and one that is not in it
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'cid' || '/numbers/%2B213555123456', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'cid' || '/numbers/+213555123499', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'cid' || '/numbers/0555123456', :'h');
SELECT * FROM pg_temp.call('HEAD', '/v1/marketing/channels', :'h');
SELECT * FROM pg_temp.call('get', '/v1/marketing/channels', :'h');
-- a route of another account's id is routed, then 404 (never 403)
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/mkt_0000000000000000000000', :'h');
-- percent-decoding of path segments: %2B and + name the same number
SELECT status, pg_temp.mask(body) AS body FROM bar9.api('GET', '/v1/marketing/%63hannels/' || :'cid', :'h', NULL);
SELECT status, pg_temp.mask(body) AS body FROM bar9.api('GET', '/v1/marketing/channels/' || replace(:'cid', 'mkt_', 'mkt%5F'), :'h', NULL);
SELECT * FROM pg_temp.call('DELETE', '/v1/marketing/channels/' || :'cid' || '/numbers/%2B213555123456', :'h');
SELECT * FROM pg_temp.call('DELETE', '/v1/marketing/channels/' || :'cid' || '/numbers/%2b213555123456', :'h');
SELECT * FROM pg_temp.call('DELETE', '/v1/marketing/channels/' || :'cid' || '/numbers/+33612345678', :'h');
SELECT * FROM pg_temp.call('DELETE', '/v1/marketing/channels/' || :'cid' || '/numbers/%2B44%37911123456', :'h');
SELECT subscriber_count FROM bar9.get_audience(:'acct', :'cid');
-- bad escapes, escaped NUL, or bytes that are not UTF-8: 400, before authentication
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/%zz', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/%2', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/%', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/mkt%00', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/%FF%FE', '{}');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels?limit=%', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels?li%00mit=1', :'h');
-- a multi-byte UTF-8 escape is a character like any other
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/%C3%A9', :'h');
-- query strings: decoded, '+' is a space in values, repeated names refused, unknown names ignored
SELECT status, jsonb_array_length(body::jsonb->'data') AS n FROM bar9.api('GET', '/v1/marketing/channels?limit=%31', :'h', NULL);
SELECT status FROM bar9.api('GET', '/v1/marketing/channels?unknown=1&&', :'h', NULL);
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels?limit=1&limit=2', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels?=1', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels?limit', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels?limit=+1', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11&l=12&m=13&n=14&o=15&p=16&q=17', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'cid' || '/numbers?starting_after=+213555123456', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'cid' || '/numbers?starting_after=%2B213555123456', :'h');
-- no method or no path
SELECT * FROM pg_temp.call(NULL, '/v1/marketing/channels', :'h');
SELECT * FROM pg_temp.call('GET', NULL, :'h');
--
-- GET /v1/openapi.json: the OpenAPI 3.1 document, no key needed; it
-- describes exactly the routes bar9.api serves, each with its scope
--
SELECT status, headers, (body::jsonb)->>'openapi' AS openapi, (body::jsonb)->'info'->>'title' AS title FROM bar9.api('GET', '/v1/openapi.json', '{}', NULL);
SELECT status FROM bar9.api('GET', '/v1/openapi.json', '{"authorization": "Bearer nonsense"}', NULL);
SELECT status, headers->>'allow' AS allow FROM bar9.api('POST', '/v1/openapi.json', :'h', NULL);
SELECT method, path, scope FROM bar9.api_routes() ORDER BY path, method;
-- no row: every route documented, nothing documented that is not served, scopes agree
WITH doc AS (SELECT body::jsonb AS d FROM bar9.api('GET', '/v1/openapi.json', '{}', NULL)),
	 documented AS (SELECT upper(m.key) AS method, p.key AS path, m.value->>'x-scope' AS scope FROM doc, jsonb_each(d->'paths') p, jsonb_each(p.value) m)
SELECT coalesce(r.method, d.method) AS method, coalesce(r.path, d.path) AS path, r.scope AS served, d.scope AS documented
  FROM bar9.api_routes() r FULL JOIN documented d ON d.method = r.method AND d.path = r.path
 WHERE r.method IS NULL OR d.method IS NULL OR coalesce(r.scope, 'none') <> d.scope;
-- bar9.api and the sender functions run as bar9_definer: not a superuser, nobody's role, no right outside bar9
SELECT p.oid::regprocedure AS security_definer_function, r.rolname AS owner, r.rolsuper AS superuser FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner WHERE p.pronamespace = 'bar9'::regnamespace AND p.prosecdef ORDER BY p.oid::regprocedure::text;
SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolbypassrls, (SELECT count(*) FROM pg_auth_members WHERE roleid = r.oid) AS members FROM pg_roles r WHERE rolname = 'bar9_definer';
SET ROLE bar9_definer;
SELECT count(*) FROM pg_authid;
CREATE TABLE public.definer_was_here (x int);
CREATE TABLE bar9.definer_was_here (x int);
CREATE FUNCTION bar9.definer_was_here() RETURNS int LANGUAGE sql AS 'SELECT 1';
RESET ROLE;
