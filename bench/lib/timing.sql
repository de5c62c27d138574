-- The set-up of the bench scripts that time statements in SQL, run first
-- (bench/lib/timing.sh, with psql variable reps): quiet notices,
-- one core per query on both sides (we compare per-row cost, not
-- parallelism), bench.reps, and two timers.
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET bench.reps = :'reps';

-- pg_temp.time_ms(q): run one statement server side (its result into a
-- bigint), return how long it took in milliseconds.
CREATE FUNCTION pg_temp.time_ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	c bigint;
BEGIN
	t0 := clock_timestamp();
	EXECUTE q INTO c;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;

-- pg_temp.median_ms(queries): run the statements one after the other,
-- bench.reps rounds (so both sides of a ratio see the same machine), and
-- return the median time of each in milliseconds, by its position k.
CREATE FUNCTION pg_temp.median_ms(queries text[])
	RETURNS TABLE (k int, median float8) LANGUAGE plpgsql AS $$
DECLARE
	ks int[] := '{}';
	runs float8[] := '{}';
BEGIN
	FOR r IN 1 .. current_setting('bench.reps')::int LOOP
		FOR q IN 1 .. cardinality(queries) LOOP
			ks := ks || q;
			runs := runs || pg_temp.time_ms(queries[q]);
		END LOOP;
	END LOOP;
	RETURN QUERY
		SELECT t.q, percentile_cont(0.5) WITHIN GROUP (ORDER BY t.ms)
		  FROM unnest(ks, runs) AS t(q, ms)
		 GROUP BY t.q;
END $$;
