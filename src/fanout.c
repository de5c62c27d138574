/*
 * fanout.c
 *		Fan-out of one broadcast into one queued SMS per recipient.
 *
 * A broadcast (a bar9.broadcasts row) is fanned out in batches of
 * bar9.fanout_batch_size recipients, each batch in its own transaction
 * (the background worker's, see worker.c, or the caller's for the test
 * functions bar9.fanout_step and bar9.fanout_run).  One batch:
 *
 *	1. takes the account's consent lock shared, first (see optouts.h): an
 *	   opt-out committed before is seen by the batch and suppressed, one
 *	   made after waits for the batch to commit and then cancels what it
 *	   queued.
 *	2. locks the audience row, then the broadcast row.  Under those locks
 *	   the status is final for the batch: a cancel or an audience delete
 *	   either committed before (we see it and stop) or waits for us (and
 *	   then sees, and cancels, what we queued).  No SMS is queued after a
 *	   cancel commits.
 *	3. a scheduled broadcast whose send_at has come becomes 'pending' here:
 *	   its recipients are the audience as it is now (member_seq_cutoff is
 *	   the audience's last_member_seq), and recipient_count is set to
 *	   the audience's current size less its opted-out members.
 *	4. reads the next bar9.fanout_batch_size members after fanout_cursor, in
 *	   phone-number order (a range scan of the audience's primary key),
 *	   then the account's opt-outs between the first and the last of them
 *	   (one range scan of the opt-out list's primary key per batch: over a
 *	   whole fan-out each opt-out is read at most once), leaves the opted-out
 *	   members out in a merge of the two sorted lists, and inserts one SMS
 *	   per remaining member in one statement.
 *	5. one statement stores the cursor and the counters; when the batch
 *	   came back short the fan-out is done: status 'queued', which the
 *	   trigger of queue.h settles to 'sending' or 'completed' as the
 *	   counters say (all suppressed: 'completed' at once).
 *	6. NOTIFY bar9_sms once if the batch created any SMS.
 *
 * The cursor commits with the SMS of its batch, so after any crash the
 * fan-out resumes exactly where it stopped; the primary key of sms_queue
 * (account, message, number) makes a second SMS for one number impossible
 * even if that reasoning were ever wrong.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "sql_helpers.h"
#include "auth.h"
#include "cluster.h"
#include "e164.h"
#include "fanout.h"
#include "broadcasts.h"
#include "optouts.h"
#include "worker.h"

/* The statements of fan-out, prepared once per backend with bar9_plan. */
typedef enum FanoutPlanId
{
	PLAN_AUDIENCE_OF,
	PLAN_LOCK_AUDIENCE,
	PLAN_LOCK_BROADCAST,
	PLAN_START,
	PLAN_READ,					/* the first batch: no cursor yet */
	PLAN_READ_AFTER,			/* the next ones, after the cursor */
	PLAN_OPTED,
	PLAN_SMS_MAX,
	PLAN_COUNT_AUDIENCE,
	PLAN_RECORD,
	PLAN_CANCEL_AUDIENCE,
	NUM_FANOUT_PLANS
} FanoutPlanId;

typedef struct FanoutQuery
{
	const char *sql;
	int			nargs;
	Oid			argtypes[9];
} FanoutQuery;

/*
 * The members of a batch: $1 account, $2 channel, $3 member cutoff, $4
 * batch size, $5 cursor (text; the _AFTER form only), $6 account_no.
 * Every statement names account_no: on Citus each runs on the account's
 * shard alone (a router query), locks included.
 */
#define READ_SQL(cursor_condition) \
	"SELECT phone_number FROM bar9.audience_numbers" \
	" WHERE account_id = $1 AND audience_id = $2 AND added_seq <= $3" \
	"   AND account_no = $6" \
	cursor_condition \
	" ORDER BY phone_number LIMIT $4"

/*
 * The SMS of a batch: $1 account_no, $2 broadcast_no, $3 the numbers
 * (e164[]), in key order: appended to the primary key of sms_queue.
 */
#define INSERT_SQL \
	"INSERT INTO bar9.sms_queue (account_no, broadcast_no, to_number)" \
	" SELECT $1, $2, pg_catalog.unnest($3)"

/*
 * The same on Citus ($4 account_id, $5 audience_id): the numbers come from
 * the audience's rows, so that the INSERT ... SELECT is between co-located
 * tables of one account and runs on its shard (from an array, Citus would
 * pull the rows to the coordinator and copy them out again).  The members
 * are still there: the batch holds the audience's lock.  The numbers are
 * in key order: the scan is the range of the audience's key they span.
 */
#define INSERT_CITUS_SQL \
	"INSERT INTO bar9.sms_queue (account_no, broadcast_no, to_number)" \
	" SELECT cn.account_no, $2, cn.phone_number FROM bar9.audience_numbers cn" \
	" WHERE cn.account_no = $1 AND cn.account_id = $4 AND cn.audience_id = $5" \
	"   AND cn.phone_number OPERATOR(bar9.>=) ($3)[1]" \
	"   AND cn.phone_number OPERATOR(bar9.<=) ($3)[pg_catalog.array_upper($3, 1)]" \
	"   AND cn.phone_number OPERATOR(bar9.=) ANY ($3)"

static const FanoutQuery fanout_queries[NUM_FANOUT_PLANS] = {
	[PLAN_AUDIENCE_OF] = {
		"SELECT audience_id FROM bar9.broadcasts"
		" WHERE account_id = $1 AND broadcast_id = $2 AND account_no = $3",
		3, {TEXTOID, TEXTOID, INT4OID}
	},
	[PLAN_LOCK_AUDIENCE] = {
		"SELECT deleted_at IS NOT NULL, subscriber_count, last_member_seq"
		"  FROM bar9.audiences"
		" WHERE account_id = $1 AND audience_id = $2 AND account_no = $3"
		" FOR NO KEY UPDATE",
		3, {TEXTOID, TEXTOID, INT4OID}
	},
	[PLAN_LOCK_BROADCAST] = {
		"SELECT status, status = 'pending' OR send_at <= pg_catalog.now(),"
		"       member_seq_cutoff, fanout_cursor, recipient_count,"
		"       n_queued + n_sending + n_sent + n_delivered + n_failed"
		"       + n_canceled, account_no, broadcast_no"
		"  FROM bar9.broadcasts"
		" WHERE account_id = $1 AND broadcast_id = $2 AND account_no = $3"
		" FOR NO KEY UPDATE",
		3, {TEXTOID, TEXTOID, INT4OID}
	},
	[PLAN_START] = {
		"UPDATE bar9.broadcasts"
		"   SET status = 'pending',"
		"       member_seq_cutoff = $4,"
		"       recipient_count = $3 - (SELECT pg_catalog.count(*) FROM bar9.opt_outs o"
		"          JOIN bar9.audience_numbers cn"
		"            ON cn.account_id = o.account_id"
		"           AND cn.account_no = o.account_no"
		"           AND cn.audience_id = bar9.broadcasts.audience_id"
		"           AND cn.phone_number OPERATOR(bar9.=) o.phone_number"
		"         WHERE o.account_id = $1 AND o.account_no = $5),"
		"       updated_at = pg_catalog.now()"
		" WHERE account_id = $1 AND broadcast_id = $2 AND account_no = $5"
		" RETURNING member_seq_cutoff, recipient_count",
		5, {TEXTOID, TEXTOID, INT8OID, INT8OID, INT4OID}
	},
	[PLAN_READ] = {
		READ_SQL(""), 6, {TEXTOID, TEXTOID, INT8OID, INT8OID, TEXTOID, INT4OID}
	},
	[PLAN_READ_AFTER] = {
		READ_SQL(" AND phone_number OPERATOR(bar9.>) $5::bar9.e164"),
		6, {TEXTOID, TEXTOID, INT8OID, INT8OID, TEXTOID, INT4OID}
	},
	/* the opt-outs in [$2, $3]: one range scan of the primary key */
	[PLAN_OPTED] = {
		"SELECT phone_number FROM bar9.opt_outs"
		" WHERE account_id = $1"
		"   AND phone_number OPERATOR(bar9.>=) $2::bar9.e164"
		"   AND phone_number OPERATOR(bar9.<=) $3::bar9.e164"
		"   AND account_no = $4"
		" ORDER BY phone_number",
		4, {TEXTOID, TEXTOID, TEXTOID, INT4OID}
	},
	/* one probe of the primary key (min/max aggregate) */
	[PLAN_SMS_MAX] = {
		"SELECT bar9.max(to_number) FROM bar9.sms_queue"
		" WHERE account_no = $1 AND broadcast_no = $2",
		2, {INT4OID, INT4OID}
	},
	/*
	 * The audience's sms_count: a statement of its own (on Citus a CTE
	 * whose condition is false would prune the whole statement away).
	 */
	[PLAN_COUNT_AUDIENCE] = {
		"UPDATE bar9.audiences SET sms_count = sms_count + $2"
		" WHERE account_id = $1 AND audience_id = $3 AND account_no = $4",
		4, {TEXTOID, INT8OID, TEXTOID, INT4OID}
	},
	[PLAN_RECORD] = {
		"UPDATE bar9.broadcasts"
		"   SET fanout_cursor = coalesce($6::bar9.e164, fanout_cursor),"
		"       fanout_done = $7,"
		"       n_queued = n_queued + $4,"
		"       suppressed_count = suppressed_count + $5,"
		"       recipient_count = $8,"
		"       status = CASE WHEN $7 THEN 'queued' ELSE status END,"
		"       updated_at = pg_catalog.now()"
		" WHERE account_id = $1 AND broadcast_id = $2 AND account_no = $9"
		" RETURNING status",
		9, {TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, TEXTOID, BOOLOID,
		INT8OID, INT4OID}
	},
	/* the audience delete: its unfinished broadcasts, in lock order */
	[PLAN_CANCEL_AUDIENCE] = {
		"SELECT broadcast_id FROM bar9.broadcasts"
		" WHERE account_id = $1 AND audience_id = $2 AND account_no = $3"
		"   AND status IN ('scheduled', 'pending', 'queued', 'sending')"
		" ORDER BY account_no, broadcast_no"
		"   FOR NO KEY UPDATE",
		3, {TEXTOID, TEXTOID, INT4OID}
	},
};

static SPIPlanPtr fanout_plans[NUM_FANOUT_PLANS];

/*
 * Run a fan-out statement and return its rows; elog if SPI answers other
 * than expected.
 */
static SPITupleTable *
ExecPlan(FanoutPlanId id, Datum *values, const char *nulls, int expected)
{
	int			rc;

	bar9_plan(&fanout_plans[id], fanout_queries[id].sql,
			  fanout_queries[id].nargs, fanout_queries[id].argtypes);
	rc = SPI_execute_plan(fanout_plans[id], values, nulls, false, 0);
	if (rc != expected)
		elog(ERROR, "fan-out statement %d failed: %s",
			 (int) id, SPI_result_code_string(rc));
	return SPI_tuptable;
}

/* Column col (1-based) of the first row of rows; *isnull tells NULL. */
static Datum
ResultColumn(SPITupleTable *rows, int col, bool *isnull)
{
	return SPI_getbinval(rows->vals[0], rows->tupdesc, col, isnull);
}

/* Column col of the first row of rows as int8, 0 when NULL. */
static int64
ResultInt64(SPITupleTable *rows, int col)
{
	bool		isnull;
	Datum		d = ResultColumn(rows, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* Column col of the first row of rows as a palloc'd C string, or NULL. */
static char *
ResultText(SPITupleTable *rows, int col)
{
	bool		isnull;
	Datum		d = ResultColumn(rows, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* Column col of the first row of rows as bool, false when NULL. */
static bool
ResultBool(SPITupleTable *rows, int col)
{
	bool		isnull;
	Datum		d = ResultColumn(rows, col, &isnull);

	return isnull ? false : DatumGetBool(d);
}

/* The kept INSERT plans (plain, ON CONFLICT) and the e164 type they take. */
static SPIPlanPtr insert_plans[4];	/* [citus * 2 + on_conflict] */
static Oid	insert_plans_type = InvalidOid;

/*
 * Insert one queued SMS per number of numbers[0..n) (bar9.e164 values of
 * type e164type) for broadcast keys[0], keys[1] (account_no, broadcast_no),
 * in one statement; returns how many were inserted.  With on_conflict, a
 * number that already has its SMS is skipped.
 */
static uint64
InsertSms(Datum *keys, const char *account_id, const char *audience_id,
		  Datum *numbers, int n, Oid e164type, bool on_conflict)
{
	bool		citus = bar9_citus_distributed();
	SPIPlanPtr *slot = &insert_plans[(citus ? 2 : 0) + (on_conflict ? 1 : 0)];
	Oid			argtypes[5] = {INT4OID, INT4OID, InvalidOid, TEXTOID, TEXTOID};
	Datum		args[5];
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			rc;
	int			i;

	/* the array parameter's type is fixed in the plan: follow a new bar9 */
	if (e164type != insert_plans_type)
	{
		for (i = 0; i < lengthof(insert_plans); i++)
		{
			if (insert_plans[i] != NULL)
				SPI_freeplan(insert_plans[i]);
			insert_plans[i] = NULL;
		}
		insert_plans_type = e164type;
	}
	argtypes[2] = get_array_type(e164type);
	if (!OidIsValid(argtypes[2]))
		elog(ERROR, "type bar9.e164 has no array type");
	if (citus)
		bar9_plan(slot, on_conflict ? INSERT_CITUS_SQL " ON CONFLICT DO NOTHING" :
				  INSERT_CITUS_SQL, 5, argtypes);
	else
		bar9_plan(slot, on_conflict ? INSERT_SQL " ON CONFLICT DO NOTHING" :
				  INSERT_SQL, 3, argtypes);

	get_typlenbyvalalign(e164type, &typlen, &typbyval, &typalign);
	args[0] = keys[0];
	args[1] = keys[1];
	args[2] = PointerGetDatum(construct_array(numbers, n, e164type, typlen,
											  typbyval, typalign));
	args[3] = CStringGetTextDatum(account_id);
	args[4] = CStringGetTextDatum(audience_id);
	rc = SPI_execute_plan(*slot, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "fan-out insert failed: %s", SPI_result_code_string(rc));
	return SPI_processed;
}

/* What a batch knows of its broadcast once it holds its lock. */
typedef struct FanoutBroadcast
{
	const char *account_id;
	const char *broadcast_id;
	const char *audience_id;
	int32		account_no;		/* the account's shard */
	char	   *status;
	bool		due;			/* pending, or send_at has come */
	bool		have_cutoff;
	int64		cutoff;			/* member_seq_cutoff */
	int64		last_member_seq;	/* the audience's (locked) */
	bool		have_cursor;
	uint64		cursor;			/* fanout_cursor */
	int64		recipient_count;
	int64		created;		/* SMS made so far, in every state */
	Datum		keys[2];		/* account_no, broadcast_no */
} FanoutBroadcast;

/* The members a batch read, and those of them not opted out. */
typedef struct FanoutMembers
{
	Datum	   *numbers;		/* bar9.e164; the kept ones first */
	int			n;				/* read */
	int			kept;			/* not opted out */
	Oid			e164type;
} FanoutMembers;

/* The audience of broadcast_id (an unlocked read); NULL when it is gone. */
static const char *
FanoutAudienceOf(const char *account_id, int32 account_no,
				 const char *broadcast_id)
{
	Datum		values[3];
	SPITupleTable *rows;

	values[0] = CStringGetTextDatum(account_id);
	values[1] = CStringGetTextDatum(broadcast_id);
	values[2] = Int32GetDatum(account_no);
	rows = ExecPlan(PLAN_AUDIENCE_OF, values, NULL, SPI_OK_SELECT);
	return rows->numvals == 0 ? NULL : ResultText(rows, 1);
}

/*
 * Step 2: lock the audience row, then the broadcast row, and read the
 * broadcast into *b.  False when the broadcast is gone; *audience_deleted
 * and *subscriber_count tell about the audience.
 */
static bool
FanoutLock(FanoutBroadcast *b, bool *audience_deleted,
		   int64 *subscriber_count)
{
	Datum		values[3];
	bool		isnull;
	SPITupleTable *rows;
	bool		found;

	values[0] = CStringGetTextDatum(b->account_id);
	values[1] = CStringGetTextDatum(b->audience_id);
	values[2] = Int32GetDatum(b->account_no);
	rows = ExecPlan(PLAN_LOCK_AUDIENCE, values, NULL, SPI_OK_SELECT);
	found = rows->numvals > 0;
	*audience_deleted = (!found || ResultBool(rows, 1));
	*subscriber_count = found ? ResultInt64(rows, 2) : 0;
	b->last_member_seq = found ? ResultInt64(rows, 3) : 0;

	values[1] = CStringGetTextDatum(b->broadcast_id);
	rows = ExecPlan(PLAN_LOCK_BROADCAST, values, NULL, SPI_OK_SELECT);
	if (rows->numvals == 0)
		return false;
	b->status = ResultText(rows, 1);
	b->due = ResultBool(rows, 2);
	(void) ResultColumn(rows, 3, &isnull);
	b->have_cutoff = !isnull;
	b->cutoff = ResultInt64(rows, 3);
	b->cursor = DatumGetE164(ResultColumn(rows, 4, &isnull));
	b->have_cursor = !isnull;
	b->recipient_count = ResultInt64(rows, 5);
	b->created = ResultInt64(rows, 6);
	b->keys[0] = ResultColumn(rows, 7, &isnull);
	b->keys[1] = ResultColumn(rows, 8, &isnull);
	return true;
}

/*
 * Step 3: a scheduled broadcast whose time has come takes its recipients,
 * the audience as it is now; recipient_count is its size less its
 * opted-out members, as PLAN_START stores it.
 */
static void
FanoutStart(FanoutBroadcast *b, int64 subscriber_count)
{
	Datum		values[5];
	SPITupleTable *rows;

	/* the audience's members now: those its counter has numbered so far */
	values[0] = CStringGetTextDatum(b->account_id);
	values[1] = CStringGetTextDatum(b->broadcast_id);
	values[2] = Int64GetDatum(subscriber_count);
	values[3] = Int64GetDatum(b->last_member_seq);
	values[4] = Int32GetDatum(b->account_no);
	rows = ExecPlan(PLAN_START, values, NULL, SPI_OK_UPDATE_RETURNING);
	b->have_cutoff = true;
	b->cutoff = ResultInt64(rows, 1);
	b->recipient_count = ResultInt64(rows, 2);
}

/* Step 4a: the next batch_size members after the cursor, in number order. */
static void
FanoutReadMembers(const FanoutBroadcast *b, int batch_size, FanoutMembers *m)
{
	Datum		values[6];
	bool		isnull;
	SPITupleTable *rows;

	values[0] = CStringGetTextDatum(b->account_id);
	values[1] = CStringGetTextDatum(b->audience_id);
	values[2] = Int64GetDatum(b->cutoff);
	values[3] = Int64GetDatum((int64) batch_size);
	values[4] = b->have_cursor ? E164TextDatum(b->cursor) : (Datum) 0;
	values[5] = Int32GetDatum(b->account_no);
	/* $5 is NULL, not an unset Datum, where unused: Citus copies it */
	rows = ExecPlan(b->have_cursor ? PLAN_READ_AFTER : PLAN_READ, values,
					b->have_cursor ? NULL : "    n ", SPI_OK_SELECT);
	m->n = (int) rows->numvals;
	m->kept = 0;
	m->numbers = palloc(sizeof(Datum) * Max(m->n, 1));
	for (int i = 0; i < m->n; i++)
		m->numbers[i] = SPI_getbinval(rows->vals[i], rows->tupdesc, 1,
									  &isnull);
	m->e164type = m->n > 0 ? SPI_gettypeid(rows->tupdesc, 1) : InvalidOid;
	SPI_freetuptable(rows);
}

/*
 * Step 4b: leave out the opted-out members (one range scan of the opt-out
 * list between the first and the last member, merged with the members:
 * both are in number order); returns how many were left out.
 */
static int64
FanoutSuppress(const char *account_id, int32 account_no, FanoutMembers *m)
{
	Datum		values[4];
	uint64	   *opted;
	int			nopted;
	int			j = 0;
	int64		suppressed = 0;
	bool		isnull;
	SPITupleTable *rows;

	values[0] = CStringGetTextDatum(account_id);
	values[1] = E164TextDatum(DatumGetE164(m->numbers[0]));
	values[2] = E164TextDatum(DatumGetE164(m->numbers[m->n - 1]));
	values[3] = Int32GetDatum(account_no);
	rows = ExecPlan(PLAN_OPTED, values, NULL, SPI_OK_SELECT);
	nopted = (int) rows->numvals;
	opted = palloc(sizeof(uint64) * Max(nopted, 1));
	for (int i = 0; i < nopted; i++)
		opted[i] = DatumGetE164(SPI_getbinval(rows->vals[i], rows->tupdesc,
											  1, &isnull));
	SPI_freetuptable(rows);

	for (int i = 0; i < m->n; i++)
	{
		uint64		number = DatumGetE164(m->numbers[i]);

		while (j < nopted && opted[j] < number)
			j++;
		if (j < nopted && opted[j] == number)
			suppressed++;
		else
			m->numbers[m->kept++] = m->numbers[i];
	}
	return suppressed;
}

/*
 * Step 4c: one queued SMS per kept member, in one statement.  None can
 * exist past the cursor (the cursor commits with the SMS of its batch, and
 * we hold the broadcast's lock), so the insert is plain, cheaper than an
 * INSERT ... ON CONFLICT (a speculative insertion per row).  One probe of
 * the primary key checks that; should SMS be there anyway (a cursor reset
 * by hand), ON CONFLICT DO NOTHING steps over them.
 */
static int64
FanoutQueue(FanoutBroadcast *b, FanoutMembers *m)
{
	Datum		max;
	bool		isnull;
	bool		conflicts;

	if (m->kept == 0)
		return 0;
	max = ResultColumn(ExecPlan(PLAN_SMS_MAX, b->keys, NULL, SPI_OK_SELECT),
					   1, &isnull);
	conflicts = !isnull && DatumGetE164(max) >= DatumGetE164(m->numbers[0]);
	return (int64) InsertSms(b->keys, b->account_id, b->audience_id,
							 m->numbers, m->kept, m->e164type,
							 conflicts);
}

/*
 * Step 5: the cursor and the counters, in one statement; when done, status
 * 'queued' (the trigger of queue.h settles it).  recipient_count is an
 * estimate until the end (the audience less its opted-out members, as
 * counted when the broadcast was requested or its send_at came), then the
 * SMS created.  Returns the broadcast's status after it.
 */
static char *
FanoutRecord(FanoutBroadcast *b, const FanoutBatchResult *r, bool done)
{
	Datum		values[9];
	char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int64		created = b->created + r->queued;
	SPITupleTable *rows;

	values[0] = CStringGetTextDatum(b->account_id);
	values[1] = CStringGetTextDatum(b->broadcast_id);
	values[2] = CStringGetTextDatum(b->audience_id);
	values[3] = Int64GetDatum(r->queued);
	values[4] = Int64GetDatum(r->suppressed);
	values[5] = b->have_cursor ? E164TextDatum(b->cursor) : (Datum) 0;
	nulls[5] = b->have_cursor ? ' ' : 'n';
	values[6] = BoolGetDatum(done);
	values[7] = Int64GetDatum(done ? created :
							  Max(b->recipient_count, created));
	values[8] = Int32GetDatum(b->account_no);
	if (r->queued > 0)
	{
		Datum		counted[4] = {values[0], values[3], values[2], values[8]};

		(void) ExecPlan(PLAN_COUNT_AUDIENCE, counted, NULL, SPI_OK_UPDATE);
	}
	rows = ExecPlan(PLAN_RECORD, values, nulls, SPI_OK_UPDATE_RETURNING);
	if (rows->numvals != 1)
		elog(ERROR, "could not record a fan-out batch");
	return ResultText(rows, 1);
}

/*
 * The work of one batch of a broadcast whose lock we hold and which has
 * fan-out left to do (steps 3 to 6 of the head of this file).
 */
static void
FanoutBatchLocked(FanoutBroadcast *b, int64 subscriber_count, int batch_size,
				  FanoutBatchResult *result)
{
	FanoutMembers m;
	bool		done;

	if (strcmp(b->status, "scheduled") == 0 || !b->have_cutoff)
	{
		if (!b->due)
			return;
		FanoutStart(b, subscriber_count);
	}
	FanoutReadMembers(b, batch_size, &m);
	if (m.n > 0)
	{
		/* the cursor goes past every member read, left out or not */
		b->cursor = DatumGetE164(m.numbers[m.n - 1]);
		b->have_cursor = true;
		result->suppressed = FanoutSuppress(b->account_id, b->account_no, &m);
	}
	result->recipients = m.n;
	result->queued = FanoutQueue(b, &m);

	done = result->recipients < batch_size;
	strlcpy(result->status, FanoutRecord(b, result, done),
			sizeof(result->status));
	if (result->queued > 0)
		Async_Notify("bar9_sms", NULL);
	result->more = !done;
}

/*
 * Fan out the next batch of one broadcast, in the caller's transaction.
 *
 * account_no is the account's, as the worker's to-do list read it, and
 * audience_id the broadcast's; 0 and NULL: looked up here.  batch_size is
 * the number of audience members to read.  The caller commits; the work of the batch,
 * the cursor and the counters commit together.
 */
void
bar9_fanout_batch(const char *account_id, int32 account_no,
				  const char *broadcast_id, const char *audience_id,
				  int batch_size, FanoutBatchResult *result)
{
	FanoutBroadcast b;
	bool		audience_deleted;
	int64		subscriber_count;

	memset(result, 0, sizeof(*result));
	memset(&b, 0, sizeof(b));
	b.account_id = account_id;
	b.broadcast_id = broadcast_id;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	b.account_no = account_no ? account_no : bar9_account_no(account_id, true);
	if (b.account_no == 0)
	{
		SPI_finish();			/* no such account: no such broadcast */
		return;
	}

	/* 1. No opt-out of this account in flight while the batch runs. */
	if (!bar9_consent_lock_shared(account_id, b.account_no, broadcast_id))
	{
		SPI_finish();			/* no such broadcast */
		return;
	}
	b.audience_id = audience_id ? audience_id :
		FanoutAudienceOf(account_id, b.account_no, broadcast_id);

	/* 2. The audience row, then the broadcast row. */
	if (b.audience_id == NULL ||
		!FanoutLock(&b, &audience_deleted, &subscriber_count))
	{
		SPI_finish();
		return;
	}
	result->found = true;
	strlcpy(result->status, b.status, sizeof(result->status));

	/* Only scheduled and pending broadcasts have fan-out left to do. */
	if (strcmp(b.status, "scheduled") == 0 || strcmp(b.status, "pending") == 0)
	{
		if (audience_deleted)
		{
			/* the audience was deleted: the broadcast stops, queue emptied */
			broadcast_cancel_locked(account_id, broadcast_id, NULL);
			strlcpy(result->status, "canceled", sizeof(result->status));
		}
		else
			FanoutBatchLocked(&b, subscriber_count, batch_size, result);
	}
	SPI_finish();
}

/*
 * Cancel every unfinished broadcast of an audience and its SMS that no
 * sender has claimed yet, fixing the per-status counters.  Called by the
 * audience delete, after it has locked (updated) the audience row: a
 * fan-out batch of this audience is then either committed already or
 * waiting for the delete, and will find its broadcast canceled.
 */
void
bar9_fanout_cancel_audience(const char *account_id, const char *audience_id)
{
	Datum		values[3];
	char	  **broadcast_ids;
	SPITupleTable *rows;
	int			n;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = CStringGetTextDatum(account_id);
	values[1] = CStringGetTextDatum(audience_id);
	values[2] = Int32GetDatum(bar9_account_no(account_id, true));
	rows = ExecPlan(PLAN_CANCEL_AUDIENCE, values, NULL, SPI_OK_SELECT);
	n = (int) rows->numvals;
	broadcast_ids = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		broadcast_ids[i] = SPI_getvalue(rows->vals[i], rows->tupdesc, 1);
	for (int i = 0; i < n; i++)
		broadcast_cancel_locked(account_id, broadcast_ids[i], NULL);
	SPI_finish();
}

/* The batch size argument of the SQL functions: NULL means the GUC. */
static int
BatchSizeArg(FunctionCallInfo fcinfo, int argno)
{
	int			batch_size;

	if (PG_ARGISNULL(argno))
		return bar9_fanout_batch_size;
	batch_size = PG_GETARG_INT32(argno);
	if (batch_size < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be at least 1")));
	return batch_size;
}

/* Run one batch for the SQL functions, erroring if the broadcast is absent. */
static void
SqlFanoutBatch(FunctionCallInfo fcinfo, int batch_size,
			   FanoutBatchResult *result)
{
	char	   *account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *broadcast_id = text_to_cstring(PG_GETARG_TEXT_PP(1));

	bar9_fanout_batch(account_id, 0, broadcast_id, NULL, batch_size, result);
	if (!result->found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("broadcast \"%s\" does not exist in account \"%s\"",
						broadcast_id, account_id)));
}

PG_FUNCTION_INFO_V1(bar9_fanout_step);

/* SQL: bar9.fanout_step(account_id, broadcast_id, batch_size) -> status. */
Datum
bar9_fanout_step(PG_FUNCTION_ARGS)
{
	FanoutBatchResult result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	SqlFanoutBatch(fcinfo, BatchSizeArg(fcinfo, 2), &result);
	PG_RETURN_TEXT_P(cstring_to_text(result.status));
}

PG_FUNCTION_INFO_V1(bar9_fanout_run);

/* SQL: bar9.fanout_run(account_id, broadcast_id, batch_size) -> status. */
Datum
bar9_fanout_run(PG_FUNCTION_ARGS)
{
	FanoutBatchResult result;
	int			batch_size;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	batch_size = BatchSizeArg(fcinfo, 2);
	do
	{
		CHECK_FOR_INTERRUPTS();
		SqlFanoutBatch(fcinfo, batch_size, &result);
	} while (result.more);
	PG_RETURN_TEXT_P(cstring_to_text(result.status));
}

PG_FUNCTION_INFO_V1(bar9_fanout_statement);

/* SQL: bar9.fanout_statement(name) -> text: a statement of a batch. */
Datum
bar9_fanout_statement(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *sql;

	if (strcmp(name, "read") == 0)
		sql = fanout_queries[PLAN_READ_AFTER].sql;
	else if (strcmp(name, "opt_outs") == 0)
		sql = fanout_queries[PLAN_OPTED].sql;
	else if (strcmp(name, "insert") == 0)
		sql = INSERT_SQL;
	else if (strcmp(name, "insert_citus") == 0)
		sql = INSERT_CITUS_SQL;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown fan-out statement \"%s\"", name),
				 errhint("Use \"read\", \"opt_outs\" or \"insert\".")));
	PG_RETURN_TEXT_P(cstring_to_text(sql));
}
