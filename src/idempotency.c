/*
 * idempotency.c
 *		Replaying POST responses by Idempotency-Key.
 *
 * Rows of bar9.idempotency_keys are keyed (account_id, idem_key) and hold the
 * request's method, target (path and query as received) and the SHA-256 of
 * its body, with the status and body of the response.  "Still running" is
 * detected without blocking by a transaction-level advisory lock on a 64-bit
 * hash of (account_id, key), taken on the node that holds the account's
 * rows: a SELECT of the account's bar9.account_counters row calls
 * pg_try_advisory_xact_lock, so on Citus it runs on the account's shard, in
 * the request's transaction there, whichever node took the request (on a
 * single node it is the local lock it always was).  The request holding it
 * stores its response in the same transaction as its work, on the same
 * shard, so when the lock is free the response is either committed and
 * visible, or was never stored (rolled back or 5xx) and the request may run
 * again.  Rows older than 24 hours are ignored, replaced when their key is
 * used again, and removed by bar9.purge_idempotency_keys().
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "api.h"
#include "auth.h"
#include "cluster.h"
#include "idempotency.h"

/* Seed of the advisory lock hash: "bar9" and "idem" in ASCII. */
#define IDEMPOTENCY_LOCK_SEED	UINT64CONST(0x6261723969646d65)

static SPIPlanPtr lock_plan = NULL;
static SPIPlanPtr lookup_plan = NULL;
static SPIPlanPtr store_plan = NULL;

/*
 * Try to take the request's lock on (account, key) without waiting, on the
 * node of the account's shard (bar9_lock_on_shard); false when another
 * transaction holds it.
 */
static bool
IdempotencyTryLock(const char *account_id, int32 account_no, const char *key)
{
	StringInfoData lockkey;
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		args[2];
	bool		acquired;

	initStringInfo(&lockkey);
	appendStringInfoString(&lockkey, account_id);
	appendStringInfoChar(&lockkey, '\n');
	appendStringInfoString(&lockkey, key);
	args[0] = Int64GetDatum((int64) hash_bytes_extended((const unsigned char *) lockkey.data,
														 lockkey.len,
														 IDEMPOTENCY_LOCK_SEED));
	args[1] = Int32GetDatum(account_no);
	if (!bar9_lock_on_shard(&lock_plan,
							"SELECT pg_catalog.pg_try_advisory_xact_lock($1)"
							"  FROM bar9.account_counters"
							" WHERE account_no = $2 FOR KEY SHARE",
							2, argtypes, args, &acquired))
		elog(ERROR, "account \"%s\" has no counters row", account_id);
	return acquired;
}

/* Validate the key, lock it, and replay or refuse (see idempotency.h). */
bool
idempotency_begin(ApiRequest *req, ApiResponse *resp, const char *body,
				  int body_len, IdempotencyState *st)
{
	const char *key = req->idempotency_key;
	int			klen = strlen(key);
	int			nchars = pg_mbstrlen_with_len(key, klen);
	int32		account_no;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, INT4OID};
	Datum		args[3];
	int			rc;

	st->active = false;
	if (nchars < 1 || nchars > IDEMPOTENCY_KEY_MAX_CHARS)
	{
		api_error(resp, 400, "invalid_parameter",
				  "Idempotency-Key must be 1 to 255 characters long",
				  "Idempotency-Key");
		return false;
	}

	/* one request per (account, key) at a time, without waiting */
	account_no = bar9_account_no(req->account_id, false);
	st->account_no = account_no;
	if (!IdempotencyTryLock(req->account_id, account_no, key))
	{
		api_error(resp, 409, "idempotency_key_in_use",
				  "A request with this Idempotency-Key is still being processed; retry later",
				  NULL);
		return false;
	}

	bar9_sha256(body, body_len, st->body_sha256);

	args[0] = CStringGetTextDatum(req->account_id);
	args[1] = CStringGetTextDatum(key);
	args[2] = Int32GetDatum(account_no);
	rc = SPI_execute_plan(bar9_plan(&lookup_plan,
									"SELECT method, path, body_sha256, status, response_body"
									"  FROM bar9.idempotency_keys"
									" WHERE account_id = $1 AND idem_key = $2"
									"   AND account_no = $3"
									"   AND created_at > pg_catalog.now() - interval '24 hours'",
									3, argtypes),
						  args, NULL, false, 1);	/* a snapshot taken after the lock */
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "idempotency lookup failed: %s", SPI_result_code_string(rc));

	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *method = SPI_getvalue(tup, desc, 1);
		char	   *path = SPI_getvalue(tup, desc, 2);
		bool		isnull;
		bytea	   *hash = DatumGetByteaPP(SPI_getbinval(tup, desc, 3, &isnull));
		int32		status = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		char	   *rbody = SPI_getvalue(tup, desc, 5);
		bool		same = strcmp(method, req->method) == 0 &&
			strcmp(path, req->target) == 0 &&
			VARSIZE_ANY_EXHDR(hash) == PG_SHA256_DIGEST_LENGTH &&
			memcmp(VARDATA_ANY(hash), st->body_sha256,
				   PG_SHA256_DIGEST_LENGTH) == 0;

		if (same && rbody == NULL)
			api_error(resp, 409, "idempotency_answer_not_stored",
					  psprintf("The request with this Idempotency-Key already ran (status %d), but its answer was larger than %d kB and was not kept; read the result with GET",
							   status, IDEMPOTENCY_ANSWER_MAX_BYTES / 1024),
					  NULL);
		else if (same)
		{
			resp->status = status;
			resetStringInfo(&resp->body);
			appendStringInfoString(&resp->body, rbody);
			api_set_header(resp, "idempotent-replayed", "true");
		}
		else
			api_error(resp, 422, "idempotency_key_reused",
					  "This Idempotency-Key was already used with a different request; keys can only be reused with the same method, path and body",
					  NULL);
		return false;
	}

	st->active = true;
	return true;
}

/* Store the response of a new key, unless it is a 5xx; a large body is not kept. */
void
idempotency_finish(ApiRequest *req, ApiResponse *resp, IdempotencyState *st)
{
	Oid			argtypes[10] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, BYTEAOID,
	INT4OID, TEXTOID, TIMESTAMPTZOID, INT4OID, TIMESTAMPTZOID};
	Datum		args[10];
	char		nulls[10] = "          ";
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	bytea	   *hash;
	int			rc;

	if (!st->active || resp->status >= 500)
		return;

	hash = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	SET_VARSIZE(hash, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	memcpy(VARDATA(hash), st->body_sha256, PG_SHA256_DIGEST_LENGTH);

	args[0] = CStringGetTextDatum(req->account_id);
	args[1] = CStringGetTextDatum(req->idempotency_key);
	args[2] = CStringGetTextDatum(req->method);
	args[3] = CStringGetTextDatum(req->target);
	args[4] = PointerGetDatum(hash);
	args[5] = Int32GetDatum(resp->status);
	args[6] = PointerGetDatum(cstring_to_text_with_len(resp->body.data,
														 resp->body.len));
	nulls[6] = resp->body.len > IDEMPOTENCY_ANSWER_MAX_BYTES ? 'n' : ' ';
	/* no function in the distributed write: its values come as parameters */
	args[7] = TimestampTzGetDatum(now);
	args[8] = Int32GetDatum(st->account_no);
	/* forgotten after 24 hours: the older answer may be replaced */
	args[9] = TimestampTzGetDatum(now - 24 * USECS_PER_HOUR);
	rc = SPI_execute_plan(bar9_plan(&store_plan,
									"INSERT INTO bar9.idempotency_keys AS k"
									" (account_id, idem_key, method, path, body_sha256,"
									"  status, response_body, created_at, account_no)"
									" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
									" ON CONFLICT (account_id, idem_key, account_no) DO UPDATE"
									" SET method = excluded.method, path = excluded.path,"
									"     body_sha256 = excluded.body_sha256,"
									"     status = excluded.status,"
									"     response_body = excluded.response_body,"
									"     created_at = excluded.created_at"
									" WHERE k.created_at <= $10",
									10, argtypes),
						  args, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "idempotency store failed: %s", SPI_result_code_string(rc));
}
