#!/usr/bin/env bash
# bench/30_bulk_add.sh - bulk add of 1M numbers to an audience, 100 calls of
# 10,000, through bar9's SQL API, against a raw INSERT ... SELECT of the same
# batches into the same table (bar9.audience_numbers), in the same run.
#
#   rawu: INSERT INTO bar9.audience_numbers SELECT acct, aud, unnest(batch)::bar9.e164
#   raw:  the same ... ORDER BY 3  (sorted first, as bar9 does: fewer page
#         visits and full-page writes)
#   sql:  SELECT * FROM bar9.add_numbers(acct, aud, batch)      (typed SQL function)
#   api:  SELECT * FROM bar9.api('POST', '/v1/marketing/channels/<aud>/numbers',
#                                 headers, '{"phone_numbers": [...]}')  (HTTP entry point)
#
# bar9 also checks every entry, reports invalid ones by index, de-duplicates,
# skips numbers already present (ON CONFLICT DO NOTHING) and keeps
# subscriber_count exact; raw does none of that.  Each side starts from the
# same table state (the previous side's rows deleted, VACUUM FULL, then a
# checkpoint), and each of the 100 calls is its own transaction.
# ratio = raw time / bar9 time (aim >= 0.7), against the raw INSERT of the
# batches as given; the ratio to a raw INSERT that sorts first is shown too.
# BENCH_REPS (default 2) repeats the sides, in reverse order every other
# round, and keeps the best time of each (the machines are noisy).
# Connection from PGHOST/PGPORT/PGUSER/PGDATABASE; bar9 must be installed.
set -euo pipefail

REPS=${BENCH_REPS:-2}
BATCHES=100
SIZE=10000
WORK=$(mktemp -d /tmp/bar9-bench30.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

psql() { command psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

# an account, a key, one audience per side, and the 100 batches
psql -v batches=$BATCHES -v size=$SIZE <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS public.bench30;
CREATE TABLE public.bench30 (acct text, api_key text, raw_id text, sql_id text, api_id text, rawu_id text);
INSERT INTO public.bench30 (acct) SELECT bar9.create_account('bench 30');
SELECT bar9.set_account_limits(acct, 1000000, 1000000) FROM public.bench30 \g /dev/null
UPDATE public.bench30 SET
	api_key = bar9.create_api_key(acct, ARRAY['marketing:channels:write']),
	raw_id = (bar9.create_audience(acct, 'raw')).id,
	sql_id = (bar9.create_audience(acct, 'sql')).id,
	api_id = (bar9.create_audience(acct, 'api')).id,
	rawu_id = (bar9.create_audience(acct, 'raw unsorted')).id;
DROP TABLE IF EXISTS public.bench30_batches;
CREATE TABLE public.bench30_batches (b int PRIMARY KEY, arr text[], body bytea);
INSERT INTO public.bench30_batches (b, arr)
	SELECT g / :size, array_agg('+1202' || lpad((g::bigint * 7919 % 10000000)::text, 7, '0') ORDER BY g)
	  FROM generate_series(0, :batches * :size - 1) g GROUP BY g / :size;
UPDATE public.bench30_batches SET body = convert_to(json_build_object('phone_numbers', arr)::text, 'UTF8');
VACUUM ANALYZE public.bench30_batches;
SQL

# the three scripts: one statement (one transaction) per batch
: > "$WORK/raw.sql"; : > "$WORK/rawu.sql"; : > "$WORK/sql.sql"; : > "$WORK/api.sql"
for ((b = 0; b < BATCHES; b++)); do
	echo "INSERT INTO bar9.audience_numbers (account_id, audience_id, phone_number) SELECT c.acct, c.raw_id, u::bar9.e164 FROM public.bench30 c, public.bench30_batches s, unnest(s.arr) u WHERE s.b = $b ORDER BY 3;" >> "$WORK/raw.sql"
	echo "INSERT INTO bar9.audience_numbers (account_id, audience_id, phone_number) SELECT c.acct, c.rawu_id, u::bar9.e164 FROM public.bench30 c, public.bench30_batches s, unnest(s.arr) u WHERE s.b = $b;" >> "$WORK/rawu.sql"
	echo "SELECT n.added FROM public.bench30 c, public.bench30_batches s, bar9.add_numbers(c.acct, c.sql_id, s.arr) n WHERE s.b = $b;" >> "$WORK/sql.sql"
	echo "SELECT a.status FROM public.bench30 c, public.bench30_batches s, bar9.api('POST', '/v1/marketing/channels/' || c.api_id || '/numbers', jsonb_build_object('authorization', 'Bearer ' || c.api_key, 'content-type', 'application/json'), s.body) a WHERE s.b = $b;" >> "$WORK/api.sql"
done

# reset the table to the same state before each side
reset_table() {
	psql -c "DELETE FROM bar9.audience_numbers n USING public.bench30 c WHERE n.account_id = c.acct" \
		-c "UPDATE bar9.audiences ch SET subscriber_count = 0 FROM public.bench30 c WHERE ch.account_id = c.acct" \
		-c "VACUUM FULL bar9.audience_numbers" -c "CHECKPOINT"
}

# run one side; print its wall time in seconds; check what it did
run_side() {
	local side=$1 t0 t1
	reset_table
	t0=$(date +%s.%N)
	psql -f "$WORK/$side.sql" > "$WORK/$side.out"
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}

best_raw=; best_rawu=; best_sql=; best_api=
for ((r = 0; r < REPS; r++)); do
	order="raw rawu sql api"
	(( r % 2 )) && order="api sql rawu raw"
	for side in $order; do
		t=$(run_side $side)
		case $side in
			raw) n=$(psql -c "SELECT count(*) FROM bar9.audience_numbers n, public.bench30 c WHERE n.account_id = c.acct AND n.audience_id = c.raw_id") ;;
			rawu) n=$(psql -c "SELECT count(*) FROM bar9.audience_numbers n, public.bench30 c WHERE n.account_id = c.acct AND n.audience_id = c.rawu_id") ;;
			sql) n=$(paste -sd+ "$WORK/sql.out" | bc) ;;
			api) n=$(psql -c "SELECT subscriber_count FROM bar9.audiences ch, public.bench30 c WHERE ch.audience_id = c.api_id")
				 bad=$(grep -vc '^200$' "$WORK/api.out" || true)
				 [ "$bad" = 0 ] || { echo "bulk_add: $bad API calls did not answer 200"; exit 1; } ;;
		esac
		[ "$n" = $((BATCHES * SIZE)) ] || { echo "bulk_add: $side added $n numbers, not $((BATCHES * SIZE))"; exit 1; }
		eval "cur=\${best_$side}"
		if [ -z "$cur" ] || (( $(echo "$t < $cur" | bc -l) )); then eval "best_$side=$t"; fi
	done
done

total=$((BATCHES * SIZE))
for side in sql api; do
	eval "t=\$best_$side"
	printf "bulk_add_%s: %d numbers in %d calls of %d, bar9 %.2f s (%.0f numbers/s); raw INSERT ... SELECT of the same batches %.2f s; raw sorted first (ORDER BY, as bar9 does) %.2f s, ratio to it %.2fx; ratio %.2fx\n" \
		"$side" $total $BATCHES $SIZE "$t" "$(echo "$total / $t" | bc -l)" \
		"$best_rawu" "$best_raw" "$(echo "$best_raw / $t" | bc -l)" "$(echo "$best_rawu / $t" | bc -l)"
done

# leave nothing behind
reset_table >/dev/null
psql -c "DROP TABLE public.bench30, public.bench30_batches"
