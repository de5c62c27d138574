
-- ---------------------------------------------------------------------------
-- Scale-out: bar9 on a Citus cluster (README "Scale-out with Citus")
-- ---------------------------------------------------------------------------
--
-- Every table is either distributed by account_no, all co-located (an
-- account's rows of every table are on one shard: its requests, its
-- fan-outs, its claims and acks each run on that shard), or a reference
-- table (copied to every node, for what every node reads on every request
-- and hardly ever writes).  The reason for each is in README.md.
--
-- On a single node account_no of the tables keyed by account_id comes from
-- the code, or from the trigger below for rows inserted by hand; on Citus
-- the code names it in every statement (the trigger is dropped: Citus routes
-- a row by its distribution column before any trigger could fill it).

-- A row inserted by hand into a table keyed by account_id gets its
-- account_no (single node only).
CREATE FUNCTION fill_account_no() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	SELECT a.account_no INTO NEW.account_no
	  FROM @extschema@.accounts a WHERE a.account_id = NEW.account_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'account "%" does not exist', NEW.account_id
			USING ERRCODE = 'foreign_key_violation';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION fill_account_no() IS
	'trigger (single node): fills account_no of a row inserted by hand from its account_id';

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['audiences', 'audience_numbers', 'audience_purges',
							 'idempotency_keys', 'opt_outs', 'keyword_replies']
	LOOP
		-- WHEN in C: the rows the code inserts (account_no named) pay no call
		EXECUTE pg_catalog.format('CREATE TRIGGER fill_account_no BEFORE INSERT ON %I.%I'
								  ' FOR EACH ROW WHEN (NEW.account_no IS NULL)'
								  ' EXECUTE FUNCTION %I.fill_account_no()',
								  '@extschema@', t, '@extschema@');
	END LOOP;
END
$$;

-- Turn bar9 distributed: run once, on the Citus coordinator, as a superuser,
-- after the worker nodes were added (citus_add_node).
CREATE FUNCTION distribute() RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	-- FKs to reference tables and many tables in one transaction: one
	-- connection per node, or Citus refuses the later tables
	SET citus.multi_shard_modify_mode = 'sequential'
	-- broadcasts_settle_status reads and writes only the row it fires for
	SET citus.enable_unsafe_triggers = 'on'
	AS $$
DECLARE
	t text;
	fk record;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
		RAISE EXCEPTION 'bar9.distribute() needs the citus extension in this database'
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Install Citus, add citus to shared_preload_libraries, CREATE EXTENSION citus, add the worker nodes, then call bar9.distribute() again.';
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.pg_dist_partition
				WHERE logicalrelid = '@extschema@.broadcasts'::regclass) THEN
		RAISE EXCEPTION 'bar9 is distributed already'
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;

	-- Citus runs a statement on the other nodes as the user that runs it:
	-- inside bar9's SECURITY DEFINER functions, bar9_definer.  It has to be
	-- able to log in there (README: the nodes must authenticate it, as any
	-- user that queries distributed tables).  It stays without a password,
	-- a superuser's rights and members.
	ALTER ROLE bar9_definer LOGIN;
	-- The fan-out worker's statements reach the workers' shards as
	-- bar9_worker too: the nodes must let it connect (its CONNECTION LIMIT 0
	-- keeps clients out of a single node only; on Citus the nodes'
	-- pg_hba.conf must admit it from the cluster's nodes alone).
	ALTER ROLE bar9_worker CONNECTION LIMIT -1;

	-- the single-node conveniences Citus cannot run (see above)
	DROP TRIGGER broadcasts_number ON @extschema@.broadcasts;
	FOREACH t IN ARRAY ARRAY['audiences', 'audience_numbers', 'audience_purges',
							 'idempotency_keys', 'opt_outs', 'keyword_replies']
	LOOP
		EXECUTE pg_catalog.format('DROP TRIGGER fill_account_no ON %I.%I',
								  '@extschema@', t);
	END LOOP;

	-- The foreign keys to bar9.accounts (from api_keys and audiences) go:
	-- Citus would convert the tables they link, which the extension made on
	-- every node already, and could not put them back on the workers'
	-- copies.  Nothing relies on them: every function checks the account
	-- first (an account is never deleted).
	FOR fk IN SELECT c.conrelid::regclass AS rel, c.conname
				FROM pg_catalog.pg_constraint c
			   WHERE c.contype = 'f'
				 AND c.connamespace = '@extschema@'::regnamespace
	LOOP
		EXECUTE pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I', fk.rel, fk.conname);
	END LOOP;

	-- read on every request or by the worker, written by operators only
	-- (senders: an inbound SMS finds its account by its destination
	-- address, on whichever node the sender calls receive_sms_at)
	FOREACH t IN ARRAY ARRAY['accounts', 'api_keys', 'sms_days', 'senders']
	LOOP
		PERFORM pg_catalog.create_reference_table(pg_catalog.format('%I.%I', '@extschema@', t));
	END LOOP;

	-- an account's rows: all on its shard
	PERFORM pg_catalog.create_distributed_table('@extschema@.account_counters',
											'account_no', colocate_with => 'none');
	FOREACH t IN ARRAY ARRAY['audiences', 'audience_numbers', 'audience_purges',
							 'idempotency_keys', 'opt_outs', 'keyword_replies',
							 'broadcasts', 'sms_queue', 'sms_claims', 'sms_retry',
							 'sms_history']
	LOOP
		PERFORM pg_catalog.create_distributed_table(
			pg_catalog.format('%I.%I', '@extschema@', t), 'account_no',
			colocate_with => '@extschema@.account_counters');
	END LOOP;

	-- receipts in waiting: a receipt names only the SMSC's reference, so
	-- they are spread by its hash, and report_delivery probes one shard
	PERFORM pg_catalog.create_distributed_table('@extschema@.sms_receipt_wait',
											'ref_hash', colocate_with => 'none');
END
$$;
COMMENT ON FUNCTION distribute() IS
	'on a Citus coordinator: makes every bar9 table distributed by account_no (co-located) or a reference table; an error without Citus';
REVOKE ALL ON FUNCTION distribute() FROM PUBLIC;
