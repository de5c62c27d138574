
-- ---------------------------------------------------------------------------
-- Audiences ("marketing channels") and their numbers
-- ---------------------------------------------------------------------------

-- Every table keys on account_id first, so it can later be distributed by account.
CREATE TABLE channels (
	account_id		text NOT NULL,
	channel_id		text NOT NULL DEFAULT new_id('mkt_'),
	name			text NOT NULL,
	subscriber_count bigint NOT NULL DEFAULT 0,	-- numbers now in the audience
	message_count	bigint NOT NULL DEFAULT 0,	-- SMS created through it so far
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	deleted_at		timestamptz,				-- deleted: invisible to the API
	PRIMARY KEY (account_id, channel_id)
);

-- Orders membership for broadcast snapshots: a broadcast takes the members
-- whose added_seq is at most the sequence value read when it was requested.
CREATE SEQUENCE channel_member_seq;

CREATE TABLE channel_numbers (
	account_id		text NOT NULL,
	channel_id		text NOT NULL,
	phone_number	e164 NOT NULL,
	added_seq		bigint NOT NULL DEFAULT nextval('channel_member_seq'),
	created_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, channel_id, phone_number)
);
