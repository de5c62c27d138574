-- Numbers of an audience: add one, add many (bulk), list in e164 order, remove; exact subscriber_count
\pset format unaligned
CREATE FUNCTION pg_temp.mask(t text) RETURNS text LANGUAGE sql AS $$ SELECT regexp_replace(regexp_replace(t, '(mkt|acct|key|msg)_[0-9A-Za-z]{22}', '\1_X', 'g'), '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', 'TIME', 'g') $$;
CREATE FUNCTION pg_temp.call(m text, p text, h jsonb, b text DEFAULT NULL) RETURNS TABLE (status int, headers jsonb, body text) LANGUAGE sql AS $$ SELECT a.status, (a.headers - '{ratelimit-limit,ratelimit-remaining,ratelimit-reset}'::text[]), pg_temp.mask(a.body) FROM bar9.api(m, p, h, convert_to(b, 'UTF8')) a $$;
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN EXECUTE q; RETURN 'ok'; EXCEPTION WHEN OTHERS THEN RETURN 'ERROR ' || SQLSTATE || ': ' || pg_temp.mask(SQLERRM); END $$;
-- the phone numbers of a list response, in order
CREATE FUNCTION pg_temp.numbers(b text) RETURNS text LANGUAGE sql AS $$ SELECT coalesce(string_agg(e->>'phone_number', ',' ORDER BY o), '') || CASE WHEN (b::jsonb->>'has_more')::boolean THEN ' (more)' ELSE '' END FROM jsonb_array_elements(b::jsonb->'data') WITH ORDINALITY AS x(e, o) $$;
-- subscriber_count against a fresh count
-- (PL/pgSQL, and joined on account_no too: so it runs on Citus as well)
CREATE FUNCTION pg_temp.counts(c text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN (SELECT ch.subscriber_count || ' = ' || count(n.phone_number) FROM bar9.audiences ch LEFT JOIN bar9.audience_numbers n ON n.account_no = ch.account_no AND n.account_id = ch.account_id AND n.audience_id = ch.audience_id WHERE ch.audience_id = c GROUP BY ch.account_no, ch.subscriber_count); END $$;
SELECT bar9.create_account('Numbers') AS acct \gset
SELECT jsonb_build_object('authorization', 'Bearer ' || bar9.create_api_key(:'acct', ARRAY['marketing:channels:read', 'marketing:channels:write']), 'content-type', 'application/json') AS h \gset
SELECT body::jsonb->>'id' AS cid FROM bar9.api('POST', '/v1/marketing/channels', :'h', convert_to('{"name": "Numbers"}', 'UTF8')) \gset
SELECT '/v1/marketing/channels/' || :'cid' || '/numbers' AS np \gset
-- add one: 201 new, 200 when already there
SELECT * FROM pg_temp.call('POST', :'np', :'h', '{"phone_number": "+213555123456"}');
SELECT * FROM pg_temp.call('POST', :'np', :'h', '{"phone_number": "+213555123456"}');
SELECT pg_temp.counts(:'cid');
SELECT pg_temp.mask((body::jsonb->>'channel_id')) AS channel_id, body::jsonb->>'channel_id' = :'cid' AS same_channel FROM bar9.api('POST', :'np', :'h', convert_to('{"phone_number": "+33612345678"}', 'UTF8'));
-- add one: wrong types and missing parameters
SELECT * FROM pg_temp.call('POST', :'np', :'h', '{"phone_number": 213555123456}');
SELECT * FROM pg_temp.call('POST', :'np', :'h', '{"phone_number": null}');
SELECT * FROM pg_temp.call('POST', :'np', :'h', '{}');
SELECT * FROM pg_temp.call('POST', :'np', :'h');
SELECT * FROM pg_temp.call('POST', :'np', :'h', '{"phone_number": "+213555123457", "phone_numbers": ["+213555123458"]}');
SELECT * FROM pg_temp.call('POST', :'np', :'h', '{"phone": "+213555123457"}');
SELECT * FROM pg_temp.call('POST', :'np', :'h', '{"phone_number": ""}');
SELECT * FROM pg_temp.call('POST', :'np', :'h', '{"phone_number": "+２１３５５５１２３４５６"}');
-- bulk: added, already_present (also repeats in the list), invalid with their index; every valid one is added
SELECT * FROM pg_temp.call('POST', :'np', :'h', '{"phone_numbers": ["+447911123456", "+213555123456", "+447911123456", "0044 7911 123457", "+44-7911-123458", 12, null, "", "+1", "+12025550123", "+999123456789"]}');
SELECT pg_temp.counts(:'cid');
SELECT * FROM pg_temp.call('POST', :'np', :'h', '{"phone_numbers": []}');
SELECT * FROM pg_temp.call('POST', :'np', :'h', '{"phone_numbers": "+213555123456"}');
SELECT * FROM pg_temp.call('POST', :'np', :'h', '{"phone_numbers": {"a": "+213555123456"}}');
SELECT * FROM pg_temp.call('POST', :'np', :'h', '{"phone_numbers": null}');
-- 10,000 in one call is allowed; 10,001 is 400 and adds nothing
SELECT status, (body::jsonb)->'added' AS added, (body::jsonb)->'already_present' AS already_present, jsonb_array_length((body::jsonb)->'invalid') AS invalid FROM bar9.api('POST', :'np', :'h', convert_to(jsonb_build_object('phone_numbers', (SELECT jsonb_agg('+1202555' || lpad(i::text, 4, '0')) FROM generate_series(0, 9999) i))::text, 'UTF8'));
SELECT pg_temp.counts(:'cid');
SELECT * FROM pg_temp.call('POST', :'np', :'h', jsonb_build_object('phone_numbers', (SELECT jsonb_agg('+1303555' || lpad(i::text, 4, '0')) FROM generate_series(0, 10000) i))::text);
SELECT pg_temp.counts(:'cid');
-- list: e164 order (digit by digit: +1... < +213... < +33... < +44...), pages by phone number
SELECT (body::jsonb->'data'->0) - 'created_at' - 'channel_id' AS first FROM bar9.api('GET', :'np' || '?limit=1', :'h', NULL);
SELECT pg_temp.numbers(body) FROM bar9.api('GET', :'np' || '?limit=3', :'h', NULL);
SELECT pg_temp.numbers(body) FROM bar9.api('GET', :'np' || '?limit=3&starting_after=%2B12025559998', :'h', NULL);
SELECT * FROM pg_temp.call('GET', :'np' || '?limit=100&starting_after=%2B2', :'h');
SELECT pg_temp.numbers(body) FROM bar9.api('GET', :'np' || '?limit=100&starting_after=%2B2135551234560', :'h', NULL);
SELECT pg_temp.numbers(body) FROM bar9.api('GET', :'np' || '?starting_after=%2B447911123456', :'h', NULL);
SELECT * FROM pg_temp.call('GET', :'np' || '?starting_after=mkt_0000000000000000000000', :'h');
SELECT jsonb_array_length(body::jsonb->'data') AS default_page FROM bar9.api('GET', :'np', :'h', NULL);
-- remove: 200, then 404; an invalid number is 400
SELECT * FROM pg_temp.call('DELETE', :'np' || '/%2B447911123456', :'h');
SELECT * FROM pg_temp.call('DELETE', :'np' || '/%2B447911123456', :'h');
SELECT * FROM pg_temp.call('DELETE', :'np' || '/%2B44%207911%20123456', :'h');
SELECT * FROM pg_temp.call('DELETE', :'np' || '/447911123456', :'h');
SELECT pg_temp.counts(:'cid');
-- the audience object shows the count
SELECT (body::jsonb)->'subscriber_count' AS subscriber_count FROM bar9.api('GET', '/v1/marketing/channels/' || :'cid', :'h', NULL);
-- typed SQL functions
SELECT (bar9.create_audience(:'acct', 'SQL numbers')).id AS s1 \gset
SELECT phone_number, pg_temp.mask(audience_id) AS audience_id, created_at IS NOT NULL AS has_time, added FROM bar9.add_number(:'acct', :'s1', '+213555000001');
SELECT phone_number, added FROM bar9.add_number(:'acct', :'s1', '+213555000001');
SELECT added, already_present, invalid FROM bar9.add_numbers(:'acct', :'s1', ARRAY['+213555000001', '+213555000002', NULL, '+213 555 000003', '+33612345678']);
SELECT phone_number, pg_temp.mask(audience_id) AS audience_id FROM bar9.list_numbers(:'acct', :'s1');
SELECT phone_number FROM bar9.list_numbers(:'acct', :'s1', 1, '+213555000001');
SELECT bar9.remove_number(:'acct', :'s1', '+213555000002');
SELECT bar9.remove_number(:'acct', :'s1', '+213555000002');
SELECT pg_temp.counts(:'s1');
SELECT pg_temp.try(format('SELECT bar9.add_number(%L, %L, %L)', :'acct', 'mkt_0000000000000000000000', '+213555000009'));
SELECT pg_temp.try(format('SELECT bar9.add_numbers(%L, %L, (SELECT array_agg(%L::text) FROM generate_series(1, 10001)))', :'acct', :'s1', '+213555000009'));
SELECT pg_temp.try(format('SELECT bar9.list_numbers(%L, %L, 0)', :'acct', :'s1'));
SELECT pg_temp.try(format('SELECT bar9.add_number(%L, %L, %L)', :'acct', :'s1', '+213 555'));
SELECT pg_temp.counts(:'s1');
