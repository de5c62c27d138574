-- pg_temp.time_ms(q): run one statement server side (its result into a
-- bigint), return how long it took in milliseconds.  Included by the bench
-- scripts that time statements in SQL (\i :benchlib/time_ms.sql).
CREATE FUNCTION pg_temp.time_ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	c bigint;
BEGIN
	t0 := clock_timestamp();
	EXECUTE q INTO c;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;
