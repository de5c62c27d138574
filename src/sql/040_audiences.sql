
-- ---------------------------------------------------------------------------
-- Audiences ("marketing channels") and their numbers
-- ---------------------------------------------------------------------------

-- Every table keys on account_id first and carries account_no, the number
-- Citus distributes every account's rows by (bar9.distribute()): it closes
-- each key, so that a unique key holds on one shard and queries by
-- account_id keep using the index on a single node.
CREATE TABLE audiences (
	account_id		text NOT NULL,
	audience_id		text NOT NULL DEFAULT new_id('mkt_'),
	name			text NOT NULL,
	subscriber_count bigint NOT NULL DEFAULT 0,	-- numbers now in the audience
	sms_count		bigint NOT NULL DEFAULT 0,	-- SMS created through it so far
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	deleted_at		timestamptz,				-- deleted: invisible to the API
	account_no		integer NOT NULL,
	-- numbers its members in the order they were added (their added_seq)
	last_member_seq bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, audience_id, account_no)
);

-- Orders membership for broadcast snapshots: a broadcast takes the members
-- whose added_seq is at most its audience's last_member_seq when it was
-- requested.  An add locks the audience row and draws its values from that
-- counter (numbers.c): no sequence, so the order holds whichever Citus
-- node took the add.  A number inserted by hand (0) is in every broadcast.
CREATE TABLE audience_numbers (
	account_id		text NOT NULL,
	audience_id		text NOT NULL,
	phone_number	e164 NOT NULL,
	added_seq		bigint NOT NULL DEFAULT 0,
	created_at		timestamptz NOT NULL DEFAULT now(),
	account_no		integer NOT NULL,
	PRIMARY KEY (account_id, audience_id, phone_number, account_no)
);

-- Deleted audiences whose numbers are still to be removed.  A DELETE of an
-- audience only marks it deleted (it is gone from every route at once) and
-- adds it here; the worker removes its numbers in batches
-- (purge_deleted_audiences), so that no request does work in proportion to
-- the audience's size.
CREATE TABLE audience_purges (
	account_id		text NOT NULL,
	audience_id		text NOT NULL,
	account_no		integer NOT NULL,
	PRIMARY KEY (account_id, audience_id, account_no)
);

-- Remove at most max_rows numbers of deleted audiences; an audience leaves
-- audience_purges once it has none left.  Returns how many numbers went.
CREATE FUNCTION purge_deleted_audiences(max_rows int DEFAULT 10000) RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p		record;
	done	bigint := 0;
	n		bigint;
	last	@extschema@.e164;
BEGIN
	-- read unlocked, then each locked by its key, skipping those another
	-- purge holds: every statement names account_no (on Citus, one shard)
	FOR p IN SELECT account_no, account_id, audience_id
			   FROM @extschema@.audience_purges
			  ORDER BY account_id, audience_id
	LOOP
		EXIT WHEN done >= max_rows;
		PERFORM FROM @extschema@.audience_purges
		  WHERE account_no = p.account_no AND account_id = p.account_id
			AND audience_id = p.audience_id
		  FOR UPDATE SKIP LOCKED;
		CONTINUE WHEN NOT FOUND;
		-- the batch is a range of the audience's primary key: the last
		-- number of the batch, then one range delete (planned with its
		-- values: an index range scan, whatever the audience's size)
		SELECT @extschema@.max(b.phone_number) INTO last
		  FROM (SELECT phone_number FROM @extschema@.audience_numbers
				 WHERE account_no = p.account_no
				   AND account_id = p.account_id AND audience_id = p.audience_id
				 ORDER BY phone_number LIMIT max_rows - done) b;
		n := 0;
		IF last IS NOT NULL THEN
			EXECUTE pg_catalog.format(
				'DELETE FROM %I.audience_numbers'
				' WHERE account_no = $1 AND account_id = $2 AND audience_id = $3'
				'   AND phone_number OPERATOR(%I.<=) $4', '@extschema@', '@extschema@')
			  USING p.account_no, p.account_id, p.audience_id, last;
			GET DIAGNOSTICS n = ROW_COUNT;
		END IF;
		done := done + n;
		IF done < max_rows THEN
			DELETE FROM @extschema@.audience_purges
			 WHERE account_no = p.account_no
			   AND account_id = p.account_id AND audience_id = p.audience_id;
		END IF;
	END LOOP;
	RETURN done;
END
$$;
COMMENT ON FUNCTION purge_deleted_audiences(int) IS
	'removes at most max_rows numbers of deleted audiences (the worker calls it in batches); returns how many';

-- Audiences belong to an account; numbers are checked against a live
-- audience by the code (no per-row foreign key: bulk adds stay set-based).
ALTER TABLE audiences ADD FOREIGN KEY (account_id) REFERENCES accounts;

-- GET /v1/marketing/channels: live audiences of an account, newest first.
CREATE INDEX audiences_list ON audiences (account_id, created_at DESC, audience_id DESC)
	WHERE deleted_at IS NULL;

-- An audience as the typed SQL functions return it.
CREATE TYPE audience AS (
	id				text,
	name			text,
	subscriber_count bigint,
	message_count	bigint,		-- audiences.sms_count, named as in the JSON
	created_at		timestamptz,
	updated_at		timestamptz
);
COMMENT ON TYPE audience IS
	'an audience (marketing channel) as returned by create_audience, get_audience, list_audiences and rename_audience';

-- Typed SQL functions for application code (src/audiences.c).  Each takes
-- the account first; another account's or a deleted audience does not exist.

CREATE FUNCTION create_audience(account_id text, name text) RETURNS audience
	AS 'MODULE_PATHNAME', 'bar9_create_audience'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION create_audience(text, text) IS
	'creates an audience (name: 1 to 200 characters after trimming white space)';

CREATE FUNCTION get_audience(account_id text, audience_id text) RETURNS audience
	AS 'MODULE_PATHNAME', 'bar9_get_audience'
	LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION get_audience(text, text) IS
	'one audience of the account; error 42704 if it does not exist';

CREATE FUNCTION list_audiences(account_id text, "limit" int DEFAULT 20,
							   starting_after text DEFAULT NULL)
	RETURNS SETOF audience
	AS 'MODULE_PATHNAME', 'bar9_list_audiences'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION list_audiences(text, int, text) IS
	'audiences of the account, newest first, at most "limit" (1 to 1000: every SQL list; HTTP pages hold at most 100), after the audience starting_after';

CREATE FUNCTION rename_audience(account_id text, audience_id text, name text)
	RETURNS audience
	AS 'MODULE_PATHNAME', 'bar9_rename_audience'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION rename_audience(text, text, text) IS
	'renames an audience and sets its updated_at';

CREATE FUNCTION delete_audience(account_id text, audience_id text) RETURNS void
	AS 'MODULE_PATHNAME', 'bar9_delete_audience'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION delete_audience(text, text) IS
	'deletes an audience: it and its numbers disappear from the API; its broadcasts are kept';
