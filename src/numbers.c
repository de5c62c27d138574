/*
 * numbers.c
 *		The phone numbers of an audience: typed SQL functions and the routes
 *		POST/GET /v1/marketing/channels/:channel_id/numbers and
 *		DELETE /v1/marketing/channels/:channel_id/numbers/:phone_number.
 *
 * Every change first locks the audience row (audience_load with lock), then
 * inserts or deletes audience_numbers rows and moves subscriber_count by the
 * number of rows really inserted or deleted, in one transaction: the count
 * stays exact under any concurrency, and writers of one audience never
 * deadlock with each other.
 *
 * A bulk add parses and checks every entry in C (invalid ones are reported
 * with their index), sorts and de-duplicates the valid ones by their 8-byte
 * encoding (which orders as e164 does), and inserts them all with ONE
 * INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "api.h"
#include "auth.h"
#include "audiences.h"
#include "cluster.h"
#include "e164.h"
#include "numbers.h"

/* Most rows list_numbers returns in one call. */
#define NUMBERS_SQL_MAX_LIMIT	1000

/* One entry of a bulk add, as received. */
typedef struct NumberInput
{
	const char *s;				/* NULL: not a string (JSON) or SQL NULL */
	int			len;
} NumberInput;

/* What a bulk add did. */
typedef struct NumbersAddResult
{
	int64		added;
	int64		already_present;
	StringInfoData invalid;		/* JSON array of {index, phone_number, message} */
} NumbersAddResult;

static SPIPlanPtr insert_one_plan = NULL;
static SPIPlanPtr select_one_plan = NULL;
static SPIPlanPtr insert_many_plan = NULL;
static SPIPlanPtr count_plan = NULL;
static SPIPlanPtr list_plan = NULL;
static SPIPlanPtr list_after_plan = NULL;
static SPIPlanPtr delete_plan = NULL;

/* ---------------------------------------------------------------------
 * Phone numbers in requests
 * ---------------------------------------------------------------------
 */

/* What is wrong with a number, in words for a client. */
const char *
numbers_phone_problem(E164Error err)
{
	switch (err)
	{
		case E164_ERR_EMPTY:
			return "it is empty";
		case E164_ERR_NO_PLUS:
			return "it must start with + and the country calling code";
		case E164_ERR_INTL_PREFIX:
			return "it must start with +, not with an international prefix such as 00";
		case E164_ERR_SEPARATOR:
			return "it must not contain spaces, dashes, dots or brackets";
		case E164_ERR_NOT_ASCII:
		case E164_ERR_NOT_DIGIT:
			return "only the digits 0 to 9 may follow the +";
		case E164_ERR_LEADING_ZERO:
			return "country calling codes do not start with 0";
		case E164_ERR_LENGTH:
			return "it must have 7 to 15 digits";
		case E164_ERR_COUNTRY_CODE:
			return "it does not start with a country calling code assigned by ITU-T";
		case E164_OK:
		case E164_ERR_ENCODING:
			break;
	}
	return "it is not a phone number";
}

/*
 * Parse s[0..len) strictly; false with *message set (palloc'd, naming what
 * is wrong and, when it can, how the number should be written).
 */
static bool
NumbersParse(const char *s, size_t len, uint64 *out, char **message)
{
	uint64_t	v;
	E164Error	err;
	char		hint[E164_BUFSIZE];

	if (e164_parse(s, len, &v, &err, hint, sizeof(hint)))
	{
		*out = (uint64) v;
		return true;
	}
	if (hint[0] != '\0')
		*message = psprintf("%s; write it as %s", numbers_phone_problem(err),
							hint);
	else
		*message = pstrdup(numbers_phone_problem(err));
	return false;
}

/* Parse a phone number of a request (see numbers.h). */
bool
numbers_parse_phone(ApiResponse *resp, const char *s, const char *param,
					uint64 *out)
{
	char	   *problem;

	if (NumbersParse(s, strlen(s), out, &problem))
		return true;

	/* a query string turns an unescaped '+' into a space */
	if (s[0] == ' ' && s[1] >= '1' && s[1] <= '9')
		problem = pstrdup("in a query string, write + as %2B");
	api_error(resp, 400, "invalid_phone_number",
			  psprintf("%s must be in E.164 format, e.g. +213555123456 (%s)",
					   param, problem),
			  param);
	return false;
}

/* ---------------------------------------------------------------------
 * Core: used by both the SQL functions and the route handlers
 * ---------------------------------------------------------------------
 */

/*
 * Move the audience's subscriber_count by delta and its last_member_seq by
 * drawn, the added_seq values the adds took from it (its row is locked).
 */
static void
NumbersCount(const char *account_id, const Audience *ch, int64 delta,
			 int64 drawn)
{
	Oid			argtypes[5] = {TEXTOID, TEXTOID, INT8OID, INT4OID, INT8OID};
	Datum		args[5];
	int			rc;

	if (delta == 0)
		return;
	args[0] = CStringGetTextDatum(account_id);
	args[1] = CStringGetTextDatum(ch->audience_id);
	args[2] = Int64GetDatum(delta);
	args[3] = Int32GetDatum(ch->account_no);
	args[4] = Int64GetDatum(drawn);
	rc = SPI_execute_plan(bar9_plan(&count_plan,
									"UPDATE bar9.audiences"
									"   SET subscriber_count = subscriber_count + $3,"
									"       last_member_seq = last_member_seq + $5"
									" WHERE account_id = $1 AND audience_id = $2"
									"   AND account_no = $4",
									5, argtypes),
						  args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "could not update subscriber_count: %s",
			 SPI_result_code_string(rc));
}

/*
 * Add one number to a locked live audience.  Returns true when it was added
 * (false: already there); *created_at is when it was added.
 */
static bool
NumbersAddOne(const char *account_id, const Audience *ch, uint64 number,
			  TimestampTz *created_at)
{
	Oid			argtypes[5] = {TEXTOID, TEXTOID, TEXTOID, INT4OID, INT8OID};
	Datum		args[5];
	char		buf[E164_BUFSIZE];
	bool		isnull;
	bool		added;
	int			rc;

	e164_format(number, buf);
	args[0] = CStringGetTextDatum(account_id);
	args[1] = CStringGetTextDatum(ch->audience_id);
	args[2] = CStringGetTextDatum(buf);
	args[3] = Int32GetDatum(ch->account_no);
	args[4] = Int64GetDatum(ch->last_member_seq + 1);
	rc = SPI_execute_plan(bar9_plan(&insert_one_plan,
									"INSERT INTO bar9.audience_numbers"
									" (account_id, audience_id, phone_number, account_no,"
									"  added_seq)"
									" VALUES ($1, $2, $3::bar9.e164, $4, $5)"
									" ON CONFLICT DO NOTHING RETURNING created_at",
									5, argtypes),
						  args, NULL, false, 0);
	if (rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not insert number: %s", SPI_result_code_string(rc));
	added = (SPI_processed == 1);
	if (!added)
	{
		rc = SPI_execute_plan(bar9_plan(&select_one_plan,
										"SELECT created_at FROM bar9.audience_numbers"
										" WHERE account_id = $1 AND audience_id = $2"
										"   AND phone_number OPERATOR(bar9.=) $3::bar9.e164"
										"   AND account_no = $4",
										4, argtypes),
							  args, NULL, false, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "number vanished from a locked audience");
	}
	*created_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc,
													1, &isnull));
	if (added)
		NumbersCount(account_id, ch, 1, 1);
	return added;
}

/* qsort comparator of encoded numbers (unsigned order = e164 order). */
static int
NumbersCompare(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return (x > y) - (x < y);
}

/* Append one {index, phone_number, message} to the invalid list. */
static void
NumbersInvalid(JsonOut *jo, int index, const NumberInput *in,
			   const char *message)
{
	json_out_begin_object(jo);
	json_out_kv_int64(jo, "index", index);
	if (in->s != NULL)
	{
		json_out_key(jo, "phone_number");
		json_out_string_len(jo, in->s, in->len);
	}
	else
		json_out_kv_null(jo, "phone_number");
	json_out_kv_string(jo, "message", message);
	json_out_end_object(jo);
}

/*
 * How many of the numbers $3 (text[]) are in the audience ($1 account_id,
 * $2 audience_id, $4 account_no) already: one probe of its key each.
 */
static int64
NumbersPresent(Datum *args)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTARRAYOID, INT4OID};
	bool		isnull;

	if (SPI_execute_plan(bar9_plan(&plan,
								   "SELECT pg_catalog.count(*) FROM bar9.audience_numbers"
								   " WHERE account_id = $1 AND audience_id = $2"
								   "   AND account_no = $4"
								   "   AND phone_number OPERATOR(bar9.=) ANY ($3::bar9.e164[])",
								   4, argtypes),
						 args, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not count the numbers already present");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Add n numbers to a locked live audience with one INSERT.  Entries that
 * are not numbers go to res->invalid (by index); duplicates in the input
 * count as already present.
 */
static void
NumbersAddMany(const char *account_id, const Audience *ch,
			   const NumberInput *in, int n, NumbersAddResult *res)
{
	uint64	   *vals = palloc(sizeof(uint64) * Max(n, 1));
	int			nvalid = 0;
	int			ndistinct = 0;
	JsonOut		jo;
	int			i;

	res->added = 0;
	res->already_present = 0;
	initStringInfo(&res->invalid);
	json_out_init(&jo, &res->invalid);
	json_out_begin_array(&jo);

	for (i = 0; i < n; i++)
	{
		char	   *message;

		if (in[i].s == NULL)
			NumbersInvalid(&jo, i, &in[i], "phone number must be a string");
		else if (!NumbersParse(in[i].s, in[i].len, &vals[nvalid], &message))
			NumbersInvalid(&jo, i, &in[i],
						   psprintf("not in E.164 format, e.g. +213555123456: %s",
									message));
		else
			nvalid++;
	}
	json_out_end_array(&jo);

	if (nvalid > 0)
	{
		Datum	   *texts;
		Oid			argtypes[5] = {TEXTOID, TEXTOID, TEXTARRAYOID, INT4OID,
		INT8OID};
		Datum		args[5];
		int64		present;
		int			rc;

		/* sorted and distinct: one pass through the index, in key order */
		qsort(vals, nvalid, sizeof(uint64), NumbersCompare);
		texts = palloc(sizeof(Datum) * nvalid);
		for (i = 0; i < nvalid; i++)
		{
			char		buf[E164_BUFSIZE];

			if (i > 0 && vals[i] == vals[i - 1])
				continue;
			e164_format(vals[i], buf);
			texts[ndistinct++] = CStringGetTextDatum(buf);
		}

		/* added_seq: the audience's next ndistinct values, in input order */
		args[0] = CStringGetTextDatum(account_id);
		args[1] = CStringGetTextDatum(ch->audience_id);
		args[2] = PointerGetDatum(construct_array(texts, ndistinct, TEXTOID,
												  -1, false, TYPALIGN_INT));
		args[3] = Int32GetDatum(ch->account_no);
		args[4] = Int64GetDatum(ch->last_member_seq);
		present = bar9_citus_distributed() ? NumbersPresent(args) : -1;
		rc = SPI_execute_plan(bar9_plan(&insert_many_plan,
										"INSERT INTO bar9.audience_numbers"
										" (account_id, audience_id, phone_number, account_no,"
										"  added_seq)"
										" SELECT $1, $2, u.n::bar9.e164, $4, $5 + u.i"
										"   FROM pg_catalog.unnest($3) WITH ORDINALITY AS u(n, i)"
										" ON CONFLICT DO NOTHING",
										5, argtypes),
							  args, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not insert numbers: %s",
				 SPI_result_code_string(rc));
		/*
		 * On Citus the row count of this INSERT ... SELECT, which it runs
		 * through the coordinator, counts the rows ON CONFLICT skipped too:
		 * there the members present before (counted under the audience's
		 * lock, so exactly) tell how many were added.
		 */
		res->added = present >= 0 ? ndistinct - present : SPI_processed;
		res->already_present = nvalid - res->added;
		NumbersCount(account_id, ch, res->added, ndistinct);
	}
}

/*
 * Numbers of an audience (phone_number, created_at): at most limit rows in
 * e164 order, after `after` when has_after.
 */
static SPITupleTable *
NumbersList(const char *account_id, const char *audience_id, int limit,
			bool has_after, uint64 after)
{
	Oid			argtypes[5] = {TEXTOID, TEXTOID, INT4OID, INT4OID, TEXTOID};
	Datum		args[5];
	int			rc;

	/* account_no too: on Citus, one shard asked, not all */
	args[0] = CStringGetTextDatum(account_id);
	args[1] = CStringGetTextDatum(audience_id);
	args[2] = Int32GetDatum(limit);
	args[3] = Int32GetDatum(bar9_account_no(account_id, true));
	if (!has_after)
		rc = SPI_execute_plan(bar9_plan(&list_plan,
										"SELECT phone_number, created_at"
										"  FROM bar9.audience_numbers"
										" WHERE account_id = $1 AND audience_id = $2"
										"   AND account_no = $4"
										" ORDER BY phone_number LIMIT $3",
										4, argtypes),
							  args, NULL, false, 0);
	else
	{
		char		buf[E164_BUFSIZE];

		e164_format(after, buf);
		args[4] = CStringGetTextDatum(buf);
		rc = SPI_execute_plan(bar9_plan(&list_after_plan,
										"SELECT phone_number, created_at"
										"  FROM bar9.audience_numbers"
										" WHERE account_id = $1 AND audience_id = $2"
										"   AND account_no = $4"
										"   AND phone_number OPERATOR(bar9.>) $5::bar9.e164"
										" ORDER BY phone_number LIMIT $3",
										5, argtypes),
							  args, NULL, false, 0);
	}
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "number list failed: %s", SPI_result_code_string(rc));
	return SPI_tuptable;
}

/* Remove a number from a locked live audience; false when not there. */
static bool
NumbersRemove(const char *account_id, const Audience *ch, uint64 number)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, INT4OID};
	Datum		args[4];
	char		buf[E164_BUFSIZE];
	int			rc;

	e164_format(number, buf);
	args[0] = CStringGetTextDatum(account_id);
	args[1] = CStringGetTextDatum(ch->audience_id);
	args[2] = CStringGetTextDatum(buf);
	args[3] = Int32GetDatum(ch->account_no);
	rc = SPI_execute_plan(bar9_plan(&delete_plan,
									"DELETE FROM bar9.audience_numbers"
									" WHERE account_id = $1 AND audience_id = $2"
									"   AND phone_number OPERATOR(bar9.=) $3::bar9.e164"
									"   AND account_no = $4",
									4, argtypes),
						  args, NULL, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "could not delete number: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		return false;
	NumbersCount(account_id, ch, -1, 0);
	return true;
}

/* Write one number object. */
static void
NumbersJson(JsonOut *jo, uint64 number, const char *audience_id,
			TimestampTz created_at)
{
	char		buf[E164_BUFSIZE];

	e164_format(number, buf);
	json_out_begin_object(jo);
	json_out_kv_string(jo, "phone_number", buf);
	json_out_kv_string(jo, "channel_id", audience_id);
	json_out_kv_timestamptz(jo, "created_at", created_at);
	json_out_end_object(jo);
}

/* ---------------------------------------------------------------------
 * Route handlers
 * ---------------------------------------------------------------------
 */

static const char *const add_keys[] = {"phone_number", "phone_numbers", NULL};

/* The audience of the path, loaded (and locked); false after a 404. */
static bool
NumbersAudience(ApiRequest *req, ApiResponse *resp, bool lock, Audience *ch)
{
	const char *id = api_path_param(req, "channel_id");

	if (!api_valid_id(id, "mkt_") ||
		!audience_load(req->account_id, id, lock, ch))
	{
		api_not_found(resp, "marketing_channel", id);
		return false;
	}
	return true;
}

/* Bulk add: phone_numbers is the JSON value v. */
static void
NumbersAddManyHandler(ApiRequest *req, ApiResponse *resp, const Audience *ch,
					  JsonbValue *v)
{
	NumberInput *in;
	NumbersAddResult res;
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	int			n;
	int			i = 0;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data) ||
		JsonContainerIsScalar(v->val.binary.data))
	{
		api_error(resp, 400, "invalid_parameter",
				  "phone_numbers must be an array of strings", "phone_numbers");
		return;
	}
	n = JsonContainerSize(v->val.binary.data);
	if (n > NUMBERS_BULK_MAX)
	{
		api_error(resp, 400, "invalid_parameter",
				  "phone_numbers can hold at most 10000 numbers; split the list into several requests",
				  "phone_numbers");
		return;
	}

	in = palloc0(sizeof(NumberInput) * Max(n, 1));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (i >= n)
			elog(ERROR, "JSON array has more elements than it said");
		if (elem.type == jbvString)
		{
			in[i].s = elem.val.string.val;
			in[i].len = elem.val.string.len;
		}
		i++;
	}

	NumbersAddMany(req->account_id, ch, in, n, &res);

	resp->status = 200;
	json_out_begin_object(&resp->json);
	json_out_kv_int64(&resp->json, "added", res.added);
	json_out_kv_int64(&resp->json, "already_present", res.already_present);
	json_out_key(&resp->json, "invalid");
	json_out_raw(&resp->json, res.invalid.data);
	json_out_end_object(&resp->json);
}

/* POST /v1/marketing/channels/:channel_id/numbers */
void
numbers_add_handler(ApiRequest *req, ApiResponse *resp)
{
	Audience	ch;
	JsonbValue	one;
	JsonbValue	many;
	bool		has_one;
	bool		has_many;
	uint64		number;
	TimestampTz created_at;
	bool		added;

	if (!NumbersAudience(req, resp, true, &ch))
		return;

	has_one = api_body_field(req, "phone_number", &one);
	has_many = api_body_field(req, "phone_numbers", &many);
	if (!has_one && !has_many)
	{
		api_missing_parameter(resp, "phone_number",
							  "phone_number (or phone_numbers for a bulk add)",
							  api_body_unknown_key(req, add_keys));
		return;
	}
	if (!api_body_check_keys(req, resp, add_keys, NULL))
		return;
	if (has_one && has_many)
	{
		api_error(resp, 400, "invalid_parameter",
				  "Pass either phone_number or phone_numbers, not both",
				  "phone_numbers");
		return;
	}
	if (has_many)
	{
		NumbersAddManyHandler(req, resp, &ch, &many);
		return;
	}

	if (one.type != jbvString)
	{
		api_error(resp, 400, "invalid_parameter",
				  "phone_number must be a string", "phone_number");
		return;
	}
	if (!numbers_parse_phone(resp, pnstrdup(one.val.string.val,
											one.val.string.len),
							 "phone_number", &number))
		return;

	added = NumbersAddOne(req->account_id, &ch, number, &created_at);
	resp->status = added ? 201 : 200;
	NumbersJson(&resp->json, number, ch.audience_id, created_at);
}

/* GET /v1/marketing/channels/:channel_id/numbers */
void
numbers_list_handler(ApiRequest *req, ApiResponse *resp)
{
	Audience	ch;
	int			limit;
	const char *after;
	uint64		after_number = 0;
	SPITupleTable *rows;
	uint64		i;
	uint64		n;

	if (!NumbersAudience(req, resp, false, &ch) ||
		!api_page_params(req, resp, &limit, &after))
		return;
	if (after != NULL &&
		!numbers_parse_phone(resp, after, "starting_after", &after_number))
		return;

	rows = NumbersList(req->account_id, ch.audience_id, limit + 1,
					   after != NULL, after_number);
	n = rows->numvals;
	resp->status = 200;
	api_list_begin(resp);
	for (i = 0; i < n && i < (uint64) limit; i++)
	{
		HeapTuple	tup = rows->vals[i];
		TupleDesc	desc = rows->tupdesc;
		bool		isnull;

		NumbersJson(&resp->json,
					DatumGetE164(SPI_getbinval(tup, desc, 1, &isnull)),
					ch.audience_id,
					DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull)));
	}
	api_list_end(resp, n > (uint64) limit);
}

/* GET /v1/marketing/channels/:channel_id/numbers/:phone_number */
void
numbers_get_handler(ApiRequest *req, ApiResponse *resp)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, INT4OID};
	Datum		args[4];
	Audience	ch;
	uint64		number;
	bool		isnull;

	if (!NumbersAudience(req, resp, false, &ch) ||
		!numbers_parse_phone(resp, api_path_param(req, "phone_number"),
							 "phone_number", &number))
		return;
	args[0] = CStringGetTextDatum(req->account_id);
	args[1] = CStringGetTextDatum(ch.audience_id);
	args[2] = E164TextDatum(number);
	args[3] = Int32GetDatum(bar9_account_no(req->account_id, false));
	if (SPI_execute_plan(bar9_plan(&plan,
								   "SELECT created_at FROM bar9.audience_numbers"
								   " WHERE account_id = $1 AND audience_id = $2"
								   "   AND phone_number OPERATOR(bar9.=) $3::bar9.e164"
								   "   AND account_no = $4",
								   4, argtypes),
						 args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up a number");
	if (SPI_processed == 0)
	{
		char		buf[E164_BUFSIZE];

		e164_format(number, buf);
		api_error(resp, 404, "not_found",
				  psprintf("No such phone_number in this audience: '%s'", buf),
				  NULL);
		return;
	}
	resp->status = 200;
	NumbersJson(&resp->json, number, ch.audience_id,
				DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1,
												  &isnull)));
}

/* DELETE /v1/marketing/channels/:channel_id/numbers/:phone_number */
void
numbers_remove_handler(ApiRequest *req, ApiResponse *resp)
{
	Audience	ch;
	uint64		number;
	char		buf[E164_BUFSIZE];

	if (!NumbersAudience(req, resp, true, &ch) ||
		!numbers_parse_phone(resp, api_path_param(req, "phone_number"),
							 "phone_number", &number))
		return;

	e164_format(number, buf);
	if (!NumbersRemove(req->account_id, &ch, number))
	{
		api_error(resp, 404, "not_found",
				  psprintf("No such phone_number in this audience: '%s'", buf),
				  NULL);
		return;
	}
	resp->status = 200;
	json_out_begin_object(&resp->json);
	json_out_kv_string(&resp->json, "phone_number", buf);
	json_out_kv_bool(&resp->json, "deleted", true);
	json_out_end_object(&resp->json);
}

/* ---------------------------------------------------------------------
 * Typed SQL functions
 * ---------------------------------------------------------------------
 */

/* Load (and lock) an audience for a SQL function, or raise 42704. */
static void
NumbersSqlAudience(const char *account_id, const char *audience_id, bool lock,
				   Audience *ch)
{
	if (!audience_load(account_id, audience_id, lock, ch))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("audience \"%s\" does not exist", audience_id)));
}

PG_FUNCTION_INFO_V1(bar9_add_number);

/*
 * SQL: bar9.add_number(account_id text, audience_id text, phone_number e164)
 * -> TABLE(phone_number e164, audience_id text, created_at timestamptz,
 * added boolean)
 */
Datum
bar9_add_number(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *audience_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	uint64		number = PG_GETARG_E164(2);
	Audience	ch;
	TimestampTz created_at;
	bool		added;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	NumbersSqlAudience(account_id, audience_id, true, &ch);
	added = NumbersAddOne(account_id, &ch, number, &created_at);
	SPI_finish();

	values[0] = E164GetDatum(number);
	values[1] = CStringGetTextDatum(audience_id);
	values[2] = TimestampTzGetDatum(created_at);
	values[3] = BoolGetDatum(added);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(bar9_add_numbers);

/*
 * SQL: bar9.add_numbers(account_id text, audience_id text, phone_numbers
 * text[]) -> TABLE(added bigint, already_present bigint, invalid jsonb)
 */
Datum
bar9_add_numbers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *audience_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(2);
	Datum	   *elems;
	bool	   *elnulls;
	int			n;
	int			i;
	NumberInput *in;
	NumbersAddResult res;
	Audience	ch;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("phone_numbers must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elnulls, &n);
	if (n > NUMBERS_BULK_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("phone_numbers can hold at most %d numbers",
						NUMBERS_BULK_MAX),
				 errhint("Split the list into several calls.")));
	in = palloc0(sizeof(NumberInput) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (!elnulls[i])
		{
			text	   *t = DatumGetTextPP(elems[i]);

			in[i].s = VARDATA_ANY(t);
			in[i].len = VARSIZE_ANY_EXHDR(t);
		}
	}

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	NumbersSqlAudience(account_id, audience_id, true, &ch);
	NumbersAddMany(account_id, &ch, in, n, &res);
	SPI_finish();

	values[0] = Int64GetDatum(res.added);
	values[1] = Int64GetDatum(res.already_present);
	values[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(res.invalid.data));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(bar9_list_numbers);

/*
 * SQL: bar9.list_numbers(account_id text, audience_id text, limit int
 * DEFAULT 20, starting_after e164 DEFAULT NULL) -> TABLE(phone_number e164,
 * audience_id text, created_at timestamptz)
 */
Datum
bar9_list_numbers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *account_id;
	char	   *audience_id;
	int			limit = PG_ARGISNULL(2) ? API_DEFAULT_LIMIT : PG_GETARG_INT32(2);
	bool		has_after = !PG_ARGISNULL(3);
	uint64		after = has_after ? PG_GETARG_E164(3) : 0;
	Audience	ch;
	SPITupleTable *rows;
	uint64		i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("account_id and audience_id must not be null")));
	account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	audience_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (limit < 1 || limit > NUMBERS_SQL_MAX_LIMIT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("limit must be between 1 and %d", NUMBERS_SQL_MAX_LIMIT)));

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	NumbersSqlAudience(account_id, audience_id, false, &ch);
	rows = NumbersList(account_id, audience_id, limit, has_after, after);
	for (i = 0; i < rows->numvals; i++)
	{
		HeapTuple	tup = rows->vals[i];
		TupleDesc	desc = rows->tupdesc;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		bool		isnull;

		values[0] = SPI_getbinval(tup, desc, 1, &isnull);
		values[1] = CStringGetTextDatum(audience_id);
		values[2] = SPI_getbinval(tup, desc, 2, &isnull);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(bar9_remove_number);

/*
 * SQL: bar9.remove_number(account_id text, audience_id text, phone_number
 * e164) -> boolean (false when it was not in the audience)
 */
Datum
bar9_remove_number(PG_FUNCTION_ARGS)
{
	char	   *account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *audience_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	uint64		number = PG_GETARG_E164(2);
	Audience	ch;
	bool		removed;

	SPI_connect();
	NumbersSqlAudience(account_id, audience_id, true, &ch);
	removed = NumbersRemove(account_id, &ch, number);
	SPI_finish();
	PG_RETURN_BOOL(removed);
}
