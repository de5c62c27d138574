-- bar9.metrics(): the database's part of the proxy's GET /metrics.  The
-- figures follow broadcasts through fan-out, claim and ack; no SMS table is
-- read (pg_stat_xact_user_tables counts no scan of them); only the proxy's
-- group role bar9_api may call it, and it gives that role no other right.
-- It runs in a database of its own: it claims SMS, which must be its own.
DROP DATABASE IF EXISTS bar9_metrics_regress;
CREATE DATABASE bar9_metrics_regress;
ALTER DATABASE bar9_metrics_regress SET lc_messages TO 'C';
\c bar9_metrics_regress
CREATE EXTENSION bar9;
\pset format unaligned
-- the metric lines, with the two ages shown only as <zero> or <positive>
CREATE FUNCTION pg_temp.lines() RETURNS SETOF text LANGUAGE sql AS $$
	SELECT regexp_replace(regexp_replace(l, '^(bar9_sms_oldest_queued_seconds|bar9_fanout_lag_seconds) 0\.000$', '\1 <zero>'),
						  '^(bar9_sms_oldest_queued_seconds|bar9_fanout_lag_seconds) [0-9]+\.[0-9]{3}$', '\1 <positive>')
	  FROM regexp_split_to_table(rtrim(bar9.metrics(), E'\n'), E'\n') l
	 WHERE l NOT LIKE '# HELP%' $$;
CREATE FUNCTION pg_temp.age_zero(name text) RETURNS boolean LANGUAGE sql AS $$
	SELECT (regexp_match(bar9.metrics(), name || ' ([0-9.]+)'))[1]::numeric = 0 $$;
-- nothing yet: every figure 0
SELECT * FROM pg_temp.lines();
SELECT bar9.create_account('Metrics') AS acct \gset
SELECT (bar9.create_audience(:'acct', 'M')).id AS cid \gset
SELECT added FROM bar9.add_numbers(:'acct', :'cid', ARRAY['+213555123456', '+33612345678', '+447911123456']);
SELECT (bar9.create_broadcast(:'acct', :'cid', 'now')).id AS m1 \gset
SELECT (bar9.create_broadcast(:'acct', :'cid', 'later', now() + interval '1 day')).id AS m2 \gset
SELECT pg_sleep(0.01);
-- one broadcast pending (its fan-out waited for: a lag), one scheduled (not due: no lag)
SELECT l FROM pg_temp.lines() l WHERE l ~ '^bar9_(broadcasts|fanout)';
SELECT pg_temp.age_zero('bar9_fanout_lag_seconds') AS lag_zero;
-- fanned out: three SMS queued, waiting for a sender; no lag left
SELECT bar9.fanout_run(:'acct', :'m1');
SELECT pg_sleep(0.01);
SELECT l FROM pg_temp.lines() l WHERE l ~ '^bar9_(sms|broadcasts)\{';
SELECT pg_temp.age_zero('bar9_sms_oldest_queued_seconds') AS queued_age_zero, pg_temp.age_zero('bar9_fanout_lag_seconds') AS lag_zero;
-- two claimed (sending), then one sent, one failed
SELECT sms_id AS s1 FROM bar9.claim_sms(1) \gset
SELECT sms_id AS s2 FROM bar9.claim_sms(1) \gset
SELECT l FROM pg_temp.lines() l WHERE l ~ '^bar9_sms\{';
SELECT bar9.ack_sms(:'s1', 'sent');
SELECT bar9.ack_sms(:'s2', 'failed', error => 'no route');
SELECT l FROM pg_temp.lines() l WHERE l ~ '^bar9_(sms|broadcasts)\{';
-- the last one: the broadcast completes and leaves the gauges
SELECT sms_id AS s3 FROM bar9.claim_sms(1) \gset
SELECT bar9.ack_sms(:'s3', 'delivered');
SELECT l FROM pg_temp.lines() l WHERE l ~ '^bar9_(sms|broadcasts)\{';
SELECT pg_temp.age_zero('bar9_sms_oldest_queued_seconds') AS queued_age_zero;
-- no SMS table read: the scans made while it runs (counted in this
-- transaction, which flushes no statistics before its end) touch no
-- sms_queue, sms_claims, sms_days or sms_history partition, and sms_retry
-- only by its due_at index
BEGIN;
CREATE TEMP TABLE scans AS SELECT relname, seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE schemaname = 'bar9';
SELECT length(bar9.metrics()) > 0 AS read;
SELECT x.relname, x.seq_scan - coalesce(s.seq_scan, 0) AS seq_scans, x.idx_scan - coalesce(s.idx_scan, 0) AS idx_scans
  FROM pg_stat_xact_user_tables x LEFT JOIN scans s USING (relname)
 WHERE x.schemaname = 'bar9' AND x.relname LIKE 'sms\_%'
   AND (x.seq_scan > coalesce(s.seq_scan, 0)
		OR (x.idx_scan > coalesce(s.idx_scan, 0) AND x.relname <> 'sms_retry'));
-- (the same query sees a scan when there is one)
SELECT count(*) AS queued_rows FROM bar9.sms_queue;
SELECT x.relname, x.seq_scan - coalesce(s.seq_scan, 0) AS seq_scans
  FROM pg_stat_xact_user_tables x LEFT JOIN scans s USING (relname)
 WHERE x.schemaname = 'bar9' AND x.relname = 'sms_queue';
COMMIT;
-- who may call it: the proxy's group role, not PUBLIC; it runs as bar9_definer
SELECT p.oid::regprocedure AS f, pg_get_userbyid(p.proowner) AS owner, p.prosecdef, p.proconfig
  FROM pg_proc p WHERE p.oid = 'bar9.metrics()'::regprocedure;
CREATE ROLE metrics_proxy LOGIN IN ROLE bar9_api;
CREATE ROLE metrics_nobody LOGIN;
SET ROLE metrics_proxy;
SELECT bar9.metrics() LIKE '%bar9_sms{status="queued"}%' AS proxy_reads;
-- the role still reads no table
SELECT count(*) FROM bar9.broadcasts;
RESET ROLE;
SET ROLE metrics_nobody;
SELECT bar9.metrics();
RESET ROLE;
DROP ROLE metrics_proxy;
DROP ROLE metrics_nobody;
\c postgres
DROP DATABASE bar9_metrics_regress;
