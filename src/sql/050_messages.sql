
-- ---------------------------------------------------------------------------
-- Broadcasts ("marketing messages") and the SMS they fan out into
-- ---------------------------------------------------------------------------

CREATE TABLE messages (
	account_id		text NOT NULL,
	message_id		text NOT NULL DEFAULT new_id('msg_'),
	channel_id		text NOT NULL,
	body			text NOT NULL,
	encoding		text NOT NULL CHECK (encoding IN ('GSM-7', 'UCS-2')),
	segments		int NOT NULL,
	-- [queue] after fan-out (fanout_done) the trigger messages_settle_status
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
	PRIMARY KEY (account_id, message_id)
);

-- The worker's to-do list: broadcasts still to fan out, by due time.
CREATE INDEX messages_fanout_todo ON messages (send_at)
	WHERE status IN ('scheduled', 'pending');
-- Newest first per audience, for GET …/messages.
CREATE INDEX messages_by_channel ON messages (account_id, channel_id, created_at DESC, message_id DESC);

CREATE TABLE sms (
	sms_id			bigint GENERATED ALWAYS AS IDENTITY,
	account_id		text NOT NULL,
	message_id		text NOT NULL,
	to_number		e164 NOT NULL,
	status			text NOT NULL DEFAULT 'queued'
					CHECK (status IN ('queued', 'sending', 'sent', 'delivered',
									  'failed', 'canceled')),
	attempt			int NOT NULL DEFAULT 0,
	available_at	timestamptz NOT NULL DEFAULT now(),	-- queued: claimable from
	lease_until		timestamptz,		-- sending: claim expires at
	claimed_by		bigint,				-- sending: claimer's session
	provider_ref	text,
	error			text,
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	-- one SMS per number per broadcast, whatever crashes or retries happen
	PRIMARY KEY (account_id, message_id, to_number),
	UNIQUE (sms_id)
);
