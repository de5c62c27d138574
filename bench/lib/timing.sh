# bench/lib/timing.sh - what the benchmarks that time statements in SQL
# (10_e164.sh, 20_segments.sh) share: psql running bench/lib/timing.sql
# (session settings, time_ms, median_ms), then the script's own SQL.

# timing_psql N: psql, quiet, unaligned, stopping at the first error, with
# :n = N rows and :reps = BENCH_REPS (default 7) rounds; the SQL on stdin.
timing_psql() {
	local lib
	lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	psql -X -q -At -v ON_ERROR_STOP=1 -v n="$1" -v reps="${BENCH_REPS:-7}" \
		-f "$lib/timing.sql" -f -
}
