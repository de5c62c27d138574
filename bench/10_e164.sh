#!/usr/bin/env bash
# bench/e164.sh - bar9.e164 against a text domain checked by a regex.
#
# Connection from PGHOST/PGPORT/PGUSER/PGDATABASE; the database must already
# have the bar9 extension.  Both sides are measured in the same run, in the
# same session, alternately, so that the ratios hold on a noisy machine:
#   1. parsing 1M valid numbers: s::bar9.e164 vs s::e164_text, where
#      e164_text is a text domain CHECK (VALUE ~ '^\+[1-9][0-9]{1,14}$');
#      median of BENCH_REPS (default 7) runs each; ratio = regex / e164
#      (>= 1 means e164 is at least as fast);
#   2. btree index size on the same 1M numbers, e164 vs text; ratio =
#      e164 / text (aim <= 0.8).
# Everything it creates lives in pg_temp and goes with the session.
set -euo pipefail
. "$(dirname "$0")/lib/timing.sh"

timing_psql "${BENCH_ROWS:-1000000}" <<'SQL'

CREATE DOMAIN pg_temp.e164_text AS text CHECK (VALUE ~ '^\+[1-9][0-9]{1,14}$');

-- 1M distinct valid numbers over a mix of country codes and lengths
CREATE TEMP TABLE strings AS
	SELECT '+' || (ARRAY['1', '7', '33', '44', '49', '213', '234', '880', '971'])[1 + g % 9]
		|| lpad((g::bigint * 7919 % 100000000)::text, 8, '0')
		|| (g % 1000)::text AS s
	FROM generate_series(1, :n) g;
ANALYZE strings;

-- warm-up; both sides accept every string or the script stops here
SELECT count(s::bar9.e164), count(s::pg_temp.e164_text) FROM strings \g /dev/null

CREATE TEMP TABLE m AS
	SELECT (ARRAY['e164', 'regex', 'text'])[k] AS kind, median AS ms
	  FROM pg_temp.median_ms(ARRAY['SELECT count(s::bar9.e164) FROM strings',
								   'SELECT count(s::pg_temp.e164_text) FROM strings',
								   'SELECT count(s) FROM strings']);

SELECT format('e164_parse_vs_regex_domain: e164 %s ms, regex %s ms, ratio %sx (median of %s; bare scan %s ms)',
		round(e.ms::numeric), round(r.ms::numeric), round((r.ms / e.ms)::numeric, 2),
		current_setting('bench.reps'), round(t.ms::numeric))
FROM m e, m r, m t WHERE e.kind = 'e164' AND r.kind = 'regex' AND t.kind = 'text';

-- parse cost alone, the bare scan taken off both sides
SELECT format('e164_parse_vs_regex_domain_net: e164 %s ms, regex %s ms, ratio %sx',
		round((e.ms - t.ms)::numeric), round((r.ms - t.ms)::numeric),
		round(((r.ms - t.ms) / greatest(e.ms - t.ms, 0.001))::numeric, 2))
FROM m e, m r, m t WHERE e.kind = 'e164' AND r.kind = 'regex' AND t.kind = 'text';

-- index size
CREATE TEMP TABLE numbers_e164 AS SELECT s::bar9.e164 AS n FROM strings;
CREATE TEMP TABLE numbers_text AS SELECT s AS n FROM strings;
CREATE INDEX numbers_e164_n ON numbers_e164 (n);
CREATE INDEX numbers_text_n ON numbers_text (n COLLATE "C");
SELECT format('e164_btree_size_vs_text: e164 %s, text %s, ratio %s',
		pg_size_pretty(pg_relation_size('numbers_e164_n')),
		pg_size_pretty(pg_relation_size('numbers_text_n')),
		round(pg_relation_size('numbers_e164_n')::numeric / pg_relation_size('numbers_text_n'), 2));
SQL
