#!/usr/bin/env bash
# bench/91_rate_limits.sh - the cost of the per-account rate limiter on a
# GET at 8 connections, limiter on against off, in the same run:
#   - through the HTTP proxy: wrk, GET /v1/marketing/channels;
#   - pgbench -M prepared of the bar9.api() call the proxy makes (the same
#     statement, as bench/90_proxy.sh).
# bar9.rate_limits (SUSET) is switched with ALTER SYSTEM and a reload, so
# that the proxy's pooled sessions see it without a restart; each switch
# is checked through the proxy (an answer with RateLimit-* headers when on,
# without when off).  The account's budget is set too high ever to refuse:
# the bench measures the cost of asking, not the limit.  Rounds alternate
# off, on in short runs (BENCH_ROUNDS, default 15; BENCH_SECONDS each,
# default 4), so that the load of a shared machine falls on both sides
# alike; the figures are the medians of the rounds and the median of the
# rounds' ratios on / off (aim >= 0.95).  Throughput on a busy machine
# says more about its other programs than about bar9, so each line also
# gives the server's CPU time per request (user + system of PostgreSQL's
# backends: the proxy's pooled sessions, or pgbench's, which the postmaster
# has reaped when pgbench ends), on against off: the limiter's cost itself.
# Connection from PGHOST/PGPORT/PGUSER/PGDATABASE (a superuser: ALTER
# SYSTEM); the database must have the bar9 extension.
set -euo pipefail

ROOT=${BAR9_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
. "$ROOT/bench/lib/proxy.sh"
DUR=${BENCH_SECONDS:-4}
ROUNDS=${BENCH_ROUNDS:-15}
CONNS=${BENCH_CLIENTS:-8}
command -v wrk >/dev/null || bash "$ROOT/scripts/install-deps" --bench
[ -x "$BIN" ] || make -s -C "$ROOT/proxy"

WORK=$(mktemp -d /tmp/bar9-bench91.XXXXXX)
chmod 777 "$WORK"
cleanup() {
	bench_proxy_stop
	q -c 'ALTER SYSTEM RESET bar9.rate_limits' -c 'SELECT pg_reload_conf()' >/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# an account with a read key, an audience, the proxy, the statement it prepares
bench_proxy_setup 'rate limit bench' marketing:channels:read marketing:channels:write
q -c "SELECT count(*) FROM bar9.api('POST', '/v1/marketing/channels', '$HDRS, \"content-type\": \"application/json\"}', convert_to('{\"name\": \"rate limit bench\"}', 'UTF8'))" >/dev/null
bench_proxy_start
bench_get_sql "$WORK/get.sql"

# limiter VALUE: switch bar9.rate_limits, then check it through the proxy
limiter() {
	local want got
	q -c "ALTER SYSTEM SET bar9.rate_limits = $1" -c 'SELECT pg_reload_conf()' >/dev/null
	[ "$1" = on ] && want=1 || want=0
	for _ in $(seq 1 50); do
		# every pooled session must have seen the reload: ask 32 times
		got=$(perl -MHTTP::Tiny -e '
			my ($url, $key) = @ARGV; my $h = HTTP::Tiny->new; my %seen;
			for (1 .. 32) {
				my $r = $h->get($url, {headers => {Authorization => "Bearer $key"}});
				die "GET: $r->{status}\n" unless $r->{status} == 200;
				$seen{defined $r->{headers}{"ratelimit-limit"} ? 1 : 0}++;
			}
			print join(",", sort keys %seen);' "$URL/v1/marketing/channels" "$KEY")
		[ "$got" = "$want" ] && return 0
		sleep 0.1
	done
	echo "bar9.rate_limits = $1 did not take effect in the proxy's sessions" >&2
	return 1
}

HZ=$(getconf CLK_TCK)
POSTMASTER=$(head -n 1 "$(q -c 'SHOW data_directory')/postmaster.pid")
# ticks of the proxy's sessions (live backends), of reaped backends (pgbench's)
proxy_ticks() {
	q -c "SELECT pid FROM pg_stat_activity WHERE usename = 'bar9_bench_proxy'" |
		while read -r pid; do awk '{print $14 + $15}' "/proc/$pid/stat"; done | awk '{t += $1} END {print t + 0}'
}
reaped_ticks() { awk '{print $16 + $17}' "/proc/$POSTMASTER/stat"; }
# us_per N T0 T1: server CPU microseconds per request
us_per() { awk -v n="$1" -v t="$(($3 - $2))" -v hz="$HZ" 'BEGIN {printf "%.0f", (n > 0 ? t * 1e6 / hz / n : 0)}'; }

# wrk_run: "req/s server_us_per_request"
wrk_run() {
	local t0 out n
	t0=$(proxy_ticks)
	out=$(wrk -t2 -c"$CONNS" -d"${DUR}s" -H "Authorization: Bearer $KEY" "$URL/v1/marketing/channels" 2>&1)
	if echo "$out" | grep -q 'Non-2xx'; then echo "wrk: answers other than 200" >&2; return 1; fi
	n=$(echo "$out" | awk '/requests in/ {print $1}')
	echo "$(echo "$out" | awk '/^Requests\/sec:/ {print $2}') $(us_per "${n:-0}" "$t0" "$(proxy_ticks)")"
}
# pgbench_run: "tps server_us_per_transaction"
pgbench_run() {
	local t0 out n
	t0=$(reaped_ticks)
	out=$(pgbench -n -M prepared -c "$CONNS" -j 2 -T "$DUR" -f "$WORK/get.sql" 2>&1)
	sleep 0.2	# the postmaster reaps the backends
	n=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	echo "$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | tail -n 1) $(us_per "${n:-0}" "$t0" "$(reaped_ticks)")"
}

limiter off
wrk -t2 -c"$CONNS" -d2s -H "Authorization: Bearer $KEY" "$URL/v1/marketing/channels" >/dev/null 2>&1 # warm-up
: >"$WORK/rounds"
for _ in $(seq 1 "$ROUNDS"); do
	limiter off
	read -r w_off wu_off < <(wrk_run)
	read -r p_off pu_off < <(pgbench_run)
	limiter on
	read -r w_on wu_on < <(wrk_run)
	read -r p_on pu_on < <(pgbench_run)
	echo "$w_off $w_on $p_off $p_on $wu_off $wu_on $pu_off $pu_on" >>"$WORK/rounds"
done

col() { awk -v i="$1" '{print $i}' "$WORK/rounds" | median; }
ratio() { awk -v a="$1" -v b="$2" '{print ($a > 0 ? $b / $a : 0)}' "$WORK/rounds" | median; }
# report NAME UNIT OFF_COL ON_COL OFF_US_COL ON_US_COL
report() {
	awk -v n="$1" -v u="$2" -v c="$CONNS" -v k="$ROUNDS" -v d="$DUR" \
		-v off="$(col "$3")" -v on="$(col "$4")" -v r="$(ratio "$3" "$4")" \
		-v uoff="$(col "$5")" -v uon="$(col "$6")" -v ur="$(ratio "$6" "$5")" \
		'BEGIN {printf "rate limiter, %s, %d connections, median of %d alternating rounds of %d s: on %.0f %s vs off %.0f, ratio %.3fx (median of the rounds'"'"' ratios %.3fx); server CPU per request on %s us vs off %s us, ratio off/on %.3fx\n", n, c, k, d, on, u, off, (off > 0 ? on / off : 0), r, uon, uoff, ur}'
}
report "proxy (wrk) GET /v1/marketing/channels" "req/s" 1 2 5 6
report "pgbench of bar9.api() GET /v1/marketing/channels" "tps" 3 4 7 8
echo "rounds (wrk off, on, pgbench off, on; server us/request wrk off, on, pgbench off, on):"
sed 's/^/  /' "$WORK/rounds"
