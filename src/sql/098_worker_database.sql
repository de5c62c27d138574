
-- ---------------------------------------------------------------------------
-- The worker serves one database (bar9.database_name, src/worker.c): in any
-- other, broadcasts would wait for ever.  Say so when the extension is
-- created there, with the setting to change; GET of such a broadcast says
-- it too ("status_reason").
-- ---------------------------------------------------------------------------

DO $$
DECLARE
	served text := pg_catalog.current_setting('bar9.database_name', true);
BEGIN
	IF served IS DISTINCT FROM pg_catalog.current_database() THEN
		RAISE WARNING 'the bar9 worker does not serve database "%": its broadcasts will stay pending',
			pg_catalog.current_database()
			USING HINT = pg_catalog.format('The worker serves database %L. Set bar9.database_name = %L in postgresql.conf and restart the server, or create the extension in database %L.',
										   served, pg_catalog.current_database(), served);
	END IF;
END
$$;
