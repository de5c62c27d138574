
-- ---------------------------------------------------------------------------
-- The HTTP entry point (src/api.c, src/routes.c) and Idempotency-Key
-- (src/idempotency.c)
-- ---------------------------------------------------------------------------

-- Responses to POSTs that carried an Idempotency-Key, replayed for 24 hours.
CREATE TABLE idempotency_keys (
	account_id		text NOT NULL,
	idem_key		text NOT NULL,
	method			text NOT NULL,
	path			text NOT NULL,				-- path and query as received
	body_sha256		bytea NOT NULL,
	status			int NOT NULL,
	response_body	text,						-- NULL: over 64 kB, not kept
	created_at		timestamptz NOT NULL DEFAULT now(),
	account_no		integer NOT NULL,			-- the account's shard (distribute())
	PRIMARY KEY (account_id, idem_key, account_no)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- Serve one HTTP request: the proxy's only entry point (docs/api.md).
CREATE FUNCTION api(method text, path text, headers jsonb, body bytea)
	RETURNS TABLE (status int, headers jsonb, body text)
	AS 'MODULE_PATHNAME', 'bar9_api'
	LANGUAGE C VOLATILE
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION api(text, text, jsonb, bytea) IS
	'serves one HTTP request of the bar9 API: method, path with query string (still percent-encoded), lower-case headers, raw body; returns status, response headers and JSON body';

-- The route table of bar9.api, as openapi.json names it (src/openapi.c).
CREATE FUNCTION api_routes()
	RETURNS TABLE (method text, path text, scope text)
	AS 'MODULE_PATHNAME', 'bar9_api_routes'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION api_routes() IS
	'the routes bar9.api serves: method, path ({param} for a path parameter) and the scope a key needs (NULL: public)';

-- Remove at most max_rows stored Idempotency-Key responses older than 24
-- hours, oldest first: the worker calls it in a loop, one short transaction
-- per batch, until a batch comes back short.
CREATE FUNCTION purge_idempotency_keys(max_rows int DEFAULT 10000) RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	cutoff	timestamptz := now() - interval '24 hours';
	a		integer;
	done	bigint := 0;
	n		bigint;
BEGIN
	-- account by account, those with the oldest first: each DELETE runs on
	-- one account's rows (on Citus, one shard: no lock spans shards)
	FOR a IN SELECT k.account_no FROM @extschema@.idempotency_keys k
			  WHERE k.created_at <= cutoff
			  GROUP BY k.account_no ORDER BY min(k.created_at)
	LOOP
		EXIT WHEN done >= max_rows;
		WITH old AS (
			SELECT account_id, idem_key
			  FROM @extschema@.idempotency_keys
			 WHERE account_no = a AND created_at <= cutoff
			 ORDER BY created_at
			 LIMIT max_rows - done
			   FOR UPDATE SKIP LOCKED),
		gone AS (
			DELETE FROM @extschema@.idempotency_keys k
			 USING old
			 WHERE k.account_no = a
			   AND k.account_id = old.account_id AND k.idem_key = old.idem_key
			RETURNING 1)
		SELECT count(*) INTO n FROM gone;
		done := done + n;
	END LOOP;
	RETURN done;
END
$$;
COMMENT ON FUNCTION purge_idempotency_keys(int) IS
	'deletes at most max_rows stored Idempotency-Key responses older than 24 hours, oldest first; returns how many';
