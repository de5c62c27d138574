# bench/lib/proxy.sh - what the proxy benchmarks (90_proxy.sh,
# 91_rate_limits.sh) share: an account and key for the proxy, the proxy
# itself, and the bar9.api() statement it prepares, for pgbench.  Sourced
# after WORK (a scratch directory) and ROOT are set.

BIN=$ROOT/proxy/bar9-proxy
PROXY_PID=
# the text[][] of response headers, as the proxy's statement (proxy/pool.c) has it
HEADERS_AGG="(SELECT array_agg(ARRAY[h.key, h.value]) FROM pg_catalog.jsonb_each_text(a.headers) AS h)"

# q ARGS: psql, quiet, unaligned, stopping at the first error
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# median: the median of the numbers on stdin
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# bench_proxy_setup NAME SCOPE...: the proxy's role (may only EXECUTE
# bar9.api), account NAME with a request budget the bench never spends (it
# measures speed, not the limit) and a key with the scopes; sets ACCOUNT,
# KEY, PORT (free, for the proxy), URL and HDRS (the headers of a request
# with the key, as the start of a JSON object, for bar9.api() in SQL)
bench_proxy_setup() {
	local name=$1
	shift
	q <<'SQL'
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bar9_bench_proxy') AS missing \gset
\if :missing
CREATE ROLE bar9_bench_proxy LOGIN IN ROLE bar9_api;
\endif
SQL
	ACCOUNT=$(q -c "SELECT bar9.create_account('$name')")
	q -c "SELECT bar9.set_account_limits('$ACCOUNT', 1000000, 1000000)" >/dev/null
	KEY=$(q -c "SELECT bar9.create_api_key('$ACCOUNT', ARRAY[$(printf "'%s'," "$@" | sed 's/,$//')], 'bench')")
	PORT=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0)->sockport')
	URL=http://127.0.0.1:$PORT
	HDRS="{\"host\": \"127.0.0.1:$PORT\", \"authorization\": \"Bearer $KEY\", \"user-agent\": \"bench\""
}

# bench_proxy_start ARGS: start the proxy on PORT as bar9_bench_proxy (its
# log in WORK/proxy.log) with ARGS added, and wait until it answers
bench_proxy_start() {
	"$BIN" --listen "127.0.0.1:$PORT" "$@" \
		--database-url "host=${PGHOST:-/tmp} port=${PGPORT:-5432} dbname=${PGDATABASE:-postgres} user=bar9_bench_proxy" \
		2>"$WORK/proxy.log" &
	PROXY_PID=$!
	for _ in $(seq 1 100); do
		[ "$(perl -MHTTP::Tiny -e 'print HTTP::Tiny->new->get($ARGV[0])->{status}' "$URL/healthz")" = 200 ] && return 0
		sleep 0.1
	done
	echo "bar9-proxy did not answer on $URL" >&2
	return 1
}

# bench_proxy_stop: stop the proxy, if it runs
bench_proxy_stop() {
	[ -n "$PROXY_PID" ] && kill -TERM "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
	PROXY_PID=
}

# bench_get_sql FILE: the proxy's statement for GET /v1/marketing/channels, for pgbench
bench_get_sql() {
	cat >"$1" <<SQL
SELECT a.status, $HEADERS_AGG, a.body FROM bar9.api('GET', '/v1/marketing/channels', '$HDRS}', NULL) AS a;
SQL
}
