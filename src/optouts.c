/*
 * optouts.c
 *		The account-wide opt-out list: typed SQL functions for application
 *		code (bar9.add_opt_out, bar9.remove_opt_out, bar9.is_opted_out,
 *		bar9.list_opt_outs) and the routes of /v1/marketing/opt-outs.
 *
 * An opt-out applies at once to every audience of the account: in the same
 * transaction as the insert, the number's queued SMS that no sender has
 * claimed become 'canceled' and the counters of their broadcasts follow.
 * SMS already claimed ('sending') are left to their senders.  The locking
 * protocol that makes this hold against a running fan-out is described in
 * optouts.h.
 *
 * The list is in bar9.e164 order; a re-subscribe (remove) never touches the
 * number's audience memberships, which the opt-out never removed.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "auth.h"
#include "cluster.h"
#include "e164.h"
#include "numbers.h"
#include "optouts.h"
#include "queue.h"

PG_FUNCTION_INFO_V1(bar9_add_opt_out);
PG_FUNCTION_INFO_V1(bar9_remove_opt_out);
PG_FUNCTION_INFO_V1(bar9_is_opted_out_sql);
PG_FUNCTION_INFO_V1(bar9_list_opt_outs);

/* Connect SPI or fail. */
static void
ConnectSPI(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* Check a source argument: "api" or "keyword", else 22023. */
static void
CheckSource(const char *source)
{
	if (strcmp(source, "api") != 0 && strcmp(source, "keyword") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid opt-out source: \"%s\"", source),
				 errdetail("The source of an opt-out is \"api\" or \"keyword\".")));
}

/* Raise 22023 unless account_id names an existing account. */
void
bar9_consent_require_account(const char *account_id)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	int			rc;
	bool		found;

	ConnectSPI();
	bar9_plan(&plan,
			  "SELECT 1 FROM bar9.accounts WHERE account_id = $1",
			  1, argtypes);
	args[0] = CStringGetTextDatum(account_id);
	rc = SPI_execute_plan(plan, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "account lookup failed: %s", SPI_result_code_string(rc));
	found = (SPI_processed == 1);
	SPI_finish();

	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("account \"%s\" does not exist", account_id)));
}

/*
 * Run sql, a SELECT of one row of the account's shard that calls
 * pg_advisory_xact_lock[_shared]($1, $2) with the consent lock's keys and
 * locks the row FOR KEY SHARE (bar9_lock_on_shard: on Citus the lock is
 * taken on the node of the account's shard whichever node runs either
 * side); args[2..] are its own parameters.  Returns whether the row was
 * there (and the lock taken).
 */
static bool
ConsentLockVia(SPIPlanPtr *plan, const char *sql, const char *account_id,
			   int nargs, Oid *argtypes, Datum *args)
{
	args[0] = Int32GetDatum(BAR9_CONSENT_LOCK_CLASS);
	/* the same value as SQL hashtext(account_id) (deterministic collation) */
	args[1] = Int32GetDatum((int32) hash_bytes((const unsigned char *) account_id,
											   strlen(account_id)));
	return bar9_lock_on_shard(plan, sql, nargs, argtypes, args, NULL);
}

/*
 * Take the account's consent lock (see optouts.h) exclusive, for an
 * opt-out, through the account's bar9.account_counters row.  SPI is
 * connected.
 */
void
bar9_consent_lock_exclusive(const char *account_id, int32 account_no)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[3] = {INT4OID, INT4OID, INT4OID};
	Datum		args[3];

	args[2] = Int32GetDatum(account_no);
	if (!ConsentLockVia(&plan,
						"SELECT pg_catalog.pg_advisory_xact_lock($1, $2)"
						"  FROM bar9.account_counters"
						" WHERE account_no = $3 FOR KEY SHARE",
						account_id, 3, argtypes, args))
		elog(ERROR, "account \"%s\" has no counters row", account_id);
}

/*
 * Take the account's consent lock shared, for a fan-out batch of
 * broadcast_id, through the broadcast's row (the fan-out worker may lock
 * it; it may not lock the account's counters).  SPI is connected.  Returns
 * false, taking nothing, when there is no such broadcast.
 */
bool
bar9_consent_lock_shared(const char *account_id, int32 account_no,
						 const char *broadcast_id)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[5] = {INT4OID, INT4OID, TEXTOID, TEXTOID, INT4OID};
	Datum		args[5];

	args[2] = CStringGetTextDatum(account_id);
	args[3] = CStringGetTextDatum(broadcast_id);
	args[4] = Int32GetDatum(account_no);
	return ConsentLockVia(&plan,
						  "SELECT pg_catalog.pg_advisory_xact_lock_shared($1, $2)"
						  "  FROM bar9.broadcasts"
						  " WHERE account_id = $3 AND broadcast_id = $4"
						  "   AND account_no = $5 FOR KEY SHARE",
						  account_id, 5, argtypes, args);
}

/* Copy one opt_outs row (phone_number, source, created_at) into *out. */
static void
RowToOptOut(HeapTuple tuple, TupleDesc tupdesc, OptOut *out)
{
	bool		isnull;

	out->phone_number = DatumGetE164(SPI_getbinval(tuple, tupdesc, 1, &isnull));
	out->source = SPI_getvalue(tuple, tupdesc, 2);
	out->created_at = DatumGetTimestampTz(SPI_getbinval(tuple, tupdesc, 3,
														&isnull));
}

/*
 * Cancel the account's queued SMS to number (no claim covers them: after
 * their broadcast's claim cursor, or put back for a retry and not claimed
 * again) and fix the counters of their broadcasts; returns how many SMS
 * were canceled.  SPI is connected.
 *
 * One probe of the primary key of sms_queue per unfinished broadcast of
 * the account, whose rows are locked first, in key order (queue.h): no
 * claim moves a cursor meanwhile.
 */
static int64
CancelQueuedSms(const char *account_id, uint64 number)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2];
	BroadcastSet set;
	int64		canceled = 0;
	uint64		n;
	SPITupleTable *rows;

	bar9_plan(&plan,
			  "SELECT account_no, broadcast_no, claim_cursor"
			  "  FROM bar9.broadcasts"
			  " WHERE account_id = $1 AND account_no = $2"
			  "   AND status IN ('pending', 'queued', 'sending')"
			  "   AND n_queued > 0"
			  " ORDER BY account_no, broadcast_no"
			  "   FOR NO KEY UPDATE",
			  2, argtypes);
	args[0] = CStringGetTextDatum(account_id);
	args[1] = Int32GetDatum(bar9_account_no(account_id, true));
	if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not lock the broadcasts of an opt-out");
	rows = SPI_tuptable;
	n = SPI_processed;
	bar9_broadcasts_init(&set);
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = rows->vals[i];
		bool		isnull;
		bool		no_cursor;
		Datum		cursor = SPI_getbinval(tup, rows->tupdesc, 3, &no_cursor);
		Broadcast  *b;
		int64		k;

		b = bar9_broadcasts_add(&set,
								DatumGetInt32(SPI_getbinval(tup, rows->tupdesc, 1, &isnull)),
								DatumGetInt32(SPI_getbinval(tup, rows->tupdesc, 2, &isnull)));
		b->found = true;
		k = bar9_sms_cancel_unclaimed(b->account_no, b->broadcast_no,
									  !no_cursor,
									  no_cursor ? 0 : DatumGetE164(cursor),
									  &number);
		bar9_broadcast_move(b, SMS_QUEUED, SMS_CANCELED, k);
		canceled += k;
	}
	bar9_broadcasts_count(&set);
	return canceled;
}

/*
 * Put number on the account's opt-out list and cancel its queued SMS (see
 * optouts.h).  True when the entry is new.
 */
bool
bar9_opt_out_add(const char *account_id, uint64 number, const char *source,
				 OptOut *out, int64 *canceled)
{
	static SPIPlanPtr insert_plan = NULL;
	static SPIPlanPtr select_plan = NULL;
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, INT4OID};
	Datum		args[4];
	MemoryContext caller_cxt = CurrentMemoryContext;
	OptOut		row;
	bool		created = false;
	bool		found = false;
	int64		ncanceled;
	int			attempt;

	CheckSource(source);
	ConnectSPI();
	args[3] = Int32GetDatum(bar9_account_no(account_id, false));
	bar9_consent_lock_exclusive(account_id, DatumGetInt32(args[3]));

	bar9_plan(&insert_plan,
			  "INSERT INTO bar9.opt_outs"
			  "  (account_id, phone_number, source, created_at, account_no)"
			  " VALUES ($1, $2::bar9.e164, $3, pg_catalog.now(), $4)"
			  " ON CONFLICT (account_id, phone_number, account_no) DO NOTHING"
			  " RETURNING phone_number, source, created_at",
			  4, argtypes);
	bar9_plan(&select_plan,
			  "SELECT phone_number, source, created_at FROM bar9.opt_outs"
			  " WHERE account_id = $1"
			  "   AND phone_number OPERATOR(bar9.=) $2::bar9.e164"
			  "   AND account_no = $4",
			  4, argtypes);

	args[0] = CStringGetTextDatum(account_id);
	args[1] = E164TextDatum(number);
	args[2] = CStringGetTextDatum(source);

	/*
	 * Insert, or read the entry that is there.  It can vanish in between (a
	 * concurrent remove committed), so try again; twice is already rare.
	 */
	for (attempt = 0; attempt < 10 && !found; attempt++)
	{
		int			rc;

		rc = SPI_execute_plan(insert_plan, args, NULL, false, 0);
		if (rc != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "opt-out insert failed: %s",
				 SPI_result_code_string(rc));
		if (SPI_processed == 1)
			created = found = true;
		else
		{
			rc = SPI_execute_plan(select_plan, args, NULL, false, 1);
			if (rc != SPI_OK_SELECT)
				elog(ERROR, "opt-out lookup failed: %s",
					 SPI_result_code_string(rc));
			found = (SPI_processed == 1);
		}
		if (found)
		{
			MemoryContext spi_cxt = MemoryContextSwitchTo(caller_cxt);

			RowToOptOut(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, &row);
			MemoryContextSwitchTo(spi_cxt);
		}
	}
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not record the opt-out: the entry kept changing"),
				 errhint("Try again.")));

	/* even when already opted out: an SMS may have gone back to 'queued' */
	ncanceled = CancelQueuedSms(account_id, number);
	SPI_finish();

	if (out != NULL)
		*out = row;
	if (canceled != NULL)
		*canceled = ncanceled;
	return created;
}

/* Take number off the account's list (see optouts.h). */
OptOutRemoved
bar9_opt_out_remove(const char *account_id, uint64 number, bool by_recipient)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[4] = {TEXTOID, TEXTOID, BOOLOID, INT4OID};
	Datum		args[4];
	int			rc;
	OptOutRemoved result = OPT_OUT_ABSENT;
	bool		isnull;

	ConnectSPI();

	/* one statement: the entry, and whether it went */
	bar9_plan(&plan,
			  "WITH entry AS ("
			  "  SELECT source FROM bar9.opt_outs"
			  "   WHERE account_id = $1 AND account_no = $4"
			  "     AND phone_number OPERATOR(bar9.=) $2::bar9.e164"
			  "     FOR UPDATE),"
			  " gone AS ("
			  "  DELETE FROM bar9.opt_outs"
			  "   WHERE account_id = $1 AND account_no = $4"
			  "     AND phone_number OPERATOR(bar9.=) $2::bar9.e164"
			  "     AND ($3 OR source = 'api')"
			  "  RETURNING 1)"
			  " SELECT EXISTS (SELECT FROM gone), EXISTS (SELECT FROM entry)",
			  4, argtypes);
	args[0] = CStringGetTextDatum(account_id);
	args[1] = E164TextDatum(number);
	args[2] = BoolGetDatum(by_recipient);
	args[3] = Int32GetDatum(bar9_account_no(account_id, true));
	rc = SPI_execute_plan(plan, args, NULL, false, 0);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "opt-out delete failed: %s", SPI_result_code_string(rc));
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
								   SPI_tuptable->tupdesc, 1, &isnull)))
		result = OPT_OUT_REMOVED;
	else if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 2, &isnull)))
		result = OPT_OUT_BY_RECIPIENT;
	SPI_finish();
	return result;
}

/* The error for an opt-out only its recipient may lift, at HTTP or SQL. */
#define BY_RECIPIENT_MESSAGE \
	"%s opted out by replying with an opt-out keyword; only their opt-in keyword (START) re-subscribes them"

/* Is number on the account's opt-out list? */
bool
bar9_is_opted_out(const char *account_id, uint64 number)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, INT4OID};
	Datum		args[3];
	int			rc;
	bool		result;

	ConnectSPI();
	bar9_plan(&plan,
			  "SELECT 1 FROM bar9.opt_outs"
			  " WHERE account_id = $1 AND account_no = $3"
			  "   AND phone_number OPERATOR(bar9.=) $2::bar9.e164",
			  3, argtypes);
	args[0] = CStringGetTextDatum(account_id);
	args[1] = E164TextDatum(number);
	args[2] = Int32GetDatum(bar9_account_no(account_id, true));
	rc = SPI_execute_plan(plan, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "opt-out lookup failed: %s", SPI_result_code_string(rc));
	result = (SPI_processed == 1);
	SPI_finish();
	return result;
}

/*
 * Run the page query and return its rows: up to nrows entries of the
 * account after starting_after (NULL: from the start), in bar9.e164 order.
 * SPI is connected.
 */
static SPITupleTable *
FetchPage(const char *account_id, int nrows, const uint64 *starting_after)
{
	static SPIPlanPtr first_plan = NULL;
	static SPIPlanPtr next_plan = NULL;
	Oid			argtypes[4] = {TEXTOID, INT4OID, TEXTOID, INT4OID};
	Datum		args[4];
	int			rc;

	args[0] = CStringGetTextDatum(account_id);
	args[1] = Int32GetDatum(nrows);
	args[2] = (Datum) 0;
	args[3] = Int32GetDatum(bar9_account_no(account_id, true));
	if (starting_after == NULL)
	{
		/* $3 unused: NULL, not an unset Datum (Citus copies every one) */
		bar9_plan(&first_plan,
				  "SELECT phone_number, source, created_at FROM bar9.opt_outs"
				  " WHERE account_id = $1 AND account_no = $4"
				  " ORDER BY phone_number LIMIT $2",
				  4, argtypes);
		rc = SPI_execute_plan(first_plan, args, "  n ", true, 0);
	}
	else
	{
		args[2] = E164TextDatum(*starting_after);
		bar9_plan(&next_plan,
				  "SELECT phone_number, source, created_at FROM bar9.opt_outs"
				  " WHERE account_id = $1 AND account_no = $4"
				  "   AND phone_number OPERATOR(bar9.>) $3::bar9.e164"
				  " ORDER BY phone_number LIMIT $2",
				  4, argtypes);
		rc = SPI_execute_plan(next_plan, args, NULL, true, 0);
	}
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "opt-out list query failed: %s",
			 SPI_result_code_string(rc));
	return SPI_tuptable;
}

/* Write an opt-out object ("object": "opt_out"). */
void
opt_out_json(JsonOut *jo, const OptOut *o)
{
	char		buf[E164_BUFSIZE];

	e164_format(o->phone_number, buf);
	json_out_begin_object(jo);
	json_out_kv_string(jo, "phone_number", buf);
	json_out_kv_string(jo, "object", "opt_out");
	json_out_kv_string(jo, "source", o->source);
	json_out_kv_timestamptz(jo, "created_at", o->created_at);
	json_out_end_object(jo);
}

/* ------------------------------------------------------------------------
 * Typed SQL functions
 * ------------------------------------------------------------------------
 */

/*
 * SQL: bar9.add_opt_out(account_id text, phone_number bar9.e164,
 * source text DEFAULT 'api') -> (phone_number, source, created_at, created,
 * canceled_sms): put a number on the list, cancel its queued SMS.
 */
Datum
bar9_add_opt_out(PG_FUNCTION_ARGS)
{
	char	   *account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	uint64		number = PG_GETARG_E164(1);
	char	   *source = text_to_cstring(PG_GETARG_TEXT_PP(2));
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	OptOut		row;
	int64		canceled;
	bool		created;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	CheckSource(source);
	bar9_consent_require_account(account_id);
	created = bar9_opt_out_add(account_id, number, source, &row, &canceled);

	values[0] = E164GetDatum(row.phone_number);
	values[1] = CStringGetTextDatum(row.source);
	values[2] = TimestampTzGetDatum(row.created_at);
	values[3] = BoolGetDatum(created);
	values[4] = Int64GetDatum(canceled);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values,
													  nulls)));
}

/*
 * SQL: bar9.remove_opt_out(account_id text, phone_number bar9.e164) ->
 * boolean: take a number off the list (re-subscribe); false if it was not
 * on; 55000 if the recipient opted out by keyword.
 */
Datum
bar9_remove_opt_out(PG_FUNCTION_ARGS)
{
	char	   *account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	uint64		number = PG_GETARG_E164(1);
	char		buf[E164_BUFSIZE];

	bar9_consent_require_account(account_id);
	switch (bar9_opt_out_remove(account_id, number, false))
	{
		case OPT_OUT_REMOVED:
			PG_RETURN_BOOL(true);
		case OPT_OUT_BY_RECIPIENT:
			e164_format(number, buf);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg(BY_RECIPIENT_MESSAGE, buf)));
			break;
		case OPT_OUT_ABSENT:
			break;
	}
	PG_RETURN_BOOL(false);
}

/*
 * SQL: bar9.is_opted_out(account_id text, phone_number bar9.e164) ->
 * boolean.
 */
Datum
bar9_is_opted_out_sql(PG_FUNCTION_ARGS)
{
	char	   *account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	uint64		number = PG_GETARG_E164(1);

	bar9_consent_require_account(account_id);
	PG_RETURN_BOOL(bar9_is_opted_out(account_id, number));
}

/*
 * SQL: bar9.list_opt_outs(account_id text, limit int DEFAULT 20,
 * starting_after bar9.e164 DEFAULT NULL) -> SETOF (phone_number, source,
 * created_at): one page of the list in bar9.e164 order.
 */
Datum
bar9_list_opt_outs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *account_id;
	int32		limit;
	uint64		after = 0;
	SPITupleTable *rows;
	uint64		i;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("account_id must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("limit must not be null")));
	account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	limit = PG_GETARG_INT32(1);
	if (limit < 1 || limit > OPT_OUTS_LIST_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("limit must be between 1 and %d",
						OPT_OUTS_LIST_MAX)));
	if (!PG_ARGISNULL(2))
		after = PG_GETARG_E164(2);

	InitMaterializedSRF(fcinfo, 0);
	bar9_consent_require_account(account_id);

	ConnectSPI();
	rows = FetchPage(account_id, limit, PG_ARGISNULL(2) ? NULL : &after);
	for (i = 0; i < rows->numvals; i++)
	{
		HeapTuple	tuple = rows->vals[i];
		Datum		values[3];
		bool		nulls[3];

		heap_deform_tuple(tuple, rows->tupdesc, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
							 values, nulls);
	}
	SPI_finish();

	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * Routes
 * ------------------------------------------------------------------------
 */

/* POST /v1/marketing/opt-outs: 201 new opt-out, 200 already on the list. */
void
opt_outs_add_handler(ApiRequest *req, ApiResponse *resp)
{
	static const char *const allowed[] = {"phone_number", NULL};
	char	   *phone;
	uint64		number;
	OptOut		row;
	bool		created;

	if (!api_body_check_keys(req, resp, allowed, "phone_number") ||
		!api_body_string(req, resp, "phone_number", true, &phone) ||
		!numbers_parse_phone(resp, phone, "phone_number", &number))
		return;

	created = bar9_opt_out_add(req->account_id, number, "api", &row, NULL);
	resp->status = created ? 201 : 200;
	opt_out_json(&resp->json, &row);
}

/* GET /v1/marketing/opt-outs: one page of the list, bar9.e164 order. */
void
opt_outs_list_handler(ApiRequest *req, ApiResponse *resp)
{
	int			limit;
	const char *starting_after;
	uint64		after;
	SPITupleTable *rows;
	uint64		i;
	uint64		n;

	if (!api_page_params(req, resp, &limit, &starting_after))
		return;
	/* as for the numbers of an audience: any number is a cursor */
	if (starting_after != NULL &&
		!numbers_parse_phone(resp, starting_after, "starting_after", &after))
		return;

	rows = FetchPage(req->account_id, limit + 1,
					 starting_after != NULL ? &after : NULL);
	n = Min(rows->numvals, (uint64) limit);

	resp->status = 200;
	api_list_begin(resp);
	for (i = 0; i < n; i++)
	{
		OptOut		row;

		RowToOptOut(rows->vals[i], rows->tupdesc, &row);
		opt_out_json(&resp->json, &row);
	}
	api_list_end(resp, rows->numvals > (uint64) limit);
}

/* DELETE /v1/marketing/opt-outs/:phone_number: re-subscribe, or 404. */
void
opt_outs_remove_handler(ApiRequest *req, ApiResponse *resp)
{
	const char *phone = api_path_param(req, "phone_number");
	uint64		number;
	char		buf[E164_BUFSIZE];

	if (!numbers_parse_phone(resp, phone, "phone_number", &number))
		return;
	e164_format(number, buf);
	switch (bar9_opt_out_remove(req->account_id, number, false))
	{
		case OPT_OUT_ABSENT:
			api_not_found(resp, "opt-out", phone);
			return;
		case OPT_OUT_BY_RECIPIENT:
			api_error(resp, 409, "opt_out_by_recipient",
					  psprintf(BY_RECIPIENT_MESSAGE, buf), NULL);
			return;
		case OPT_OUT_REMOVED:
			break;
	}

	resp->status = 200;
	json_out_begin_object(&resp->json);
	json_out_kv_string(&resp->json, "phone_number", buf);
	json_out_kv_bool(&resp->json, "deleted", true);
	json_out_end_object(&resp->json);
}
