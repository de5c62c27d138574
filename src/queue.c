/*
 * queue.c
 *		What the sender queue's parts share: its settings, the sms_id format,
 *		the broadcasts of a batch and their counters, the cancel of
 *		unclaimed SMS, and the trigger that settles a broadcast's status.
 *
 * Claims are in claim.c, acknowledgements in ack.c, the partitions of the
 * SMS history and their retirement in sms_history.c; the tables in
 * src/sql/060_queue.sql, the lock order in queue.h.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "sql_helpers.h"
#include "e164.h"
#include "queue.h"

int			bar9_max_attempts = 5;
int			bar9_retry_delay_ms = 30 * 1000;
int			bar9_retry_delay_max_ms = 60 * 60 * 1000;

const char *const bar9_sms_state_names[SMS_NSTATES] = {
	"queued", "sending", "sent", "delivered", "failed", "canceled"
};

static SPIPlanPtr plan_lock;
static SPIPlanPtr plan_count;
static SPIPlanPtr plan_cancel[2];

PG_FUNCTION_INFO_V1(bar9_broadcasts_settle_status);

/* Define bar9.max_attempts, bar9.retry_delay and bar9.retry_delay_max. */
void
bar9_queue_init(void)
{
	DefineCustomIntVariable("bar9.max_attempts",
							"Claims of one SMS before a retry marks it failed.",
							"bar9.ack_sms with outcome 'retry' puts the SMS "
							"back in the queue until it has been claimed this "
							"many times, then marks it 'failed'.",
							&bar9_max_attempts,
							5, 1, 100,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("bar9.retry_delay",
							"Back-off before the first retry of an SMS.",
							"The n-th retry waits retry_delay * 2^(n-1), at "
							"most bar9.retry_delay_max.",
							&bar9_retry_delay_ms,
							30 * 1000, 0, 24 * 60 * 60 * 1000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("bar9.retry_delay_max",
							"Longest back-off before a retry of an SMS.",
							NULL,
							&bar9_retry_delay_max_ms,
							60 * 60 * 1000, 0, 24 * 60 * 60 * 1000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/* --- sms_id ---------------------------------------------------------------- */

/* Raise the error for a malformed sms_id. */
static void
SmsIdInvalid(const char *s)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid sms_id \"%s\"", s),
			 errhint("Pass back an sms_id exactly as bar9.claim_sms returned it.")));
}

/* Parse a decimal number of at most max from *p (advanced), or fail. */
static int64
SmsIdField(const char **p, int64 max, const char *s)
{
	int64		v = 0;
	const char *start = *p;

	while (**p >= '0' && **p <= '9')
	{
		v = v * 10 + (**p - '0');
		if (v > max)
			SmsIdInvalid(s);
		(*p)++;
	}
	if (*p == start)
		SmsIdInvalid(s);
	return v;
}

/*
 * Parse '<account_no>.<broadcast_no>.<digits>.c<claim_no>' (or '.r' for a
 * claim of a retried SMS), as bar9_sms_id_text writes it.
 */
void
bar9_sms_id_parse(const char *s, SmsId *out)
{
	const char *p = s;
	const char *digits;
	char		buf[E164_BUFSIZE];
	uint64		number;
	E164Error	err;

	out->account_no = (int32) SmsIdField(&p, PG_INT32_MAX, s);
	if (*p++ != '.')
		SmsIdInvalid(s);
	out->broadcast_no = (int32) SmsIdField(&p, PG_INT32_MAX, s);
	if (*p++ != '.')
		SmsIdInvalid(s);
	digits = p;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p - digits < E164_MIN_DIGITS || p - digits > E164_MAX_DIGITS)
		SmsIdInvalid(s);
	buf[0] = '+';
	memcpy(buf + 1, digits, p - digits);
	if (!e164_parse(buf, 1 + (p - digits), &number, &err, NULL, 0))
		SmsIdInvalid(s);
	out->number = number;
	if (*p++ != '.' || (*p != 'c' && *p != 'r'))
		SmsIdInvalid(s);
	out->retry = (*p++ == 'r');
	out->claim_no = SmsIdField(&p, PG_INT64_MAX / 10, s);
	if (*p != '\0')
		SmsIdInvalid(s);
}

/* The text of an sms_id. */
Datum
bar9_sms_id_text(const SmsId *id)
{
	char		number[E164_BUFSIZE];

	e164_format(id->number, number);
	return CStringGetTextDatum(psprintf("%d.%d.%s.%c" INT64_FORMAT,
										id->account_no, id->broadcast_no,
										number + 1, id->retry ? 'r' : 'c',
										id->claim_no));
}

/* A text[] of the phone numbers numbers[0..n) ("+digits"). */
Datum
bar9_numbers_text_array(const uint64 *numbers, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	char		buf[E164_BUFSIZE];

	for (int i = 0; i < n; i++)
	{
		e164_format(numbers[i], buf);
		elems[i] = CStringGetTextDatum(buf);
	}
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

/* --- the broadcasts of a batch ------------------------------------------- */

/* An empty set. */
void
bar9_broadcasts_init(BroadcastSet *set)
{
	set->n = 0;
	set->cap = 8;
	set->items = palloc0(sizeof(Broadcast) * set->cap);
}

/* Key order of broadcasts: account_no, then broadcast_no. */
static int
BroadcastCmp(int32 a1, int32 b1, const Broadcast *y)
{
	if (a1 != y->account_no)
		return a1 < y->account_no ? -1 : 1;
	if (b1 != y->broadcast_no)
		return b1 < y->broadcast_no ? -1 : 1;
	return 0;
}

/* Index of the first item not before the key (binary search). */
static int
BroadcastSlot(BroadcastSet *set, int32 account_no, int32 broadcast_no)
{
	int			lo = 0;
	int			hi = set->n;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (BroadcastCmp(account_no, broadcast_no, &set->items[mid]) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The broadcast of set with this key; NULL when absent. */
Broadcast *
bar9_broadcasts_find(BroadcastSet *set, int32 account_no, int32 broadcast_no)
{
	int			i = BroadcastSlot(set, account_no, broadcast_no);

	if (i < set->n &&
		BroadcastCmp(account_no, broadcast_no, &set->items[i]) == 0)
		return &set->items[i];
	return NULL;
}

/*
 * The broadcast of set with this key, added when absent.  The pointer
 * holds until the next add.
 */
Broadcast *
bar9_broadcasts_add(BroadcastSet *set, int32 account_no, int32 broadcast_no)
{
	Broadcast  *found = bar9_broadcasts_find(set, account_no, broadcast_no);
	int			i;

	if (found != NULL)
		return found;
	i = BroadcastSlot(set, account_no, broadcast_no);
	if (set->n == set->cap)
	{
		set->cap *= 2;
		set->items = repalloc(set->items, sizeof(Broadcast) * set->cap);
	}
	memmove(&set->items[i + 1], &set->items[i],
			sizeof(Broadcast) * (set->n - i));
	set->n++;
	memset(&set->items[i], 0, sizeof(Broadcast));
	set->items[i].account_no = account_no;
	set->items[i].broadcast_no = broadcast_no;
	return &set->items[i];
}

/* The int4[] of the account_no (col 0) or broadcast_no (col 1) of set. */
static Datum
BroadcastKeys(BroadcastSet *set, int col)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(set->n, 1));

	for (int i = 0; i < set->n; i++)
		elems[i] = Int32GetDatum(col == 0 ? set->items[i].account_no :
								 set->items[i].broadcast_no);
	return PointerGetDatum(construct_array(elems, set->n, INT4OID, 4, true,
										   TYPALIGN_INT));
}

/*
 * The account_no of the next account in set (sorted) at or after *i, whose
 * broadcasts are items [*i, returned end); false at the end.  The counters
 * and locks of a set are written account by account: on Citus each
 * statement runs on one shard (a lock never spans shards).
 */
static bool
BroadcastNextAccount(BroadcastSet *set, int *i, int *end, Datum *account)
{
	if (*i >= set->n)
		return false;
	*end = *i;
	while (*end < set->n &&
		   set->items[*end].account_no == set->items[*i].account_no)
		(*end)++;
	*account = Int32GetDatum(set->items[*i].account_no);
	return true;
}

static void BroadcastsLocked(BroadcastSet *set, SPITupleTable *rows);

/* Lock the bar9.broadcasts rows of set in key order (see queue.h). */
void
bar9_broadcasts_lock(BroadcastSet *set)
{
	static const Oid types[3] = {INT4ARRAYOID, INT4ARRAYOID, INT4OID};
	Datum		values[3];
	SPIPlanPtr	plan;
	int			next = 0;
	int			end;

	if (set->n == 0)
		return;
	values[0] = BroadcastKeys(set, 0);
	values[1] = BroadcastKeys(set, 1);
	plan = bar9_plan(&plan_lock,
					 "SELECT m.account_no, m.broadcast_no, m.status, m.broadcast_id,"
					 "       m.body, m.from_address, m.claim_cursor"
					 "  FROM bar9.broadcasts m"
					 " WHERE (m.account_no, m.broadcast_no) IN"
					 "       (SELECT a, b FROM ROWS FROM (pg_catalog.unnest($1),"
					 "                                    pg_catalog.unnest($2)) AS u(a, b))"
					 "   AND m.account_no = $3"
					 " ORDER BY m.account_no, m.broadcast_no"
					 "   FOR NO KEY UPDATE OF m",
					 3, types);
	while (BroadcastNextAccount(set, &next, &end, &values[2]))
	{
		next = end;
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not lock the broadcasts of a batch of SMS");
		BroadcastsLocked(set, SPI_tuptable);
	}
}

/* Note in set what the lock statement returned about its broadcasts (rows). */
static void
BroadcastsLocked(BroadcastSet *set, SPITupleTable *rows)
{
	for (uint64 i = 0; i < rows->numvals; i++)
	{
		HeapTuple	tup = rows->vals[i];
		TupleDesc	desc = rows->tupdesc;
		bool		isnull;
		Broadcast  *b;
		char	   *status;

		b = bar9_broadcasts_find(set,
								 DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull)),
								 DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull)));
		if (b == NULL)
			continue;
		status = SPI_getvalue(tup, desc, 3);
		b->found = true;
		b->canceled = (strcmp(status, "canceled") == 0);
		b->broadcast_id = SPI_getbinval(tup, desc, 4, &isnull);
		b->body = SPI_getbinval(tup, desc, 5, &isnull);
		b->from_address = SPI_getbinval(tup, desc, 6, &b->from_null);
		b->cursor = DatumGetE164(SPI_getbinval(tup, desc, 7, &isnull));
		b->have_cursor = !isnull;
	}
}

/* Apply the counter deltas of set (see queue.h). */
void
bar9_broadcasts_count(BroadcastSet *set)
{
	static const Oid types[9] = {INT4ARRAYOID, INT4ARRAYOID,
		INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
	INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT4OID};
	Datum		values[9];
	Datum	   *deltas[SMS_NSTATES];
	BroadcastSet moved;
	SPIPlanPtr	plan;
	int			next = 0;
	int			end;

	bar9_broadcasts_init(&moved);
	for (int i = 0; i < set->n; i++)
	{
		Broadcast  *b = &set->items[i];
		bool		any = false;

		for (int s = 0; s < SMS_NSTATES; s++)
			any |= (b->delta[s] != 0);
		if (b->found && any)
			*bar9_broadcasts_add(&moved, b->account_no, b->broadcast_no) = *b;
	}
	if (moved.n == 0)
		return;
	for (int s = 0; s < SMS_NSTATES; s++)
	{
		deltas[s] = palloc(sizeof(Datum) * moved.n);
		for (int i = 0; i < moved.n; i++)
			deltas[s][i] = Int64GetDatum(moved.items[i].delta[s]);
		values[2 + s] = PointerGetDatum(construct_array(deltas[s], moved.n,
														INT8OID, 8,
														FLOAT8PASSBYVAL,
														TYPALIGN_DOUBLE));
	}
	values[0] = BroadcastKeys(&moved, 0);
	values[1] = BroadcastKeys(&moved, 1);
	plan = bar9_plan(&plan_count,
					 "UPDATE bar9.broadcasts m"
					 "   SET n_queued = m.n_queued + d.q,"
					 "       n_sending = m.n_sending + d.s,"
					 "       n_sent = m.n_sent + d.se,"
					 "       n_delivered = m.n_delivered + d.de,"
					 "       n_failed = m.n_failed + d.f,"
					 "       n_canceled = m.n_canceled + d.c,"
					 "       updated_at = pg_catalog.now()"
					 "  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8))"
					 "       AS d(a, b, q, s, se, de, f, c)"
					 " WHERE m.account_no = d.a AND m.broadcast_no = d.b"
					 "   AND m.account_no = $9",
					 9, types);
	while (BroadcastNextAccount(&moved, &next, &end, &values[8]))
	{
		next = end;
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update the counters of a batch of SMS");
	}
}

/* --- cancel -------------------------------------------------------------- */

/*
 * The cancel statement: unclaimed SMS of sms_queue (after the cursor $3,
 * or all when $3 is NULL) and of sms_retry (claim_no NULL, skipping rows a
 * claimer holds) move to sms_history as canceled; with $4, only those to
 * that number.  $1 account_no, $2 broadcast_no.
 */
#define CANCEL_SQL(number_condition) \
	"WITH q AS (" \
	"  DELETE FROM bar9.sms_queue" \
	"   WHERE account_no = $1 AND broadcast_no = $2" \
	"     AND ($3::bar9.e164 IS NULL" \
	"          OR to_number OPERATOR(bar9.>) $3::bar9.e164)" number_condition \
	"  RETURNING to_number, 0::smallint AS attempt, NULL::text AS error)," \
	" r AS (" \
	"  DELETE FROM bar9.sms_retry d USING (" \
	"         SELECT to_number FROM bar9.sms_retry" \
	"          WHERE account_no = $1 AND broadcast_no = $2" \
	"            AND claim_no IS NULL" number_condition \
	"            FOR UPDATE SKIP LOCKED) p" \
	"   WHERE d.account_no = $1 AND d.broadcast_no = $2" \
	"     AND d.to_number OPERATOR(bar9.=) p.to_number" \
	"  RETURNING d.to_number, d.attempt, d.error)," \
	" h AS (" \
	"  INSERT INTO bar9.sms_history" \
	"   SELECT $1, $2, x.to_number, 5, x.attempt, " SQL_CHANGED_S("$2") "," \
	"          NULL, x.error" \
	"     FROM (SELECT * FROM q UNION ALL SELECT * FROM r) x" \
	"  RETURNING 1)" \
	" SELECT pg_catalog.count(*) FROM h"

/* Cancel the unclaimed SMS of one broadcast (see queue.h). */
int64
bar9_sms_cancel_unclaimed(int32 account_no, int32 broadcast_no,
						  bool have_cursor, uint64 cursor,
						  const uint64 *number)
{
	static const Oid types[4] = {INT4OID, INT4OID, TEXTOID, TEXTOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	SPIPlanPtr	plan;
	bool		isnull;

	plan = number == NULL ?
		bar9_plan(&plan_cancel[0], CANCEL_SQL(""), 3, types) :
		bar9_plan(&plan_cancel[1],
				  CANCEL_SQL(" AND to_number OPERATOR(bar9.=) $4::bar9.e164"),
				  4, types);
	values[0] = Int32GetDatum(account_no);
	values[1] = Int32GetDatum(broadcast_no);
	values[2] = have_cursor ? E164TextDatum(cursor) : (Datum) 0;
	nulls[2] = have_cursor ? ' ' : 'n';
	values[3] = number ? E164TextDatum(*number) : (Datum) 0;
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not cancel the queued SMS of a broadcast");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/* --- broadcast status ---------------------------------------------------- */

/* The int8 column name of tuple (0 when NULL). */
static int64
TupleInt8(HeapTuple tuple, TupleDesc desc, const char *name)
{
	bool		isnull;
	int			attnum = SPI_fnumber(desc, name);
	Datum		d;

	if (attnum <= 0)
		elog(ERROR, "bar9.broadcasts has no column \"%s\"", name);
	d = SPI_getbinval(tuple, desc, attnum, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * Trigger bar9.broadcasts_settle_status(), BEFORE UPDATE of a fanned-out
 * 'queued' or 'sending' broadcast: 'completed' once no SMS is queued or
 * sending, else 'sending' once any SMS was claimed.
 */
Datum
bar9_broadcasts_settle_status(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	newtuple;
	TupleDesc	desc;
	int			status_attnum;
	char	   *status;
	const char *settled = NULL;
	int64		queued;
	int64		sending;
	int64		claimed;
	Datum		value;
	bool		isnull = false;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		elog(ERROR, "broadcasts_settle_status must be a BEFORE UPDATE row trigger");

	newtuple = trigdata->tg_newtuple;
	desc = trigdata->tg_relation->rd_att;
	status_attnum = SPI_fnumber(desc, "status");
	if (status_attnum <= 0)
		elog(ERROR, "bar9.broadcasts has no column \"status\"");
	status = SPI_getvalue(newtuple, desc, status_attnum);
	if (status == NULL)
		return PointerGetDatum(newtuple);

	queued = TupleInt8(newtuple, desc, "n_queued");
	sending = TupleInt8(newtuple, desc, "n_sending");
	claimed = sending + TupleInt8(newtuple, desc, "n_sent") +
		TupleInt8(newtuple, desc, "n_delivered") +
		TupleInt8(newtuple, desc, "n_failed");

	/* the WHEN clause of the trigger has checked fanout_done */
	if (strcmp(status, "queued") != 0 && strcmp(status, "sending") != 0)
		return PointerGetDatum(newtuple);
	if (queued == 0 && sending == 0)
		settled = "completed";
	else if (claimed > 0 && strcmp(status, "queued") == 0)
		settled = "sending";
	if (settled == NULL)
		return PointerGetDatum(newtuple);

	value = CStringGetTextDatum(settled);
	return PointerGetDatum(heap_modify_tuple_by_cols(newtuple, desc, 1,
													 &status_attnum, &value,
													 &isnull));
}
