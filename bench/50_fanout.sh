#!/usr/bin/env bash
# bench/50_fanout.sh - broadcast fan-out by the background worker.
#
# Connection from PGHOST/PGPORT/PGUSER/PGDATABASE; the database must have the
# bar9 extension and be the one the worker serves (bar9.database_name).
# Two audiences of BENCH_FANOUT_ROWS (default 1,000,000) numbers in two
# accounts, one with none of its numbers opted out, one with 10%.  Then, in
# the same session, alternately, BENCH_REPS (default 3) times each:
#   raw    a raw INSERT INTO scratch ... SELECT ... FROM bar9.audience_numbers
#          of the first audience, in one statement, into a minimal scratch
#          table (bigint broadcast, bar9.e164 number, primary key on both):
#          the baseline;
#   worker a broadcast to the first audience, committed with
#          bar9.wake_worker(); the clock runs from that commit until its
#          status leaves 'pending' (wake-up, every batch and commit in);
#   10%    the same to the second audience (90% of the SMS, 10% suppressed).
# The queue (bar9.sms_queue) is emptied before each run (and at the end,
# with all it made).  Medians.  Ratios: worker SMS/s over raw SMS/s (aim
# >= 0.8); audience members fanned out per second, 10% opted out over none
# (aim >= 0.9).  Also the bytes a queued SMS costs right after the fan-out
# (heap and indexes of bar9.sms_queue over its rows; aim <= 120).
set -euo pipefail

N=${BENCH_FANOUT_ROWS:-1000000}
REPS=${BENCH_REPS:-3}

# script: the whole session's SQL, set-up then REPS rounds then the report.
script() {
	cat <<'SQL'
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;

-- an account and an audience of :n numbers; pct of them opted out
CREATE FUNCTION pg_temp.audience(pct int, n int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	acct text := bar9.create_account('bench fan-out');
	ch text;
BEGIN
	INSERT INTO bar9.audiences (account_id, name, subscriber_count)
		VALUES (acct, 'bench fan-out', n) RETURNING audience_id INTO ch;
	INSERT INTO bar9.audience_numbers (account_id, audience_id, phone_number)
		SELECT acct, ch, ('+1202' || lpad(i::text, 7, '0'))::bar9.e164
		  FROM generate_series(1, n) i;
	INSERT INTO bar9.opt_outs (account_id, phone_number, source)
		SELECT acct, ('+1202' || lpad(i::text, 7, '0'))::bar9.e164, 'api'
		  FROM generate_series(1, n) i
		 WHERE i % 100 < pct;
	RETURN acct || ' ' || ch;
END $$;

-- the baseline: one raw INSERT ... SELECT of the audience into a minimal
-- table, in ms
CREATE TABLE scratch (broadcast bigint, number bar9.e164,
					  PRIMARY KEY (broadcast, number));
CREATE FUNCTION pg_temp.raw_ms(acct text, ch text) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	INSERT INTO scratch (broadcast, number)
	SELECT 1, phone_number
	  FROM bar9.audience_numbers
	 WHERE account_id = acct AND audience_id = ch;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;

-- a broadcast to the whole audience, as the message route makes it
CREATE FUNCTION pg_temp.broadcast(acct text, ch text) RETURNS text
LANGUAGE sql AS $$
	INSERT INTO bar9.broadcasts (account_id, audience_id, body, encoding,
							   segments, status, member_seq_cutoff,
							   recipient_count)
	SELECT acct, ch, 'Big discount this weekend!', 'GSM-7', 1, 'pending',
		   last_member_seq, subscriber_count
	  FROM bar9.audiences WHERE account_id = acct AND audience_id = ch
	RETURNING broadcast_id;
$$;

-- ms from t0 until the broadcast leaves 'pending' (polled every 2 ms)
CREATE FUNCTION pg_temp.wait_ms(acct text, msg text, t0 timestamptz)
RETURNS float8 LANGUAGE plpgsql AS $$
BEGIN
	WHILE (SELECT status FROM bar9.broadcasts
			WHERE account_id = acct AND broadcast_id = msg) = 'pending'
	LOOP
		PERFORM pg_sleep(0.002);
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;

CREATE TEMP TABLE runs (kind text, ms float8, sms bigint, bytes bigint);

SELECT split_part(a, ' ', 1) AS acct0, split_part(a, ' ', 2) AS ch0
  FROM pg_temp.audience(0, :n) a \gset
SELECT split_part(a, ' ', 1) AS acct10, split_part(a, ' ', 2) AS ch10
  FROM pg_temp.audience(10, :n) a \gset
VACUUM ANALYZE bar9.audience_numbers;
VACUUM ANALYZE bar9.opt_outs;
SQL
	for ((r = 0; r < REPS; r++)); do
		cat <<'SQL'
TRUNCATE scratch;
CHECKPOINT;
SELECT pg_temp.raw_ms(:'acct0', :'ch0') AS ms \gset
INSERT INTO runs SELECT 'raw', :ms, count(*), pg_total_relation_size('scratch') FROM scratch;
SQL
		for kind in worker 10%; do
			if [ "$kind" = worker ]; then a=acct0 c=ch0; else a=acct10 c=ch10; fi
			cat <<SQL
TRUNCATE bar9.sms_queue;
CHECKPOINT;
BEGIN;
SELECT pg_temp.broadcast(:'$a', :'$c') AS msg \gset
SELECT bar9.wake_worker() \g /dev/null
COMMIT;
SELECT clock_timestamp() AS t0 \gset
SELECT pg_temp.wait_ms(:'$a', :'msg', :'t0') AS ms \gset
INSERT INTO runs SELECT '$kind', :ms, count(*), pg_total_relation_size('bar9.sms_queue') FROM bar9.sms_queue;
SQL
		done
	done
	cat <<'SQL'
-- leave the database as we found it, for the benchmarks that follow
TRUNCATE bar9.sms_queue;
DROP TABLE scratch;
DELETE FROM bar9.broadcasts WHERE account_id IN (:'acct0', :'acct10');
DELETE FROM bar9.opt_outs WHERE account_id IN (:'acct0', :'acct10');
DELETE FROM bar9.audience_numbers WHERE account_id IN (:'acct0', :'acct10');
DELETE FROM bar9.audiences WHERE account_id IN (:'acct0', :'acct10');
WITH m AS (
	SELECT kind, percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) AS ms,
		   max(sms) AS sms, max(bytes) AS bytes
	  FROM runs GROUP BY kind)
SELECT line
  FROM m w, m r, m o,
	   LATERAL (VALUES
		(format('fanout: %s SMS queued by the worker in %s ms (%s SMS/s) vs raw INSERT ... SELECT in %s ms (%s SMS/s), ratio %sx',
				w.sms, round(w.ms::numeric), round(w.sms / w.ms * 1000),
				round(r.ms::numeric), round(r.sms / r.ms * 1000),
				to_char(r.ms / w.ms, 'FM990.00'))),
		(format('fanout wall time: %s recipients, from the commit of the broadcast to status no longer pending in %s ms, ratio %sx of the raw INSERT ... SELECT time',
				w.sms, round(w.ms::numeric), to_char(w.ms / r.ms, 'FM990.00'))),
		(format('fanout opt-outs: %s recipients, 10%% opted out (%s SMS) in %s ms vs none in %s ms, ratio %sx',
				:n, o.sms, round(o.ms::numeric), round(w.ms::numeric),
				to_char(w.ms / o.ms, 'FM990.00'))),
		(format('fanout bytes: a queued SMS costs %s bytes of heap and index right after the fan-out (bar9.sms_queue %s for %s SMS); the raw minimal table %s bytes a row',
				round(w.bytes::numeric / w.sms, 1), pg_size_pretty(w.bytes), w.sms,
				round(r.bytes::numeric / r.sms, 1)))) v(line)
 WHERE w.kind = 'worker' AND r.kind = 'raw' AND o.kind = '10%';
SQL
}

script | psql -X -q -v ON_ERROR_STOP=1 -v n="$N" -At
