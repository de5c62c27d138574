
-- ---------------------------------------------------------------------------
-- Broadcasts ("marketing messages") and the SMS they fan out into
-- ---------------------------------------------------------------------------

CREATE TABLE broadcasts (
	account_id		text NOT NULL,
	broadcast_id	text NOT NULL DEFAULT new_id('msg_'),
	audience_id		text NOT NULL,
	body			text NOT NULL,
	encoding		text NOT NULL CHECK (encoding IN ('GSM-7', 'UCS-2')),
	segments		int NOT NULL,
	-- [queue] after fan-out (fanout_done) the trigger broadcasts_settle_status
	-- (060_queue.sql) derives 'sending'/'completed' from the counters: a
	-- finished fan-out just sets status 'queued' and fanout_done.
	status			text NOT NULL CHECK (status IN ('scheduled', 'pending', 'queued',
													'sending', 'completed', 'canceled')),
	-- [fanout] whoever inserts a broadcast calls bar9_wake_worker() (worker.h)
	-- before committing.  A 'scheduled' one becomes 'pending' when send_at
	-- comes: the worker then sets member_seq_cutoff (the audience as it is
	-- then) and recipient_count (its size).  During a fan-out (fanout.c)
	-- recipient_count is an estimate; at the end, the SMS created.
	send_at			timestamptz,		-- NULL: send now
	member_seq_cutoff bigint,			-- recipients: members with added_seq <= this
	fanout_cursor	e164,				-- last number fanned out; NULL: not started
	fanout_done		boolean NOT NULL DEFAULT false,
	recipient_count bigint NOT NULL DEFAULT 0,
	suppressed_count bigint NOT NULL DEFAULT 0,
	-- SMS of this broadcast by state, kept exact by fan-out, claim and ack
	n_queued		bigint NOT NULL DEFAULT 0,
	n_sending		bigint NOT NULL DEFAULT 0,
	n_sent			bigint NOT NULL DEFAULT 0,
	n_delivered		bigint NOT NULL DEFAULT 0,
	n_failed		bigint NOT NULL DEFAULT 0,
	n_canceled		bigint NOT NULL DEFAULT 0,
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	-- [queue] how the SMS tables (060_queue.sql) name this broadcast: the
	-- account's number and the broadcast's number within the account, whose
	-- high bits are the day of its SMS history (bar9.broadcast_day)
	account_no		integer NOT NULL,
	broadcast_no	integer NOT NULL,
	claim_cursor	e164,				-- SMS up to this number have been claimed
	claimed_at		timestamptz,		-- latest claim of new SMS: claims take turns
	from_address	text,				-- the sender address its SMS go out from
	PRIMARY KEY (account_id, broadcast_id, account_no),
	UNIQUE (account_no, broadcast_no)
);

-- The worker's to-do list: broadcasts still to fan out, by due time.
CREATE INDEX broadcasts_fanout_todo ON broadcasts (send_at)
	WHERE status IN ('scheduled', 'pending');
-- Newest first per audience, for GET …/messages.
CREATE INDEX broadcasts_by_audience ON broadcasts (account_id, audience_id, created_at DESC, broadcast_id DESC);

-- Broadcasts whose new SMS senders claim in turn (least recently claimed first).
CREATE INDEX broadcasts_claim_turn ON broadcasts (claimed_at NULLS FIRST)
	WHERE status IN ('pending', 'queued', 'sending');
-- The unfinished broadcasts of an account, for the opt-out cancel.
CREATE INDEX broadcasts_unfinished ON broadcasts (account_id)
	WHERE status IN ('pending', 'queued', 'sending');
-- The broadcasts of a day of SMS history (a range of broadcast_no), for
-- its retirement.
CREATE INDEX broadcasts_by_broadcast_no ON broadcasts (broadcast_no);

-- The account's next broadcast number: at least the first number of the
-- day its SMS history is filed under (bar9.broadcast_no_floor).  The
-- account's counters row stays locked until commit: an account's
-- broadcasts are numbered in turn.  broadcasts.c calls it before its INSERT;
-- the trigger below calls it for the rows inserted by hand.
CREATE FUNCTION next_broadcast_no(account_no integer, floor integer)
	RETURNS integer
	LANGUAGE sql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
	UPDATE @extschema@.account_counters c
	   SET last_broadcast_no = greatest(c.last_broadcast_no + 1, floor)
	 WHERE c.account_no = next_broadcast_no.account_no
	RETURNING c.last_broadcast_no
$$;
COMMENT ON FUNCTION next_broadcast_no(integer, integer) IS
	'numbers an account''s next broadcast (at least floor) and keeps its counters row locked until commit';

-- A broadcast inserted by hand (operators, tests) gets its account_no and
-- broadcast_no without naming them.  Single node only: bar9.distribute()
-- drops this trigger (Citus routes a row by account_no before any trigger
-- runs), and broadcasts.c always names both.
CREATE FUNCTION broadcasts_number() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF NEW.account_no IS NULL OR NEW.broadcast_no IS NULL THEN
		SELECT a.account_no INTO NEW.account_no
		  FROM @extschema@.accounts a WHERE a.account_id = NEW.account_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'account "%" does not exist', NEW.account_id
				USING ERRCODE = 'foreign_key_violation';
		END IF;
		NEW.broadcast_no := @extschema@.next_broadcast_no(NEW.account_no,
			@extschema@.broadcast_no_floor(NEW.created_at));
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION broadcasts_number() IS
	'trigger (single node): numbers a broadcast inserted by hand for the SMS tables (account_no, broadcast_no) unless given';

CREATE TRIGGER broadcasts_number
	BEFORE INSERT ON broadcasts
	FOR EACH ROW
	EXECUTE FUNCTION broadcasts_number();
