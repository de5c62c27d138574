#!/usr/bin/env bash
# bench/70_citus.sh - a broadcast to 200,000 numbers on a Citus cluster and
# on the single node of make bench, in the same run.
#
# Skips with one line unless Citus is installed in the PostgreSQL of
# PG_CONFIG.  Starts a Citus cluster of its own (a coordinator and two
# workers on this machine, bar9.distribute()), beside the single node of
# bench/run (PGHOST/PGPORT/PGDATABASE).  On each: an account, a key, an
# audience of BENCH_CITUS_ROWS (default 200,000) numbers added through
# bar9.add_numbers (10,000 a call); then BENCH_REPS (default 3) times: POST
# /v1/marketing/channels/{id}/messages through bar9.api, the clock running
# from the POST's commit until GET of the broadcast says it left 'pending'
# (the worker's wake-up, every batch and commit in).  Medians, and the
# Citus figure over the single node's.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib/common.sh

N=${BENCH_CITUS_ROWS:-200000}
REPS=${BENCH_REPS:-3}
PKGLIB=$("${PG_CONFIG:-$PG_BINDIR/pg_config}" --pkglibdir)
if [ ! -f "$PKGLIB/citus.so" ]; then
	echo "70_citus: skipped: Citus is not installed in the PostgreSQL of ${PG_CONFIG:-$PG_BINDIR/pg_config}"
	exit 0
fi

WORK=$(mktemp -d /tmp/bar9-bench-citus.XXXXXX)
chmod 755 "$WORK"
NODES="coord worker1 worker2"
trap 'for n in $NODES; do cluster_stop "$WORK/$n"; done; rm -rf "$WORK"' EXIT

# on NODE|single SQL: psql -At against a node of the cluster or the single node.
on() {
	local node=$1
	shift
	if [ "$node" = single ]; then
		"$PG_BINDIR/psql" -X -At -v ON_ERROR_STOP=1 -c "$@"
	else
		as_server_user "$PG_BINDIR/psql" -X -At -v ON_ERROR_STOP=1 -h "$WORK/$node" \
			-p "$(cat "$WORK/$node/port")" -U postgres -d bench -c "$@"
	fi
}

for n in $NODES; do
	port=$(free_port)
	cluster_start "$WORK/$n" "$port" "shared_preload_libraries = 'citus,bar9'
bar9.database_name = 'bench'
max_prepared_transactions = 100
shared_buffers = '512MB'
synchronous_commit = off" >/dev/null
	echo "$port" >"$WORK/$n/port"
	as_server_user "$PG_BINDIR/createdb" -h "$WORK/$n" -p "$port" -U postgres bench
	on "$n" 'CREATE EXTENSION citus' >/dev/null
done
on coord "SELECT citus_set_coordinator_host('127.0.0.1', $(cat "$WORK/coord/port"));
SELECT citus_add_node('127.0.0.1', $(cat "$WORK/worker1/port"));
SELECT citus_add_node('127.0.0.1', $(cat "$WORK/worker2/port"));
CREATE EXTENSION bar9; SET client_min_messages = warning; SELECT bar9.distribute();" >/dev/null

# setup NODE: an account, its key, an audience of N numbers; prints "key audience".
setup() {
	local acct key aud
	acct=$(on "$1" "SELECT bar9.create_account('bench citus')")
	on "$1" "SELECT bar9.set_account_limits('$acct', 1000000, 1000000)" >/dev/null
	key=$(on "$1" "SELECT bar9.create_api_key('$acct', ARRAY['marketing:channels:read', 'marketing:channels:write', 'marketing:channels:send'])")
	aud=$(on "$1" "SELECT (bar9.create_audience('$acct', 'bench citus')).id")
	on "$1" "SELECT sum(added) FROM generate_series(0, $N - 1, 10000) b,
		LATERAL bar9.add_numbers('$acct', '$aud',
			ARRAY(SELECT '+1202' || lpad(i::text, 7, '0')
					FROM generate_series(b + 1, least(b + 10000, $N)) i))" >/dev/null
	echo "$key $aud"
}

# wait_proc NODE: a procedure that POSTs a broadcast and waits until it
# leaves 'pending'; it returns the milliseconds from the POST's commit.
wait_proc() {
	on "$1" "CREATE OR REPLACE PROCEDURE pg_temp_bench_wait(key text, aud text, INOUT ms float8 DEFAULT NULL)
LANGUAGE plpgsql AS \$\$
DECLARE
	h jsonb := jsonb_build_object('authorization', 'Bearer ' || key, 'content-type', 'application/json');
	id text;
	st text;
	t0 timestamptz;
BEGIN
	SELECT a.body::jsonb->>'id' INTO id
	  FROM bar9.api('POST', '/v1/marketing/channels/' || aud || '/messages', h,
					convert_to('{\"body\": \"Bench\"}', 'UTF8')) a;
	COMMIT;
	t0 := clock_timestamp();
	LOOP
		SELECT a.body::jsonb->>'status' INTO st
		  FROM bar9.api('GET', '/v1/marketing/channels/' || aud || '/messages/' || id, h, NULL) a;
		COMMIT;
		EXIT WHEN st IS DISTINCT FROM 'pending';
		PERFORM pg_sleep(0.01);
	END LOOP;
	ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
END \$\$" >/dev/null
}

# broadcast_ms NODE KEY AUDIENCE: see wait_proc (a CALL of its own: the
# procedure commits).
broadcast_ms() {
	on "$1" "CALL pg_temp_bench_wait('$2', '$3')"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

read -r skey saud < <(setup single)
read -r ckey caud < <(setup coord)
wait_proc single
wait_proc coord
single=()
citus=()
for r in $(seq 1 "$REPS"); do
	single+=("$(broadcast_ms single "$skey" "$saud" | tail -1)")
	citus+=("$(broadcast_ms coord "$ckey" "$caud" | tail -1)")
done
on single "DROP PROCEDURE pg_temp_bench_wait" >/dev/null
s=$(printf '%s\n' "${single[@]}" | median)
c=$(printf '%s\n' "${citus[@]}" | median)
printf 'single node: %s numbers, POST to not pending: %.0f ms (runs: %s)\n' "$N" "$s" "${single[*]}"
printf 'citus (coordinator + 2 workers, 32 shards): %.0f ms (runs: %s)\n' "$c" "${citus[*]}"
awk -v s="$s" -v c="$c" 'BEGIN { printf "citus / single node: %.2fx the time\n", c / s }'
