-- bar9.api errors: body checks (413, 415, invalid_json), parameters, 500; one row of docs/api.md's error table at least once each
\pset format unaligned
CREATE FUNCTION pg_temp.mask(t text) RETURNS text LANGUAGE sql AS $$ SELECT regexp_replace(regexp_replace(t, '(mkt|acct|key|msg)_[0-9A-Za-z]{22}', '\1_X', 'g'), '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', 'TIME', 'g') $$;
CREATE FUNCTION pg_temp.call(m text, p text, h jsonb, b text DEFAULT NULL) RETURNS TABLE (status int, headers jsonb, body text) LANGUAGE sql AS $$ SELECT a.status, (a.headers - '{ratelimit-limit,ratelimit-remaining,ratelimit-reset}'::text[]), pg_temp.mask(a.body) FROM bar9.api(m, p, h, convert_to(b, 'UTF8')) a $$;
CREATE FUNCTION pg_temp.raw(m text, p text, h jsonb, b bytea) RETURNS TABLE (status int, headers jsonb, body text) LANGUAGE sql AS $$ SELECT a.status, (a.headers - '{ratelimit-limit,ratelimit-remaining,ratelimit-reset}'::text[]), pg_temp.mask(a.body) FROM bar9.api(m, p, h, b) a $$;
SELECT bar9.create_account('Errors') AS acct \gset
SELECT bar9.create_api_key(:'acct', ARRAY['marketing:channels:read', 'marketing:channels:write']) AS key \gset
SELECT jsonb_build_object('authorization', 'Bearer ' || :'key', 'content-type', 'application/json') AS h \gset
SELECT jsonb_build_object('authorization', 'Bearer ' || :'key') AS h_no_ct \gset
-- 413: a body over 1 MiB (checked first, whatever else is wrong)
SELECT * FROM pg_temp.raw('POST', '/v1/marketing/channels', :'h', convert_to(repeat(' ', 1048577), 'UTF8'));
SELECT * FROM pg_temp.raw('POST', '/v1/marketing/channels', '{}', convert_to(repeat(' ', 1048577), 'UTF8'));
SELECT status FROM bar9.api('POST', '/v1/marketing/channels', :'h', convert_to('{"name": "big"}' || repeat(' ', 1048576 - 15), 'UTF8'));
-- 415: a body that is not declared JSON
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h_no_ct', '{"name": "x"}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', jsonb_build_object('authorization', 'Bearer ' || :'key', 'content-type', 'text/plain'), '{"name": "x"}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', jsonb_build_object('authorization', 'Bearer ' || :'key', 'content-type', 'application/x-www-form-urlencoded'), 'name=x');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', jsonb_build_object('authorization', 'Bearer ' || :'key', 'content-type', 'application/json; charset=latin1'), '{"name": "x"}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', jsonb_build_object('authorization', 'Bearer ' || :'key', 'content-type', 'application/jsonx'), '{"name": "x"}');
SELECT status FROM bar9.api('POST', '/v1/marketing/channels', jsonb_build_object('authorization', 'Bearer ' || :'key', 'content-type', 'application/json; charset=utf-8'), convert_to('{"name": "ok 1"}', 'UTF8'));
SELECT status FROM bar9.api('POST', '/v1/marketing/channels', jsonb_build_object('authorization', 'Bearer ' || :'key', 'content-type', 'Application/JSON;charset="UTF-8"'), convert_to('{"name": "ok 2"}', 'UTF8'));
-- no body (NULL or empty) needs no content-type
SELECT * FROM pg_temp.raw('POST', '/v1/marketing/channels', :'h_no_ct', NULL);
SELECT * FROM pg_temp.raw('POST', '/v1/marketing/channels', :'h_no_ct', ''::bytea);
-- 400 invalid_json: bad JSON, bad UTF-8, not an object, NUL escapes, huge numbers
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{"name": ');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{"name": "x"} trailing');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{name: "x"}');
SELECT * FROM pg_temp.raw('POST', '/v1/marketing/channels', :'h', '\x7b226e616d65223a2022ff227d'::bytea);
SELECT * FROM pg_temp.raw('POST', '/v1/marketing/channels', :'h', '\x7b226e616d65223a20220022207d'::bytea);
SELECT * FROM pg_temp.raw('POST', '/v1/marketing/channels', :'h', '\xc0af'::bytea);
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{"name": "a\u0000b"}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{"name": "\ud800"}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{"name": "x", "n": 1e1000000}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '["name", "x"]');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '"x"');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', 'null');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '   ');
-- nested deeper than the parser's stack: still the client's mistake
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', repeat('[', 200000));
-- 400 missing_parameter and invalid_parameter (types are never coerced)
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{"name": null}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{"name": 42}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{"name": ["x"]}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{"name": true}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{"name": ""}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{"name": " \t\n\u00a0\u3000 "}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', json_build_object('name', repeat('x', 201))::text);
SELECT status, length((body::jsonb)->>'name') AS chars, octet_length((body::jsonb)->>'name') AS bytes FROM bar9.api('POST', '/v1/marketing/channels', :'h', convert_to(json_build_object('name', repeat('é', 200))::text, 'UTF8'));
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', json_build_object('name', repeat('é', 201))::text);
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{"name": "x", "nmae": "y"}');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels?limit=101', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels?limit=-1', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels?limit=99999999999999999999', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels?limit=ten', :'h');
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels?starting_after=', :'h');
-- 400 invalid_phone_number
SELECT (bar9.create_audience(:'acct', 'Numbers')).id AS cid \gset
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/' || :'cid' || '/numbers', :'h', '{"phone_number": "0555 12 34 56"}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/' || :'cid' || '/numbers', :'h', '{"phone_number": "+213 555 123 456"}');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels/' || :'cid' || '/numbers', :'h', '{"phone_number": "+999555123456"}');
SELECT * FROM pg_temp.call('DELETE', '/v1/marketing/channels/' || :'cid' || '/numbers/00213555123456', :'h');
-- 500: a bug (here, a column renamed under bar9's feet) gives a body that says nothing
BEGIN;
ALTER TABLE bar9.audiences RENAME COLUMN name TO label;
SELECT * FROM pg_temp.call('GET', '/v1/marketing/channels', :'h');
SELECT * FROM pg_temp.call('POST', '/v1/marketing/channels', :'h', '{"name": "x"}');
ROLLBACK;
-- the 500 rolled back only the handler's work; the same session goes on
SELECT status FROM bar9.api('GET', '/v1/marketing/channels', :'h', NULL);
-- only the five successful POSTs created audiences
SELECT count(*) AS audiences FROM bar9.audiences WHERE account_id = :'acct';
