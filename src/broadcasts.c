/*
 * broadcasts.c
 *		Broadcasts ("marketing messages"): typed SQL functions and the HTTP
 *		routes POST/GET /v1/marketing/channels/:channel_id/messages,
 *		GET .../messages/:message_id and POST .../messages/:message_id/cancel.
 *
 * Creating a broadcast is O(1) whatever the audience size: it reads the
 * audience row and a sequence, inserts one bar9.broadcasts row and wakes the
 * background worker, which creates the SMS (fanout.c).  The counts shown
 * are the n_* counters of that row, kept exact by fan-out, claim, ack and
 * cancel, so reading a broadcast never counts SMS.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "api.h"
#include "auth.h"
#include "audiences.h"
#include "e164.h"
#include "ids.h"
#include "broadcasts.h"
#include "queue.h"
#include "segments.h"
#include "worker.h"

/* Most rows list_broadcasts returns in one call. */
#define BROADCAST_SQL_MAX_LIMIT	1000

/*
 * The columns every query returns, in ApiBroadcast order; the first
 * BROADCAST_NCOLS are those of the SQL type bar9.broadcast.
 */
#define BROADCAST_COLS \
	"broadcast_id, audience_id, body, status, recipient_count, suppressed_count," \
	" encoding, segments, send_at, n_queued, n_sending, n_sent, n_delivered," \
	" n_failed, n_canceled, created_at, from_address"
#define BROADCAST_NCOLS	17

/* Names of the counts, in the order of ApiBroadcast.counts and the n_* columns. */
static const char *const count_names[6] = {
	"queued", "sending", "sent", "delivered", "failed", "canceled"
};

/* What BroadcastCreate did. */
typedef enum BroadcastCreateResult
{
	BROADCAST_CREATED,
	BROADCAST_NO_AUDIENCE,			/* no such live audience in the account */
	BROADCAST_AUDIENCE_EMPTY		/* the audience has no numbers */
} BroadcastCreateResult;

/* What BroadcastCancel did. */
typedef enum BroadcastCancelResult
{
	BROADCAST_CANCELED,
	BROADCAST_NOT_FOUND,
	BROADCAST_NOT_CANCELABLE		/* completed or canceled already */
} BroadcastCancelResult;

static SPIPlanPtr load_plan = NULL;
static SPIPlanPtr load_any_audience_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr cursor_plan = NULL;
static SPIPlanPtr list_plan = NULL;
static SPIPlanPtr list_after_plan = NULL;
static SPIPlanPtr lock_plan = NULL;
static SPIPlanPtr cancel_sms_plan = NULL;
static SPIPlanPtr cancel_plan = NULL;

/* ---------------------------------------------------------------------
 * Core: used by both the SQL functions and the route handlers
 * ---------------------------------------------------------------------
 */

/* Fill out from row i of rows (columns BROADCAST_COLS). */
static void
BroadcastFromRow(SPITupleTable *rows, uint64 i, ApiBroadcast *out)
{
	HeapTuple	tup = rows->vals[i];
	TupleDesc	desc = rows->tupdesc;
	bool		isnull;
	int			c;

	out->broadcast_id = SPI_getvalue(tup, desc, 1);
	out->audience_id = SPI_getvalue(tup, desc, 2);
	out->body = SPI_getvalue(tup, desc, 3);
	out->status = SPI_getvalue(tup, desc, 4);
	out->recipient_count = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
	out->suppressed_count = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
	out->encoding = SPI_getvalue(tup, desc, 7);
	out->segments = DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull));
	out->send_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 9,
													 &out->send_at_null));
	for (c = 0; c < 6; c++)
		out->counts[c] = DatumGetInt64(SPI_getbinval(tup, desc, 10 + c,
													 &isnull));
	out->created_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 16,
														&isnull));
	out->from_address = SPI_getvalue(tup, desc, 17);
}

/* Load a broadcast (see broadcasts.h). */
bool
broadcast_load(const char *account_id, const char *audience_id,
			   const char *broadcast_id, ApiBroadcast *out)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, INT4OID};
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	SPIPlanPtr	plan;
	int			rc;

	args[0] = CStringGetTextDatum(account_id);
	args[1] = CStringGetTextDatum(broadcast_id);
	args[2] = (Datum) 0;
	args[3] = Int32GetDatum(bar9_account_no(account_id, true));
	/* unused parameters go NULL, not unset: Citus copies every one */
	nulls[2] = audience_id == NULL ? 'n' : ' ';
	if (audience_id != NULL)
	{
		args[2] = CStringGetTextDatum(audience_id);
		plan = bar9_plan(&load_plan,
						 "SELECT " BROADCAST_COLS " FROM bar9.broadcasts"
						 " WHERE account_id = $1 AND broadcast_id = $2"
						 "   AND audience_id = $3 AND account_no = $4",
						 4, argtypes);
	}
	else
		plan = bar9_plan(&load_any_audience_plan,
						 "SELECT " BROADCAST_COLS " FROM bar9.broadcasts"
						 " WHERE account_id = $1 AND broadcast_id = $2"
						 "   AND account_no = $4",
						 4, argtypes);
	rc = SPI_execute_plan(plan, args, nulls, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "broadcast lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		return false;
	BroadcastFromRow(SPI_tuptable, 0, out);
	return true;
}

/*
 * Check a body: 1 to 1600 characters.  Sets *enc (encoding and segments,
 * measured on its UTF-8 form) and returns NULL, or returns the problem in
 * words for the client.
 */
static const char *
BroadcastCheckBody(const char *body, SmsEncoding *enc)
{
	int			len = strlen(body);
	char	   *utf8 = pg_server_to_any(body, len, PG_UTF8);

	if (utf8 != body)
		len = strlen(utf8);
	sms_measure(utf8, len, enc);
	if (enc->nchars < 1)
		return "body must not be empty";
	if (enc->nchars > SMS_BODY_MAX_CHARS)
		return "body must be at most 1600 characters long";
	return NULL;
}

/* Read exactly n decimal digits at *p into *out, advancing *p. */
static bool
BroadcastDigits(const char **p, int n, int *out)
{
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		char		c = (*p)[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/*
 * Parse an RFC 3339 date-time ("2026-11-26T13:22:55Z", with optional
 * fraction and a "Z" or "+hh:mm"/"-hh:mm" offset; "T" and "Z" in either
 * case).  Nothing else passes: no date alone, no missing offset, no space
 * instead of "T", no words like "now".  False when s is not one.
 */
static bool
BroadcastParseRfc3339(const char *s, TimestampTz *out)
{
	const char *p = s;
	struct pg_tm tm;
	fsec_t		fsec = 0;
	int			tz = 0;
	int			year;
	int			sign;
	int			oh;
	int			om;
	Timestamp	ts;

	memset(&tm, 0, sizeof(tm));
	if (!BroadcastDigits(&p, 4, &year) || *p++ != '-' ||
		!BroadcastDigits(&p, 2, &tm.tm_mon) || *p++ != '-' ||
		!BroadcastDigits(&p, 2, &tm.tm_mday) ||
		(*p != 'T' && *p != 't'))
		return false;
	p++;
	if (!BroadcastDigits(&p, 2, &tm.tm_hour) || *p++ != ':' ||
		!BroadcastDigits(&p, 2, &tm.tm_min) || *p++ != ':' ||
		!BroadcastDigits(&p, 2, &tm.tm_sec))
		return false;
	if (*p == '.')
	{
		int			scale = 100000;

		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
		{
			fsec += (*p - '0') * scale;	/* digits past microseconds drop */
			scale /= 10;
			p++;
		}
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		sign = (*p == '-') ? -1 : 1;
		p++;
		if (!BroadcastDigits(&p, 2, &oh) || *p++ != ':' ||
			!BroadcastDigits(&p, 2, &om) || oh > 23 || om > 59)
			return false;
		/* PostgreSQL's tz is seconds west of UTC */
		tz = -sign * (oh * SECS_PER_HOUR + om * SECS_PER_MINUTE);
	}
	else
		return false;
	if (*p != '\0')
		return false;

	/* field ranges; a leap second (:60) is accepted as RFC 3339 allows */
	if (year < 1 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
		tm.tm_mday > day_tab[isleap(year)][tm.tm_mon - 1] ||
		tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return false;
	tm.tm_year = year;
	if (tm.tm_sec == 60)
	{
		tm.tm_sec = 59;
		fsec += USECS_PER_SEC;
	}
	if (tm2timestamp(&tm, fsec, &tz, &ts) != 0)
		return false;
	*out = (TimestampTz) ts;
	return true;
}

/* Is send_at between 1 minute and 35 days after now? */
static bool
BroadcastSendAtInWindow(TimestampTz send_at, TimestampTz now)
{
	return send_at >= now + (int64) BROADCAST_SEND_AT_MIN_SECS * USECS_PER_SEC &&
		send_at <= now + (int64) BROADCAST_SEND_AT_MAX_SECS * USECS_PER_SEC;
}


/*
 * How many numbers of the audience are on the account's opt-out list: the
 * recipient_count a new broadcast shows excludes them (docs/api.md); the fan-out
 * then counts them as suppressed_count.  One probe of the membership per
 * opt-out of the account, whatever the audience's size.
 */
static int64
BroadcastOptedOutMembers(const char *account_id, const char *audience_id)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, INT4OID};
	Datum		args[3];
	bool		isnull;
	int			rc;

	args[0] = CStringGetTextDatum(account_id);
	args[1] = CStringGetTextDatum(audience_id);
	args[2] = Int32GetDatum(bar9_account_no(account_id, true));
	rc = SPI_execute_plan(bar9_plan(&plan,
									"SELECT pg_catalog.count(*) FROM bar9.opt_outs o"
									"  JOIN bar9.audience_numbers cn"
									"    ON cn.account_id = o.account_id"
									"   AND cn.account_no = o.account_no"
									"   AND cn.audience_id = $2"
									"   AND cn.phone_number OPERATOR(bar9.=) o.phone_number"
									" WHERE o.account_id = $1 AND o.account_no = $3",
									3, argtypes),
						  args, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count opted-out members: %s",
			 SPI_result_code_string(rc));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}
/*
 * The account's next broadcast number for the SMS tables (the rule of
 * bar9.next_broadcast_no): its counters row, on the account's shard, stays
 * locked until commit.
 */
static int32
BroadcastNextNo(int32 account_no, TimestampTz created_at)
{
	static SPIPlanPtr floor_plan = NULL;
	static SPIPlanPtr next_plan = NULL;
	Oid			argtypes[2] = {INT4OID, TIMESTAMPTZOID};
	Datum		args[2];
	bool		isnull;
	int			rc;

	/* the day's first number (sms_days: a reference table), then the row */
	args[0] = Int32GetDatum(account_no);
	args[1] = TimestampTzGetDatum(created_at);
	rc = SPI_execute_plan(bar9_plan(&floor_plan,
									"SELECT bar9.broadcast_no_floor($2)",
									2, argtypes),
						  args, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the day's first broadcast number: %s",
			 SPI_result_code_string(rc));
	args[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
							1, &isnull);
	argtypes[1] = INT4OID;
	rc = SPI_execute_plan(bar9_plan(&next_plan,
									"UPDATE bar9.account_counters"
									"   SET last_broadcast_no"
									"       = GREATEST(last_broadcast_no + 1, $2)"
									" WHERE account_no = $1"
									" RETURNING last_broadcast_no",
									2, argtypes),
						  args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not number the broadcast: %s",
			 SPI_result_code_string(rc));
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/* The account's default sender address (palloc'd), or NULL if it has none. */
static char *
BroadcastDefaultSender(int32 account_no)
{
	static SPIPlanPtr plan = NULL;
	Datum		arg = Int32GetDatum(account_no);
	int			rc;

	rc = SPI_execute_plan(bar9_plan(&plan,
									"SELECT address FROM bar9.senders"
									" WHERE account_no = $1 AND is_default",
									1, (Oid[]) {INT4OID}),
						  &arg, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the default sender: %s",
			 SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * Create a broadcast of body (checked, measured in enc) to the audience
 * audience_id, to send now (has_send_at false) or at send_at (checked),
 * from from_address (a sender of the account, checked; NULL: the
 * account's default sender, if any).
 */
static BroadcastCreateResult
BroadcastCreate(const char *account_id, const char *audience_id,
				const char *body, const SmsEncoding *enc,
				bool has_send_at, TimestampTz send_at,
				const char *from_address, ApiBroadcast *out)
{
	Oid			argtypes[14] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID,
		TEXTOID, TIMESTAMPTZOID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID,
	INT4OID, INT4OID, TEXTOID};
	Datum		args[14];
	char		nulls[14];
	Audience	ch;
	TimestampTz now;
	int			rc;

	memset(nulls, ' ', sizeof(nulls));

	/*
	 * Lock the audience row: every change of its membership takes this lock
	 * first (audiences.h), so while we hold it no number is being added to
	 * or removed from it, and subscriber_count is exactly its size.
	 */
	if (!audience_load(account_id, audience_id, true, &ch))
		return BROADCAST_NO_AUDIENCE;
	if (ch.subscriber_count == 0)
		return BROADCAST_AUDIENCE_EMPTY;

	if (!has_send_at)
	{
		/*
		 * The recipients are the members whose added_seq is at most the
		 * audience's last_member_seq: every add draws its added_seq from
		 * that counter under the audience lock we hold, so the members now
		 * in the audience are exactly those, and any later add draws a
		 * larger value (whichever Citus node takes it: the counter is a
		 * row of the audience).  A scheduled broadcast gets its cutoff at
		 * send_at, when the worker starts it (the audience as it is then).
		 */
		args[7] = Int64GetDatum(ch.last_member_seq);
		nulls[6] = 'n';
		args[6] = (Datum) 0;
	}
	else
	{
		nulls[7] = 'n';
		args[7] = (Datum) 0;
		args[6] = TimestampTzGetDatum(send_at);
	}

	/* values computed here: no volatile function in a distributed write */
	now = GetCurrentTimestamp();
	args[0] = CStringGetTextDatum(account_id);
	args[1] = CStringGetTextDatum(audience_id);
	args[2] = CStringGetTextDatum(body);
	args[3] = CStringGetTextDatum(sms_encoding_name(enc));
	args[4] = Int32GetDatum(enc->segments);
	args[5] = CStringGetTextDatum(has_send_at ? "scheduled" : "pending");
	args[8] = Int64GetDatum(ch.subscriber_count -
							BroadcastOptedOutMembers(account_id, audience_id));
	args[9] = CStringGetTextDatum(bar9_new_id("msg_"));
	args[10] = TimestampTzGetDatum(now);
	args[11] = Int32GetDatum(ch.account_no);
	args[12] = Int32GetDatum(BroadcastNextNo(ch.account_no, now));
	if (from_address == NULL)
		from_address = BroadcastDefaultSender(ch.account_no);
	args[13] = from_address ? CStringGetTextDatum(from_address) : (Datum) 0;
	nulls[13] = from_address ? ' ' : 'n';
	rc = SPI_execute_plan(bar9_plan(&insert_plan,
									"INSERT INTO bar9.broadcasts"
									" (account_id, audience_id, body, encoding, segments,"
									"  status, send_at, member_seq_cutoff,"
									"  recipient_count, broadcast_id, created_at, updated_at,"
									"  account_no, broadcast_no, from_address)"
									" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
									"         $11, $11, $12, $13, $14)"
									" RETURNING " BROADCAST_COLS,
									14, argtypes),
						  args, nulls, false, 0);
	if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not insert broadcast: %s",
			 SPI_result_code_string(rc));
	BroadcastFromRow(SPI_tuptable, 0, out);

	/* the worker fans it out (or sets its timer) once we commit */
	bar9_wake_worker();
	return BROADCAST_CREATED;
}

/*
 * The broadcasts of an audience: at most limit + 1 rows, newest first,
 * after the broadcast after_id if not NULL.  NULL when after_id is not a
 * broadcast of that audience.
 */
static SPITupleTable *
BroadcastList(const char *account_id, const char *audience_id, int limit,
			  const char *after_id)
{
	Oid			argtypes[6] = {TEXTOID, TEXTOID, INT4OID, INT4OID,
	TIMESTAMPTZOID, TEXTOID};
	Datum		args[6];
	int			rc;

	/* account_no too: on Citus, one shard asked, not all */
	args[0] = CStringGetTextDatum(account_id);
	args[1] = CStringGetTextDatum(audience_id);
	args[2] = Int32GetDatum(limit + 1);
	args[3] = Int32GetDatum(bar9_account_no(account_id, true));

	if (after_id == NULL)
		rc = SPI_execute_plan(bar9_plan(&list_plan,
										"SELECT " BROADCAST_COLS " FROM bar9.broadcasts"
										" WHERE account_id = $1 AND audience_id = $2"
										"   AND account_no = $4"
										" ORDER BY created_at DESC, broadcast_id DESC"
										" LIMIT $3",
										4, argtypes),
							  args, NULL, false, 0);
	else
	{
		Oid			ctypes[4] = {TEXTOID, TEXTOID, TEXTOID, INT4OID};
		Datum		cargs[4];
		bool		isnull;

		cargs[0] = args[0];
		cargs[1] = args[1];
		cargs[2] = CStringGetTextDatum(after_id);
		cargs[3] = args[3];
		rc = SPI_execute_plan(bar9_plan(&cursor_plan,
										"SELECT created_at FROM bar9.broadcasts"
										" WHERE account_id = $1 AND audience_id = $2"
										"   AND broadcast_id = $3 AND account_no = $4",
										4, ctypes),
							  cargs, NULL, false, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "broadcast lookup failed: %s",
				 SPI_result_code_string(rc));
		if (SPI_processed != 1)
			return NULL;
		args[4] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								1, &isnull);
		args[5] = cargs[2];
		rc = SPI_execute_plan(bar9_plan(&list_after_plan,
										"SELECT " BROADCAST_COLS " FROM bar9.broadcasts"
										" WHERE account_id = $1 AND audience_id = $2"
										"   AND account_no = $4"
										"   AND (created_at, broadcast_id) < ($5, $6)"
										" ORDER BY created_at DESC, broadcast_id DESC"
										" LIMIT $3",
										6, argtypes),
							  args, NULL, false, 0);
	}
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "broadcast list failed: %s", SPI_result_code_string(rc));
	return SPI_tuptable;
}

/*
 * Cancel a broadcast of the account (and of audience_id, unless NULL):
 * 'scheduled', 'pending', 'queued' or 'sending' become 'canceled', and its
 * SMS that no sender has claimed become 'canceled'; claimed ones are left
 * to their senders.  *out is the broadcast afterwards.
 */
static BroadcastCancelResult
BroadcastCancel(const char *account_id, const char *audience_id,
				const char *broadcast_id, ApiBroadcast *out)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, INT4OID};
	Datum		args[3];
	char	   *status;
	int			rc;

	if (!broadcast_load(account_id, audience_id, broadcast_id, out))
		return BROADCAST_NOT_FOUND;

	/*
	 * Lock the broadcast row.  The fan-out takes the same lock for each
	 * batch, so a batch running now commits first (and we cancel its SMS
	 * below), and every later batch sees 'canceled' and stops: nothing is
	 * queued after we commit.
	 */
	args[0] = CStringGetTextDatum(account_id);
	args[1] = CStringGetTextDatum(broadcast_id);
	args[2] = Int32GetDatum(bar9_account_no(account_id, true));
	rc = SPI_execute_plan(bar9_plan(&lock_plan,
									"SELECT status FROM bar9.broadcasts"
									" WHERE account_id = $1 AND broadcast_id = $2"
									"   AND account_no = $3"
									"   FOR NO KEY UPDATE",
									3, argtypes),
						  args, NULL, false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not lock broadcast: %s", SPI_result_code_string(rc));
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(status, "completed") == 0 || strcmp(status, "canceled") == 0)
	{
		out->status = status;
		return BROADCAST_NOT_CANCELABLE;
	}

	broadcast_cancel_locked(account_id, broadcast_id, out);
	return BROADCAST_CANCELED;
}

/*
 * Cancel broadcast broadcast_id of account_id, whose row the caller holds
 * locked FOR NO KEY UPDATE and which is not finished: its queued SMS that
 * no sender holds become 'canceled', and so does the broadcast, its
 * counters moved.  SPI must be connected.  *out (unless NULL) is the
 * broadcast afterwards.  The cancel route and the fan-out of a broadcast
 * whose audience was deleted (fanout.c) both end here.
 */
void
broadcast_cancel_locked(const char *account_id, const char *broadcast_id,
						ApiBroadcast *out)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, INT8OID, INT4OID};
	Datum		args[4];
	int64		canceled;
	int			rc;
	bool		isnull;
	bool		have_cursor;
	Datum		cursor;
	HeapTuple	row;
	TupleDesc	desc;

	args[0] = CStringGetTextDatum(account_id);
	args[1] = CStringGetTextDatum(broadcast_id);
	args[2] = (Datum) 0;
	args[3] = Int32GetDatum(bar9_account_no(account_id, true));

	/*
	 * Its SMS that no claim covers (queue.h): those after its claim cursor
	 * and its unclaimed retries.  Claimed ('sending') SMS finish as their
	 * senders report.
	 */
	rc = SPI_execute_plan(bar9_plan(&cancel_sms_plan,
									"SELECT account_no, broadcast_no, claim_cursor"
									"  FROM bar9.broadcasts"
									" WHERE account_id = $1 AND broadcast_id = $2"
									"   AND account_no = $4",
									4, argtypes),
						  args, NULL, false, 0);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read broadcast: %s", SPI_result_code_string(rc));
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	cursor = SPI_getbinval(row, desc, 3, &have_cursor);
	have_cursor = !have_cursor;
	canceled = bar9_sms_cancel_unclaimed(
		DatumGetInt32(SPI_getbinval(row, desc, 1, &isnull)),
		DatumGetInt32(SPI_getbinval(row, desc, 2, &isnull)),
		have_cursor, have_cursor ? DatumGetE164(cursor) : 0, NULL);

	args[2] = Int64GetDatum(canceled);
	rc = SPI_execute_plan(bar9_plan(&cancel_plan,
									"UPDATE bar9.broadcasts"
									"   SET status = 'canceled',"
									"       n_queued = n_queued - $3,"
									"       n_canceled = n_canceled + $3,"
									"       updated_at = pg_catalog.now()"
									" WHERE account_id = $1 AND broadcast_id = $2"
									"   AND account_no = $4"
									" RETURNING " BROADCAST_COLS,
									4, argtypes),
						  args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not cancel broadcast: %s",
			 SPI_result_code_string(rc));
	if (out)
		BroadcastFromRow(SPI_tuptable, 0, out);
}

/* Write m as a message object. */
void
broadcast_json(JsonOut *jo, const ApiBroadcast *m)
{
	int			c;

	json_out_begin_object(jo);
	json_out_kv_string(jo, "id", m->broadcast_id);
	json_out_kv_string(jo, "object", "marketing_message");
	json_out_kv_string(jo, "channel_id", m->audience_id);
	json_out_kv_string(jo, "body", m->body);
	json_out_kv_string(jo, "status", m->status);
	json_out_kv_int64(jo, "recipient_count", m->recipient_count);
	json_out_kv_int64(jo, "suppressed_count", m->suppressed_count);
	json_out_kv_string(jo, "encoding", m->encoding);
	json_out_kv_int64(jo, "segments", m->segments);
	json_out_kv_timestamptz_null(jo, "send_at", m->send_at, m->send_at_null);
	json_out_key(jo, "from");
	json_out_string(jo, m->from_address);
	json_out_key(jo, "counts");
	json_out_begin_object(jo);
	for (c = 0; c < 6; c++)
		json_out_kv_int64(jo, count_names[c], m->counts[c]);
	json_out_end_object(jo);
	json_out_kv_timestamptz(jo, "created_at", m->created_at);

	/* a broadcast that waits for a worker that will never come says so */
	if (strcmp(m->status, "pending") == 0 ||
		strcmp(m->status, "scheduled") == 0)
	{
		const char *why = bar9_worker_absent_reason();

		if (why != NULL)
			json_out_kv_string(jo, "status_reason", why);
	}
	json_out_end_object(jo);
}

/* ---------------------------------------------------------------------
 * Route handlers
 * ---------------------------------------------------------------------
 */

static const char *const create_keys[] = {"body", "send_at", "from", NULL};

/* Is address one of the sender addresses of the account? */
static bool
BroadcastSenderKnown(const char *account_id, const char *address)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2];

	args[0] = CStringGetTextDatum(account_id);
	args[1] = CStringGetTextDatum(address);
	if (SPI_execute_plan(bar9_plan(&plan,
								   "SELECT FROM bar9.senders d"
								   "  JOIN bar9.accounts a USING (account_no)"
								   " WHERE a.account_id = $1 AND d.address = $2",
								   2, argtypes),
						 args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up a sender address");
	return SPI_processed == 1;
}

/*
 * The audience of the path, which must be a live audience of the key's
 * account; false after a 404.
 */
static bool
BroadcastsAudience(ApiRequest *req, ApiResponse *resp, const char **audience_id)
{
	const char *id = api_path_param(req, "channel_id");
	Audience	ch;

	if (!api_valid_id(id, "mkt_") ||
		!audience_load(req->account_id, id, false, &ch))
	{
		api_not_found(resp, "marketing_channel", id);
		return false;
	}
	*audience_id = id;
	return true;
}

/* POST /v1/marketing/channels/:channel_id/messages */
void
broadcasts_create_handler(ApiRequest *req, ApiResponse *resp)
{
	const char *audience_id = api_path_param(req, "channel_id");
	char	   *body;
	char	   *send_at_text;
	char	   *from;
	TimestampTz send_at = 0;
	SmsEncoding enc;
	const char *why;
	ApiBroadcast m;

	if (!api_valid_id(audience_id, "mkt_"))
	{
		api_not_found(resp, "marketing_channel", audience_id);
		return;
	}
	if (!api_body_check_keys(req, resp, create_keys, "body") ||
		!api_body_string(req, resp, "body", true, &body) ||
		!api_body_string(req, resp, "send_at", false, &send_at_text) ||
		!api_body_string(req, resp, "from", false, &from))
		return;
	why = BroadcastCheckBody(body, &enc);
	if (why != NULL)
	{
		api_error(resp, 400, "invalid_parameter", why, "body");
		return;
	}
	if (send_at_text != NULL)
	{
		if (!BroadcastParseRfc3339(send_at_text, &send_at))
		{
			api_error(resp, 400, "invalid_parameter",
					  "send_at must be an RFC 3339 date-time with a time zone, e.g. 2026-11-26T13:22:55Z",
					  "send_at");
			return;
		}
		if (!BroadcastSendAtInWindow(send_at, GetCurrentTimestamp()))
		{
			api_error(resp, 400, "invalid_parameter",
					  "send_at must be between 1 minute and 35 days from now",
					  "send_at");
			return;
		}
	}

	if (from != NULL && !BroadcastSenderKnown(req->account_id, from))
	{
		api_error(resp, 400, "invalid_parameter",
				  "from must be one of the account's sender addresses",
				  "from");
		return;
	}

	switch (BroadcastCreate(req->account_id, audience_id, body, &enc,
							send_at_text != NULL, send_at, from, &m))
	{
		case BROADCAST_NO_AUDIENCE:
			api_not_found(resp, "marketing_channel", audience_id);
			return;
		case BROADCAST_AUDIENCE_EMPTY:
			api_error(resp, 422, "channel_empty",
					  "The audience has no phone numbers: add some before sending to it",
					  NULL);
			return;
		case BROADCAST_CREATED:
			break;
	}
	resp->status = 201;
	broadcast_json(&resp->json, &m);
}

/* GET /v1/marketing/channels/:channel_id/messages */
void
broadcasts_list_handler(ApiRequest *req, ApiResponse *resp)
{
	const char *audience_id;
	int			limit;
	const char *after;
	SPITupleTable *rows = NULL;
	uint64		i;
	uint64		n;

	if (!BroadcastsAudience(req, resp, &audience_id) ||
		!api_page_params(req, resp, &limit, &after))
		return;
	if (after == NULL || api_valid_id(after, "msg_"))
		rows = BroadcastList(req->account_id, audience_id, limit, after);
	if (rows == NULL)
	{
		char	   *msg = psprintf("No such marketing_message: '%s'", after);

		api_error(resp, 400, "invalid_parameter", msg, "starting_after");
		return;
	}

	n = rows->numvals;
	resp->status = 200;
	api_list_begin(resp);
	for (i = 0; i < n && i < (uint64) limit; i++)
	{
		ApiBroadcast m;

		BroadcastFromRow(rows, i, &m);
		broadcast_json(&resp->json, &m);
	}
	api_list_end(resp, n > (uint64) limit);
}

/* GET /v1/marketing/channels/:channel_id/messages/:message_id */
void
broadcasts_get_handler(ApiRequest *req, ApiResponse *resp)
{
	const char *audience_id;
	const char *id = api_path_param(req, "message_id");
	ApiBroadcast m;

	if (!BroadcastsAudience(req, resp, &audience_id))
		return;
	if (!api_valid_id(id, "msg_") ||
		!broadcast_load(req->account_id, audience_id, id, &m))
	{
		api_not_found(resp, "marketing_message", id);
		return;
	}
	resp->status = 200;
	broadcast_json(&resp->json, &m);
}

/* POST /v1/marketing/channels/:channel_id/messages/:message_id/cancel */
void
broadcasts_cancel_handler(ApiRequest *req, ApiResponse *resp)
{
	const char *audience_id;
	const char *id = api_path_param(req, "message_id");
	ApiBroadcast m;
	char	   *msg;

	if (!BroadcastsAudience(req, resp, &audience_id))
		return;
	if (!api_valid_id(id, "msg_"))
	{
		api_not_found(resp, "marketing_message", id);
		return;
	}
	if (!api_body_check_keys(req, resp, create_keys + 2, NULL))	/* none allowed */
		return;
	switch (BroadcastCancel(req->account_id, audience_id, id, &m))
	{
		case BROADCAST_NOT_FOUND:
			api_not_found(resp, "marketing_message", id);
			return;
		case BROADCAST_NOT_CANCELABLE:
			msg = psprintf("The message is %s and can no longer be canceled",
						   m.status);
			api_error(resp, 409, "message_not_cancelable", msg, NULL);
			return;
		case BROADCAST_CANCELED:
			break;
	}
	resp->status = 200;
	broadcast_json(&resp->json, &m);
}

/* ---------------------------------------------------------------------
 * Typed SQL functions
 * ---------------------------------------------------------------------
 */

/* Raise 42704 for a broadcast that is not there. */
static void
BroadcastNotFound(const char *broadcast_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("broadcast \"%s\" does not exist", broadcast_id)));
}

/* Raise 42704 for an audience that is not there. */
static void
BroadcastAudienceNotFound(const char *audience_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("audience \"%s\" does not exist", audience_id)));
}

/* Argument n of a SQL call as a C string; a 22004 error when NULL. */
static char *
BroadcastArgString(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* Values and nulls of a bar9.broadcast row for m. */
static void
BroadcastValues(const ApiBroadcast *m, Datum *values, bool *nulls)
{
	int			c;

	memset(nulls, 0, sizeof(bool) * BROADCAST_NCOLS);
	values[0] = CStringGetTextDatum(m->broadcast_id);
	values[1] = CStringGetTextDatum(m->audience_id);
	values[2] = CStringGetTextDatum(m->body);
	values[3] = CStringGetTextDatum(m->status);
	values[4] = Int64GetDatum(m->recipient_count);
	values[5] = Int64GetDatum(m->suppressed_count);
	values[6] = CStringGetTextDatum(m->encoding);
	values[7] = Int32GetDatum(m->segments);
	values[8] = TimestampTzGetDatum(m->send_at);
	nulls[8] = m->send_at_null;
	for (c = 0; c < 6; c++)
		values[9 + c] = Int64GetDatum(m->counts[c]);
	values[15] = TimestampTzGetDatum(m->created_at);
	values[16] = m->from_address ? CStringGetTextDatum(m->from_address) : (Datum) 0;
	nulls[16] = m->from_address == NULL;
}

/* A bar9.broadcast composite Datum for m, built in memory context cxt. */
static Datum
BroadcastDatum(FunctionCallInfo fcinfo, const ApiBroadcast *m, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	TupleDesc	desc;
	Datum		values[BROADCAST_NCOLS];
	bool		nulls[BROADCAST_NCOLS];
	HeapTuple	tup;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	BroadcastValues(m, values, nulls);
	tup = heap_form_tuple(desc, values, nulls);
	MemoryContextSwitchTo(old);
	return HeapTupleGetDatum(tup);
}

PG_FUNCTION_INFO_V1(bar9_create_broadcast);

/*
 * SQL: bar9.create_broadcast(account_id text, audience_id text, body text,
 * send_at timestamptz DEFAULT NULL, "from" text DEFAULT NULL) ->
 * bar9.broadcast; "from" as the HTTP body's: one of the account's sender
 * addresses (22023 otherwise), NULL for the account's default.
 */
Datum
bar9_create_broadcast(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *account_id = BroadcastArgString(fcinfo, 0, "account_id");
	char	   *audience_id = BroadcastArgString(fcinfo, 1, "audience_id");
	char	   *body = BroadcastArgString(fcinfo, 2, "body");
	bool		has_send_at = !PG_ARGISNULL(3);
	TimestampTz send_at = has_send_at ? PG_GETARG_TIMESTAMPTZ(3) : 0;
	char	   *from = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	SmsEncoding enc;
	const char *why;
	ApiBroadcast m;
	Datum		result;

	why = BroadcastCheckBody(body, &enc);
	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid broadcast body: %s", why),
				 errdetail("A body has 1 to %d characters.",
						   SMS_BODY_MAX_CHARS)));
	if (has_send_at && !BroadcastSendAtInWindow(send_at, GetCurrentTimestamp()))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("send_at must be between 1 minute and 35 days from now")));

	SPI_connect();
	if (from != NULL && !BroadcastSenderKnown(account_id, from))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from must be one of the account's sender addresses"),
				 errhint("Give it exactly as bar9.add_sender returned it; bar9.list_senders lists them.")));
	switch (BroadcastCreate(account_id, audience_id, body, &enc, has_send_at,
							send_at, from, &m))
	{
		case BROADCAST_NO_AUDIENCE:
			BroadcastAudienceNotFound(audience_id);
			break;
		case BROADCAST_AUDIENCE_EMPTY:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("audience \"%s\" has no phone numbers",
							audience_id)));
			break;
		case BROADCAST_CREATED:
			break;
	}
	result = BroadcastDatum(fcinfo, &m, cxt);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

PG_FUNCTION_INFO_V1(bar9_get_broadcast);

/* SQL: bar9.get_broadcast(account_id text, broadcast_id text) -> bar9.broadcast */
Datum
bar9_get_broadcast(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *broadcast_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	ApiBroadcast m;
	Datum		result;

	SPI_connect();
	if (!broadcast_load(account_id, NULL, broadcast_id, &m))
		BroadcastNotFound(broadcast_id);
	result = BroadcastDatum(fcinfo, &m, cxt);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

PG_FUNCTION_INFO_V1(bar9_list_broadcasts);

/*
 * SQL: bar9.list_broadcasts(account_id text, audience_id text, limit int
 * DEFAULT 20, starting_after text DEFAULT NULL) -> SETOF bar9.broadcast
 */
Datum
bar9_list_broadcasts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *account_id = BroadcastArgString(fcinfo, 0, "account_id");
	char	   *audience_id = BroadcastArgString(fcinfo, 1, "audience_id");
	int			limit = PG_ARGISNULL(2) ? API_DEFAULT_LIMIT : PG_GETARG_INT32(2);
	char	   *after = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	Audience	ch;
	SPITupleTable *rows;
	uint64		i;

	if (limit < 1 || limit > BROADCAST_SQL_MAX_LIMIT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("limit must be between 1 and %d", BROADCAST_SQL_MAX_LIMIT)));

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	if (!audience_load(account_id, audience_id, false, &ch))
		BroadcastAudienceNotFound(audience_id);
	rows = BroadcastList(account_id, audience_id, limit - 1, after);
	if (rows == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("starting_after \"%s\" is not a broadcast of this audience",
						after)));
	for (i = 0; i < rows->numvals; i++)
	{
		ApiBroadcast m;
		Datum		values[BROADCAST_NCOLS];
		bool		nulls[BROADCAST_NCOLS];

		BroadcastFromRow(rows, i, &m);
		BroadcastValues(&m, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(bar9_cancel_broadcast);

/*
 * SQL: bar9.cancel_broadcast(account_id text, broadcast_id text)
 * -> bar9.broadcast
 */
Datum
bar9_cancel_broadcast(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *broadcast_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	ApiBroadcast m;
	Datum		result;

	SPI_connect();
	switch (BroadcastCancel(account_id, NULL, broadcast_id, &m))
	{
		case BROADCAST_NOT_FOUND:
			BroadcastNotFound(broadcast_id);
			break;
		case BROADCAST_NOT_CANCELABLE:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("broadcast \"%s\" is %s and cannot be canceled",
							broadcast_id, m.status)));
			break;
		case BROADCAST_CANCELED:
			break;
	}
	result = BroadcastDatum(fcinfo, &m, cxt);
	SPI_finish();
	PG_RETURN_DATUM(result);
}
