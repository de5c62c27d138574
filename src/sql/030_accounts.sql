
-- ---------------------------------------------------------------------------
-- Accounts and API keys (src/auth.c)
-- ---------------------------------------------------------------------------

-- Rows of the SMS tables name their account by a 4-byte number, not by its
-- 27-byte public id: a queued SMS is three fixed-width columns (060_queue.sql).
CREATE SEQUENCE account_no_seq AS integer;

CREATE TABLE accounts (
	account_id		text NOT NULL DEFAULT new_id('acct_'),
	name			text NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT now(),
	account_no		integer NOT NULL DEFAULT nextval('account_no_seq'),
	-- its request budget (ratelimit.c): a token bucket of burst tokens
	-- refilled at requests_per_second
	requests_per_second integer NOT NULL DEFAULT 100 CHECK (requests_per_second > 0),
	burst			integer NOT NULL DEFAULT 200 CHECK (burst > 0),
	PRIMARY KEY (account_id),
	UNIQUE (account_no)
);

-- What an account counts, in a row of its own: under Citus it lives on the
-- account's shard (bar9.accounts is a reference table, copied to every
-- node, not to be written per request).
CREATE TABLE account_counters (
	account_no		integer PRIMARY KEY,
	last_broadcast_no integer NOT NULL DEFAULT 0	-- numbers the account's broadcasts
);

-- A key is bar9_<key_id>_<secret>; only the SHA-256 of the secret is kept.
CREATE TABLE api_keys (
	account_id		text NOT NULL REFERENCES accounts,
	key_id			text NOT NULL,				-- public: 'key_...'
	secret_sha256	bytea NOT NULL,
	scopes			text[] NOT NULL,			-- canonical order, no duplicates
	label			text,
	created_at		timestamptz NOT NULL DEFAULT now(),
	last_used_at	timestamptz,				-- written at most once a minute
	revoked_at		timestamptz,
	PRIMARY KEY (account_id, key_id),
	UNIQUE (key_id)								-- looked up by key_id on each request
);

-- A new account; returns its id ('acct_...').
CREATE FUNCTION create_account(name text) RETURNS text
	AS 'MODULE_PATHNAME', 'bar9_create_account'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION create_account(text) IS
	'creates an account (name: 1 to 200 characters after trimming) and returns its id';

-- Set an account's request budget (docs/api.md, "Rate limits").
CREATE FUNCTION set_account_limits(account_id text, requests_per_second int, burst int)
	RETURNS void
	AS 'MODULE_PATHNAME', 'bar9_set_account_limits'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION set_account_limits(text, int, int) IS
	'sets an account''s request budget: a token bucket of burst requests refilled at requests_per_second (both 1 to 1000000; defaults 100 and 200); takes effect when the transaction ends';

-- A new API key with the given scopes; returns the whole key, shown only once.
CREATE FUNCTION create_api_key(account_id text, scopes text[], label text DEFAULT NULL)
	RETURNS text
	AS 'MODULE_PATHNAME', 'bar9_create_api_key'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION create_api_key(text, text[], text) IS
	'creates an API key (scopes: marketing:channels:read, :write, :send) and returns it; only its hash is stored';

-- Revoke a key, given whole or by its public id ('key_...').
CREATE FUNCTION revoke_api_key(api_key text) RETURNS void
	AS 'MODULE_PATHNAME', 'bar9_revoke_api_key'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION revoke_api_key(text) IS
	'revokes an API key, given whole or by its public id; revoking twice is harmless';

-- The keys of an account, newest first, never their secrets.
CREATE FUNCTION list_api_keys(account_id text)
	RETURNS TABLE (key_id text, label text, scopes text[], created_at timestamptz,
				   last_used_at timestamptz, revoked_at timestamptz)
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT k.key_id, k.label, k.scopes, k.created_at, k.last_used_at, k.revoked_at
	  FROM @extschema@.api_keys k
	 WHERE k.account_id = list_api_keys.account_id
	 ORDER BY k.created_at DESC, k.key_id DESC
$$;
COMMENT ON FUNCTION list_api_keys(text) IS
	'lists the API keys of an account (id, label, scopes, times), newest first; never the secret';
