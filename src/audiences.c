/*
 * audiences.c
 *		Audiences ("marketing channels"): typed SQL functions and the HTTP
 *		routes POST/GET /v1/marketing/channels and GET/PATCH/DELETE
 *		/v1/marketing/channels/:channel_id.
 *
 * An audience row is never removed: DELETE sets deleted_at (its broadcasts
 * and their SMS keep pointing at it, as history), zeroes subscriber_count
 * and leaves its membership rows to the worker, which removes them in
 * batches (bar9.purge_deleted_audiences).  Every query here filters on
 * deleted_at IS NULL, so a deleted audience is 404 everywhere.
 *
 * subscriber_count and sms_count are columns kept exact by the writers:
 * every change of membership first locks the audience row (audience_load
 * with lock = true), then changes audience_numbers and the count in the same
 * transaction, counting only the rows really inserted or deleted.  A list
 * reads them in O(1) per audience.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "api.h"
#include "auth.h"
#include "audiences.h"
#include "fanout.h"
#include "ids.h"
#include "worker.h"

/* Longest audience name, in characters (after trimming). */
#define AUDIENCE_NAME_MAX_CHARS	200

/* Most rows list_audiences returns in one call. */
#define AUDIENCE_SQL_MAX_LIMIT	1000

/* The columns every query returns, in Audience order. */
#define AUDIENCE_COLS \
	"audience_id, name, subscriber_count, sms_count, created_at, updated_at," \
	" account_no, last_member_seq"

static SPIPlanPtr load_plan = NULL;
static SPIPlanPtr load_lock_plan = NULL;
static SPIPlanPtr create_plan = NULL;
static SPIPlanPtr cursor_plan = NULL;
static SPIPlanPtr list_plan = NULL;
static SPIPlanPtr list_after_plan = NULL;
static SPIPlanPtr rename_plan = NULL;
static SPIPlanPtr delete_plan = NULL;
static SPIPlanPtr purge_plan = NULL;
static SPIPlanPtr account_plan = NULL;

/* ---------------------------------------------------------------------
 * Core: used by both the SQL functions and the route handlers
 * ---------------------------------------------------------------------
 */

/* Fill out from row i of rows (columns AUDIENCE_COLS). */
static void
AudienceFromRow(SPITupleTable *rows, uint64 i, Audience *out)
{
	HeapTuple	tup = rows->vals[i];
	TupleDesc	desc = rows->tupdesc;
	bool		isnull;

	/* text columns, never NULL: no output-function lookup per value */
	out->audience_id = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
	out->name = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
	out->subscriber_count = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	out->sms_count = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	out->created_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
	out->updated_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 6, &isnull));
	out->account_no = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
	out->last_member_seq = DatumGetInt64(SPI_getbinval(tup, desc, 8, &isnull));
}

/* Load a live audience of the account (see audiences.h). */
bool
audience_load(const char *account_id, const char *audience_id, bool lock,
			  Audience *out)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, INT4OID};
	Datum		args[3];
	SPIPlanPtr	plan;
	int			rc;

	/* account_no too: on Citus, a lock on one shard, not on all */
	if (lock)
		plan = bar9_plan(&load_lock_plan,
						 "SELECT " AUDIENCE_COLS " FROM bar9.audiences"
						 " WHERE account_id = $1 AND audience_id = $2"
						 "   AND account_no = $3"
						 "   AND deleted_at IS NULL FOR NO KEY UPDATE",
						 3, argtypes);
	else
		plan = bar9_plan(&load_plan,
						 "SELECT " AUDIENCE_COLS " FROM bar9.audiences"
						 " WHERE account_id = $1 AND audience_id = $2"
						 "   AND account_no = $3 AND deleted_at IS NULL",
						 3, argtypes);
	args[0] = CStringGetTextDatum(account_id);
	args[1] = CStringGetTextDatum(audience_id);
	args[2] = Int32GetDatum(bar9_account_no(account_id, true));
	rc = SPI_execute_plan(plan, args, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "audience lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		return false;
	AudienceFromRow(SPI_tuptable, 0, out);
	return true;
}

/* Is c (a code point) white space, ASCII or Unicode? */
static bool
AudienceIsSpace(pg_wchar c)
{
	return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 ||
		c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
		c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 ||
		c == 0xFEFF;
}

/*
 * Trim white space off raw and check it has 1 to 200 characters.  Returns
 * the trimmed copy, or NULL with *why set to a message for the client.
 */
static char *
AudienceCheckName(const char *raw, const char **why)
{
	const unsigned char *s = (const unsigned char *) raw;
	const unsigned char *e = s + strlen(raw);
	bool		utf8 = (GetDatabaseEncoding() == PG_UTF8);
	int			nchars;

	/* leading */
	while (s < e)
	{
		int			l = utf8 ? pg_utf_mblen(s) : 1;

		if (l > e - s ||
			!AudienceIsSpace(utf8 ? utf8_to_unicode(s) : (pg_wchar) *s) ||
			(!utf8 && *s >= 0x80))
			break;
		s += l;
	}
	/* trailing */
	while (e > s)
	{
		const unsigned char *c = e - 1;

		if (utf8)
		{
			while (c > s && (*c & 0xC0) == 0x80)
				c--;
		}
		if ((!utf8 && *c >= 0x80) ||
			!AudienceIsSpace(utf8 ? utf8_to_unicode(c) : (pg_wchar) *c))
			break;
		e = c;
	}

	nchars = pg_mbstrlen_with_len((const char *) s, e - s);
	if (nchars < 1)
	{
		*why = "name must not be empty";
		return NULL;
	}
	if (nchars > AUDIENCE_NAME_MAX_CHARS)
	{
		*why = "name must be at most 200 characters long";
		return NULL;
	}
	return pnstrdup((const char *) s, e - s);
}

/* Insert a new audience; name already checked. */
static void
AudienceCreate(const char *account_id, const char *name, Audience *out)
{
	Oid			argtypes[5] = {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT4OID};
	Datum		args[5];
	int			rc;

	/* values computed here: no volatile function in a distributed write */
	args[0] = CStringGetTextDatum(account_id);
	args[1] = CStringGetTextDatum(bar9_new_id("mkt_"));
	args[2] = CStringGetTextDatum(name);
	args[3] = TimestampTzGetDatum(GetCurrentTimestamp());
	args[4] = Int32GetDatum(bar9_account_no(account_id, false));
	rc = SPI_execute_plan(bar9_plan(&create_plan,
									"INSERT INTO bar9.audiences"
									" (account_id, audience_id, name, created_at, updated_at,"
									"  account_no)"
									" VALUES ($1, $2, $3, $4, $4, $5)"
									" RETURNING " AUDIENCE_COLS,
									5, argtypes),
						  args, NULL, false, 0);
	if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not insert audience: %s", SPI_result_code_string(rc));
	AudienceFromRow(SPI_tuptable, 0, out);
}

/*
 * The audiences of the account: at most limit + 1 rows, newest first, after
 * the audience after_id if not NULL.  NULL when after_id is not an audience
 * of the account (deleted ones still count: a client paging through a list
 * while one is deleted is not stopped).
 */
static SPITupleTable *
AudienceList(const char *account_id, int limit, const char *after_id)
{
	Oid			argtypes[5] = {TEXTOID, INT4OID, INT4OID, TIMESTAMPTZOID, TEXTOID};
	Datum		args[5];
	int			rc;

	/* account_no too: on Citus, one shard asked, not all */
	args[0] = CStringGetTextDatum(account_id);
	args[1] = Int32GetDatum(limit + 1);
	args[2] = Int32GetDatum(bar9_account_no(account_id, true));

	if (after_id == NULL)
	{
		rc = SPI_execute_plan(bar9_plan(&list_plan,
										"SELECT " AUDIENCE_COLS " FROM bar9.audiences"
										" WHERE account_id = $1 AND deleted_at IS NULL"
										"   AND account_no = $3"
										" ORDER BY created_at DESC, audience_id DESC"
										" LIMIT $2",
										3, argtypes),
							  args, NULL, false, 0);
	}
	else
	{
		Oid			ctypes[3] = {TEXTOID, TEXTOID, INT4OID};
		Datum		cargs[3];
		bool		isnull;

		cargs[0] = args[0];
		cargs[1] = CStringGetTextDatum(after_id);
		cargs[2] = args[2];
		rc = SPI_execute_plan(bar9_plan(&cursor_plan,
										"SELECT created_at FROM bar9.audiences"
										" WHERE account_id = $1 AND audience_id = $2"
										"   AND account_no = $3",
										3, ctypes),
							  cargs, NULL, false, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "audience lookup failed: %s", SPI_result_code_string(rc));
		if (SPI_processed != 1)
			return NULL;
		args[3] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								1, &isnull);
		args[4] = cargs[1];
		rc = SPI_execute_plan(bar9_plan(&list_after_plan,
										"SELECT " AUDIENCE_COLS " FROM bar9.audiences"
										" WHERE account_id = $1 AND deleted_at IS NULL"
										"   AND account_no = $3"
										"   AND (created_at, audience_id) < ($4, $5)"
										" ORDER BY created_at DESC, audience_id DESC"
										" LIMIT $2",
										5, argtypes),
							  args, NULL, false, 0);
	}
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "audience list failed: %s", SPI_result_code_string(rc));
	return SPI_tuptable;
}

/* Rename a live audience; false when there is none. */
static bool
AudienceRename(const char *account_id, const char *audience_id,
			   const char *name, Audience *out)
{
	Oid			argtypes[5] = {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT4OID};
	Datum		args[5];
	int			rc;

	args[0] = CStringGetTextDatum(account_id);
	args[1] = CStringGetTextDatum(audience_id);
	args[2] = CStringGetTextDatum(name);
	args[3] = TimestampTzGetDatum(GetCurrentTimestamp());
	args[4] = Int32GetDatum(bar9_account_no(account_id, false));
	rc = SPI_execute_plan(bar9_plan(&rename_plan,
									"UPDATE bar9.audiences"
									"   SET name = $3, updated_at = $4"
									" WHERE account_id = $1 AND audience_id = $2"
									"   AND account_no = $5 AND deleted_at IS NULL"
									" RETURNING " AUDIENCE_COLS,
									5, argtypes),
						  args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not rename audience: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		return false;
	AudienceFromRow(SPI_tuptable, 0, out);
	return true;
}

/*
 * Delete a live audience: mark it deleted, zero its count and leave its
 * numbers to the worker (audience_purges).  False when there is none.
 */
static bool
AudienceDelete(const char *account_id, const char *audience_id)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, INT4OID};
	Datum		args[4];
	int			rc;

	args[0] = CStringGetTextDatum(account_id);
	args[1] = CStringGetTextDatum(audience_id);
	args[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	args[3] = Int32GetDatum(bar9_account_no(account_id, false));

	/* locks the audience row first, like every membership change */
	rc = SPI_execute_plan(bar9_plan(&delete_plan,
									"UPDATE bar9.audiences"
									"   SET deleted_at = $3, updated_at = $3,"
									"       subscriber_count = 0"
									" WHERE account_id = $1 AND audience_id = $2"
									"   AND account_no = $4 AND deleted_at IS NULL",
									4, argtypes),
						  args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "could not delete audience: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		return false;

	/*
	 * Its unfinished broadcasts become 'canceled' and their unclaimed SMS
	 * too (fanout.c), in this transaction: holding the audience row, we
	 * wait for a fan-out batch of it to commit, and every later batch sees
	 * 'canceled' and stops.  The broadcasts rows are kept as history.
	 */
	bar9_fanout_cancel_audience(account_id, audience_id);

	/*
	 * Its numbers are removed by the worker, in batches (a 1M-number
	 * audience would otherwise hold this request for seconds): every route
	 * checks the audience first, so they are gone from the API already.
	 */
	rc = SPI_execute_plan(bar9_plan(&purge_plan,
									"INSERT INTO bar9.audience_purges"
									" (account_id, audience_id, account_no)"
									" VALUES ($1, $2, $4)",
									4, argtypes),
						  args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not queue the audience's numbers for removal: %s",
			 SPI_result_code_string(rc));
	bar9_wake_worker();
	return true;
}

/* Write ch as an audience object. */
void
audience_json(JsonOut *jo, const Audience *ch)
{
	json_out_begin_object(jo);
	json_out_kv_string(jo, "id", ch->audience_id);
	json_out_kv_string(jo, "object", "marketing_channel");
	json_out_kv_string(jo, "name", ch->name);
	json_out_kv_int64(jo, "subscriber_count", ch->subscriber_count);
	json_out_kv_int64(jo, "message_count", ch->sms_count);
	json_out_kv_timestamptz(jo, "created_at", ch->created_at);
	json_out_kv_timestamptz(jo, "updated_at", ch->updated_at);
	json_out_end_object(jo);
}

/* ---------------------------------------------------------------------
 * Route handlers
 * ---------------------------------------------------------------------
 */

static const char *const name_only[] = {"name", NULL};

/* Read and check "name" of the body; NULL after a 400 (or when absent). */
static char *
AudienceBodyName(ApiRequest *req, ApiResponse *resp, bool required, bool *ok)
{
	char	   *raw;
	char	   *name;
	const char *why;

	*ok = false;
	if (!api_body_check_keys(req, resp, name_only, required ? "name" : NULL) ||
		!api_body_string(req, resp, "name", required, &raw))
		return NULL;
	*ok = true;
	if (raw == NULL)
		return NULL;
	name = AudienceCheckName(raw, &why);
	if (name == NULL)
	{
		api_error(resp, 400, "invalid_parameter", why, "name");
		*ok = false;
	}
	return name;
}

/* POST /v1/marketing/channels */
void
audiences_create_handler(ApiRequest *req, ApiResponse *resp)
{
	bool		ok;
	char	   *name = AudienceBodyName(req, resp, true, &ok);
	Audience	ch;

	if (!ok)
		return;
	AudienceCreate(req->account_id, name, &ch);
	resp->status = 201;
	audience_json(&resp->json, &ch);
}

/* GET /v1/marketing/channels */
void
audiences_list_handler(ApiRequest *req, ApiResponse *resp)
{
	int			limit;
	const char *after;
	SPITupleTable *rows = NULL;
	uint64		i;
	uint64		n;

	if (!api_page_params(req, resp, &limit, &after))
		return;
	if (after == NULL || api_valid_id(after, "mkt_"))
		rows = AudienceList(req->account_id, limit, after);
	if (rows == NULL)
	{
		char	   *msg = psprintf("No such marketing_channel: '%s'", after);

		api_error(resp, 400, "invalid_parameter", msg, "starting_after");
		return;
	}

	n = rows->numvals;
	resp->status = 200;
	api_list_begin(resp);
	for (i = 0; i < n && i < (uint64) limit; i++)
	{
		Audience	ch;

		AudienceFromRow(rows, i, &ch);
		audience_json(&resp->json, &ch);
	}
	api_list_end(resp, n > (uint64) limit);
}

/* GET /v1/marketing/channels/:channel_id */
void
audiences_get_handler(ApiRequest *req, ApiResponse *resp)
{
	const char *id = api_path_param(req, "channel_id");
	Audience	ch;

	if (!api_valid_id(id, "mkt_") ||
		!audience_load(req->account_id, id, false, &ch))
	{
		api_not_found(resp, "marketing_channel", id);
		return;
	}
	resp->status = 200;
	audience_json(&resp->json, &ch);
}

/* PATCH /v1/marketing/channels/:channel_id (only name can change) */
void
audiences_update_handler(ApiRequest *req, ApiResponse *resp)
{
	const char *id = api_path_param(req, "channel_id");
	bool		ok;
	char	   *name;
	Audience	ch;
	bool		found;

	if (!api_valid_id(id, "mkt_"))
	{
		api_not_found(resp, "marketing_channel", id);
		return;
	}
	name = AudienceBodyName(req, resp, false, &ok);
	if (!ok)
		return;
	if (name != NULL)
		found = AudienceRename(req->account_id, id, name, &ch);
	else
		found = audience_load(req->account_id, id, false, &ch);	/* no change */
	if (!found)
	{
		api_not_found(resp, "marketing_channel", id);
		return;
	}
	resp->status = 200;
	audience_json(&resp->json, &ch);
}

/* DELETE /v1/marketing/channels/:channel_id */
void
audiences_delete_handler(ApiRequest *req, ApiResponse *resp)
{
	const char *id = api_path_param(req, "channel_id");

	if (!api_valid_id(id, "mkt_") || !AudienceDelete(req->account_id, id))
	{
		api_not_found(resp, "marketing_channel", id);
		return;
	}
	resp->status = 200;
	json_out_begin_object(&resp->json);
	json_out_kv_string(&resp->json, "id", id);
	json_out_kv_string(&resp->json, "object", "marketing_channel");
	json_out_kv_bool(&resp->json, "deleted", true);
	json_out_end_object(&resp->json);
}

/* ---------------------------------------------------------------------
 * Typed SQL functions
 * ---------------------------------------------------------------------
 */

/* Error 42704 unless account_id names an account. */
static void
AudienceRequireAccount(const char *account_id)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	int			rc;

	args[0] = CStringGetTextDatum(account_id);
	rc = SPI_execute_plan(bar9_plan(&account_plan,
									"SELECT 1 FROM bar9.accounts WHERE account_id = $1",
									1, argtypes),
						  args, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "account lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("account \"%s\" does not exist", account_id)));
}

/* Raise 42704 for an audience that is not there. */
static void
AudienceNotFound(const char *audience_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("audience \"%s\" does not exist", audience_id)));
}

/* The name of a SQL call, checked, or a 22023 error. */
static char *
AudienceSqlName(text *t)
{
	const char *why;
	char	   *name = AudienceCheckName(text_to_cstring(t), &why);

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid audience name: %s", why),
				 errdetail("A name has 1 to 200 characters after trimming white space.")));
	return name;
}

/* Values of a bar9.audience row for ch. */
static void
AudienceValues(const Audience *ch, Datum *values)
{
	values[0] = CStringGetTextDatum(ch->audience_id);
	values[1] = CStringGetTextDatum(ch->name);
	values[2] = Int64GetDatum(ch->subscriber_count);
	values[3] = Int64GetDatum(ch->sms_count);
	values[4] = TimestampTzGetDatum(ch->created_at);
	values[5] = TimestampTzGetDatum(ch->updated_at);
}

/* A bar9.audience composite Datum for ch, built in memory context cxt. */
static Datum
AudienceDatum(FunctionCallInfo fcinfo, const Audience *ch, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	TupleDesc	desc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	HeapTuple	tup;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	AudienceValues(ch, values);
	tup = heap_form_tuple(desc, values, nulls);
	MemoryContextSwitchTo(old);
	return HeapTupleGetDatum(tup);
}

PG_FUNCTION_INFO_V1(bar9_create_audience);

/* SQL: bar9.create_audience(account_id text, name text) -> bar9.audience */
Datum
bar9_create_audience(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *name = AudienceSqlName(PG_GETARG_TEXT_PP(1));
	Audience	ch;
	Datum		result;

	SPI_connect();
	AudienceRequireAccount(account_id);
	AudienceCreate(account_id, name, &ch);
	result = AudienceDatum(fcinfo, &ch, cxt);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

PG_FUNCTION_INFO_V1(bar9_get_audience);

/* SQL: bar9.get_audience(account_id text, audience_id text) -> bar9.audience */
Datum
bar9_get_audience(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *audience_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Audience	ch;
	Datum		result;

	SPI_connect();
	if (!audience_load(account_id, audience_id, false, &ch))
		AudienceNotFound(audience_id);
	result = AudienceDatum(fcinfo, &ch, cxt);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

PG_FUNCTION_INFO_V1(bar9_list_audiences);

/*
 * SQL: bar9.list_audiences(account_id text, limit int DEFAULT 20,
 * starting_after text DEFAULT NULL) -> SETOF bar9.audience
 */
Datum
bar9_list_audiences(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *account_id;
	int			limit = PG_ARGISNULL(1) ? API_DEFAULT_LIMIT : PG_GETARG_INT32(1);
	char	   *after = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	SPITupleTable *rows;
	uint64		i;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("account_id must not be null")));
	account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (limit < 1 || limit > AUDIENCE_SQL_MAX_LIMIT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("limit must be between 1 and %d", AUDIENCE_SQL_MAX_LIMIT)));

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	rows = AudienceList(account_id, limit - 1, after);
	if (rows == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("starting_after \"%s\" is not an audience of this account",
						after)));
	for (i = 0; i < rows->numvals; i++)
	{
		Audience	ch;
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		AudienceFromRow(rows, i, &ch);
		AudienceValues(&ch, values);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(bar9_rename_audience);

/*
 * SQL: bar9.rename_audience(account_id text, audience_id text, name text)
 * -> bar9.audience
 */
Datum
bar9_rename_audience(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *audience_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *name = AudienceSqlName(PG_GETARG_TEXT_PP(2));
	Audience	ch;
	Datum		result;

	SPI_connect();
	if (!AudienceRename(account_id, audience_id, name, &ch))
		AudienceNotFound(audience_id);
	result = AudienceDatum(fcinfo, &ch, cxt);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

PG_FUNCTION_INFO_V1(bar9_delete_audience);

/* SQL: bar9.delete_audience(account_id text, audience_id text) -> void */
Datum
bar9_delete_audience(PG_FUNCTION_ARGS)
{
	char	   *account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *audience_id = text_to_cstring(PG_GETARG_TEXT_PP(1));

	SPI_connect();
	if (!AudienceDelete(account_id, audience_id))
		AudienceNotFound(audience_id);
	SPI_finish();
	PG_RETURN_VOID();
}
