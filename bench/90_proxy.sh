#!/usr/bin/env bash
# bench/90_proxy.sh - the HTTP proxy against pgbench running the same
# bar9.api() call, at the same concurrency, in the same run.
#
# Connection from PGHOST/PGPORT/PGUSER/PGDATABASE; the database must already
# have the bar9 extension.  For 8 and 64 connections (BENCH_PROXY_CONNS):
#   1. GET /v1/marketing/channels: wrk against the proxy, pgbench -M prepared
#      calling bar9.api('GET', '/v1/marketing/channels', headers, NULL) in
#      the statement the proxy prepares (headers out as a text[][]);
#   2. POST /v1/marketing/channels/:id/numbers with a random number each
#      time: wrk with a Lua script, pgbench with the same body built in SQL.
# Each pair runs back to back (pgbench first), BENCH_SECONDS (default 10)
# each, BENCH_ROUNDS times (default 3) in turn, so that a slow minute of a
# shared machine falls on both sides; each figure printed is the median of
# the rounds, and the ratio of each round is listed after it.
# ratio = proxy requests/s / pgbench tps (aim >= 0.8); p99 latency of
# both (wrk --latency; pgbench's per-transaction log).  wrk's p99 is
# corrected for coordinated omission (a stall of S ms on one connection
# counts as the S/e requests a steady client would have sent meanwhile);
# pgbench's log gets the same correction here so that the two compare, and
# its uncorrected p99 is shown too.  The proxy runs with
# its defaults (8 database connections, one event loop, pipeline depth 8),
# its access log on.
# Each line also gives the proxy's own CPU time per request and pgbench's
# per transaction (user + system): the client-side cost of each path, which
# the load of other programs on the machine changes less than throughput;
# and the whole machine's CPU time per request (every process: the client,
# the proxy, PostgreSQL) with how busy the CPUs were, which tells a path
# that costs more from one that leaves CPUs idle.
#   3. memory: the proxy's RSS with 1,000 idle keep-alive connections (each
#      has made one request), against its RSS just before them.
set -euo pipefail

ROOT=${BAR9_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
. "$ROOT/bench/lib/proxy.sh"
DUR=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_PROXY_CONNS:-8 64}
IDLE=${BENCH_PROXY_IDLE:-1000}
command -v wrk >/dev/null || bash "$ROOT/scripts/install-deps" --bench
[ -x "$BIN" ] || make -s -C "$ROOT/proxy"
ulimit -n "$((IDLE + 1024))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"

WORK=$(mktemp -d /tmp/bar9-bench-proxy.XXXXXX)
chmod 777 "$WORK"
trap 'bench_proxy_stop; rm -rf "$WORK"' EXIT
HZ=$(getconf CLK_TCK)

bench_proxy_setup 'proxy bench' marketing:channels:read marketing:channels:write marketing:channels:send
CHANNEL=$(q -c "SELECT body::json->>'id' FROM bar9.api('POST', '/v1/marketing/channels', '$HDRS, \"content-type\": \"application/json\"}', convert_to('{\"name\": \"proxy bench\"}', 'UTF8'))")
# a few members, so that the list and the audience look like real ones
q -c "SELECT count(*) FROM bar9.api('POST', '/v1/marketing/channels/$CHANNEL/numbers', '$HDRS, \"content-type\": \"application/json\"}', convert_to('{\"phone_numbers\": [\"+213555000001\", \"+213555000002\", \"+33612345678\"]}', 'UTF8'))" >/dev/null
bench_proxy_start --access-log "$WORK/access.log"

# the same calls for pgbench, in the statement the proxy prepares (proxy/pool.c)
bench_get_sql "$WORK/get.sql"
cat >"$WORK/post.sql" <<SQL
\set n random(0, 99999999)
SELECT a.status, $HEADERS_AGG, a.body FROM bar9.api('POST', '/v1/marketing/channels/$CHANNEL/numbers', '$HDRS, "content-type": "application/json"}', convert_to('{"phone_number": "+336' || lpad(:n::text, 8, '0') || '"}', 'UTF8')) AS a;
SQL
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
local threads = 0
function setup(thread)
	threads = threads + 1
	thread:set("id", threads)
end
function init(args)
	math.randomseed(os.time() * 1000 + id)
end
function request()
	return wrk.format(nil, nil, nil,
		string.format('{"phone_number": "+336%08d"}', math.random(0, 99999999)))
end
LUA

# machine_ticks: "busy all" clock ticks of all CPUs so far (/proc/stat;
# busy = user, nice, system, irq, softirq; all = busy, idle, iowait)
machine_ticks() { awk '$1 == "cpu" {b = $2 + $3 + $4 + $7 + $8; print b, b + $5 + $6}' /proc/stat; }

# machine_usage T0 N: "us_of_cpu_per_request busy_percent" since T0
machine_usage() {
	awk -v t0="$1" -v n="$2" -v hz="$HZ" -v t1="$(machine_ticks)" 'BEGIN {
		split(t0, a, " "); split(t1, b, " ");
		busy = b[1] - a[1]; all = b[2] - a[2];
		printf "%.0f %.0f", (n > 0 ? busy * 1e6 / hz / n : 0), (all > 0 ? 100 * busy / all : 0)}'
}

# pgbench_run SCRIPT CONNS: prints "tps p99_ms pgbench_cpu_us_per_transaction
# raw_p99_ms machine_cpu_us_per_transaction machine_busy_percent"
pgbench_run() {
	local dir n cpu m0 machine
	dir=$(mktemp -d "$WORK/pgb.XXXXXX")
	chmod 777 "$dir"
	m0=$(machine_ticks)
	# bash's time: the CPU time (user, system) of pgbench itself
	( TIMEFORMAT='%U %S'
	  time (cd "$dir" && pgbench -n -M prepared -c "$2" -j 2 -T "$DUR" -l -f "$1" >"$dir/out" 2>&1)
	) 2>"$dir/cpu" || { cat "$dir/out" >&2; return 1; }
	n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$dir/out")
	machine=$(machine_usage "$m0" "${n:-0}")
	tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$dir/out" | tail -n 1)
	n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$dir/out")
	cpu=$(awk -v n="${n:-0}" '{printf "%.0f", (n > 0 ? ($1 + $2) * 1e6 / n : 0)}' "$dir/cpu")
	cat "$dir"/pgbench_log.* | awk '{print $3}' | sort -n >"$dir/lat"
	raw=$(awk '{a[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f", a[i] / 1000}' "$dir/lat")
	# wrk corrects its latencies for coordinated omission (wrk 4: each
	# sample x >= 2e, e = run time / (requests / connections), adds samples
	# x - e, x - 2e, ... > e); pgbench's get the same, so the p99s compare
	p99=$(awk -v c="$2" -v d="$DUR" -v n="${n:-0}" '
		BEGIN {e = (n > 0) ? d * 1e6 * c / n : 1e18}
		{print $1; if ($1 >= 2 * e) for (m = $1 - e; m > e; m -= e) print int(m)}' "$dir/lat" |
		sort -n | awk '{a[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f", a[i] / 1000}')
	echo "$tps $p99 $cpu $raw $machine"
}

# cpu_ticks PID: user + system CPU time of a process, in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# wrk_run CONNS PATH [LUA]: prints "req/s p99_ms non2xx proxy_cpu_us_per_request
# machine_cpu_us_per_request machine_busy_percent"
wrk_run() {
	local out t0 n m0
	t0=$(cpu_ticks "$PROXY_PID")
	m0=$(machine_ticks)
	out=$(wrk -t2 -c"$1" -d"${DUR}s" --latency -H "Authorization: Bearer $KEY" \
		${3:+-s "$3"} "$URL$2" 2>&1)
	n=$(echo "$out" | awk '/requests in/ {print $1}')
	machine=$(machine_usage "$m0" "${n:-0}")
	cpu=$(awk -v t="$(( $(cpu_ticks "$PROXY_PID") - t0 ))" -v hz="$HZ" -v n="${n:-0}" \
		'BEGIN {printf "%.0f", (n > 0 ? t * 1e6 / hz / n : 0)}')
	rps=$(echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')
	p99=$(echo "$out" | awk '$1 == "99%" {v = $2; u = v; gsub(/[0-9.]/, "", u); gsub(/[a-z]/, "", v);
		printf "%.2f", (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v}')
	bad=$(echo "$out" | sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p')
	echo "$rps $p99 ${bad:-0} $cpu $machine"
}

for c in $CONNS; do
	for route in get post; do
		if [ $route = get ]; then
			path=/v1/marketing/channels name="GET /v1/marketing/channels" lua=
		else
			path=/v1/marketing/channels/$CHANNEL/numbers name="POST /v1/marketing/channels/:id/numbers" lua=$WORK/post.lua
		fi
		wrk -t2 -c"$c" -d2s ${lua:+-s "$lua"} -H "Authorization: Bearer $KEY" "$URL$path" >/dev/null 2>&1 # warm-up
		: >"$WORK/rounds"
		for _ in $(seq 1 "$ROUNDS"); do
			read -r tps pg_p99 pg_cpu pg_raw pg_m pg_busy < <(pgbench_run "$WORK/$route.sql" "$c")
			read -r rps px_p99 bad cpu px_m px_busy < <(wrk_run "$c" "$path" "$lua")
			echo "$tps $pg_p99 $pg_cpu $pg_raw $rps $px_p99 ${bad:-0} $cpu $pg_m $pg_busy $px_m $px_busy" >>"$WORK/rounds"
		done
		col() { awk -v i="$1" '{print $i}' "$WORK/rounds" | median; }
		tps=$(col 1) pg_p99=$(col 2) pg_cpu=$(col 3) pg_raw=$(col 4)
		rps=$(col 5) px_p99=$(col 6) cpu=$(col 8)
		pg_m=$(col 9) pg_busy=$(col 10) px_m=$(col 11) px_busy=$(col 12)
		bad=$(awk '{n += $7} END {print n + 0}' "$WORK/rounds")
		each=$(awk '{printf "%s%.2f", (NR > 1 ? " " : ""), ($1 > 0 ? $5 / $1 : 0)}' "$WORK/rounds")
		extra=""
		[ "${bad:-0}" != 0 ] && extra=" ($bad non-2xx)"
		awk -v n="$name" -v c="$c" -v r="$rps" -v rp="$px_p99" -v t="$tps" -v tp="$pg_p99" -v e="$extra" -v u="$cpu" -v pu="$pg_cpu" -v pr="$pg_raw" -v each="$each" -v k="$ROUNDS" \
			-v pm="$px_m" -v pb="$px_busy" -v gm="$pg_m" -v gb="$pg_busy" \
			'BEGIN {printf "proxy %s, %d connections, median of %d rounds: proxy %.0f req/s p99 %s ms%s (proxy CPU %s us/request; machine %s us/request, %s%% busy) vs pgbench %.0f tps p99 %s ms (%s ms uncorrected; pgbench CPU %s us/transaction; machine %s us/transaction, %s%% busy), ratio %.2fx (rounds: %s)\n", n, c, k, r, rp, e, u, pm, pb, t, tp, pr, pu, gm, gb, (t > 0 ? r / t : 0), each}'
	done
done

# memory with IDLE idle keep-alive connections
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$PROXY_PID/status"; }
before=$(rss_kib)
perl -MIO::Socket::INET -e '
	my ($port, $n, $ready) = @ARGV;
	my @s;
	for (1 .. $n) {
		my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port) or die "connect: $!";
		print $s "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
		push @s, $s;
	}
	my $ok = 0;
	for my $s (@s) {
		my $buf = "";
		while ($buf !~ /\r\n\r\n.*\}/s) { sysread($s, $buf, 4096, length $buf) or last; }
		$ok++ if $buf =~ m{^HTTP/1\.1 200 };
	}
	open(my $f, ">", $ready); print $f "$ok\n"; close $f;
	sleep 60;' "$PORT" "$IDLE" "$WORK/idle.ready" &
CLIENT=$!
for _ in $(seq 1 600); do [ -s "$WORK/idle.ready" ] && break; sleep 0.1; done
sleep 0.5
after=$(rss_kib)
ok=$(cat "$WORK/idle.ready" 2>/dev/null || echo 0)
fds=$(ls "/proc/$PROXY_PID/fd" | wc -l)
kill "$CLIENT" 2>/dev/null || true
wait "$CLIENT" 2>/dev/null || true
awk -v n="$IDLE" -v ok="$ok" -v b="$before" -v a="$after" -v f="$fds" \
	'BEGIN {printf "proxy memory, %d idle keep-alive connections (%d answered, %d fds open): RSS %.1f MiB vs %.1f MiB before them, %.1f KiB per connection, ratio %.2fx\n", n, ok, f, a / 1024, b / 1024, (a - b) / n, a / b}'
