--
-- Fan-out of broadcasts into queued SMS (src/fanout.c, src/worker.c).
--
-- The background worker serves bar9.database_name ('postgres'), not this
-- database, so here each fan-out is driven by hand: bar9.fanout_step runs
-- one batch and bar9.fanout_run runs them all, in the caller's
-- transaction, exactly as the worker runs them (one transaction each).
--
SET search_path = public, bar9;
CREATE FUNCTION pg_temp.state(acct text, msg text)
RETURNS TABLE (status text, recipient_count bigint, suppressed_count bigint,
			   n_queued bigint, n_canceled bigint, cursor bar9.e164,
			   fanout_done boolean, sms bigint)
-- (PL/pgSQL, and the SMS counted apart: so it runs on Citus too)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	n bigint;
BEGIN
	SELECT count(*) INTO n FROM bar9.sms s
	 WHERE s.account_id = acct AND s.broadcast_id = msg;
	RETURN QUERY
	SELECT m.status, m.recipient_count, m.suppressed_count, m.n_queued,
		   m.n_canceled, m.fanout_cursor, m.fanout_done, n
	  FROM bar9.broadcasts m WHERE m.account_id = acct AND m.broadcast_id = msg;
END
$$;
-- An account and an audience of ten numbers, two of them opted out.
SELECT bar9.create_account('fan-out') AS acct \gset
SELECT id AS aud FROM bar9.create_audience(:'acct', 'ten') \gset
SELECT added FROM bar9.add_numbers(:'acct', :'aud', ARRAY(SELECT '+1202555' || lpad(i::text, 4, '0') FROM generate_series(101, 110) i));
SELECT created FROM bar9.add_opt_out(:'acct', '+12025550103');
SELECT created FROM bar9.add_opt_out(:'acct', '+12025550108');
-- another account's opt-out list changes nothing here
SELECT bar9.create_account('other') AS other \gset
SELECT created FROM bar9.add_opt_out(:'other', '+12025550105');
--
-- One batch at a time (batches of 4 members).
--
SELECT id AS m1 FROM bar9.create_broadcast(:'acct', :'aud', 'Big discount this weekend!') \gset
SELECT * FROM pg_temp.state(:'acct', :'m1');
-- added after the request: not a recipient
SELECT added FROM bar9.add_number(:'acct', :'aud', '+12025550199');
-- 101 102 103 104: 103 is opted out
SELECT bar9.fanout_step(:'acct', :'m1', 4);
SELECT * FROM pg_temp.state(:'acct', :'m1');
-- removed before the fan-out reaches it: gets nothing
SELECT bar9.remove_number(:'acct', :'aud', '+12025550110');
-- 105 106 107 108: 108 is opted out
SELECT bar9.fanout_step(:'acct', :'m1', 4);
SELECT * FROM pg_temp.state(:'acct', :'m1');
-- 109, a short batch: done; recipient_count is the SMS created
SELECT bar9.fanout_step(:'acct', :'m1', 4);
SELECT * FROM pg_temp.state(:'acct', :'m1');
SELECT to_number, status, attempt FROM bar9.sms WHERE account_id = :'acct' AND broadcast_id = :'m1' ORDER BY to_number;
SELECT subscriber_count, message_count FROM bar9.get_audience(:'acct', :'aud');
-- nothing left to do: no change
SELECT bar9.fanout_step(:'acct', :'m1', 4);
SELECT * FROM pg_temp.state(:'acct', :'m1');
--
-- A whole fan-out at once (default batch size).
--
SELECT id AS m2 FROM bar9.create_broadcast(:'acct', :'aud', 'Second') \gset
SELECT bar9.fanout_run(:'acct', :'m2');
SELECT * FROM pg_temp.state(:'acct', :'m2');
SELECT subscriber_count, message_count FROM bar9.get_audience(:'acct', :'aud');
-- every recipient opted out: nothing to send, 'completed' at once
SELECT id AS stopped FROM bar9.create_audience(:'acct', 'all opted out') \gset
SELECT added FROM bar9.add_numbers(:'acct', :'stopped', ARRAY['+12025550103', '+12025550108']);
SELECT id AS m3 FROM bar9.create_broadcast(:'acct', :'stopped', 'Nobody') \gset
SELECT bar9.fanout_run(:'acct', :'m3');
SELECT * FROM pg_temp.state(:'acct', :'m3');
--
-- Scheduled: the recipients are the audience as it is at send_at.
--
SELECT id AS m4 FROM bar9.create_broadcast(:'acct', :'aud', 'Later', now() + interval '1 hour') \gset
-- not due: nothing happens
SELECT bar9.fanout_step(:'acct', :'m4');
SELECT *, (SELECT member_seq_cutoff IS NULL FROM bar9.broadcasts WHERE broadcast_id = :'m4') AS no_cutoff FROM pg_temp.state(:'acct', :'m4');
-- added after the request, before send_at: a recipient
SELECT added FROM bar9.add_number(:'acct', :'aud', '+12025550150');
-- (test only: the API refuses a send_at less than a minute ahead)
UPDATE bar9.broadcasts SET send_at = now() - interval '1 second' WHERE broadcast_id = :'m4';
SELECT bar9.fanout_run(:'acct', :'m4');
SELECT * FROM pg_temp.state(:'acct', :'m4');
SELECT count(*) FROM bar9.sms WHERE broadcast_id = :'m4' AND to_number = '+12025550150';
--
-- Cancel in the middle of a fan-out: the next batch stops.
--
SELECT id AS m5 FROM bar9.create_broadcast(:'acct', :'aud', 'Cancel me') \gset
SELECT bar9.fanout_step(:'acct', :'m5', 3);
SELECT * FROM pg_temp.state(:'acct', :'m5');
SELECT status, queued, canceled FROM bar9.cancel_broadcast(:'acct', :'m5');
SELECT bar9.fanout_step(:'acct', :'m5', 3);
SELECT * FROM pg_temp.state(:'acct', :'m5');
SELECT status, count(*) FROM bar9.sms WHERE broadcast_id = :'m5' GROUP BY status;
--
-- Audience deleted in the middle of a fan-out: its broadcasts are canceled
-- with their queued SMS, scheduled ones too.
--
SELECT id AS gone FROM bar9.create_audience(:'acct', 'to delete') \gset
SELECT added FROM bar9.add_numbers(:'acct', :'gone', ARRAY['+12025550301', '+12025550302', '+12025550303', '+12025550304', '+12025550305']);
SELECT id AS m6 FROM bar9.create_broadcast(:'acct', :'gone', 'Soon gone') \gset
SELECT id AS m7 FROM bar9.create_broadcast(:'acct', :'gone', 'Never', now() + interval '1 day') \gset
SELECT bar9.fanout_step(:'acct', :'m6', 2);
SELECT bar9.delete_audience(:'acct', :'gone');
SELECT * FROM pg_temp.state(:'acct', :'m6');
SELECT * FROM pg_temp.state(:'acct', :'m7');
SELECT bar9.fanout_step(:'acct', :'m6', 2);
SELECT * FROM pg_temp.state(:'acct', :'m6');
-- an audience marked deleted by other means: the batch cancels by itself
SELECT id AS gone2 FROM bar9.create_audience(:'acct', 'marked deleted') \gset
SELECT added FROM bar9.add_numbers(:'acct', :'gone2', ARRAY['+12025550401', '+12025550402', '+12025550403']);
SELECT id AS m8 FROM bar9.create_broadcast(:'acct', :'gone2', 'Cut short') \gset
SELECT bar9.fanout_step(:'acct', :'m8', 2);
UPDATE bar9.audiences SET deleted_at = now() WHERE audience_id = :'gone2';
SELECT bar9.fanout_step(:'acct', :'m8', 2);
SELECT * FROM pg_temp.state(:'acct', :'m8');
--
-- A scheduled broadcast's recipient_count leaves its opted-out members out
-- from its first batch on, not only once the fan-out is done (the audience
-- has eleven numbers now, two of them opted out).
--
SELECT id AS m9 FROM bar9.create_broadcast(:'acct', :'aud', 'Later', now() + interval '1 day') \gset
SELECT status, recipient_count FROM bar9.broadcasts WHERE broadcast_id = :'m9';
UPDATE bar9.broadcasts SET send_at = now() - interval '1 second' WHERE broadcast_id = :'m9';
SELECT bar9.fanout_step(:'acct', :'m9', 2);
SELECT status, recipient_count, n_queued, suppressed_count FROM bar9.broadcasts WHERE broadcast_id = :'m9';
SELECT bar9.fanout_run(:'acct', :'m9', 2);
SELECT status, recipient_count, n_queued, suppressed_count FROM bar9.broadcasts WHERE broadcast_id = :'m9';
--
-- A fan-out run again over SMS that exist (cursor reset by hand): no SMS
-- is created twice.
--
UPDATE bar9.broadcasts SET status = 'pending', fanout_cursor = NULL, fanout_done = false, suppressed_count = 0 WHERE broadcast_id = :'m2';
SELECT bar9.fanout_run(:'acct', :'m2', 3);
SELECT * FROM pg_temp.state(:'acct', :'m2');
SELECT count(*), count(DISTINCT to_number) FROM bar9.sms WHERE broadcast_id = :'m2';
--
-- Errors.
--
SELECT bar9.fanout_step('acct_doesnotexist', 'msg_doesnotexist');
-- another account's broadcast does not exist either
\set VERBOSITY sqlstate
SELECT bar9.fanout_step(:'other', :'m1');
\set VERBOSITY default
SELECT bar9.fanout_step(:'acct', :'m1', 0);
SELECT bar9.fanout_run(:'acct', :'m1', -1);
SELECT bar9.fanout_step(NULL, :'m1') IS NULL AS null_in_null_out;
SELECT bar9.fanout_statement('nope');
-- waking the worker is harmless anywhere (it acts at commit)
SELECT bar9.wake_worker();
--
-- The plans.  20,000 members, 2,000 of them opted out: a batch reads the
-- members after the cursor by one range scan of the audience's primary
-- key, the opt-outs among them by one range scan of the opt-out list's
-- primary key (never one probe per member, never the whole list), and
-- inserts its SMS in one statement.
--
SELECT id AS big FROM bar9.create_audience(:'acct', 'twenty thousand') \gset
SELECT added FROM bar9.add_numbers(:'acct', :'big', ARRAY(SELECT '+1303555' || lpad(i::text, 4, '0') FROM generate_series(0, 9999) i));
SELECT added FROM bar9.add_numbers(:'acct', :'big', ARRAY(SELECT '+1303556' || lpad(i::text, 4, '0') FROM generate_series(0, 9999) i));
INSERT INTO bar9.opt_outs (account_id, phone_number, source, account_no) SELECT account_id, phone_number, 'api', account_no FROM bar9.audience_numbers WHERE audience_id = :'big' AND phone_number::text LIKE '%7';
ANALYZE bar9.audience_numbers, bar9.opt_outs;
-- plan(q): the lines of EXPLAIN (COSTS OFF) q; on Citus only the router's part, a
-- custom scan of one task (the account's shard plans it with the values as constants)
CREATE FUNCTION pg_temp.plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$ DECLARE l text; citus boolean := false; BEGIN FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP citus := citus OR l LIKE 'Custom Scan (Citus %'; IF NOT citus OR l LIKE 'Custom Scan (Citus %' OR l ~ '^ *Task Count: ' THEN RETURN NEXT l; END IF; END LOOP; END $$;
SET plan_cache_mode = force_generic_plan;
-- every statement names the account's account_no too (its Citus shard)
SELECT account_no AS acct_no FROM bar9.accounts WHERE account_id = :'acct' \gset
SELECT format('PREPARE fanout_read(text, text, bigint, bigint, text, int) AS %s', bar9.fanout_statement('read')) \gexec
SELECT pg_temp.plan(format('EXECUTE fanout_read(%L, %L, 1000000, 10000, %L, %s)', :'acct', :'big', '+13035550000', :acct_no)) AS "QUERY PLAN";
SELECT format('PREPARE fanout_opt_outs(text, text, text, int) AS %s', bar9.fanout_statement('opt_outs')) \gexec
SELECT pg_temp.plan(format('EXECUTE fanout_opt_outs(%L, %L, %L, %s)', :'acct', '+13035550001', '+13035560000', :acct_no)) AS "QUERY PLAN";
SELECT format('PREPARE fanout_insert(int, int, bar9.e164[]) AS %s', bar9.fanout_statement('insert')) \gexec
EXPLAIN (COSTS OFF) EXECUTE fanout_insert(1, 1, '{+13035550001}');
RESET plan_cache_mode;
-- leave the tables as small as other tests expect them
SELECT bar9.delete_audience(:'acct', :'big');
DELETE FROM bar9.opt_outs WHERE account_id = :'acct' AND phone_number::text LIKE '+1303%';
ANALYZE bar9.audience_numbers, bar9.opt_outs;
