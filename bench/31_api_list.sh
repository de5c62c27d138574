#!/usr/bin/env bash
# bench/31_api_list.sh - GET /v1/marketing/channels through bar9.api (key
# check, routing, scope, list query, JSON of 20 audiences with their counts)
# against the equivalent bare SQL query that returns the same 20 rows,
# both as pgbench tps at 8 clients (-M prepared), in the same run,
# alternately (BENCH_REPS rounds, default 3; best tps of each side kept).
# ratio = api tps / bare tps (aim >= 0.7).  Then the cost of the rate
# limiter: bar9.api with bar9.rate_limits off against on (the account's
# budget set high enough never to refuse), same clients, alternately
# (aim: on at most 5% slower).
# Connection from PGHOST/PGPORT/PGUSER/PGDATABASE; bar9 must be installed.
set -euo pipefail

CLIENTS=${BENCH_CLIENTS:-8}
SECS=${BENCH_SECS:-10}
REPS=${BENCH_REPS:-3}
WORK=$(mktemp -d /tmp/bar9-bench31.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

psql() { command psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

# an account with 20 audiences of a few numbers each, and a read key
read -r acct key < <(psql -F ' ' <<'SQL'
SET client_min_messages = warning;
WITH a AS (SELECT bar9.create_account('bench 31') AS acct)
SELECT acct, bar9.create_api_key(acct, ARRAY['marketing:channels:read']) FROM a;
SQL
)
# a budget the bench never spends: it measures speed, not the limit
psql -c "SELECT bar9.set_account_limits('$acct', 1000000, 1000000)" >/dev/null
psql -v acct="$acct" <<'SQL'
SELECT count(*) FROM (
	SELECT bar9.add_numbers(:'acct', (bar9.create_audience(:'acct', 'audience ' || i)).id,
		(SELECT array_agg('+1202555' || lpad((i * 100 + j)::text, 4, '0')) FROM generate_series(1, i) j))
	  FROM generate_series(1, 20) i) s \g /dev/null
VACUUM ANALYZE bar9.audiences;
SQL

cat > "$WORK/api.sql" <<EOF2
SELECT status, headers, body FROM bar9.api('GET', '/v1/marketing/channels', '{"authorization": "Bearer $key"}', NULL);
EOF2
cat > "$WORK/bare.sql" <<EOF2
SELECT audience_id, name, subscriber_count, sms_count, created_at, updated_at FROM bar9.audiences WHERE account_id = '$acct' AND deleted_at IS NULL ORDER BY created_at DESC, audience_id DESC LIMIT 21;
EOF2

# the API answers 200 with the 20 audiences
check=$(psql -c "SELECT status || ' ' || jsonb_array_length(body::jsonb->'data') FROM bar9.api('GET', '/v1/marketing/channels', '{\"authorization\": \"Bearer $key\"}', NULL)")
[ "$check" = "200 20" ] || { echo "api_list: unexpected answer: $check"; exit 1; }

tps() {
	pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SECS" -f "$1" 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

best_api=0; best_bare=0
for ((r = 0; r < REPS; r++)); do
	t=$(tps "$WORK/bare.sql"); (( $(echo "$t > $best_bare" | bc -l) )) && best_bare=$t
	t=$(tps "$WORK/api.sql"); (( $(echo "$t > $best_api" | bc -l) )) && best_api=$t
done

printf "api_list: GET /v1/marketing/channels (20 audiences), %d clients, bar9.api %.0f tps, bare SQL %.0f tps, ratio %.2fx\n" \
	"$CLIENTS" "$best_api" "$best_bare" "$(echo "$best_api / $best_bare" | bc -l)"

# the rate limiter's cost: the same calls with it on and off
best_on=0; best_off=0
for ((r = 0; r < REPS; r++)); do
	t=$(PGOPTIONS="-c bar9.rate_limits=off" tps "$WORK/api.sql"); (( $(echo "$t > $best_off" | bc -l) )) && best_off=$t
	t=$(PGOPTIONS="-c bar9.rate_limits=on" tps "$WORK/api.sql"); (( $(echo "$t > $best_on" | bc -l) )) && best_on=$t
done
printf "api_list rate limiter: GET /v1/marketing/channels, %d clients, bar9.rate_limits on %.0f tps vs off %.0f tps, ratio %.3fx\n" \
	"$CLIENTS" "$best_on" "$best_off" "$(echo "$best_on / $best_off" | bc -l)"

# leave nothing behind
psql -v acct="$acct" <<'SQL'
SELECT bar9.delete_audience(:'acct', id) FROM bar9.list_audiences(:'acct', 100) \g /dev/null
SQL
