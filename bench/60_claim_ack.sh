#!/usr/bin/env bash
# bench/60_claim_ack.sh - sender queue throughput: claim + ack.
#
# Connection from PGHOST/PGPORT/PGUSER; it works in a database of its own
# (created and dropped here, with the bar9 extension) so that no other
# benchmark's SMS are claimed and the background worker stays out of it.
# BENCH_QUEUE_ROWS (default 1,000,000) SMS are drained by BENCH_QUEUE_CLIENTS
# (default 4) pgbench clients, each transaction pair being:
#   bar9   SELECT ... FROM bar9.claim_sms(500)       (one transaction)
#          SELECT bar9.ack_sms_batch(<the ids>, 'sent') (another)
#   naive  WITH c AS (UPDATE naive_sms SET status = 'sending' ... WHERE id IN
#              (SELECT id FROM naive_sms WHERE status = 'queued' LIMIT 500
#               FOR UPDATE SKIP LOCKED) RETURNING ...)      (one transaction)
#          UPDATE naive_sms SET status = 'sent' WHERE id = ANY (<the ids>)
#   on a plain table (bigint primary key, index on status), the baseline.
# bar9 does more per SMS: a lease, the body joined from the broadcast,
# per-broadcast counters and status, checks on every ack; each SMS moves
# from bar9.sms_queue to the SMS history.  Reported with the ratio: the dead
# rows each SMS leaves, and the bytes an SMS costs after the drain (every
# SMS table of bar9, heap and indexes, after VACUUM) next to its cost queued.
# Both are loaded the same way (fresh table, VACUUM ANALYZE) before each
# run, alternately, BENCH_REPS (default 3) times; medians.  Ratio: bar9
# SMS/s over naive SMS/s (aim >= 1).
set -euo pipefail

N=${BENCH_QUEUE_ROWS:-1000000}
CLIENTS=${BENCH_QUEUE_CLIENTS:-4}
BATCH=${BENCH_QUEUE_BATCH:-500}
REPS=${BENCH_REPS:-3}
# transactions per client so that CLIENTS * TX * BATCH = N
TX=$(((N + CLIENTS * BATCH - 1) / (CLIENTS * BATCH)))

DB=bar9_bench_queue
TMP=$(mktemp -d /tmp/bar9-bench-queue.XXXXXX)
chmod 755 "$TMP"
cleanup() {
	rm -rf "$TMP"
	dropdb --if-exists "$DB" 2>/dev/null || true
}
trap cleanup EXIT
dropdb --if-exists "$DB" 2>/dev/null || true
createdb "$DB"
export PGDATABASE=$DB

q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

q -v n="$N" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION bar9;

-- the baseline: what one would write without bar9
CREATE TABLE naive_sms (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	to_number	text NOT NULL,
	body		text NOT NULL,
	status		text NOT NULL DEFAULT 'queued',
	attempt		int NOT NULL DEFAULT 0,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX naive_sms_status ON naive_sms (status);

-- one account, audience and broadcast for bar9's SMS
SELECT bar9.create_account('bench queue') AS acct \gset
SELECT (bar9.create_audience(:'acct', 'bench queue')).id AS ch \gset
CREATE TABLE bench_ids AS SELECT :'acct'::text AS acct, :'ch'::text AS ch;

-- n queued SMS of a fresh broadcast, as a finished fan-out leaves them
CREATE FUNCTION load_bar9(n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	a text := (SELECT acct FROM bench_ids);
	c text := (SELECT ch FROM bench_ids);
	m bar9.broadcasts;
BEGIN
	TRUNCATE bar9.sms_queue, bar9.sms_claims, bar9.sms_retry, bar9.sms_history;
	DELETE FROM bar9.broadcasts;
	INSERT INTO bar9.broadcasts (account_id, audience_id, body, encoding, segments,
							   status, fanout_done, recipient_count, n_queued)
		VALUES (a, c, 'Big discount this weekend!', 'GSM-7', 1, 'queued', true,
				n, n)
		RETURNING * INTO m;
	INSERT INTO bar9.sms_queue (account_no, broadcast_no, to_number)
		SELECT m.account_no, m.broadcast_no,
			   ('+1202' || lpad(i::text, 7, '0'))::bar9.e164
		  FROM generate_series(1, n) i;
END $$;

-- heap and index bytes of every SMS table of bar9
CREATE FUNCTION bar9_sms_bytes() RETURNS bigint LANGUAGE sql AS $$
	SELECT sum(pg_total_relation_size(c.oid))::bigint
	  FROM pg_class c
	 WHERE c.relnamespace = 'bar9'::regnamespace AND c.relkind = 'r'
	   AND (c.relname IN ('sms_queue', 'sms_claims', 'sms_retry')
			OR c.relname LIKE 'sms\_history\_%');
$$;
-- dead rows of the same tables (statistics as last reported)
CREATE FUNCTION bar9_sms_dead() RETURNS bigint LANGUAGE sql AS $$
	SELECT sum(n_dead_tup)::bigint FROM pg_stat_user_tables
	 WHERE schemaname = 'bar9'
	   AND (relname IN ('sms_queue', 'sms_claims', 'sms_retry')
			OR relname LIKE 'sms\_history\_%');
$$;

-- the same rows in the naive table
CREATE FUNCTION load_naive(n int) RETURNS void LANGUAGE sql AS $$
	TRUNCATE naive_sms RESTART IDENTITY;
	INSERT INTO naive_sms (to_number, body)
		SELECT '+1202' || lpad(i::text, 7, '0'), 'Big discount this weekend!'
		  FROM generate_series(1, n) i;
$$;

CREATE TABLE runs (kind text, secs float8, done bigint, dead bigint,
				   queued_bytes bigint, drained_bytes bigint);
SQL

# (-M prepared: :ids goes as a parameter, the text[] literal as it is)
cat >"$TMP/bar9.sql" <<'SQL'
SELECT coalesce(array_agg(sms_id), '{}') AS ids, count(*) AS n, sum(length(body)) AS len FROM bar9.claim_sms(:batch) \gset
SELECT bar9.ack_sms_batch(:ids, 'sent');
SQL
cat >"$TMP/naive.sql" <<'SQL'
WITH c AS (UPDATE naive_sms SET status = 'sending', attempt = attempt + 1, updated_at = now() WHERE id IN (SELECT id FROM naive_sms WHERE status = 'queued' LIMIT :batch FOR UPDATE SKIP LOCKED) RETURNING id, to_number, body) SELECT coalesce(array_agg(id), '{}') AS ids, count(*) AS n, sum(length(body)) AS len FROM c \gset
UPDATE naive_sms SET status = 'sent', updated_at = now() WHERE id = ANY (:ids);
SQL

# run KIND: load the rows, drain them with pgbench, record the time, the
# dead rows left and (bar9) the bytes before and after
run() {
	local kind=$1 t0 t1 done dead qbytes=0 dbytes=0
	q -c "SELECT load_$kind($N)" >/dev/null
	if [ "$kind" = bar9 ]; then
		q -c 'VACUUM ANALYZE bar9.sms_queue' -c 'VACUUM ANALYZE bar9.broadcasts'
		qbytes=$(q -c 'SELECT bar9_sms_bytes()')
	else
		q -c 'VACUUM ANALYZE naive_sms'
	fi
	q -c 'CHECKPOINT'
	t0=$(date +%s.%N)
	pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -t "$TX" -D batch="$BATCH" \
		-f "$TMP/$kind.sql" >"$TMP/$kind.out" 2>&1 ||
		{ cat "$TMP/$kind.out" >&2; exit 1; }
	t1=$(date +%s.%N)
	# the statistics of the senders' sessions reach the views within a second
	sleep 1.5
	if [ "$kind" = bar9 ]; then
		done=$(q -c "SELECT count(*) FROM bar9.sms_history WHERE state = 2")
		dead=$(q -c "SELECT bar9_sms_dead()")
		q -c 'VACUUM bar9.sms_queue' -c 'VACUUM bar9.sms_history' -c 'VACUUM bar9.sms_claims'
		dbytes=$(q -c 'SELECT bar9_sms_bytes()')
	else
		done=$(q -c "SELECT count(*) FROM naive_sms WHERE status = 'sent'")
		dead=$(q -c "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'naive_sms'::regclass")
	fi
	q -c "INSERT INTO runs VALUES ('$kind', $t1 - $t0, $done, $dead, $qbytes, $dbytes)"
}

for ((r = 0; r < REPS; r++)); do
	run naive
	run bar9
done

# a sanity check of the last bar9 run: counters exact, broadcast completed
q -c "SELECT CASE WHEN status = 'completed' AND n_sent = $N AND n_queued + n_sending = 0 AND (SELECT count(*) FROM bar9.sms_history) = $N THEN 'ok' ELSE 'counters wrong: ' || status || ' ' || n_sent END FROM bar9.broadcasts" |
	grep -qx ok || { echo "claim_ack: bar9 run left wrong counters" >&2; exit 1; }

q -v clients="$CLIENTS" -v batch="$BATCH" <<'SQL'
WITH m AS (
	SELECT kind, percentile_disc(0.5) WITHIN GROUP (ORDER BY secs) AS secs,
		   max(done) AS done, count(*) AS reps
	  FROM runs GROUP BY kind)
SELECT format('claim_ack: %s senders, batches of %s, %s SMS: bar9.claim_sms + bar9.ack_sms_batch %s SMS/s (%s s) vs naive UPDATE ... SKIP LOCKED loop %s SMS/s (%s s), ratio %sx (median of %s)',
		:clients, :batch, b.done, round(b.done / b.secs), round(b.secs::numeric, 2),
		round(n.done / n.secs), round(n.secs::numeric, 2),
		to_char((b.done / b.secs) / (n.done / n.secs), 'FM990.00'), b.reps)
  FROM m b, m n WHERE b.kind = 'bar9' AND n.kind = 'naive';
SELECT format('claim_ack dead rows per SMS after a drain: bar9 %s, naive %s',
		round(b.dead::numeric / b.done, 2), round(n.dead::numeric / n.done, 2))
  FROM (SELECT * FROM runs WHERE kind = 'bar9' ORDER BY secs LIMIT 1) b,
	   (SELECT * FROM runs WHERE kind = 'naive' ORDER BY secs LIMIT 1) n;
SELECT format('claim_ack bytes per SMS (every SMS table, heap and indexes): %s queued, %s after the drain and VACUUM',
		round(queued_bytes::numeric / done, 1), round(drained_bytes::numeric / done, 1))
  FROM runs WHERE kind = 'bar9' ORDER BY secs LIMIT 1;
SQL
