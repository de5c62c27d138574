#!/usr/bin/env bash
# bench/75_sender.sh - bar9-sender end to end: SMS/s from the queue to an
# SMSC and back as delivery receipts, against claim + ack alone.
#
# Connection from PGHOST/PGPORT/PGUSER; a database of its own (created and
# dropped here) so that the background worker and other benchmarks stay out
# of it.  BENCH_SENDER_ROWS (default 20,000) single-part SMS are queued as a
# finished fan-out leaves them, then drained twice per window
# (BENCH_SENDER_WINDOWS, default "10 100"), alternately:
#   sender    bar9-sender bound to test/smpp/smsc.js (npm smpp: submit_sm_resp
#             and a receipt per SMS), until every SMS is delivered;
#   baseline  one pgbench client doing the sender's SQL without SMPP:
#             claim_sms(window), ack_sms_batch(ids, 'sent', refs),
#             report_delivery for each ref.
# Ratio: sender SMS/s over baseline SMS/s (aim >= 0.7).  Then the rate cap:
# --rate BENCH_RATE (default 200) for BENCH_RATE_SECONDS (default 60), the
# submit_sm the SMSC received per second over the steady part.
set -euo pipefail

N=${BENCH_SENDER_ROWS:-20000}
WINDOWS=${BENCH_SENDER_WINDOWS:-10 100}
RATE=${BENCH_RATE:-200}
RATE_S=${BENCH_RATE_SECONDS:-60}
ROOT=${BAR9_ROOT:-$PWD}
DB=bar9_bench_sender
TMP=$(mktemp -d /tmp/bar9-bench-sender.XXXXXX)
chmod 755 "$TMP"
SMSC_PID=
cleanup() {
	[ -n "$SMSC_PID" ] && kill "$SMSC_PID" 2>/dev/null
	rm -rf "$TMP"
	dropdb --if-exists "$DB" 2>/dev/null || true
}
trap cleanup EXIT
dropdb --if-exists "$DB" 2>/dev/null || true
createdb "$DB"
export PGDATABASE=$DB

q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

q <<'SQL'
SET client_min_messages = error;
CREATE EXTENSION bar9;
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_sender') AS missing \gset
\if :missing
CREATE ROLE bench_sender LOGIN IN ROLE bar9_sender;
\endif
SELECT bar9.create_account('bench') AS acct \gset
SELECT bar9.add_sender(:'acct', 'BENCH', true) \g /dev/null
SQL

# load: one queued broadcast of n SMS, as a finished fan-out leaves it
load() {
	q -v n="$1" <<'SQL'
DELETE FROM bar9.sms_queue; DELETE FROM bar9.sms_claims; DELETE FROM bar9.sms_retry;
DELETE FROM bar9.sms_receipt_wait;
INSERT INTO bar9.broadcasts (account_id, audience_id, body, encoding, segments, status,
						   fanout_done, recipient_count, n_queued, from_address)
SELECT account_id, 'mkt_bench', 'Bench: big discount this weekend!', 'GSM-7', 1,
	   'queued', true, :n, :n, 'BENCH' FROM bar9.accounts;
INSERT INTO bar9.sms_queue
SELECT m.account_no, m.broadcast_no, ('+2135' || lpad(g::text, 8, '0'))::bar9.e164
  FROM bar9.broadcasts m, generate_series(1, :n) g
 WHERE m.broadcast_no = (SELECT max(broadcast_no) FROM bar9.broadcasts);
VACUUM ANALYZE;
SQL
}

# delivered: SMS of the newest broadcast delivered
delivered() {
	q -c "SELECT n_delivered FROM bar9.broadcasts ORDER BY broadcast_no DESC LIMIT 1"
}

port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport')
(cd "$ROOT/test/smpp" && [ -d node_modules/smpp ] || npm ci --no-audit --no-fund --loglevel=error) >&2
node "$ROOT/test/smpp/smsc.js" --port "$port" --control $((port + 1)) \
	--record "$TMP/smsc.jsonl" >"$TMP/smsc.log" 2>&1 &
SMSC_PID=$!
sleep 1
curl -s -X POST "http://127.0.0.1:$((port + 1))/mode" -d '{"receipt_delay_ms": 0}' >/dev/null
URL="smpp://bench:x@127.0.0.1:$port?system_type=bench"
DBURL="host=$PGHOST port=$PGPORT dbname=$DB user=bench_sender"

# sender W: seconds for bar9-sender with window W to deliver the queue
sender_run() {
	load "$N"
	local t0 t1
	t0=$(date +%s.%N)
	BAR9_SMPP_URL=$URL BAR9_DATABASE_URL=$DBURL "$ROOT/sender/bar9-sender" \
		--window "$1" --stats 3600 >"$TMP/sender.log" 2>&1 &
	local pid=$!
	while [ "$(delivered)" -lt "$N" ]; do sleep 0.05; done
	t1=$(date +%s.%N)
	kill -TERM "$pid"
	wait "$pid" || true
	echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }'
}

# baseline W: seconds for one client doing the sender's SQL in batches of W
baseline_run() {
	load "$N"
	cat >"$TMP/base.sql" <<SQL
SELECT array_agg(sms_id) AS ids FROM bar9.claim_sms($1) \gset
SELECT bar9.ack_sms_batch(:ids, 'sent', :ids);
SELECT count(*) FILTER (WHERE bar9.report_delivery(r, 'delivered')) FROM unnest(:ids::text[]) r;
SQL
	local t0 t1
	t0=$(date +%s.%N)
	pgbench -n -M extended -c 1 -t $(((N + $1 - 1) / $1)) -f "$TMP/base.sql" "$DB" >"$TMP/pgbench.log" 2>&1 ||
		{ cat "$TMP/pgbench.log" >&2; exit 1; }
	t1=$(date +%s.%N)
	[ "$(delivered)" = "$N" ] || { echo "baseline delivered $(delivered) of $N" >&2; exit 1; }
	echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }'
}

for w in $WINDOWS; do
	s1=$(sender_run "$w"); b1=$(baseline_run "$w")
	s2=$(sender_run "$w"); b2=$(baseline_run "$w")
	awk -v n="$N" -v w="$w" -v s1="$s1" -v s2="$s2" -v b1="$b1" -v b2="$b2" 'BEGIN {
		s = (s1 < s2 ? s1 : s2); b = (b1 < b2 ? b1 : b2);
		printf "sender: window %d, %d SMS queue -> SMSC -> receipts: %.0f SMS/s (%.2f s) vs claim + ack + report_delivery alone %.0f SMS/s (%.2f s), ratio %.2fx (best of 2)\n",
			w, n, n / s, s, n / b, b, b / s }'
done

# the rate cap: submit_sm per second over the steady part of RATE_S seconds
load $((RATE * RATE_S * 2))
: >"$TMP/smsc.jsonl"
BAR9_SMPP_URL=$URL BAR9_DATABASE_URL=$DBURL "$ROOT/sender/bar9-sender" \
	--window 100 --rate "$RATE" --stats 3600 >"$TMP/sender.log" 2>&1 &
pid=$!
sleep "$RATE_S"
kill -TERM "$pid"
wait "$pid" || true
RATE=$RATE perl -MJSON::PP -ne '
	my $r = decode_json($_); next unless $r->{command} eq "submit_sm";
	push @t, $r->{t} / 1000;
	END {
		my $from = $t[0] + 5; my $to = $t[-1];
		my $n = grep { $_ >= $from && $_ <= $to } @t;
		printf "sender: rate cap %d SMS/s over %.1f s (after the first 5 s): %.1f SMS/s submitted, %+.2f%%\n",
			$ENV{RATE}, $to - $from, $n / ($to - $from), 100 * ($n / ($to - $from) / $ENV{RATE} - 1);
	}' "$TMP/smsc.jsonl"
