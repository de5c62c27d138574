#!/usr/bin/env bash
# bench/65_retire.sh - retiring old SMS: a day of history dropped whole.
#
# Connection from PGHOST/PGPORT/PGUSER; it works in a database of its own
# (created and dropped here) so that the worker's own housekeeping stays
# out of it.  BENCH_RETIRE_ROWS (default 10,000,000) finished SMS of one
# completed broadcast, filed under a day long past, are retired:
#   bar9   bar9.retire_sms('30 days'): the day's partition of
#          bar9.sms_history is dropped;
#   naive  the same rows in a plain table of the same columns and index,
#          deleted in batches of 10,000 (DELETE ... WHERE ctid = ANY (...)
#          LIMIT, one transaction each, as a cron job would), then VACUUM
#          so that the space can be used again: the baseline.
# Each side's wall time and WAL written.  Ratio: naive time over bar9 time.
set -euo pipefail

N=${BENCH_RETIRE_ROWS:-10000000}
DB=bar9_bench_retire
trap 'dropdb --if-exists "$DB" 2>/dev/null || true' EXIT
dropdb --if-exists "$DB" 2>/dev/null || true
createdb "$DB"
export PGDATABASE=$DB

q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

q -v n="$N" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION bar9;
SELECT bar9.create_account('bench retire') AS acct \gset
SELECT (bar9.create_audience(:'acct', 'bench retire')).id AS ch \gset
-- a completed broadcast of n SMS, filed under a day long past (its number
-- says which)
SELECT bar9.sms_add_partition('2026-01-05') AS created \gset
INSERT INTO bar9.broadcasts (account_id, audience_id, body, encoding, segments,
						   status, fanout_done, recipient_count, n_sent,
						   account_no, broadcast_no)
	SELECT :'acct', :'ch', 'old news', 'GSM-7', 1, 'completed', true, :n, :n,
		   account_no, ((date '2026-01-05' - date '2000-01-01') << 15) + 1
	  FROM bar9.accounts WHERE account_id = :'acct';
INSERT INTO bar9.sms_history
	SELECT m.account_no, m.broadcast_no,
		   ('+1202' || lpad(i::text, 7, '0'))::bar9.e164, 2, 1,
		   12 * 3600, NULL, NULL
	  FROM bar9.broadcasts m, generate_series(1, :n) i;
-- the baseline: the same rows in a plain table
CREATE TABLE naive_history AS SELECT * FROM bar9.sms_history_20260105;
CREATE INDEX ON naive_history (account_no, broadcast_no, to_number);
VACUUM ANALYZE bar9.sms_history_20260105;
VACUUM ANALYZE naive_history;
CHECKPOINT;
SQL

# measure LABEL SQL...: run the statements, print "label ms wal_bytes"
measure() {
	local label=$1
	shift
	local t0 t1 l0 l1
	l0=$(q -c 'SELECT pg_current_wal_insert_lsn()')
	t0=$(date +%s.%N)
	for sql in "$@"; do q -c "$sql" >/dev/null; done
	t1=$(date +%s.%N)
	l1=$(q -c 'SELECT pg_current_wal_insert_lsn()')
	echo "$label $(awk "BEGIN { print ($t1 - $t0) * 1000 }") $(q -c "SELECT pg_wal_lsn_diff('$l1', '$l0')")"
}

read -r _ bar9_ms bar9_wal < <(measure bar9 "SELECT bar9.retire_sms('30 days')")
[ "$(q -c "SELECT count(*) FROM pg_class WHERE relname = 'sms_history_20260105'")" = 0 ] ||
	{ echo "retire: the partition is still there" >&2; exit 1; }

# the baseline: batches of 10,000 until none is left, then VACUUM
naive_loop="DO \$\$ BEGIN LOOP DELETE FROM naive_history WHERE ctid = ANY (ARRAY(SELECT ctid FROM naive_history LIMIT 10000)); EXIT WHEN NOT FOUND; COMMIT; END LOOP; END \$\$"
read -r _ naive_ms naive_wal < <(measure naive "$naive_loop" "VACUUM naive_history")

q -c "SELECT format('retire: %s SMS of a past day: bar9.retire_sms (drop the day''s partition) %s ms, %s of WAL vs batched DELETE of 10,000 + VACUUM %s ms, %s of WAL, ratio %sx',
	$N, round($bar9_ms), pg_size_pretty($bar9_wal::bigint), round($naive_ms),
	pg_size_pretty($naive_wal::bigint), to_char($naive_ms / $bar9_ms, 'FM999990.0'))"
