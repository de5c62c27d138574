#!/usr/bin/env bash
# bench/20_segments.sh - bar9.sms_segments (the segment count every
# broadcast's body gets: src/segments.c with src/gsm7.h and src/utf8.h)
# against PostgreSQL's own length(), which walks the same UTF-8 bytes.
#
# Connection from PGHOST/PGPORT/PGUSER/PGDATABASE; the database must already
# have the bar9 extension.  Four kinds of 1,600-character bodies, 10,000 of
# each (BENCH_ROWS): plain ASCII, GSM-7 with accents (é à ñ ü), GSM-7 with
# extension characters ({ } € [ ]) and UCS-2 (Arabic).  Both sides run in
# the same session, alternately; median of BENCH_REPS (default 7).  Printed
# per kind: ms for all bodies, us per body, and ratio = length's time /
# segments' time (as everywhere in BENCHMARKS.md, above 1: bar9 is faster;
# length() only counts the characters, so below 1 is expected).
set -euo pipefail
. "$(dirname "$0")/lib/timing.sh"

timing_psql "${BENCH_ROWS:-10000}" <<'SQL'

-- 1,600 characters of each kind; rows differ by their first characters
CREATE TEMP TABLE bodies AS
	SELECT k.kind, left(g::text || repeat(k.unit, 1600), 1600) AS body
	  FROM (VALUES ('ascii', 'Sale ends Sunday: 20% off. '),
				   ('gsm7_accents', 'Élan à Genève, niño, über Ørsted. '),
				   ('gsm7_extension', '{code} [VIP] ~ 5€ | '),
				   ('ucs2_arabic', 'تخفيضات نهاية الأسبوع ')) k(kind, unit),
		   generate_series(1, :n) g;
ANALYZE bodies;

-- warm-up, and the counts the script expects: a wrong count divides by
-- zero, and ON_ERROR_STOP stops it here
SELECT 1 / bool_and(bar9.sms_segments(body) = CASE kind WHEN 'ascii' THEN 11
		WHEN 'gsm7_accents' THEN 11 WHEN 'gsm7_extension' THEN 15 ELSE 24 END)::int
  FROM bodies \g /dev/null

-- per kind, segments then length
CREATE TEMP TABLE queries AS
	SELECT row_number() OVER (ORDER BY b.kind, s.side DESC)::int AS k, b.kind, s.side,
		   format(CASE s.side WHEN 'segments'
				  THEN 'SELECT sum(bar9.sms_segments(body)) FROM bodies WHERE kind = %L'
				  ELSE 'SELECT sum(length(body)) FROM bodies WHERE kind = %L' END,
				  b.kind) AS q
	  FROM (SELECT DISTINCT kind FROM bodies) b, (VALUES ('segments'), ('length')) s(side);
CREATE TEMP TABLE m AS
	SELECT kind, side, median AS ms
	  FROM pg_temp.median_ms(ARRAY(SELECT q FROM queries ORDER BY k)) JOIN queries USING (k);

SELECT format('sms_segments_vs_length %s: segments %s ms (%s us a body), length %s ms, ratio %sx (median of %s, %s bodies of 1,600 characters, %s segments each)',
		s.kind, round(s.ms::numeric), round((s.ms * 1000 / :n)::numeric, 1),
		round(l.ms::numeric), round((l.ms / s.ms)::numeric, 2),
		current_setting('bench.reps'), :n,
		(SELECT bar9.sms_segments(body) FROM bodies b WHERE b.kind = s.kind LIMIT 1))
  FROM m s JOIN m l USING (kind)
 WHERE s.side = 'segments' AND l.side = 'length'
 ORDER BY s.kind;
SQL
