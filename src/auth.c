/*
 * auth.c
 *		Accounts, API keys and their scopes.
 *
 * A key is  bar9_<key_id>_<secret>:  "bar9_", a public key id ("key_" and 22
 * base-62 characters, from bar9_new_id), "_", and BAR9_KEY_SECRET_CHARS
 * base-62 characters of secret from pg_strong_random (~190 bits).  Only the
 * SHA-256 of the secret is stored; a presented secret is hashed and compared
 * in constant time.  A key that is malformed, unknown, revoked or whose
 * secret does not match gets the same answer (auth_check_key returns false),
 * and the dispatcher answers all of them with one 401 body.
 *
 * last_used_at is written only when it is more than a minute old, so that a
 * stream of read requests does not turn every one into a write.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "api.h"
#include "auth.h"
#include "cluster.h"
#include "ids.h"

/* Length of a whole key: "bar9_" + "key_" + 22 + "_" + secret. */
#define AUTH_KEY_ID_LEN		(4 + BAR9_ID_RANDOM_CHARS)
#define AUTH_KEY_LEN		(5 + AUTH_KEY_ID_LEN + 1 + BAR9_KEY_SECRET_CHARS)

/* Longest account name and key label, in characters. */
#define AUTH_MAX_NAME_CHARS	200

/* The scopes, by bit. */
static const struct
{
	int			bit;
	const char *name;
}			auth_scopes[] =
{
	{BAR9_SCOPE_READ, "marketing:channels:read"},
	{BAR9_SCOPE_WRITE, "marketing:channels:write"},
	{BAR9_SCOPE_SEND, "marketing:channels:send"},
};

static SPIPlanPtr key_lookup_plan = NULL;
static SPIPlanPtr key_touch_plan = NULL;

/* The name of one scope bit. */
const char *
auth_scope_name(int scope)
{
	int			i;

	for (i = 0; i < lengthof(auth_scopes); i++)
	{
		if (auth_scopes[i].bit == scope)
			return auth_scopes[i].name;
	}
	return "unknown";
}

/* Constant-time comparison: the time taken does not depend on the data. */
bool
auth_equal_ct(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *pa = a;
	const volatile unsigned char *pb = b;
	unsigned char diff = 0;
	size_t		i;

	for (i = 0; i < n; i++)
		diff |= pa[i] ^ pb[i];
	return diff == 0;
}

/* Is c a base-62 character? */
static bool
AuthIsBase62(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		(c >= 'a' && c <= 'z');
}

/*
 * Split a whole key into key id (copied into key_id, AUTH_KEY_ID_LEN + 1
 * bytes) and secret (pointer into key).  False when malformed.
 */
static bool
AuthParseKey(const char *key, size_t len, char *key_id, const char **secret)
{
	size_t		i;

	if (len != AUTH_KEY_LEN || memcmp(key, "bar9_key_", 9) != 0 ||
		key[5 + AUTH_KEY_ID_LEN] != '_')
		return false;
	for (i = 9; i < 5 + AUTH_KEY_ID_LEN; i++)
	{
		if (!AuthIsBase62(key[i]))
			return false;
	}
	for (i = 5 + AUTH_KEY_ID_LEN + 1; i < len; i++)
	{
		if (!AuthIsBase62(key[i]))
			return false;
	}
	memcpy(key_id, key + 5, AUTH_KEY_ID_LEN);
	key_id[AUTH_KEY_ID_LEN] = '\0';
	*secret = key + 5 + AUTH_KEY_ID_LEN + 1;
	return true;
}

/* Scope bits of a text[] of scope names (unknown names are ignored). */
static int
AuthScopeBits(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	int			j;
	int			bits = 0;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		text	   *t;

		if (nulls[i])
			continue;
		t = DatumGetTextPP(elems[i]);
		for (j = 0; j < lengthof(auth_scopes); j++)
		{
			if (VARSIZE_ANY_EXHDR(t) == strlen(auth_scopes[j].name) &&
				memcmp(VARDATA_ANY(t), auth_scopes[j].name,
					   VARSIZE_ANY_EXHDR(t)) == 0)
				bits |= auth_scopes[j].bit;
		}
	}
	return bits;
}

/*
 * Look up key_id and compare the secret's hash.  Returns the row's fields
 * through the out arguments; true only for a live key whose secret matches.
 */
static bool
AuthVerify(const char *key_id, const char *secret, char **account_id,
		   int *scopes, bool *stale)
{
	static const uint8 dummy[PG_SHA256_DIGEST_LENGTH] = {0};
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	const uint8 *stored = dummy;
	bool		found = false;
	bool		revoked = false;
	bool		match;
	int			rc;

	args[0] = CStringGetTextDatum(key_id);
	rc = SPI_execute_plan(bar9_plan(&key_lookup_plan,
									"SELECT account_id, secret_sha256, scopes,"
									"       revoked_at IS NOT NULL,"
									"       last_used_at IS NULL OR"
									"       last_used_at < pg_catalog.now() - interval '1 minute'"
									"  FROM bar9.api_keys WHERE key_id = $1",
									1, argtypes),
						  args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "API key lookup failed: %s", SPI_result_code_string(rc));

	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bytea	   *h;

		h = DatumGetByteaPP(SPI_getbinval(tup, desc, 2, &isnull));
		if (!isnull && VARSIZE_ANY_EXHDR(h) == PG_SHA256_DIGEST_LENGTH)
		{
			found = true;
			stored = (const uint8 *) VARDATA_ANY(h);
			*account_id = TextDatumGetCString(SPI_getbinval(tup, desc, 1,
															&isnull));
			*scopes = AuthScopeBits(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 3,
																	 &isnull)));
			revoked = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
			*stale = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		}
	}

	/* hash and compare even for an unknown key: same work either way */
	bar9_sha256(secret, BAR9_KEY_SECRET_CHARS, digest);
	match = auth_equal_ct(digest, stored, PG_SHA256_DIGEST_LENGTH);
	return found && match && !revoked;
}

/* Check a presented key (see auth.h). */
bool
auth_check_key(const char *key, size_t len, AuthResult *out)
{
	char		key_id[AUTH_KEY_ID_LEN + 1];
	const char *secret;
	char	   *account_id = NULL;
	int			scopes = 0;
	bool		stale = false;

	if (!AuthParseKey(key, len, key_id, &secret))
		return false;
	if (!AuthVerify(key_id, secret, &account_id, &scopes, &stale))
		return false;

	if (stale)
	{
		static SPIPlanPtr citus_touch_plan = NULL;
		Oid			argtypes[2] = {TEXTOID, TIMESTAMPTZOID};
		Datum		args[2];
		int			rc;

		/*
		 * At most once a minute per key, and never waiting: when another
		 * transaction holds the key's row (it is touching it too, or it is
		 * revoking it), this request skips the touch rather than queue
		 * behind it.  On Citus api_keys is a reference table, which takes
		 * no row lock clause: the touch is a plain update (it may wait for
		 * another touch of the same key, once a minute at most).
		 */
		args[0] = CStringGetTextDatum(key_id);
		args[1] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		if (bar9_citus_distributed())
			rc = SPI_execute_plan(bar9_plan(&citus_touch_plan,
											"UPDATE bar9.api_keys SET last_used_at = $2"
											" WHERE key_id = $1 AND (last_used_at IS NULL OR"
											"       last_used_at < $2 - interval '1 minute')",
											2, argtypes),
								  args, NULL, false, 0);
		else
			rc = SPI_execute_plan(bar9_plan(&key_touch_plan,
											"UPDATE bar9.api_keys SET last_used_at = pg_catalog.now()"
											" WHERE key_id = (SELECT k.key_id FROM bar9.api_keys k"
											"   WHERE k.key_id = $1 AND (k.last_used_at IS NULL OR"
											"         k.last_used_at < pg_catalog.now() - interval '1 minute')"
											"   FOR NO KEY UPDATE SKIP LOCKED)",
											1, argtypes),
								  args, NULL, false, 0);
		if (rc != SPI_OK_UPDATE)
			elog(ERROR, "API key update failed: %s", SPI_result_code_string(rc));
	}

	out->account_id = account_id;
	out->key_id = pstrdup(key_id);
	out->scopes = scopes;
	return true;
}

/* Trim white space at both ends; returns a palloc'd copy. */
static char *
AuthTrim(const char *s)
{
	const char *end = s + strlen(s);

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' ||
		   *s == '\v' || *s == '\f')
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' ||
					   end[-1] == '\r' || end[-1] == '\v' || end[-1] == '\f'))
		end--;
	return pnstrdup(s, end - s);
}

/* Error unless s (trimmed) has 1 to 200 characters; what names it. */
static char *
AuthCheckName(const char *s, const char *what)
{
	char	   *t = AuthTrim(s);
	int			n = pg_mbstrlen(t);

	if (n < 1 || n > AUTH_MAX_NAME_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be 1 to %d characters after trimming white space",
						what, AUTH_MAX_NAME_CHARS)));
	return t;
}

/*
 * The account_no of an account, the column every account's rows are
 * distributed by (bar9.distribute()); when there is no such account, 0
 * if missing_ok (account numbers start at 1), else error 42704.  SPI must
 * be connected.  bar9.accounts is a reference table: the lookup is local on
 * every node.
 */
int32
bar9_account_no(const char *account_id, bool missing_ok)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	int			rc;

	args[0] = CStringGetTextDatum(account_id);
	/* a fresh snapshot (an account made earlier in this statement) if allowed */
	rc = SPI_execute_plan(bar9_plan(&plan,
									"SELECT account_no FROM bar9.accounts"
									" WHERE account_id = $1",
									1, argtypes),
						  args, NULL, IsInParallelMode(), 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "account lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1 && missing_ok)
		return 0;
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("account \"%s\" does not exist", account_id)));
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

PG_FUNCTION_INFO_V1(bar9_create_account);

/* SQL: bar9.create_account(name text) -> text, the new account's id. */
Datum
bar9_create_account(PG_FUNCTION_ARGS)
{
	char	   *name = AuthCheckName(text_to_cstring(PG_GETARG_TEXT_PP(0)),
									 "account name");
	char	   *id = bar9_new_id("acct_");
	Oid			argtypes[3] = {TEXTOID, TEXTOID, INT4OID};
	Datum		args[3];
	bool		isnull;
	int			rc;

	SPI_connect();

	/*
	 * Its number first, then the rows: no function in a distributed write.
	 * Accounts are created on the Citus coordinator (an operator's job):
	 * account_no_seq is the coordinator's alone.
	 */
	rc = SPI_execute("SELECT pg_catalog.nextval('bar9.account_no_seq')::int4",
					 false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not number the account: %s",
			 SPI_result_code_string(rc));
	args[0] = CStringGetTextDatum(id);
	args[1] = CStringGetTextDatum(name);
	args[2] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
							&isnull);
	rc = SPI_execute_with_args("INSERT INTO bar9.accounts (account_id, name, account_no)"
							   " VALUES ($1, $2, $3)",
							   3, argtypes, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not insert account: %s", SPI_result_code_string(rc));
	rc = SPI_execute_with_args("INSERT INTO bar9.account_counters (account_no)"
							   " VALUES ($3)",
							   3, argtypes, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not insert account: %s", SPI_result_code_string(rc));
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(id));
}

PG_FUNCTION_INFO_V1(bar9_create_api_key);

/*
 * The scopes of a new key as stored: the known names of arr (text[], one
 * dimension, no null, at least one), each once, in canonical order.
 */
static ArrayType *
AuthCanonicalScopes(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	int			j;
	int			bits = 0;
	Datum		scope_datums[lengthof(auth_scopes)];
	int			nscopes = 0;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scopes must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		char	   *s;
		bool		known = false;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("scopes must not contain null")));
		s = TextDatumGetCString(elems[i]);
		for (j = 0; j < lengthof(auth_scopes); j++)
		{
			if (strcmp(s, auth_scopes[j].name) == 0)
			{
				bits |= auth_scopes[j].bit;
				known = true;
			}
		}
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown scope \"%s\"", s),
					 errhint("The scopes are marketing:channels:read, marketing:channels:write and marketing:channels:send.")));
	}
	if (bits == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an API key needs at least one scope")));
	for (j = 0; j < lengthof(auth_scopes); j++)
	{
		if (bits & auth_scopes[j].bit)
			scope_datums[nscopes++] = CStringGetTextDatum(auth_scopes[j].name);
	}
	return construct_array(scope_datums, nscopes, TEXTOID, -1, false,
						   TYPALIGN_INT);
}

/* The SHA-256 of a key's secret part, as the bytea api_keys keeps. */
static bytea *
AuthSecretHash(const char *secret)
{
	bytea	   *hash = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	SET_VARSIZE(hash, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	bar9_sha256(secret, strlen(secret), (uint8 *) VARDATA(hash));
	return hash;
}

/*
 * SQL: bar9.create_api_key(account_id text, scopes text[], label text
 * DEFAULT NULL) -> text, the whole key (shown once; only its hash is kept).
 */
Datum
bar9_create_api_key(PG_FUNCTION_ARGS)
{
	char	   *account_id;
	ArrayType  *scopes;
	char	   *label = NULL;
	char	   *key_id;
	char		secret[BAR9_KEY_SECRET_CHARS + 1];
	Oid			argtypes[5] = {TEXTOID, TEXTOID, BYTEAOID, TEXTARRAYOID, TEXTOID};
	Datum		args[5];
	char		nullflags[5] = {' ', ' ', ' ', ' ', ' '};
	int			rc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("account_id and scopes must not be null")));
	account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!PG_ARGISNULL(2))
		label = AuthCheckName(text_to_cstring(PG_GETARG_TEXT_PP(2)), "label");
	scopes = AuthCanonicalScopes(PG_GETARG_ARRAYTYPE_P(1));

	key_id = bar9_new_id("key_");
	bar9_random_base62(secret, BAR9_KEY_SECRET_CHARS);
	secret[BAR9_KEY_SECRET_CHARS] = '\0';

	args[0] = CStringGetTextDatum(account_id);
	args[1] = CStringGetTextDatum(key_id);
	args[2] = PointerGetDatum(AuthSecretHash(secret));
	args[3] = PointerGetDatum(scopes);
	args[4] = label ? CStringGetTextDatum(label) : (Datum) 0;
	if (label == NULL)
		nullflags[4] = 'n';

	SPI_connect();
	rc = SPI_execute_with_args("SELECT 1 FROM bar9.accounts WHERE account_id = $1"
							   " FOR KEY SHARE",
							   1, argtypes, args, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "account lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("account \"%s\" does not exist", account_id)));
	rc = SPI_execute_with_args("INSERT INTO bar9.api_keys"
							   " (account_id, key_id, secret_sha256, scopes, label)"
							   " VALUES ($1, $2, $3, $4, $5)",
							   5, argtypes, args, nullflags, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not insert API key: %s", SPI_result_code_string(rc));
	SPI_finish();

	PG_RETURN_TEXT_P(cstring_to_text(psprintf("bar9_%s_%s", key_id, secret)));
}

PG_FUNCTION_INFO_V1(bar9_revoke_api_key);

/*
 * SQL: bar9.revoke_api_key(api_key text) -> void.  Takes the whole key or
 * its public id ("key_..."); revoking a revoked key changes nothing.
 */
Datum
bar9_revoke_api_key(PG_FUNCTION_ARGS)
{
	text	   *arg = PG_GETARG_TEXT_PP(0);
	char	   *s = text_to_cstring(arg);
	char		key_id[AUTH_KEY_ID_LEN + 1];
	const char *secret;
	Oid			argtypes[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		args[2];
	int			rc;

	if (AuthParseKey(s, strlen(s), key_id, &secret))
	{
		char	   *account_id;
		int			scopes;
		bool		stale;

		/* a whole key must be the real one, not just carry a known id */
		SPI_connect();
		if (!AuthVerify(key_id, secret, &account_id, &scopes, &stale))
		{
			/* revoked keys still match their hash; look again without that */
			args[0] = CStringGetTextDatum(key_id);
			rc = SPI_execute_with_args("SELECT secret_sha256 FROM bar9.api_keys"
									   " WHERE key_id = $1",
									   1, argtypes, args, NULL, true, 1);
			if (rc == SPI_OK_SELECT && SPI_processed == 1)
			{
				bool		isnull;
				bytea	   *h = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
															  SPI_tuptable->tupdesc,
															  1, &isnull));
				uint8		digest[PG_SHA256_DIGEST_LENGTH];

				bar9_sha256(secret, BAR9_KEY_SECRET_CHARS, digest);
				if (!isnull &&
					VARSIZE_ANY_EXHDR(h) == PG_SHA256_DIGEST_LENGTH &&
					auth_equal_ct(VARDATA_ANY(h), digest,
								  PG_SHA256_DIGEST_LENGTH))
				{
					SPI_finish();
					PG_RETURN_VOID();	/* already revoked */
				}
			}
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("API key does not exist")));
		}
		SPI_finish();
	}
	else if (api_valid_id(s, "key_"))
		strlcpy(key_id, s, sizeof(key_id));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the value is neither an API key nor an API key id"),
				 errhint("Pass the whole key (bar9_key_..._...) or its id (key_...).")));

	/* the time as a parameter: no function in a distributed write */
	args[0] = CStringGetTextDatum(key_id);
	args[1] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	SPI_connect();
	rc = SPI_execute_with_args("UPDATE bar9.api_keys"
							   "   SET revoked_at = coalesce(revoked_at, $2)"
							   " WHERE key_id = $1",
							   2, argtypes, args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "could not revoke API key: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("API key \"%s\" does not exist", key_id)));
	SPI_finish();
	PG_RETURN_VOID();
}
