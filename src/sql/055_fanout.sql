
-- ---------------------------------------------------------------------------
-- Fan-out: the background worker and the functions that drive it
-- (src/worker.c, src/fanout.c)
-- ---------------------------------------------------------------------------

-- Wake the background worker when the calling transaction commits.
CREATE FUNCTION wake_worker() RETURNS void
	AS 'MODULE_PATHNAME', 'bar9_wake_worker_sql'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION wake_worker() IS
	'wakes the bar9 background worker when the calling transaction commits';

-- One fan-out batch of a broadcast, in the caller's transaction: what the
-- background worker does, made callable for tests and operators.
CREATE FUNCTION fanout_step(account_id text, broadcast_id text,
							batch_size int DEFAULT NULL) RETURNS text
	AS 'MODULE_PATHNAME', 'bar9_fanout_step'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION fanout_step(text, text, int) IS
	'fans out the next batch of a broadcast (batch_size NULL: bar9.fanout_batch_size) in the calling transaction and returns its status';

-- The whole fan-out of a broadcast, in the caller's transaction.
CREATE FUNCTION fanout_run(account_id text, broadcast_id text,
						   batch_size int DEFAULT NULL) RETURNS text
	AS 'MODULE_PATHNAME', 'bar9_fanout_run'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION fanout_run(text, text, int) IS
	'fans out a due broadcast to the end, batch after batch, in the calling transaction and returns its status';

-- Fan-out is the worker's job; these are for superusers (tests, operators).
REVOKE ALL ON FUNCTION fanout_step(text, text, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanout_run(text, text, int) FROM PUBLIC;

-- The statements of a fan-out batch, to show their plans (regression tests).
CREATE FUNCTION fanout_statement(name text) RETURNS text
	AS 'MODULE_PATHNAME', 'bar9_fanout_statement'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION fanout_statement(text) IS
	'a statement of a fan-out batch, for EXPLAIN: read ($1 account_id, $2 audience_id, $3 member_seq_cutoff, $4 batch size, $5 cursor), opt_outs ($1 account_id, $2 first and $3 last number of the batch) or insert ($1 account_no, $2 broadcast_no, $3 numbers; insert_citus: the same from the audience''s rows, $4 account_id, $5 audience_id)';
