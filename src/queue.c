/*
 * queue.c
 *		The sender queue: claim, acknowledge and retire SMS.
 *
 * An SMS moves  queued -> sending -> sent -> delivered  (or failed, or back
 * to queued on 'retry', or canceled).  bar9.claim_sms hands queued SMS (and
 * SMS whose lease ran out) to one claimer at a time with FOR NO KEY UPDATE
 * SKIP LOCKED; bar9.ack_sms / bar9.ack_sms_batch record the outcome.  The
 * per-state counters of each broadcast (bar9.messages.n_*) move in the same
 * transaction, once per broadcast per batch, so GET of a message is O(1).
 *
 * Every step runs a kept SPI plan with parameters; a claim finds the SMS
 * it locked again by TID (one TID scan, not an index probe per SMS), and
 * each SMS changes state by exactly one update: a claim is a HOT update
 * (060_queue.sql says why), an acknowledgement is one update whose WHERE
 * clause is the rule of the transition.  See queue.h for the lock order
 * and README.md ("broadcasts and the sender queue") for the whole design.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/itemptr.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "api.h"
#include "queue.h"

int			bar9_max_attempts = 5;

/* GUCs bar9.retry_delay / bar9.retry_delay_max, in milliseconds. */
static int	retry_delay_ms = 30 * 1000;
static int	retry_delay_max_ms = 60 * 60 * 1000;

/*
 * Where the latest claim ended in the claim index, per database: the
 * "hint" from which the next claim of any sender goes on (see ClaimPick).
 * A hint is only a starting point: losing or mixing one up costs a scan,
 * never an SMS.
 */
#define QUEUE_HINT_SLOTS	16

typedef struct QueueHint
{
	Oid			dbid;			/* InvalidOid: free slot */
	TimestampTz at;				/* available_at of the last SMS claimed */
	int64		sms_id;			/* and its sms_id */
} QueueHint;

typedef struct QueueShmem
{
	slock_t		mutex;
	QueueHint	hint[QUEUE_HINT_SLOTS];
} QueueShmem;

static QueueShmem *queue_shmem = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* The states of an SMS, in the order of the n_* counters of bar9.messages. */
typedef enum SmsState
{
	SMS_QUEUED,
	SMS_SENDING,
	SMS_SENT,
	SMS_DELIVERED,
	SMS_FAILED,
	SMS_CANCELED,
	SMS_NSTATES
} SmsState;

static const char *const sms_state_names[SMS_NSTATES] = {
	"queued", "sending", "sent", "delivered", "failed", "canceled"
};

/* What a sender may report about an SMS it claimed. */
typedef enum AckOutcome
{
	ACK_SENT,
	ACK_DELIVERED,
	ACK_FAILED,
	ACK_RETRY
} AckOutcome;

/* One broadcast touched by a batch: its state and its counter deltas. */
typedef struct MsgEntry
{
	char	   *account_id;
	char	   *message_id;
	bool		found;			/* its row exists (and is now locked) */
	bool		canceled;		/* its status is 'canceled' */
	Datum		body;			/* text; valid when found */
	int64		delta[SMS_NSTATES];
} MsgEntry;

/* The distinct broadcasts of a batch, sorted by (account_id, message_id). */
typedef struct MsgSet
{
	MsgEntry   *items;
	int			n;
} MsgSet;

/* One SMS a claim locked or changed, or an ack changed. */
typedef struct LockedSms
{
	ItemPointerData tid;
	int64		sms_id;
	char	   *account_id;
	char	   *message_id;
	SmsState	state;			/* its state when locked */
	SmsState	to;				/* ack: its new state */
	MsgEntry   *msg;
	Datum		to_number;		/* claim: the columns it returns */
	Datum		message_id_datum;
	Datum		attempt;
} LockedSms;

/* Kept plans, prepared on first use in each backend. */
static SPIPlanPtr plan_pick_head;
static SPIPlanPtr plan_pick_head_upto;
static SPIPlanPtr plan_pick_after;
static SPIPlanPtr plan_lock_messages;
static SPIPlanPtr plan_claim;
static SPIPlanPtr plan_cancel_picked;
static SPIPlanPtr plan_counters;
static SPIPlanPtr plan_ack_check;
static SPIPlanPtr plan_ack_cancel;
static SPIPlanPtr plan_retire;

PG_FUNCTION_INFO_V1(claim_sms);
PG_FUNCTION_INFO_V1(ack_sms);
PG_FUNCTION_INFO_V1(ack_sms_batch);
PG_FUNCTION_INFO_V1(retire_sms);
PG_FUNCTION_INFO_V1(messages_settle_status);

/* shmem_request_hook: reserve the claim hints. */
static void
QueueShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(QueueShmem)));
}

/* shmem_startup_hook: create or attach to the claim hints. */
static void
QueueShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	queue_shmem = ShmemInitStruct("bar9 queue", sizeof(QueueShmem), &found);
	if (!found)
	{
		memset(queue_shmem, 0, sizeof(QueueShmem));
		SpinLockInit(&queue_shmem->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Define bar9.max_attempts, bar9.retry_delay and bar9.retry_delay_max, and
 * reserve the shared claim hints.
 */
void
bar9_queue_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = QueueShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = QueueShmemStartup;

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
							&retry_delay_ms,
							30 * 1000, 0, 24 * 60 * 60 * 1000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("bar9.retry_delay_max",
							"Longest back-off before a retry of an SMS.",
							NULL,
							&retry_delay_max_ms,
							60 * 60 * 1000, 0, 24 * 60 * 60 * 1000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/*
 * This session's claimer id: the backend's PID in the high 32 bits and the
 * low 32 bits of its start time in microseconds below.  A PID is reused only
 * after its backend exited, and a new backend with the same PID would also
 * have to start at the same microsecond modulo 2^32 (about 71 minutes) to
 * get the same id, so two sessions never share one in practice.
 */
int64
bar9_claimer_id(void)
{
	return (int64) (((uint64) (uint32) MyProcPid << 32) |
					((uint64) MyStartTimestamp & UINT64CONST(0xffffffff)));
}

/* The SmsState named s (a value of bar9.sms.status). */
static SmsState
SmsStateFromName(const char *s)
{
	int			i;

	for (i = 0; i < SMS_NSTATES; i++)
	{
		if (strcmp(s, sms_state_names[i]) == 0)
			return (SmsState) i;
	}
	elog(ERROR, "unexpected sms status \"%s\"", s);
	return SMS_QUEUED;			/* keep compiler quiet */
}

/* --- arrays for SPI parameters ---------------------------------------- */

/* A text[] of the n strings vals (NULL pointers become NULL elements). */
static Datum
TextArrayDatum(char **vals, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1];
	int			lbs[1];
	int			i;

	for (i = 0; i < n; i++)
	{
		nulls[i] = (vals[i] == NULL);
		elems[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(vals[i]);
	}
	dims[0] = n;
	lbs[0] = 1;
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
											  TEXTOID, -1, false,
											  TYPALIGN_INT));
}

/* An int8[] of the n values vals. */
static Datum
Int8ArrayDatum(int64 *vals, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = Int64GetDatum(vals[i]);
	return PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* A tid[] of the n item pointers tids. */
static Datum
TidArrayDatum(ItemPointerData *tids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = PointerGetDatum(&tids[i]);
	return PointerGetDatum(construct_array(elems, n, TIDOID,
										   sizeof(ItemPointerData), false,
										   TYPALIGN_SHORT));
}

/* --- the broadcasts of a batch ----------------------------------------- */

/* Does the text t hold exactly the C string s? */
static inline bool
TextIs(text *t, const char *s)
{
	size_t		len = VARSIZE_ANY_EXHDR(t);

	return strlen(s) == len && memcmp(VARDATA_ANY(t), s, len) == 0;
}

/*
 * Set r's account_id and message_id from columns col and col + 1 of a
 * result row, sharing prev's strings when they are the same (the SMS of a
 * batch mostly belong to one broadcast): no conversion per row.
 */
static void
RowKeys(HeapTuple tup, TupleDesc desc, int col, LockedSms *r,
		const LockedSms *prev)
{
	bool		isnull;
	text	   *a = DatumGetTextPP(SPI_getbinval(tup, desc, col, &isnull));
	text	   *m = DatumGetTextPP(SPI_getbinval(tup, desc, col + 1, &isnull));

	if (prev != NULL && TextIs(a, prev->account_id) &&
		TextIs(m, prev->message_id))
	{
		r->account_id = prev->account_id;
		r->message_id = prev->message_id;
	}
	else
	{
		r->account_id = text_to_cstring(a);
		r->message_id = text_to_cstring(m);
	}
}


/* qsort/bsearch order of MsgEntry: account_id, then message_id (bytes). */
static int
MsgEntryCmp(const void *a, const void *b)
{
	const MsgEntry *x = (const MsgEntry *) a;
	const MsgEntry *y = (const MsgEntry *) b;
	int			c = strcmp(x->account_id, y->account_id);

	return c != 0 ? c : strcmp(x->message_id, y->message_id);
}

/* The entry of set for (account_id, message_id); NULL when absent. */
static MsgEntry *
MsgSetFind(MsgSet *set, char *account_id, char *message_id)
{
	MsgEntry	key;

	key.account_id = account_id;
	key.message_id = message_id;
	return bsearch(&key, set->items, set->n, sizeof(MsgEntry), MsgEntryCmp);
}

/* Build the set of distinct broadcasts of rows and point each row at its. */
static void
MsgSetBuild(MsgSet *set, LockedSms *rows, int nrows)
{
	int			i;
	int			n = 0;

	set->items = palloc0(sizeof(MsgEntry) * Max(nrows, 1));
	for (i = 0; i < nrows; i++)
	{
		set->items[i].account_id = rows[i].account_id;
		set->items[i].message_id = rows[i].message_id;
	}
	qsort(set->items, nrows, sizeof(MsgEntry), MsgEntryCmp);
	for (i = 0; i < nrows; i++)
	{
		if (n == 0 || MsgEntryCmp(&set->items[n - 1], &set->items[i]) != 0)
			set->items[n++] = set->items[i];
	}
	set->n = n;
	for (i = 0; i < nrows; i++)
	{
		/* RowKeys makes the rows of one broadcast share their key strings */
		if (i > 0 && rows[i].account_id == rows[i - 1].account_id &&
			rows[i].message_id == rows[i - 1].message_id)
			rows[i].msg = rows[i - 1].msg;
		else
			rows[i].msg = MsgSetFind(set, rows[i].account_id,
									 rows[i].message_id);
	}
}

/*
 * Lock the bar9.messages rows of set, in (account_id, message_id) order so
 * that two batches never wait on each other in a cycle, and note whether
 * each exists, whether it is canceled, and its body.  FOR NO KEY UPDATE is
 * the lock the counter update takes.
 */
static void
MsgSetLock(MsgSet *set)
{
	static const Oid types[2] = {TEXTARRAYOID, TEXTARRAYOID};
	char	  **accounts = palloc(sizeof(char *) * Max(set->n, 1));
	char	  **messages = palloc(sizeof(char *) * Max(set->n, 1));
	Datum		values[2];
	SPIPlanPtr	plan;
	uint64		i;
	int			j;

	for (j = 0; j < set->n; j++)
	{
		accounts[j] = set->items[j].account_id;
		messages[j] = set->items[j].message_id;
	}
	values[0] = TextArrayDatum(accounts, set->n);
	values[1] = TextArrayDatum(messages, set->n);
	plan = bar9_plan(&plan_lock_messages,
					 "SELECT m.account_id, m.message_id, m.status, m.body"
					 "  FROM bar9.messages m"
					 " WHERE (m.account_id, m.message_id) IN"
					 "       (SELECT a, b FROM unnest($1, $2) AS u(a, b))"
					 " ORDER BY m.account_id, m.message_id"
					 "   FOR NO KEY UPDATE OF m",
					 2, types);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not lock the broadcasts of a batch of SMS");

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *account_id = SPI_getvalue(tup, desc, 1);
		char	   *message_id = SPI_getvalue(tup, desc, 2);
		char	   *status = SPI_getvalue(tup, desc, 3);
		MsgEntry   *m = MsgSetFind(set, account_id, message_id);
		bool		isnull;

		if (m == NULL)
			continue;
		m->found = true;
		m->canceled = (strcmp(status, "canceled") == 0);
		m->body = SPI_getbinval(tup, desc, 4, &isnull);
	}
}

/*
 * Apply the counter deltas of set to bar9.messages, one row update per
 * broadcast; the messages_settle_status trigger moves the status.
 */
static void
MsgSetApplyCounters(MsgSet *set)
{
	static const Oid types[8] = {TEXTARRAYOID, TEXTARRAYOID,
		INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
	INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID};
	char	  **accounts = palloc(sizeof(char *) * Max(set->n, 1));
	char	  **messages = palloc(sizeof(char *) * Max(set->n, 1));
	int64	   *deltas[SMS_NSTATES];
	Datum		values[8];
	SPIPlanPtr	plan;
	int			n = 0;
	int			i;
	int			s;

	for (s = 0; s < SMS_NSTATES; s++)
		deltas[s] = palloc(sizeof(int64) * Max(set->n, 1));
	for (i = 0; i < set->n; i++)
	{
		MsgEntry   *m = &set->items[i];
		bool		any = false;

		for (s = 0; s < SMS_NSTATES; s++)
			any |= (m->delta[s] != 0);
		if (!m->found || !any)
			continue;
		accounts[n] = m->account_id;
		messages[n] = m->message_id;
		for (s = 0; s < SMS_NSTATES; s++)
			deltas[s][n] = m->delta[s];
		n++;
	}
	if (n == 0)
		return;

	values[0] = TextArrayDatum(accounts, n);
	values[1] = TextArrayDatum(messages, n);
	for (s = 0; s < SMS_NSTATES; s++)
		values[2 + s] = Int8ArrayDatum(deltas[s], n);
	plan = bar9_plan(&plan_counters,
					 "UPDATE bar9.messages m"
					 "   SET n_queued = m.n_queued + d.q,"
					 "       n_sending = m.n_sending + d.s,"
					 "       n_sent = m.n_sent + d.se,"
					 "       n_delivered = m.n_delivered + d.de,"
					 "       n_failed = m.n_failed + d.f,"
					 "       n_canceled = m.n_canceled + d.c,"
					 "       updated_at = now()"
					 "  FROM unnest($1, $2, $3, $4, $5, $6, $7, $8)"
					 "       AS d(account_id, message_id, q, s, se, de, f, c)"
					 " WHERE m.account_id = d.account_id"
					 "   AND m.message_id = d.message_id",
					 8, types);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update the counters of a batch of SMS");
}

/* Record that one SMS of m moves from state from to state to. */
static inline void
MsgCount(MsgEntry *m, SmsState from, SmsState to)
{
	if (m == NULL || from == to)
		return;
	m->delta[from]--;
	m->delta[to]++;
}

/* --- claim ------------------------------------------------------------- */

/* qsort order of LockedSms: by sms_id. */
static int
LockedSmsCmp(const void *a, const void *b)
{
	int64		x = ((const LockedSms *) a)->sms_id;
	int64		y = ((const LockedSms *) b)->sms_id;

	return (x > y) - (x < y);
}

/* When this backend last scanned the claim index from its start. */
static TimestampTz head_scanned_at = 0;

/* This database's claim hint; false when there is none. */
static bool
QueueHintGet(TimestampTz *at, int64 *sms_id)
{
	bool		found = false;
	int			i;

	if (queue_shmem == NULL)
		return false;
	SpinLockAcquire(&queue_shmem->mutex);
	for (i = 0; i < QUEUE_HINT_SLOTS; i++)
	{
		if (queue_shmem->hint[i].dbid == MyDatabaseId)
		{
			*at = queue_shmem->hint[i].at;
			*sms_id = queue_shmem->hint[i].sms_id;
			found = true;
			break;
		}
	}
	SpinLockRelease(&queue_shmem->mutex);
	return found;
}

/*
 * Move this database's claim hint to (at, sms_id) if that is further on,
 * or back to it if reset (after a scan from the start found less).
 */
static void
QueueHintSet(TimestampTz at, int64 sms_id, bool reset)
{
	QueueHint  *slot = NULL;
	int			i;

	if (queue_shmem == NULL)
		return;
	SpinLockAcquire(&queue_shmem->mutex);
	for (i = 0; i < QUEUE_HINT_SLOTS; i++)
	{
		if (queue_shmem->hint[i].dbid == MyDatabaseId)
		{
			slot = &queue_shmem->hint[i];
			break;
		}
		if (slot == NULL && queue_shmem->hint[i].dbid == InvalidOid)
			slot = &queue_shmem->hint[i];
	}
	if (slot != NULL &&
		(slot->dbid != MyDatabaseId || reset || at > slot->at ||
		 (at == slot->at && sms_id > slot->sms_id)))
	{
		slot->dbid = MyDatabaseId;
		slot->at = at;
		slot->sms_id = sms_id;
	}
	SpinLockRelease(&queue_shmem->mutex);
}

/* Scan the whole index from its start at least this often. */
#define CLAIM_HEAD_SCAN_USECS	(1 * USECS_PER_SEC)

/*
 * Run one pick query and append what it locked to rows (from n on);
 * (*max_at, *max_id) becomes the greatest key picked so far.  Returns the
 * new count.
 */
static int
ClaimPickRun(SPIPlanPtr plan, Datum *values, LockedSms *rows, int n,
			 TimestampTz *max_at, int64 *max_id)
{
	uint64		i;

	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not pick SMS to claim");
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		ItemPointer tid;
		LockedSms  *r = &rows[n++];
		TimestampTz at;

		tid = (ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc, 1,
														  &isnull));
		ItemPointerCopy(tid, &r->tid);
		r->sms_id = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		r->state = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)) ?
			SMS_QUEUED : SMS_SENDING;
		at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
		if (at > *max_at || (at == *max_at && r->sms_id > *max_id))
		{
			*max_at = at;
			*max_id = r->sms_id;
		}
	}
	return n;
}

/*
 * Lock up to max_count claimable SMS with SKIP LOCKED into rows: queued
 * ones that are due and claimed ones whose lease ran out (their claimer is
 * presumably gone), in (available_at, sms_id) order.  Nothing is written
 * yet.
 *
 * The scan walks the partial index sms_claim (060_queue.sql), which holds
 * every SMS not yet finished.  Claimed SMS stay in it until acknowledged
 * (so that a claim stays a HOT update), as do, for a while, entries of SMS
 * just finished: a scan from the start of the index would step over all of
 * them at every claim.  So a claim goes on from where the latest claim in
 * this database ended (the shared "hint"), and steps over only what other
 * senders are claiming right now.  What the hint skips (SMS whose lease ran
 * out, SMS a claimer rolled back, SMS of a fan-out batch that committed
 * late with an older available_at) is found by a scan from the start, at
 * least once a second per backend and whenever the hinted scan comes up
 * short.  The two scans are disjoint (up to and after the hint), so no SMS
 * is picked twice.
 */
static int
ClaimPick(int max_count, LockedSms *rows)
{
	static const Oid after_types[3] = {INT4OID, TIMESTAMPTZOID, INT8OID};
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz bound_at = 0;
	int64		bound_id = 0;
	bool		had_hint = QueueHintGet(&bound_at, &bound_id);
	bool		head_due = !had_hint ||
		now - head_scanned_at >= CLAIM_HEAD_SCAN_USECS;
	TimestampTz max_at = DT_NOBEGIN;
	int64		max_id = PG_INT64_MIN;
	Datum		values[3];
	int			n = 0;
	int			pass;

	for (pass = 0; pass < 3 && n < max_count; pass++)
	{
		SPIPlanPtr	plan;

		/* pass 0: the head if due; 1: after the hint; 2: the head if short */
		if ((pass == 0 && !head_due) || (pass == 1 && !had_hint) ||
			(pass == 2 && head_due))
			continue;
		values[0] = Int32GetDatum(max_count - n);
		values[1] = TimestampTzGetDatum(bound_at);
		values[2] = Int64GetDatum(bound_id);
		if (pass == 1)
			plan = bar9_plan(&plan_pick_after,
							 "SELECT ctid, sms_id, status = 'queued', available_at"
							 "  FROM bar9.sms"
							 " WHERE NOT finished AND available_at <= now()"
							 "   AND (available_at, sms_id) > ($2, $3)"
							 "   AND (status = 'queued' OR lease_until < now())"
							 " ORDER BY available_at, sms_id"
							 " LIMIT $1"
							 "   FOR NO KEY UPDATE SKIP LOCKED",
							 3, after_types);
		else if (had_hint)
			plan = bar9_plan(&plan_pick_head_upto,
							 "SELECT ctid, sms_id, status = 'queued', available_at"
							 "  FROM bar9.sms"
							 " WHERE NOT finished AND available_at <= now()"
							 "   AND (available_at, sms_id) <= ($2, $3)"
							 "   AND (status = 'queued' OR lease_until < now())"
							 " ORDER BY available_at, sms_id"
							 " LIMIT $1"
							 "   FOR NO KEY UPDATE SKIP LOCKED",
							 3, after_types);
		else
			plan = bar9_plan(&plan_pick_head,
							 "SELECT ctid, sms_id, status = 'queued', available_at"
							 "  FROM bar9.sms"
							 " WHERE NOT finished AND available_at <= now()"
							 "   AND (status = 'queued' OR lease_until < now())"
							 " ORDER BY available_at, sms_id"
							 " LIMIT $1"
							 "   FOR NO KEY UPDATE SKIP LOCKED",
							 1, after_types);
		n = ClaimPickRun(plan, values, rows, n, &max_at, &max_id);
		if (pass != 1)
			head_scanned_at = now;
	}

	/*
	 * Next claims go on after what we picked.  A hint that a scan from the
	 * start overtook with nothing after it (an SMS table emptied and
	 * refilled, say) is moved back to what that scan found.
	 */
	if (n > 0)
		QueueHintSet(max_at, max_id,
					 had_hint && (max_at < bound_at ||
								  (max_at == bound_at && max_id <= bound_id)));
	return n;
}

/* The state sms_id had when ClaimPick locked it (rows sorted by sms_id). */
static SmsState
ClaimPickedState(LockedSms *rows, int nrows, int64 sms_id)
{
	LockedSms	key;
	LockedSms  *r;

	key.sms_id = sms_id;
	r = bsearch(&key, rows, nrows, sizeof(LockedSms), LockedSmsCmp);
	if (r == NULL)
		elog(ERROR, "claimed sms %lld was not picked", (long long) sms_id);
	return r->state;
}

/*
 * Cancel the n SMS at tids, which this claim has just set 'sending' but
 * whose broadcast is canceled: they were not handed out after all.
 */
static void
ClaimCancel(ItemPointerData *tids, int n)
{
	static const Oid types[1] = {TIDARRAYOID};
	SPIPlanPtr	plan;
	Datum		values[1];

	plan = bar9_plan(&plan_cancel_picked,
					 "UPDATE bar9.sms"
					 "   SET status = 'canceled', attempt = attempt - 1,"
					 "       lease_until = NULL, claimed_by = NULL,"
					 "       updated_at = now()"
					 " WHERE ctid = ANY ($1)",
					 1, types);
	values[0] = TidArrayDatum(tids, n);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE ||
		SPI_processed != (uint64) n)
		elog(ERROR, "could not cancel SMS of a canceled broadcast");
}

/*
 * SQL: bar9.claim_sms(max_count int DEFAULT 100, lease interval DEFAULT
 * '1 minute') -> TABLE(sms_id, to_number, body, message_id, attempt).
 */
Datum
claim_sms(PG_FUNCTION_ARGS)
{
	static const Oid claim_types[3] = {TIDARRAYOID, TIMESTAMPTZOID, INT8OID};
	int32		max_count = PG_GETARG_INT32(0);
	Interval   *lease = PG_GETARG_INTERVAL_P(1);
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TimestampTz lease_until;
	ReturnSetInfo *rsinfo;
	LockedSms  *picked;
	LockedSms  *rows;
	ItemPointerData *tids;
	int			npicked;
	int			ncancel = 0;
	MsgSet		set;
	SPIPlanPtr	plan;
	Datum		values[3];
	Datum		out[5];
	bool		outnull[5] = {false, false, false, false, false};
	int			i;

	if (max_count < 1 || max_count > BAR9_CLAIM_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_count must be between 1 and %d", BAR9_CLAIM_MAX)));
	lease_until =
		DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												TimestampTzGetDatum(now),
												PointerGetDatum(lease)));
	if (lease_until <= now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease must be a positive interval")));

	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	picked = palloc0(sizeof(LockedSms) * max_count);
	npicked = ClaimPick(max_count, picked);
	if (npicked == 0)
	{
		SPI_finish();
		return (Datum) 0;
	}
	qsort(picked, npicked, sizeof(LockedSms), LockedSmsCmp);

	/* claim them all, in one statement (a HOT update, see 060_queue.sql) */
	tids = palloc(sizeof(ItemPointerData) * npicked);
	for (i = 0; i < npicked; i++)
		tids[i] = picked[i].tid;
	plan = bar9_plan(&plan_claim,
					 "UPDATE bar9.sms"
					 "   SET status = 'sending', attempt = attempt + 1,"
					 "       lease_until = $2, claimed_by = $3,"
					 "       updated_at = now()"
					 " WHERE ctid = ANY ($1)"
					 " RETURNING ctid, sms_id, account_id, message_id,"
					 "           to_number, attempt",
					 3, claim_types);
	values[0] = TidArrayDatum(tids, npicked);
	values[1] = TimestampTzGetDatum(lease_until);
	values[2] = Int64GetDatum(bar9_claimer_id());
	if (SPI_execute_plan(plan, values, NULL, false, 0) !=
		SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not claim SMS");
	if (SPI_processed != (uint64) npicked)
		elog(ERROR, "claimed %llu SMS of %d locked",
			 (unsigned long long) SPI_processed, npicked);
	rows = palloc0(sizeof(LockedSms) * npicked);
	for (i = 0; i < npicked; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		LockedSms  *r = &rows[i];
		ItemPointer tid;
		bool		isnull;

		tid = (ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc, 1,
														  &isnull));
		ItemPointerCopy(tid, &r->tid);
		r->sms_id = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		RowKeys(tup, desc, 3, r, i > 0 ? &rows[i - 1] : NULL);
		r->message_id_datum = SPI_getbinval(tup, desc, 4, &isnull);
		r->to_number = SPI_getbinval(tup, desc, 5, &isnull);
		r->attempt = SPI_getbinval(tup, desc, 6, &isnull);
		r->state = ClaimPickedState(picked, npicked, r->sms_id);
	}

	/*
	 * Then lock their broadcasts (after the SMS, see queue.h; held only for
	 * the counter update and the commit).  The SMS of a canceled broadcast
	 * are ones its cancel skipped because we held them (or leftovers of an
	 * expired claim): cancel them instead of handing them out.
	 */
	MsgSetBuild(&set, rows, npicked);
	MsgSetLock(&set);
	for (i = 0; i < npicked; i++)
	{
		LockedSms  *r = &rows[i];

		if (!r->msg->found || r->msg->canceled)
		{
			tids[ncancel++] = r->tid;
			MsgCount(r->msg, r->state, SMS_CANCELED);
			continue;
		}
		MsgCount(r->msg, r->state, SMS_SENDING);
		out[0] = Int64GetDatum(r->sms_id);
		out[1] = r->to_number;
		out[2] = r->msg->body;
		out[3] = r->message_id_datum;
		out[4] = r->attempt;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out,
							 outnull);
	}
	if (ncancel > 0)
		ClaimCancel(tids, ncancel);

	MsgSetApplyCounters(&set);
	SPI_finish();
	return (Datum) 0;
}

/* --- ack --------------------------------------------------------------- */

/* The AckOutcome named outcome, or a 22023 error. */
static AckOutcome
AckOutcomeFromName(const char *outcome)
{
	if (strcmp(outcome, "sent") == 0)
		return ACK_SENT;
	if (strcmp(outcome, "delivered") == 0)
		return ACK_DELIVERED;
	if (strcmp(outcome, "failed") == 0)
		return ACK_FAILED;
	if (strcmp(outcome, "retry") == 0)
		return ACK_RETRY;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid outcome \"%s\"", outcome),
			 errhint("The outcome is one of sent, delivered, failed or retry.")));
	return ACK_SENT;			/* keep compiler quiet */
}

/* An SMS id to acknowledge and the provider reference that goes with it. */
typedef struct AckItem
{
	int64		sms_id;
	char	   *provider_ref;
} AckItem;

/* qsort order of AckItem: by sms_id. */
static int
AckItemCmp(const void *a, const void *b)
{
	int64		x = ((const AckItem *) a)->sms_id;
	int64		y = ((const AckItem *) b)->sms_id;

	return (x > y) - (x < y);
}

/*
 * Raise the error for an SMS that an acknowledgement with outcome did not
 * change, given its current status and claimer.  Returns (for a repeated
 * delivery receipt, which changes nothing) instead of raising.
 */
static void
AckReject(int64 sms_id, SmsState state, bool claimed_by_null,
		  int64 claimed_by, AckOutcome outcome, int64 me)
{
	switch (state)
	{
		case SMS_SENDING:
			if (claimed_by_null || claimed_by != me)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("sms %lld is claimed by another session",
								(long long) sms_id),
						 errdetail("Only the session holding the current claim may acknowledge it; a claim whose lease ran out can be taken over by another sender."),
						 errhint("Drop this acknowledgement: the SMS is the current claimer's to report.")));
			/* ours, yet not updated: it changed under us */
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("sms %lld changed while being acknowledged",
							(long long) sms_id),
					 errhint("Acknowledge it again.")));
			break;
		case SMS_DELIVERED:
			if (outcome == ACK_DELIVERED)
				return;			/* a repeated delivery receipt */
			break;
		case SMS_QUEUED:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("sms %lld is not claimed", (long long) sms_id),
					 errdetail("It is queued: it was never claimed, or it was put back for a retry."),
					 errhint("Claim SMS with bar9.claim_sms() before acknowledging them.")));
			break;
		case SMS_CANCELED:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("sms %lld was canceled", (long long) sms_id)));
			break;
		default:
			break;
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("sms %lld was already acknowledged", (long long) sms_id),
			 errdetail("Its status is %s.", sms_state_names[state])));
}

/* The acknowledging updates (see AckSms). */
typedef enum AckPlanKind
{
	ACK_PLAN_RECEIPT,			/* sent -> delivered, from any session */
	ACK_PLAN_FINAL,				/* sending -> $3 (sent, delivered, failed) */
	ACK_PLAN_RETRY,				/* sending -> queued, or failed at the end */
	ACK_NPLANS
} AckPlanKind;

static SPIPlanPtr plan_ack[ACK_NPLANS][2];

/*
 * The kept plan of one acknowledging update.  $1 is the sms_id[] and $2
 * the provider_refs[] (with_refs: some not NULL; else $2 goes unused and
 * the SMS are found by sms_id = ANY ($1), one index scan).  Its RETURNING:
 * sms_id, account_id, message_id, new status.
 */
static SPIPlanPtr
AckPlan(AckPlanKind kind, bool with_refs)
{
	static const Oid receipt_types[3] = {INT8ARRAYOID, TEXTARRAYOID,
	TEXTOID};
	static const Oid final_types[5] = {INT8ARRAYOID, TEXTARRAYOID, TEXTOID,
	TEXTOID, INT8OID};
	static const Oid retry_types[7] = {INT8ARRAYOID, TEXTARRAYOID, TEXTOID,
	INT8OID, INT4OID, FLOAT8OID, FLOAT8OID};
	const char *set_ref = with_refs ?
		" provider_ref = coalesce(u.provider_ref, s.provider_ref)," : "";
	const char *from = with_refs ?
		" FROM unnest($1, $2) AS u(sms_id, provider_ref)"
		" WHERE s.sms_id = u.sms_id" :
		" WHERE s.sms_id = ANY ($1)";
	const char *returning =
		" RETURNING s.sms_id, s.account_id, s.message_id, s.status";
	char	   *sql;

	if (plan_ack[kind][with_refs] != NULL)
		return plan_ack[kind][with_refs];
	switch (kind)
	{
		case ACK_PLAN_RECEIPT:
			sql = psprintf("UPDATE bar9.sms s"
						   "   SET status = 'delivered',%s"
						   "       error = coalesce($3, s.error),"
						   "       updated_at = now()"
						   "%s AND s.status = 'sent'%s",
						   set_ref, from, returning);
			return bar9_plan(&plan_ack[kind][with_refs], sql, 3,
							 receipt_types);
		case ACK_PLAN_FINAL:
			sql = psprintf("UPDATE bar9.sms s"
						   "   SET status = $3,%s"
						   "       error = coalesce($4, s.error),"
						   "       lease_until = NULL,"
						   "       updated_at = now()"
						   "%s AND s.status = 'sending' AND s.claimed_by = $5%s",
						   set_ref, from, returning);
			return bar9_plan(&plan_ack[kind][with_refs], sql, 5,
							 final_types);
		case ACK_PLAN_RETRY:
			sql = psprintf("UPDATE bar9.sms s"
						   "   SET status = CASE WHEN s.attempt >= $5"
						   "                     THEN 'failed' ELSE 'queued' END,%s"
						   "       error = CASE WHEN s.attempt >= $5"
						   "           THEN coalesce($3, 'gave up after '"
						   "                || s.attempt || ' attempts')"
						   "           ELSE coalesce($3, s.error) END,"
						   "       available_at = CASE WHEN s.attempt >= $5"
						   "           THEN s.available_at"
						   "           ELSE now() + least($7, $6 * power(2, s.attempt - 1))"
						   "                        * interval '1 millisecond' END,"
						   "       claimed_by = CASE WHEN s.attempt >= $5"
						   "           THEN s.claimed_by END,"
						   "       lease_until = NULL,"
						   "       updated_at = now()"
						   "%s AND s.status = 'sending' AND s.claimed_by = $4%s",
						   set_ref, from, returning);
			return bar9_plan(&plan_ack[kind][with_refs], sql, 7,
							 retry_types);
		default:
			break;
	}
	elog(ERROR, "unknown acknowledgement plan %d", (int) kind);
	return NULL;				/* keep compiler quiet */
}

/*
 * Run one acknowledging UPDATE, whose RETURNING is sms_id, account_id,
 * message_id and the new status, and append the SMS it changed (they were
 * in state from) to done.
 */
static void
AckCollect(SPIPlanPtr plan, Datum *values, const char *nulls, SmsState from,
		   LockedSms *done, int *ndone)
{
	uint64		k;

	if (SPI_execute_plan(plan, values, nulls, false, 0) !=
		SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not acknowledge SMS");
	for (k = 0; k < SPI_processed; k++)
	{
		HeapTuple	tup = SPI_tuptable->vals[k];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		LockedSms  *r = &done[(*ndone)++];
		bool		isnull;

		r->sms_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		RowKeys(tup, desc, 2, r, *ndone > 1 ? r - 1 : NULL);
		r->state = from;
		r->to = SmsStateFromName(SPI_getvalue(tup, desc, 4));
	}
}

/*
 * Acknowledge the n SMS of items (distinct ids, each with its provider
 * reference or NULL) with outcome, all or none; items get sorted.  Returns
 * the new state of the last one.
 *
 * Each SMS is changed by ONE update whose WHERE clause is the rule of the
 * transition (claimed by this session and 'sending'; or 'sent', for a
 * delivery receipt): no separate locking read, so a batch costs one write
 * per SMS.  A concurrent change (a takeover of an expired lease) is seen by
 * the update's recheck of that clause.  The SMS the updates did not change
 * are then looked at, to raise the precise error (undoing the whole batch)
 * or to accept a repeated delivery receipt.  Last, the broadcasts are
 * locked (after the SMS, see queue.h) and their counters moved.
 */
static SmsState
AckSms(int n, AckItem *items, const char *outcome_name, char *error)
{
	static const Oid check_types[1] = {INT8ARRAYOID};
	AckOutcome	outcome = AckOutcomeFromName(outcome_name);
	int64		me = bar9_claimer_id();
	int64	   *ids;
	char	  **refs;
	LockedSms  *done;
	int			ndone = 0;
	bool		with_refs = false;
	MsgSet		set;
	SmsState	last = SMS_DELIVERED;
	Datum		values[7];
	SPIPlanPtr	plan;
	int			i;
	int			j;

	/* sorted by id: errors name the smallest offending id */
	qsort(items, n, sizeof(AckItem), AckItemCmp);
	ids = palloc(sizeof(int64) * Max(n, 1));
	refs = palloc(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		ids[i] = items[i].sms_id;
		refs[i] = items[i].provider_ref;
		if (i > 0 && ids[i] == ids[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sms %lld appears twice in sms_ids",
							(long long) ids[i])));
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	done = palloc0(sizeof(LockedSms) * Max(n, 1));
	values[0] = Int8ArrayDatum(ids, n);
	values[1] = TextArrayDatum(refs, n);
	for (i = 0; i < n && !with_refs; i++)
		with_refs = (refs[i] != NULL);

	/* a delivery receipt for an SMS already reported sent, by anyone */
	if (outcome == ACK_DELIVERED)
	{
		char		nulls[3] = {' ', ' ', error ? ' ' : 'n'};

		values[2] = error ? CStringGetTextDatum(error) : (Datum) 0;
		AckCollect(AckPlan(ACK_PLAN_RECEIPT, with_refs), values, nulls,
				   SMS_SENT, done, &ndone);
	}

	/* the claim this session holds */
	if (outcome == ACK_RETRY)
	{
		char		nulls[7] = {' ', ' ', error ? ' ' : 'n', ' ', ' ', ' ', ' '};

		values[2] = error ? CStringGetTextDatum(error) : (Datum) 0;
		values[3] = Int64GetDatum(me);
		values[4] = Int32GetDatum(bar9_max_attempts);
		values[5] = Float8GetDatum((double) retry_delay_ms);
		values[6] = Float8GetDatum((double) retry_delay_max_ms);
		AckCollect(AckPlan(ACK_PLAN_RETRY, with_refs), values, nulls,
				   SMS_SENDING, done, &ndone);
	}
	else
	{
		char		nulls[5] = {' ', ' ', ' ', error ? ' ' : 'n', ' '};

		values[2] = CStringGetTextDatum(outcome == ACK_SENT ? "sent" :
										outcome == ACK_FAILED ? "failed" :
										"delivered");
		values[3] = error ? CStringGetTextDatum(error) : (Datum) 0;
		values[4] = Int64GetDatum(me);
		AckCollect(AckPlan(ACK_PLAN_FINAL, with_refs), values, nulls,
				   SMS_SENDING, done, &ndone);
	}

	/* the SMS left unchanged: a precise error, or a repeated receipt */
	if (ndone < n)
	{
		int64	   *missing = palloc(sizeof(int64) * n);
		int			nmissing = 0;
		uint64		k;

		qsort(done, ndone, sizeof(LockedSms), LockedSmsCmp);
		for (i = 0, j = 0; i < n; i++)
		{
			if (j < ndone && done[j].sms_id == ids[i])
				j++;
			else
				missing[nmissing++] = ids[i];
		}
		plan = bar9_plan(&plan_ack_check,
						 "SELECT sms_id, status, claimed_by FROM bar9.sms"
						 " WHERE sms_id = ANY ($1) ORDER BY sms_id",
						 1, check_types);
		values[0] = Int8ArrayDatum(missing, nmissing);
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not look up SMS");
		for (i = 0, k = 0; i < nmissing; i++)
		{
			HeapTuple	tup;
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			bool		cb_null;
			int64		cb;

			if (k >= SPI_processed ||
				DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[k], desc, 1,
											&isnull)) != missing[i])
				ereport(ERROR,
						(errcode(ERRCODE_NO_DATA_FOUND),
						 errmsg("sms %lld does not exist",
								(long long) missing[i])));
			tup = SPI_tuptable->vals[k++];
			cb = DatumGetInt64(SPI_getbinval(tup, desc, 3, &cb_null));
			AckReject(missing[i], SmsStateFromName(SPI_getvalue(tup, desc, 2)),
					  cb_null, cb, outcome, me);
		}
	}

	if (ndone == 0)
	{
		/* only repeated delivery receipts: nothing changed */
		SPI_finish();
		return SMS_DELIVERED;
	}

	/* lock the broadcasts; a retry of a canceled one cancels the SMS */
	MsgSetBuild(&set, done, ndone);
	MsgSetLock(&set);
	if (outcome == ACK_RETRY)
	{
		int64	   *cancel = palloc(sizeof(int64) * Max(ndone, 1));
		int			ncancel = 0;

		for (i = 0; i < ndone; i++)
		{
			if (done[i].to == SMS_QUEUED && done[i].msg->canceled)
			{
				cancel[ncancel++] = done[i].sms_id;
				done[i].to = SMS_CANCELED;
			}
		}
		if (ncancel > 0)
		{
			plan = bar9_plan(&plan_ack_cancel,
							 "UPDATE bar9.sms"
							 "   SET status = 'canceled', updated_at = now()"
							 " WHERE sms_id = ANY ($1) AND status = 'queued'",
							 1, check_types);
			values[0] = Int8ArrayDatum(cancel, ncancel);
			if (SPI_execute_plan(plan, values, NULL, false, 0) !=
				SPI_OK_UPDATE || SPI_processed != (uint64) ncancel)
				elog(ERROR, "could not cancel retried SMS");
		}
	}
	for (i = 0; i < ndone; i++)
	{
		MsgCount(done[i].msg, done[i].state, done[i].to);
		last = done[i].to;
	}
	MsgSetApplyCounters(&set);
	SPI_finish();
	return last;
}

/*
 * SQL: bar9.ack_sms(sms_id bigint, outcome text, provider_ref text DEFAULT
 * NULL, error text DEFAULT NULL) -> text, the SMS's new status.
 */
Datum
ack_sms(PG_FUNCTION_ARGS)
{
	AckItem		item;
	SmsState	to;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sms_id and outcome must not be null")));
	item.sms_id = PG_GETARG_INT64(0);
	item.provider_ref = PG_ARGISNULL(2) ? NULL :
		text_to_cstring(PG_GETARG_TEXT_PP(2));
	to = AckSms(1, &item, text_to_cstring(PG_GETARG_TEXT_PP(1)),
				PG_ARGISNULL(3) ? NULL :
				text_to_cstring(PG_GETARG_TEXT_PP(3)));
	PG_RETURN_TEXT_P(cstring_to_text(sms_state_names[to]));
}

/*
 * SQL: bar9.ack_sms_batch(sms_ids bigint[], outcome text, provider_refs
 * text[] DEFAULT NULL, error text DEFAULT NULL) -> bigint, the number of
 * SMS acknowledged: all of them, or an error and none.
 */
Datum
ack_sms_batch(PG_FUNCTION_ARGS)
{
	ArrayType  *ids_arr;
	Datum	   *id_datums;
	bool	   *id_nulls;
	int			n;
	AckItem    *items;
	int			i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sms_ids and outcome must not be null")));
	ids_arr = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(ids_arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sms_ids must be a one-dimensional array")));
	deconstruct_array(ids_arr, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &id_datums, &id_nulls, &n);
	if (n > BAR9_CLAIM_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sms_ids may hold at most %d ids", BAR9_CLAIM_MAX)));
	items = palloc0(sizeof(AckItem) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (id_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("sms_ids must not contain nulls")));
		items[i].sms_id = DatumGetInt64(id_datums[i]);
	}

	if (!PG_ARGISNULL(2))
	{
		ArrayType  *refs_arr = PG_GETARG_ARRAYTYPE_P(2);
		Datum	   *ref_datums;
		bool	   *ref_nulls;
		int			nrefs;

		deconstruct_array(refs_arr, TEXTOID, -1, false, TYPALIGN_INT,
						  &ref_datums, &ref_nulls, &nrefs);
		if (ARR_NDIM(refs_arr) > 1 || nrefs != n)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("provider_refs must have one element per sms_id")));
		for (i = 0; i < n; i++)
			items[i].provider_ref = ref_nulls[i] ? NULL :
				TextDatumGetCString(ref_datums[i]);
	}

	if (n == 0)
	{
		/* still check the outcome, so a typo fails even on an empty batch */
		(void) AckOutcomeFromName(text_to_cstring(PG_GETARG_TEXT_PP(1)));
		PG_RETURN_INT64(0);
	}
	(void) AckSms(n, items, text_to_cstring(PG_GETARG_TEXT_PP(1)),
				  PG_ARGISNULL(3) ? NULL :
				  text_to_cstring(PG_GETARG_TEXT_PP(3)));
	PG_RETURN_INT64(n);
}

/* --- retiring ------------------------------------------------------------ */

/*
 * SQL: bar9.retire_sms(older_than interval DEFAULT '30 days', max_rows int
 * DEFAULT 10000) -> bigint.  Deletes at most max_rows finished SMS (sent,
 * delivered, failed, canceled) of completed or canceled broadcasts that
 * have not changed for older_than; returns how many.  Call it until it
 * returns 0, one transaction per call, so that no call holds many locks or
 * keeps vacuum waiting.  A broadcast's counters keep the history.
 */
Datum
retire_sms(PG_FUNCTION_ARGS)
{
	static const Oid types[2] = {TIMESTAMPTZOID, INT4OID};
	Interval   *older_than = PG_GETARG_INTERVAL_P(0);
	int32		max_rows = PG_GETARG_INT32(1);
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TimestampTz cutoff;
	SPIPlanPtr	plan;
	Datum		values[2];
	uint64		deleted;

	cutoff =
		DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
												TimestampTzGetDatum(now),
												PointerGetDatum(older_than)));
	if (cutoff > now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative")));
	if (max_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be at least 1")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = bar9_plan(&plan_retire,
					 "DELETE FROM bar9.sms"
					 " WHERE ctid = ANY (ARRAY("
					 "   SELECT s.ctid"
					 "     FROM bar9.messages m"
					 "     JOIN bar9.sms s ON s.account_id = m.account_id"
					 "                    AND s.message_id = m.message_id"
					 "    WHERE m.status IN ('completed', 'canceled')"
					 "      AND m.updated_at < $1"
					 "      AND s.finished AND s.updated_at < $1"
					 "    LIMIT $2))",
					 2, types);
	values[0] = TimestampTzGetDatum(cutoff);
	values[1] = Int32GetDatum(max_rows);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not retire SMS");
	deleted = SPI_processed;
	SPI_finish();
	PG_RETURN_INT64((int64) deleted);
}

/* --- broadcast status ---------------------------------------------------- */

/* The int8 column attnum of tuple (0 when NULL). */
static int64
TupleInt8(HeapTuple tuple, TupleDesc desc, const char *name)
{
	bool		isnull;
	int			attnum = SPI_fnumber(desc, name);
	Datum		d;

	if (attnum <= 0)
		elog(ERROR, "bar9.messages has no column \"%s\"", name);
	d = SPI_getbinval(tuple, desc, attnum, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * Trigger bar9.messages_settle_status(), BEFORE UPDATE of a fanned-out
 * 'queued' or 'sending' broadcast: 'completed' once no SMS is queued or
 * sending, else 'sending' once any SMS was claimed.
 */
Datum
messages_settle_status(PG_FUNCTION_ARGS)
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
		elog(ERROR, "messages_settle_status must be a BEFORE UPDATE row trigger");

	newtuple = trigdata->tg_newtuple;
	desc = trigdata->tg_relation->rd_att;
	status_attnum = SPI_fnumber(desc, "status");
	if (status_attnum <= 0)
		elog(ERROR, "bar9.messages has no column \"status\"");
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
