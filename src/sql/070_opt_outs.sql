
-- ---------------------------------------------------------------------------
-- Consent: the account-wide opt-out list
-- ---------------------------------------------------------------------------

CREATE TABLE opt_outs (
	account_id		text NOT NULL,
	phone_number	e164 NOT NULL,
	source			text NOT NULL CHECK (source IN ('api', 'keyword')),
	created_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, phone_number)
);
