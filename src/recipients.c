/*
 * recipients.c
 *		GET /v1/marketing/channels/:channel_id/messages/:message_id/recipients:
 *		the SMS of one broadcast, in bar9.e164 order, ?status= to filter.
 *
 * An SMS is in one of three tables (src/sql/060_queue.sql): the queue
 * (queued after its broadcast's claim cursor, sending up to it), the
 * retried ones, the history.  A page is one statement over the three,
 * each read by its primary key from starting_after on and cut at the page
 * size, so a page costs the same on a 10-SMS broadcast and on a 10-million
 * one.  With ?status= a page reads only the tables that can hold that
 * status; in the history it steps over SMS of other statuses (no index by
 * status: every SMS would pay for one).  Suppressed recipients have no SMS
 * and are not listed; SMS retired with their day are no longer listed.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "api.h"
#include "auth.h"
#include "audiences.h"
#include "e164.h"
#include "numbers.h"
#include "queue.h"
#include "recipients.h"

/*
 * One page: $1 account_no, $2 broadcast_no, $3 state number (-1: any), $4
 * limit, $5 the number to start after (the _AFTER form only).  Each table
 * gives at most $4 rows in number order, read by its primary key from $5
 * on; a table that cannot hold the state asked for is not read at all (a
 * one-time filter on $3).
 */
#define PAGE_SQL(after) \
	"SELECT to_number, state, attempt, error, updated_at FROM (" \
	" (SELECT q.to_number," \
	"         (m.claim_cursor IS NOT NULL" \
	"          AND q.to_number OPERATOR(bar9.<=) m.claim_cursor)::int AS state," \
	"         coalesce(c.attempt, 0)::int AS attempt, NULL::text AS error," \
	"         coalesce(c.claimed_at, m.created_at) AS updated_at" \
	"    FROM bar9.sms_queue q" \
	"   CROSS JOIN (SELECT claim_cursor, created_at FROM bar9.broadcasts" \
	"                WHERE account_no = $1 AND broadcast_no = $2) m" \
	"    LEFT JOIN LATERAL (" \
	"         SELECT attempt, claimed_at FROM bar9.sms_claims" \
	"          WHERE account_no = $1 AND broadcast_no = $2" \
	"            AND q.to_number OPERATOR(bar9.>=) first_number" \
	"            AND q.to_number OPERATOR(bar9.<=) last_number" \
	"          LIMIT 1) c ON q.to_number OPERATOR(bar9.<=) m.claim_cursor" \
	"   WHERE q.account_no = $1 AND q.broadcast_no = $2" after("q") \
	"     AND $3 IN (-1, 0, 1)" \
	"     AND ($3 < 0 OR (m.claim_cursor IS NOT NULL" \
	"          AND q.to_number OPERATOR(bar9.<=) m.claim_cursor) = ($3 = 1))" \
	"   ORDER BY q.to_number LIMIT $4)" \
	" UNION ALL" \
	" (SELECT r.to_number, (r.claim_no IS NOT NULL)::int, r.attempt, r.error," \
	"         r.due_at" \
	"    FROM bar9.sms_retry r" \
	"   WHERE r.account_no = $1 AND r.broadcast_no = $2" after("r") \
	"     AND $3 IN (-1, 0, 1)" \
	"     AND ($3 < 0 OR (r.claim_no IS NOT NULL) = ($3 = 1))" \
	"   ORDER BY r.to_number LIMIT $4)" \
	" UNION ALL" \
	" (SELECT h.to_number, h.state, h.attempt, h.error," \
	"         bar9.sms_changed_at(h.broadcast_no, h.changed_s)" \
	"    FROM bar9.sms_history h" \
	"   WHERE h.account_no = $1 AND h.broadcast_no = $2" after("h") \
	"     AND ($3 < 0 OR $3 >= 2) AND ($3 < 0 OR h.state = $3)" \
	"   ORDER BY h.to_number LIMIT $4)" \
	") x ORDER BY to_number LIMIT $4"
#define NO_AFTER(t) ""
#define AFTER(t) " AND " t ".to_number OPERATOR(bar9.>) $5::bar9.e164"

static SPIPlanPtr page_plan[2];
static SPIPlanPtr broadcast_plan;

/*
 * The SMS-table numbers of broadcast broadcast_id of audience_id; false when
 * it is not one of that audience's.
 */
static bool
RecipientsBroadcast(const char *account_id, const char *audience_id,
					const char *broadcast_id, Datum *account_no,
					Datum *broadcast_no)
{
	static const Oid types[4] = {TEXTOID, TEXTOID, TEXTOID, INT4OID};
	Datum		values[4];
	bool		isnull;

	values[0] = CStringGetTextDatum(account_id);
	values[1] = CStringGetTextDatum(audience_id);
	values[2] = CStringGetTextDatum(broadcast_id);
	values[3] = Int32GetDatum(bar9_account_no(account_id, true));
	if (SPI_execute_plan(bar9_plan(&broadcast_plan,
								   "SELECT account_no, broadcast_no FROM bar9.broadcasts"
								   " WHERE account_id = $1 AND audience_id = $2"
								   "   AND broadcast_id = $3 AND account_no = $4",
								   4, types),
						 values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up a broadcast");
	if (SPI_processed == 0)
		return false;
	*account_no = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								1, &isnull);
	*broadcast_no = SPI_getbinval(SPI_tuptable->vals[0],
								  SPI_tuptable->tupdesc, 2, &isnull);
	return true;
}

/* ?status=: the state number to list, -1 for all; false (400) if unknown. */
static bool
RecipientsStatus(ApiRequest *req, ApiResponse *resp, int *state)
{
	const char *status = api_query_param(req, "status");

	*state = -1;
	if (status == NULL)
		return true;
	for (int s = 0; s < SMS_NSTATES; s++)
	{
		if (strcmp(status, bar9_sms_state_names[s]) == 0)
		{
			*state = s;
			return true;
		}
	}
	api_error(resp, 400, "invalid_parameter",
			  "status must be one of queued, sending, sent, delivered, failed, canceled",
			  "status");
	return false;
}

/* Write a row of the page (tup of desc) as a recipient object. */
static void
RecipientJson(JsonOut *jo, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	char		buf[E164_BUFSIZE];
	int			state;
	Datum		error;

	e164_format(DatumGetE164(SPI_getbinval(tup, desc, 1, &isnull)), buf);
	state = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	json_out_begin_object(jo);
	json_out_kv_string(jo, "phone_number", buf);
	json_out_kv_string(jo, "object", "marketing_recipient");
	json_out_kv_string(jo, "status", bar9_sms_state_names[state]);
	json_out_kv_int64(jo, "attempts",
					  DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull)));
	error = SPI_getbinval(tup, desc, 4, &isnull);
	json_out_kv_string(jo, "error", isnull ? NULL : TextDatumGetCString(error));
	json_out_kv_timestamptz(jo, "updated_at",
							DatumGetTimestampTz(SPI_getbinval(tup, desc, 5,
															  &isnull)));
	json_out_end_object(jo);
}

/* GET /v1/marketing/channels/:channel_id/messages/:message_id/recipients */
void
recipients_list_handler(ApiRequest *req, ApiResponse *resp)
{
	static const Oid types[5] = {INT4OID, INT4OID, INT4OID, INT4OID, TEXTOID};
	const char *audience_id = api_path_param(req, "channel_id");
	const char *broadcast_id = api_path_param(req, "message_id");
	Audience	ch;
	Datum		values[5];
	int			limit;
	const char *after;
	uint64		after_number = 0;
	int			state;
	SPITupleTable *rows;
	uint64		n;

	if (!api_valid_id(audience_id, "mkt_") ||
		!audience_load(req->account_id, audience_id, false, &ch))
	{
		api_not_found(resp, "marketing_channel", audience_id);
		return;
	}
	if (!api_valid_id(broadcast_id, "msg_") ||
		!RecipientsBroadcast(req->account_id, audience_id, broadcast_id,
							 &values[0], &values[1]))
	{
		api_not_found(resp, "marketing_message", broadcast_id);
		return;
	}
	if (!api_page_params(req, resp, &limit, &after) ||
		(after != NULL &&
		 !numbers_parse_phone(resp, after, "starting_after", &after_number)) ||
		!RecipientsStatus(req, resp, &state))
		return;

	values[2] = Int32GetDatum(state);
	values[3] = Int32GetDatum(limit + 1);
	values[4] = after != NULL ? E164TextDatum(after_number) : (Datum) 0;
	if (SPI_execute_plan(after != NULL ?
						 bar9_plan(&page_plan[1], PAGE_SQL(AFTER), 5, types) :
						 bar9_plan(&page_plan[0], PAGE_SQL(NO_AFTER), 4, types),
						 values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the recipients of a broadcast");
	rows = SPI_tuptable;
	n = rows->numvals;
	resp->status = 200;
	api_list_begin(resp);
	for (uint64 i = 0; i < n && i < (uint64) limit; i++)
		RecipientJson(&resp->json, rows->vals[i], rows->tupdesc);
	api_list_end(resp, n > (uint64) limit);
}
