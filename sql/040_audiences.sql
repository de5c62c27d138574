-- Audiences: routes and typed SQL functions; pagination; accounts see only their own; soft delete
\pset format unaligned
CREATE FUNCTION pg_temp.mask(t text) RETURNS text LANGUAGE sql AS $$ SELECT regexp_replace(regexp_replace(t, '(mkt|acct|key|msg)_[0-9A-Za-z]{22}', '\1_X', 'g'), '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', 'TIME', 'g') $$;
CREATE FUNCTION pg_temp.call(m text, p text, h jsonb, b text DEFAULT NULL) RETURNS TABLE (status int, headers jsonb, body text) LANGUAGE sql AS $$ SELECT a.status, (a.headers - '{ratelimit-limit,ratelimit-remaining,ratelimit-reset}'::text[]), pg_temp.mask(a.body) FROM bar9.api(m, p, h, convert_to(b, 'UTF8')) a $$;
-- the names of a list response, in order
-- run a statement, show its error (SQLSTATE and masked message) if it fails
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN EXECUTE q; RETURN 'ok'; EXCEPTION WHEN OTHERS THEN RETURN 'ERROR ' || SQLSTATE || ': ' || pg_temp.mask(SQLERRM); END $$;
CREATE FUNCTION pg_temp.names(b text) RETURNS text LANGUAGE sql AS $$ SELECT string_agg(e->>'name', ',' ORDER BY o) || CASE WHEN (b::jsonb->>'has_more')::boolean THEN ' (more)' ELSE '' END FROM jsonb_array_elements(b::jsonb->'data') WITH ORDINALITY AS x(e, o) $$;
SELECT bar9.create_account('Audiences A') AS acct \gset
SELECT bar9.create_account('Audiences B') AS acct2 \gset
SELECT jsonb_build_object('authorization', 'Bearer ' || bar9.create_api_key(:'acct', ARRAY['marketing:channels:read', 'marketing:channels:write']), 'content-type', 'application/json') AS h \gset
SELECT jsonb_build_object('x-api-key', bar9.create_api_key(:'acct2', ARRAY['marketing:channels:read', 'marketing:channels:write']), 'content-type', 'application/json') AS h2 \gset
-- an empty list
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels', :'h');
-- create: 201, the name trimmed, any Unicode, 200 characters (not bytes) allowed
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{"name": "  Ramadan audience\n"}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{"name": "جمهور رمضان 🌙"}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{"nme": "typo"}');
SELECT body::jsonb->>'id' AS c1 FROM bar9.api('POST', '/v1/marketing/channels', :'h', convert_to('{"name": "c1"}', 'UTF8')) \gset
SELECT body::jsonb->>'id' AS c2 FROM bar9.api('POST', '/v1/marketing/channels', :'h', convert_to('{"name": "c2"}', 'UTF8')) \gset
SELECT body::jsonb->>'id' AS c3 FROM bar9.api('POST', '/v1/marketing/channels', :'h', convert_to('{"name": "c3"}', 'UTF8')) \gset
SELECT :'c1' ~ '^mkt_[0-9A-Za-z]{22}$' AS id_format_ok, :'c1' <> :'c2' AS ids_differ;
-- the object: every field of docs/api.md, times in RFC 3339 UTC without fractions
SELECT pg_temp.mask((body::jsonb - 'id')::text) AS audience FROM bar9.api('GET', '/v1/marketing/channels/' || :'c1', :'h', NULL);
SELECT (body::jsonb->>'created_at') ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$' AS rfc3339, (body::jsonb->>'created_at')::timestamptz = date_trunc('second', created_at) AS same_instant FROM bar9.api('GET', '/v1/marketing/channels/' || :'c1', :'h', NULL), bar9.audiences WHERE audience_id = :'c1';
-- list: newest first, limit, has_more, starting_after
SELECT status, pg_temp.names(body) FROM bar9.api('GET', '/v1/marketing/channels', :'h', NULL);
SELECT status, pg_temp.names(body) FROM bar9.api('GET', '/v1/marketing/channels?limit=2', :'h', NULL);
SELECT status, pg_temp.names(body) FROM bar9.api('GET', '/v1/marketing/channels?limit=2&starting_after=' || :'c2', :'h', NULL);
SELECT status, pg_temp.names(body) FROM bar9.api('GET', '/v1/marketing/channels?limit=3&starting_after=' || :'c2', :'h', NULL);
SELECT status, pg_temp.names(body) FROM bar9.api('GET', '/v1/marketing/channels?starting_after=' || :'c3' || '&limit=100', :'h', NULL);
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels?starting_after=mkt_0000000000000000000000', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels?starting_after=bogus', :'h');
-- another account's audience: 404 on every route, never 403, and never listed
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels', :'h2');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'c1', :'h2');
SELECT * FROM pg_temp.call('PATCH', '/v1/marketing/channels/' || :'c1', :'h2', '{"name": "stolen"}');
SELECT * FROM pg_temp.call('DELETE', '/v1/marketing/channels/' || :'c1', :'h2');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/' || :'c1' || '/numbers', :'h2', '{"phone_number": "+213555123456"}');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'c1' || '/numbers', :'h2');
SELECT * FROM pg_temp.call('DELETE', '/v1/marketing/channels/' || :'c1' || '/numbers/%2B213555123456', :'h2');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels?starting_after=' || :'c1', :'h2');
SELECT name FROM bar9.audiences WHERE audience_id = :'c1';
-- PATCH: renames and moves updated_at; an empty body changes nothing; bad names are 400
-- (back-dated to an hour ago without reading the row's own times in the UPDATE: Citus refuses that)
UPDATE bar9.audiences SET updated_at = now() - interval '1 hour', created_at = now() - interval '1 hour' WHERE audience_id = :'c1' RETURNING updated_at AS before \gset
SELECT * FROM pg_temp.call('PATCH', '/v1/marketing/channels/' || :'c1', :'h', '{"name": " c1 renamed "}');
SELECT updated_at > :'before' AS updated_at_moved, created_at < updated_at AS created_before FROM bar9.audiences WHERE audience_id = :'c1';
SELECT * FROM pg_temp.call('PATCH', '/v1/marketing/channels/' || :'c1', :'h', '{}');
SELECT * FROM pg_temp.call('PATCH', '/v1/marketing/channels/' || :'c1', :'h');
SELECT * FROM pg_temp.call('PATCH', '/v1/marketing/channels/' || :'c1', :'h', '{"name": 7}');
SELECT * FROM pg_temp.call('PATCH', '/v1/marketing/channels/' || :'c1', :'h', '{"name": "   "}');
SELECT * FROM pg_temp.call('PATCH', '/v1/marketing/channels/' || :'c1', :'h', '{"subscriber_count": 1000}');
SELECT * FROM pg_temp.call('PATCH', '/v1/marketing/channels/mkt_0000000000000000000000', :'h', '{"name": "x"}');
SELECT * FROM pg_temp.call('PATCH', '/v1/marketing/channels/not-an-id', :'h', '{"name": "x"}');
-- DELETE: soft delete; then 404 everywhere and gone from lists; broadcasts are kept
SELECT bar9.add_numbers(:'acct', :'c2', ARRAY['+213555000001', '+213555000002']);
SELECT id AS history FROM bar9.create_broadcast(:'acct', :'c2', 'history') \gset
SELECT * FROM pg_temp.call('DELETE', '/v1/marketing/channels/' || :'c2', :'h');
SELECT * FROM pg_temp.call('DELETE', '/v1/marketing/channels/' || :'c2', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'c2', :'h');
SELECT * FROM pg_temp.call('PATCH', '/v1/marketing/channels/' || :'c2', :'h', '{"name": "back"}');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels/' || :'c2' || '/numbers', :'h');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/' || :'c2' || '/numbers', :'h', '{"phone_number": "+213555000003"}');
SELECT * FROM pg_temp.call('DELETE', '/v1/marketing/channels/' || :'c2' || '/numbers/%2B213555000001', :'h');
SELECT status, pg_temp.names(body) FROM bar9.api('GET', '/v1/marketing/channels', :'h', NULL);
-- a deleted audience still works as a cursor: a client paging through is not stopped
SELECT status, pg_temp.names(body) FROM bar9.api('GET', '/v1/marketing/channels?starting_after=' || :'c2', :'h', NULL);
SELECT deleted_at IS NOT NULL AS deleted, subscriber_count, (SELECT count(*) FROM bar9.audience_numbers WHERE audience_id = :'c2') AS numbers, (SELECT count(*) FROM bar9.broadcasts WHERE audience_id = :'c2') AS broadcasts FROM bar9.audiences WHERE audience_id = :'c2';
-- its 2 numbers are left to the worker, which removes them in batches (here by hand, batches of 1)
SELECT count(*) AS waiting_for_removal FROM bar9.audience_purges WHERE audience_id = :'c2';
SELECT bar9.purge_deleted_audiences(1) AS batch_1, bar9.purge_deleted_audiences(1) AS batch_2, bar9.purge_deleted_audiences(1) AS batch_3;
SELECT (SELECT count(*) FROM bar9.audience_numbers WHERE audience_id = :'c2') AS numbers_left, (SELECT count(*) FROM bar9.audience_purges) AS still_waiting;
-- typed SQL functions
SELECT (bar9.create_audience(:'acct', '  SQL audience ')).id AS s1 \gset
SELECT pg_temp.mask(id) AS id, name, subscriber_count, message_count, created_at = updated_at AS fresh FROM bar9.get_audience(:'acct', :'s1');
SELECT pg_temp.mask(id) AS id, name FROM bar9.rename_audience(:'acct', :'s1', 'SQL renamed');
SELECT name FROM bar9.list_audiences(:'acct');
SELECT name FROM bar9.list_audiences(:'acct', 2);
SELECT name FROM bar9.list_audiences(:'acct', 2, :'s1');
SELECT name FROM bar9.list_audiences(:'acct2');
SELECT bar9.delete_audience(:'acct', :'s1');
SELECT name FROM bar9.list_audiences(:'acct', 1);
SELECT pg_temp.try(format('SELECT bar9.get_audience(%L, %L)', :'acct', :'s1'));
SELECT pg_temp.try(format('SELECT bar9.get_audience(%L, %L)', :'acct2', :'c1'));
SELECT pg_temp.try(format('SELECT bar9.rename_audience(%L, %L, %L)', :'acct', :'s1', 'x'));
SELECT pg_temp.try(format('SELECT bar9.delete_audience(%L, %L)', :'acct', :'s1'));
SELECT bar9.create_audience(:'acct', ' ');
SELECT bar9.create_audience(:'acct', repeat('n', 201));
SELECT bar9.create_audience('acct_nobody', 'x');
SELECT bar9.list_audiences(:'acct', 0);
SELECT bar9.list_audiences(:'acct', 1001);
SELECT bar9.list_audiences(:'acct', 10, 'mkt_0000000000000000000000');
