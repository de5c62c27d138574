
-- ---------------------------------------------------------------------------
-- Sender addresses and delivery receipts (docs/api.md, "Senders"; sender/)
-- ---------------------------------------------------------------------------
--
-- senders: the addresses an account's SMS may go out from.  A few rows per
-- account: on Citus it is a small reference table, so that an inbound SMS
-- finds the account that owns its destination address without asking
-- every shard.  An address belongs to one account at most (the inbound
-- route needs that), and an account has at most one default.

CREATE TABLE senders (
	account_no		integer NOT NULL,
	address			text NOT NULL,
	is_default		boolean NOT NULL DEFAULT false,
	created_at		timestamptz NOT NULL,
	PRIMARY KEY (account_no, address),
	UNIQUE (address)
);
CREATE UNIQUE INDEX senders_one_default ON senders (account_no) WHERE is_default;
COMMENT ON TABLE senders IS
	'the sender addresses (E.164 number, short code or alphanumeric id) of each account; at most one default each';

-- The canonical form of a sender address, or a 22023 error.
CREATE FUNCTION sender_address(address text) RETURNS text
	LANGUAGE plpgsql IMMUTABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF address ~ '^[0-9]{3,8}$' THEN
		RETURN address;			-- a short code
	END IF;
	IF address ~ '^\+' THEN
		BEGIN
			RETURN address::@extschema@.e164::text;
		EXCEPTION WHEN invalid_text_representation OR invalid_parameter_value THEN
			NULL;				-- reported below, as any other bad address
		END;
	ELSIF pg_catalog.length(address) BETWEEN 1 AND 11
		AND address ~ '[A-Za-z]'
		AND @extschema@.sms_encoding(address) = 'GSM-7' THEN
		RETURN address;			-- an alphanumeric sender id
	END IF;
	RAISE EXCEPTION 'invalid sender address "%"', address
		USING ERRCODE = 'invalid_parameter_value',
			  HINT = 'A sender address is an E.164 number (+ and digits), a short code (3 to 8 digits) or an alphanumeric id (1 to 11 GSM 7-bit characters, at least one letter).';
END
$$;
COMMENT ON FUNCTION sender_address(text) IS
	'the canonical form of a sender address (E.164 number, short code of 3 to 8 digits, or alphanumeric id of 1 to 11 GSM 7-bit characters with a letter); 22023 otherwise';

-- The number of an account, or a 42704 error.
CREATE FUNCTION sender_account_no(account_id text) RETURNS integer
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n			integer;
BEGIN
	SELECT a.account_no INTO n FROM @extschema@.accounts a
	 WHERE a.account_id = sender_account_no.account_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'account "%" does not exist', account_id
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN n;
END
$$;
COMMENT ON FUNCTION sender_account_no(text) IS
	'the account_no of an account, or 42704 when there is none';

-- Register a sender address for an account (again: sets is_default).
CREATE FUNCTION add_sender(account_id text, address text,
						   is_default boolean DEFAULT false)
	RETURNS text
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n			integer := @extschema@.sender_account_no(account_id);
	a			text := @extschema@.sender_address(address);
	at			timestamptz := pg_catalog.now();
BEGIN
	IF EXISTS (SELECT FROM @extschema@.senders s
				WHERE s.address = a AND s.account_no <> n) THEN
		RAISE EXCEPTION 'sender address "%" belongs to another account', a
			USING ERRCODE = 'unique_violation',
				  DETAIL = 'Inbound SMS are routed by their destination address: it has one account.';
	END IF;
	IF is_default THEN
		UPDATE @extschema@.senders s SET is_default = false
		 WHERE s.account_no = n AND s.is_default AND s.address <> a;
	END IF;
	INSERT INTO @extschema@.senders AS s (account_no, address, is_default, created_at)
	VALUES (n, a, add_sender.is_default, at)
	ON CONFLICT ON CONSTRAINT senders_pkey
	DO UPDATE SET is_default = excluded.is_default;
	RETURN a;
END
$$;
COMMENT ON FUNCTION add_sender(text, text, boolean) IS
	'registers a sender address (E.164, short code or alphanumeric id) for the account and returns it in canonical form; is_default makes it the address of broadcasts that name none; adding it again sets is_default';

-- Remove a sender address of an account; false when it had none such.
CREATE FUNCTION remove_sender(account_id text, address text) RETURNS boolean
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n			integer := @extschema@.sender_account_no(account_id);
BEGIN
	DELETE FROM @extschema@.senders s
	 WHERE s.account_no = n
	   AND s.address = @extschema@.sender_address(remove_sender.address);
	RETURN FOUND;
END
$$;
COMMENT ON FUNCTION remove_sender(text, text) IS
	'removes a sender address of the account (broadcasts already created keep theirs); false when the account had no such address';

-- The sender addresses of an account, default first.
CREATE FUNCTION list_senders(account_id text)
	RETURNS TABLE (address text, is_default boolean, created_at timestamptz)
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT s.address, s.is_default, s.created_at
	  FROM @extschema@.senders s
	 WHERE s.account_no = @extschema@.sender_account_no(list_senders.account_id)
	 ORDER BY s.is_default DESC, s.address
$$;
COMMENT ON FUNCTION list_senders(text) IS
	'the sender addresses of an account, its default first, then by address';

-- ---------------------------------------------------------------------------
-- Receipts in waiting.  A delivery receipt names only the carrier's id of
-- an SMS (its provider_ref), so that id must find the SMS in one index
-- probe, on one shard.  sms_history has no index on provider_ref, and
-- none is added: every SMS would pay for it for its whole retention, and
-- on Citus (distributed by account_no) the lookup would ask every shard.
--
-- Instead, an acknowledgement 'sent' with a provider_ref also writes one
-- narrow row here, keyed by the hash of the reference; the receipt finds
-- it by that hash, checks the reference on the history row, and deletes it.
-- The table holds only SMS still waiting for their receipt.  On Citus it
-- is distributed by ref_hash (an integer, co-located with the account_no
-- tables), so report_delivery routes to one shard from the reference
-- alone.  A row: 52 bytes of heap (24-byte header, 20 of columns, padded,
-- a line pointer) and 27 of index (hashes arrive in random order: leaves
-- about 70% full), measured; retire_sms drops those of retired days
-- (receipts that never came).
-- ---------------------------------------------------------------------------

CREATE TABLE sms_receipt_wait (
	ref_hash		integer NOT NULL,	-- hashtext(provider_ref)
	account_no		integer NOT NULL,
	broadcast_no	integer NOT NULL,
	to_number		e164 NOT NULL,
	part_ref		text,		-- a part of a split SMS: its reference
	parts_left		smallint	-- a split SMS's count of parts not delivered
);
CREATE INDEX sms_receipt_wait_ref ON sms_receipt_wait (ref_hash);
ALTER TABLE sms_receipt_wait SET (autovacuum_vacuum_scale_factor = 0.02,
								  autovacuum_vacuum_insert_scale_factor = 0.02);
COMMENT ON TABLE sms_receipt_wait IS
	'SMS sent with a provider_ref and waiting for their delivery receipt, by hash of the reference (a split SMS: one row per part, with its reference, and one counting the parts not delivered); deleted as receipts arrive';

-- A split SMS (acknowledged with its parts' references separated by
-- spaces; the first is its provider_ref) waits for a receipt per part:
-- rows (hash of the part's reference, SMS, part_ref) and one more row
-- (hash of the first reference, SMS, parts_left = number of parts).  It
-- is delivered when every part is, failed as soon as one part fails; the
-- receipts of its other parts then change nothing.  Each receipt is one
-- probe by its hash (one shard on Citus), then the SMS's rows by key: the
-- counting row by the hash of the history row's provider_ref, the history
-- row by the account (one shard each).  Single-part SMS have NULL in both
-- columns: their row stays 52 bytes (the null bitmap fits the header).

-- Receipts by index: report_delivery and report_deliveries plan with
-- enable_seqscan off, so that a receipt is always a probe of
-- sms_receipt_wait_ref and history rows by key.  The waiting table is small
-- and churns (a row in, a row out, per SMS): analyzed while empty, it would
-- have the planner choose sequential scans, cached for the sender's session
-- until the next autoanalyze, each reading the dead rows of every receipt
-- so far (measured: the sender at window 100 fell from 1.6x to 0.6x of its
-- baseline; BENCHMARKS.md).

-- The receipt of a part of a split SMS (a row w of sms_receipt_wait, its
-- ref_hash h): 0 when it was not waited for, 1 when it was, 2 when it also
-- made the SMS final (its broadcast's counters then to move: receipt_count).
CREATE FUNCTION report_part(h integer, w_account_no integer,
							w_broadcast_no integer, w_to_number e164,
							ref text, new_state smallint, error text)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	first_ref	text;
	left_n		integer;
BEGIN
	DELETE FROM @extschema@.sms_receipt_wait x
	 WHERE x.ref_hash = h AND x.account_no = w_account_no
	   AND x.broadcast_no = w_broadcast_no
	   AND x.to_number OPERATOR(@extschema@.=) w_to_number
	   AND x.part_ref = ref;
	IF NOT FOUND THEN
		RETURN 0;				-- a repeated receipt, taken meanwhile
	END IF;
	SELECT s.provider_ref INTO first_ref
	  FROM @extschema@.sms_history s
	 WHERE s.account_no = w_account_no AND s.broadcast_no = w_broadcast_no
	   AND s.to_number OPERATOR(@extschema@.=) w_to_number AND s.state = 2;
	IF NOT FOUND THEN
		RETURN 1;				-- already failed (another part) or finished
	END IF;
	IF new_state = 3 THEN
		UPDATE @extschema@.sms_receipt_wait x SET parts_left = x.parts_left - 1
		 WHERE x.ref_hash = pg_catalog.hashtext(first_ref)
		   AND x.account_no = w_account_no AND x.broadcast_no = w_broadcast_no
		   AND x.to_number OPERATOR(@extschema@.=) w_to_number
		   AND x.parts_left IS NOT NULL
		RETURNING x.parts_left INTO left_n;
		IF left_n > 0 THEN
			RETURN 1;			-- other parts still to be delivered
		END IF;
	END IF;
	-- the last part delivered, or one failed: the SMS is final
	DELETE FROM @extschema@.sms_receipt_wait x
	 WHERE x.ref_hash = pg_catalog.hashtext(first_ref)
	   AND x.account_no = w_account_no AND x.broadcast_no = w_broadcast_no
	   AND x.to_number OPERATOR(@extschema@.=) w_to_number
	   AND x.parts_left IS NOT NULL;
	IF @extschema@.receipt_final(w_account_no, w_broadcast_no, w_to_number,
								 first_ref, new_state, error) THEN
		RETURN 2;
	END IF;
	RETURN 1;
END
$$;
COMMENT ON FUNCTION report_part(integer, integer, integer, e164, text, smallint, text) IS
	'a receipt for a part of a split SMS: the SMS is delivered with its last part, failed with its first failed part; 0 not waited for, 1 taken, 2 taken and the SMS final (its counters to move)';

-- A sent SMS whose receipt came: its history row becomes delivered (3) or
-- failed (4); false when it was not sent (any more) under the reference
-- ref.  Its broadcast's counters are the caller's to move (receipt_count).
CREATE FUNCTION receipt_final(w_account_no integer, w_broadcast_no integer,
							  w_to_number e164, ref text, new_state smallint,
							  error text)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	UPDATE @extschema@.sms_history s
	   SET state = new_state,
		   changed_s = ((pg_catalog.extract('epoch', pg_catalog.now())
						 - 946684800)::bigint
						- (w_broadcast_no::bigint >> 15) * 86400)::integer,
		   error = CASE WHEN new_state = 4
					   THEN coalesce(receipt_final.error, 'delivery failed')
				   END
	 WHERE s.account_no = w_account_no AND s.broadcast_no = w_broadcast_no
	   AND s.to_number OPERATOR(@extschema@.=) w_to_number
	   AND s.provider_ref = ref AND s.state = 2;
	RETURN FOUND;
END
$$;
COMMENT ON FUNCTION receipt_final(integer, integer, e164, text, smallint, text) IS
	'a sent SMS becomes delivered (3) or failed (4) by its receipt (its broadcast''s counts are the caller''s to move); false when it was not sent under that provider_ref';

-- One receipt (report_delivery without the counters): matched when it was
-- waited for; the SMS it made final, by account_nos[i], broadcast_nos[i].
CREATE FUNCTION receipt_apply(ref text, new_state smallint, error text,
							  OUT matched boolean, OUT account_nos integer[],
							  OUT broadcast_nos integer[])
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	h			integer := pg_catalog.hashtext(ref);
	w			record;
	k			integer;
BEGIN
	matched := false;
	account_nos := '{}';
	broadcast_nos := '{}';
	-- one probe of sms_receipt_wait_ref (one shard on Citus); a hash that
	-- other references share is told apart by the part's reference, or by
	-- the history row's own provider_ref, read by its key (the shard of
	-- its account)
	FOR w IN
		SELECT x.account_no, x.broadcast_no, x.to_number, x.part_ref
		  FROM @extschema@.sms_receipt_wait x
		 WHERE x.ref_hash = h AND x.parts_left IS NULL
		   AND (x.part_ref IS NULL OR x.part_ref = ref)
	LOOP
		IF w.part_ref IS NOT NULL THEN
			k := @extschema@.report_part(h, w.account_no, w.broadcast_no,
										 w.to_number, ref, new_state,
										 receipt_apply.error);
		ELSIF @extschema@.receipt_final(w.account_no, w.broadcast_no,
										w.to_number, ref, new_state,
										receipt_apply.error) THEN
			k := 2;
		ELSIF EXISTS (SELECT FROM @extschema@.sms_history s
					   WHERE s.account_no = w.account_no
						 AND s.broadcast_no = w.broadcast_no
						 AND s.to_number OPERATOR(@extschema@.=) w.to_number
						 AND s.provider_ref = ref) THEN
			k := -1;			-- finished by its sms_id meanwhile
		ELSE
			CONTINUE;			-- another reference with the same hash
		END IF;
		IF w.part_ref IS NULL THEN
			-- its receipt came (or it was finished by its sms_id meanwhile)
			DELETE FROM @extschema@.sms_receipt_wait x
			 WHERE x.ref_hash = h AND x.account_no = w.account_no
			   AND x.broadcast_no = w.broadcast_no
			   AND x.to_number OPERATOR(@extschema@.=) w.to_number
			   AND x.part_ref IS NULL;
		END IF;
		matched := matched OR k > 0;
		IF k = 2 THEN
			account_nos := account_nos || w.account_no;
			broadcast_nos := broadcast_nos || w.broadcast_no;
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION receipt_apply(text, smallint, text) IS
	'one delivery receipt without its broadcasts'' counters: matched when an SMS waited for it; the SMS it made final, by account_no and broadcast_no';

-- Move the counters of the SMS made final (account_nos[i], broadcast_nos[i]
-- to states[i]): one UPDATE per broadcast, in (account_no, broadcast_no)
-- order, the lock order of src/queue.h (acks lock them in that order too).
CREATE FUNCTION receipt_count(account_nos integer[], broadcast_nos integer[],
							  states smallint[])
	RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d			record;
BEGIN
	FOR d IN
		SELECT u.a, u.b, pg_catalog.count(*) FILTER (WHERE u.s = 3) AS n_d,
			   pg_catalog.count(*) FILTER (WHERE u.s = 4) AS n_f
		  FROM ROWS FROM (pg_catalog.unnest(account_nos),
						  pg_catalog.unnest(broadcast_nos),
						  pg_catalog.unnest(states)) AS u(a, b, s)
		 GROUP BY u.a, u.b
		 ORDER BY u.a, u.b
	LOOP
		UPDATE @extschema@.broadcasts m
		   SET n_sent = m.n_sent - d.n_d - d.n_f,
			   n_delivered = m.n_delivered + d.n_d,
			   n_failed = m.n_failed + d.n_f,
			   updated_at = pg_catalog.now()
		 WHERE m.account_no = d.a
		   AND m.broadcast_no = d.b;
	END LOOP;
END
$$;
COMMENT ON FUNCTION receipt_count(integer[], integer[], smallint[]) IS
	'moves the broadcasts'' counters for SMS made final by receipts: sent down, delivered (3) or failed (4) up; one UPDATE per broadcast, in key order';

-- The state a receipt's outcome records: 3 or 4, or a 22004/22023 error
-- (report_delivery and report_deliveries check their arguments with it).
CREATE FUNCTION receipt_state(ref text, outcome text) RETURNS smallint
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF ref IS NULL OR outcome IS NULL THEN
		RAISE EXCEPTION 'provider_ref and outcome must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF outcome = 'delivered' THEN
		RETURN 3;
	ELSIF outcome = 'failed' THEN
		RETURN 4;
	END IF;
	RAISE EXCEPTION 'invalid outcome "%"', outcome
		USING ERRCODE = 'invalid_parameter_value',
			  HINT = 'A delivery receipt reports delivered or failed.';
END
$$;
COMMENT ON FUNCTION receipt_state(text, text) IS
	'the state a receipt''s outcome records: delivered 3, failed 4; 22004 for a NULL provider_ref or outcome, 22023 for another outcome';

-- A delivery receipt that names only the carrier's id (report_delivery).
CREATE FUNCTION report_delivery(provider_ref text, outcome text,
								error text DEFAULT NULL)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	SET enable_seqscan = off	-- see "Receipts by index" above
	AS $$
DECLARE
	new_state	smallint;
	r			record;
BEGIN
	new_state := @extschema@.receipt_state(provider_ref, outcome);
	r := @extschema@.receipt_apply(provider_ref, new_state,
								   report_delivery.error);
	PERFORM @extschema@.receipt_count(r.account_nos, r.broadcast_nos,
		pg_catalog.array_fill(new_state,
							  ARRAY[pg_catalog.cardinality(r.account_nos)]));
	RETURN r.matched;
END
$$;
COMMENT ON FUNCTION report_delivery(text, text, text) IS
	'a delivery receipt naming only the carrier''s id: the sent SMS with that provider_ref becomes delivered or failed (a split SMS: delivered when every part''s receipt says delivered, failed with the first that says failed); false when no SMS waits for a receipt under that reference (unknown, or already delivered or failed: nothing changes)';

-- Many delivery receipts in one call (report_delivery for each, in order),
-- the broadcasts' counters moved once per broadcast, at the end.
CREATE FUNCTION report_deliveries(provider_refs text[], outcomes text[],
								  errors text[] DEFAULT NULL)
	RETURNS boolean[]
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	SET enable_seqscan = off	-- see "Receipts by index" above
	AS $$
DECLARE
	n			integer := pg_catalog.cardinality(provider_refs);
	matched		boolean[] := '{}';
	accts		integer[] := '{}';
	bcasts		integer[] := '{}';
	states		smallint[] := '{}';
	checked		smallint[];		-- the state of each receipt, by position
	s			smallint;
	u			record;
	r			record;
BEGIN
	IF provider_refs IS NULL OR outcomes IS NULL THEN
		RAISE EXCEPTION 'provider_refs and outcomes must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF pg_catalog.array_ndims(provider_refs) > 1
		OR pg_catalog.array_ndims(outcomes) > 1
		OR pg_catalog.array_ndims(errors) > 1
		OR pg_catalog.cardinality(outcomes) <> n
		OR pg_catalog.cardinality(errors) <> n THEN
		RAISE EXCEPTION 'outcomes and errors must have one element per provider_ref'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF n > 10000 THEN
		RAISE EXCEPTION 'provider_refs may hold at most 10000 receipts'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- every receipt checked, and its state taken, before any is applied
	checked := ARRAY(SELECT @extschema@.receipt_state(x.ref, x.o)
					   FROM ROWS FROM (pg_catalog.unnest(provider_refs),
									   pg_catalog.unnest(outcomes))
							WITH ORDINALITY AS x(ref, o, i)
					  ORDER BY x.i);
	FOR u IN
		SELECT x.ref, x.e, x.i
		  FROM ROWS FROM (pg_catalog.unnest(provider_refs),
						  pg_catalog.unnest(errors))
			   WITH ORDINALITY AS x(ref, e, i)
		 ORDER BY x.i
	LOOP
		s := checked[u.i];
		r := @extschema@.receipt_apply(u.ref, s, u.e);
		matched := matched || r.matched;
		accts := accts || r.account_nos;
		bcasts := bcasts || r.broadcast_nos;
		states := states || pg_catalog.array_fill(s,
			ARRAY[pg_catalog.cardinality(r.account_nos)]);
	END LOOP;
	PERFORM @extschema@.receipt_count(accts, bcasts, states);
	RETURN matched;
END
$$;
COMMENT ON FUNCTION report_deliveries(text[], text[], text[]) IS
	'delivery receipts in one call: report_delivery for each (provider_refs[i], outcomes[i], errors[i]), in order, with the same results, returned as an array; the broadcasts'' counters move once per broadcast, in key order, at the end';

-- An inbound SMS to one of the senders' addresses (receive_sms for the
-- account that owns to_address).
CREATE FUNCTION receive_sms_at(to_address text, from_number e164, body text)
	RETURNS text
	LANGUAGE plpgsql VOLATILE STRICT
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	acct		text;
BEGIN
	SELECT a.account_id INTO acct
	  FROM @extschema@.senders s
	  JOIN @extschema@.accounts a USING (account_no)
	 WHERE s.address = to_address;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no account has the sender address "%"', to_address
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN @extschema@.receive_sms(acct, from_number, body);
END
$$;
COMMENT ON FUNCTION receive_sms_at(text, e164, text) IS
	'an inbound SMS to a sender address: bar9.receive_sms for the account that owns to_address (42704 when none does); returns the reply to send back, or NULL';
