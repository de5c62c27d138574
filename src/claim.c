/*
 * claim.c
 *		bar9.claim_sms: hand SMS to a sender for a lease.
 *
 * One call takes, in this order and up to max_count SMS in all:
 *
 *	1. runs of SMS whose claim's lease ran out (sms_claims): each is taken
 *	   over under a new claim number, attempt + 1 (split when it is longer
 *	   than what the call may still take);
 *	2. retried SMS that are due (sms_retry), row by row;
 *	3. new SMS: broadcasts with queued SMS take turns (least recently
 *	   claimed first); each gives the run after its claim_cursor, recorded
 *	   as one sms_claims row, the cursor moved past it.  No SMS row is
 *	   written: a claim of 500 SMS writes two rows.
 *
 * Steps 1 and 2 lock their rows with SKIP LOCKED, then the broadcasts of
 * what they took (queue.h's order); an SMS whose broadcast was canceled
 * meanwhile is canceled instead of handed out.  Step 3 locks one broadcast
 * at a time, waiting only while the call holds no other broadcast lock.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "sql_helpers.h"
#include "cluster.h"
#include "e164.h"
#include "queue.h"

/* One SMS taken by steps 1 and 2, to hand out once its broadcast is locked. */
typedef struct TakenSms
{
	SmsId		id;
	int32		attempt;
	bool		was_queued;		/* it moves queued -> sending */
} TakenSms;

/* The state of one call of bar9.claim_sms. */
typedef struct ClaimCall
{
	int			left;			/* SMS the call may still take */
	TimestampTz lease_until;
	ReturnSetInfo *rsinfo;
	TakenSms   *taken;			/* steps 1 and 2 */
	int			ntaken;
	BroadcastSet locked;		/* broadcasts whose lock the call holds */
} ClaimCall;

static SPIPlanPtr plan_expired;
static SPIPlanPtr plan_expired_lock;
static SPIPlanPtr plan_retry_accounts;
static SPIPlanPtr plan_run_rows;
static SPIPlanPtr plan_run_take;
static SPIPlanPtr plan_run_split;
static SPIPlanPtr plan_run_empty;
static SPIPlanPtr plan_run_cancel;
static SPIPlanPtr plan_retries;
static SPIPlanPtr plan_retry_cancel;
static SPIPlanPtr plan_turns;
static SPIPlanPtr plan_lock_turn[2];
static SPIPlanPtr plan_new_rows[2];
static SPIPlanPtr plan_new_claim;
static SPIPlanPtr plan_cursor;

PG_FUNCTION_INFO_V1(bar9_claim_sms);

/* Run a kept plan and return its rows; elog unless SPI answers expected. */
static SPITupleTable *
Exec(SPIPlanPtr plan, Datum *values, const char *nulls, int expected)
{
	int			rc = SPI_execute_plan(plan, values, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "claim statement failed: %s", SPI_result_code_string(rc));
	return SPI_tuptable;
}

/* Column col of row i of rows. */
static inline Datum
Col(SPITupleTable *rows, uint64 i, int col, bool *isnull)
{
	return SPI_getbinval(rows->vals[i], rows->tupdesc, col, isnull);
}

/* Hand one SMS of broadcast b to the caller. */
static void
Emit(ClaimCall *call, const Broadcast *b, const SmsId *id, int32 attempt)
{
	Datum		out[6];
	bool		outnull[6] = {false, false, false, false, false, b->from_null};

	out[0] = bar9_sms_id_text(id);
	out[1] = E164GetDatum(id->number);
	out[2] = b->body;
	out[3] = b->broadcast_id;
	out[4] = Int32GetDatum(attempt);
	out[5] = b->from_address;
	tuplestore_putvalues(call->rsinfo->setResult, call->rsinfo->setDesc, out,
						 outnull);
}

/* Note one SMS taken by step 1 or 2. */
static void
Take(ClaimCall *call, const SmsId *id, int32 attempt, bool was_queued)
{
	TakenSms   *t = &call->taken[call->ntaken++];

	t->id = *id;
	t->attempt = attempt;
	t->was_queued = was_queued;
	call->left--;
}

/* --- 1. runs whose lease ran out ------------------------------------------ */

/*
 * The whole expired run (a, b, claim_no) becomes n SMS of a new claim: a
 * new claim number, attempt + 1, a new lease.  Returns the claim number.
 */
static int64
RenewRun(ClaimCall *call, int32 a, int32 b, int64 claim_no)
{
	static const Oid types[5] = {INT4OID, INT4OID, INT8OID, TIMESTAMPTZOID,
	INT8OID};
	Datum		values[5];
	bool		isnull;
	SPITupleTable *rows;

	values[0] = Int32GetDatum(a);
	values[1] = Int32GetDatum(b);
	values[2] = Int64GetDatum(claim_no);
	values[3] = TimestampTzGetDatum(call->lease_until);
	values[4] = Int64GetDatum(bar9_new_claim_no());
	rows = Exec(bar9_plan(&plan_run_take,
						  "UPDATE bar9.sms_claims"
						  "   SET claim_no = $5,"
						  "       attempt = attempt + 1, lease_until = $4,"
						  "       claimed_at = pg_catalog.now()"
						  " WHERE account_no = $1 AND broadcast_no = $2"
						  "   AND claim_no = $3"
						  " RETURNING claim_no",
						  5, types),
				values, NULL, SPI_OK_UPDATE_RETURNING);
	if (rows->numvals != 1)
		elog(ERROR, "could not take over an expired claim");
	return DatumGetInt64(Col(rows, 0, 1, &isnull));
}

/*
 * Split the expired run (a, b, claim_no): its SMS from first to last
 * (n of them) become a new claim with a new lease and attempt + 1; the
 * rest, from rest_first on, stays with the old claim.  Returns the new
 * claim number.
 */
static int64
SplitRun(ClaimCall *call, int32 a, int32 b, int64 claim_no, uint64 first,
		 uint64 last, uint64 rest_first, int n)
{
	static const Oid types[9] = {INT4OID, INT4OID, INT8OID, TEXTOID, TEXTOID,
	TEXTOID, INT4OID, TIMESTAMPTZOID, INT8OID};
	Datum		values[9];
	bool		isnull;
	SPITupleTable *rows;

	values[0] = Int32GetDatum(a);
	values[1] = Int32GetDatum(b);
	values[2] = Int64GetDatum(claim_no);
	values[3] = E164TextDatum(first);
	values[4] = E164TextDatum(last);
	values[5] = E164TextDatum(rest_first);
	values[6] = Int32GetDatum(n);
	values[7] = TimestampTzGetDatum(call->lease_until);
	values[8] = Int64GetDatum(bar9_new_claim_no());
	rows = Exec(bar9_plan(&plan_run_split,
						  "WITH rest AS ("
						  "  UPDATE bar9.sms_claims"
						  "     SET first_number = $6::bar9.e164,"
						  "         remaining = remaining - $7"
						  "   WHERE account_no = $1 AND broadcast_no = $2"
						  "     AND claim_no = $3"
						  "   RETURNING attempt)"
						  " INSERT INTO bar9.sms_claims"
						  " SELECT $1, $2, $9,"
						  "        $4::bar9.e164, $5::bar9.e164, $7, attempt + 1, $8,"
						  "        pg_catalog.now()"
						  "   FROM rest"
						  " RETURNING claim_no",
						  9, types),
				values, NULL, SPI_OK_INSERT_RETURNING);
	if (rows->numvals != 1)
		elog(ERROR, "could not split an expired claim");
	return DatumGetInt64(Col(rows, 0, 1, &isnull));
}

/*
 * Drop the expired run (a, b, claim_no) that has no SMS left in the queue.
 * Acknowledging the last SMS of a run drops it, so this should not happen;
 * if it does, renewing an empty run would keep it forever.
 */
static void
DropEmptyRun(int32 a, int32 b, int64 claim_no)
{
	static const Oid types[3] = {INT4OID, INT4OID, INT8OID};
	Datum		values[3];

	values[0] = Int32GetDatum(a);
	values[1] = Int32GetDatum(b);
	values[2] = Int64GetDatum(claim_no);
	Exec(bar9_plan(&plan_run_empty,
				   "DELETE FROM bar9.sms_claims"
				   " WHERE account_no = $1 AND broadcast_no = $2"
				   "   AND claim_no = $3",
				   3, types),
		 values, NULL, SPI_OK_DELETE);
	elog(WARNING, "bar9: dropped claim %lld of broadcast %d.%d: no SMS left in it",
		 (long long) claim_no, a, b);
}

/*
 * Take over one expired run (locked by the caller): its first call->left
 * SMS, under a new claim number.  A longer run is split: the rest stays
 * with the old claim (and its lease, which ran out).
 */
static void
TakeOverRun(ClaimCall *call, int32 a, int32 b, int64 claim_no,
			Datum first, Datum last, int32 remaining, int32 attempt)
{
	static const Oid types[5] = {INT4OID, INT4OID, TEXTOID, TEXTOID, INT4OID};
	Datum		values[5];
	int			want = Min(remaining, call->left);
	int			got;
	int			n;
	uint64	   *numbers;
	bool		isnull;
	SmsId		id;
	SPITupleTable *rows;

	values[0] = Int32GetDatum(a);
	values[1] = Int32GetDatum(b);
	values[2] = first;
	values[3] = last;
	values[4] = Int32GetDatum(want + 1);
	rows = Exec(bar9_plan(&plan_run_rows,
						  "SELECT to_number FROM bar9.sms_queue"
						  " WHERE account_no = $1 AND broadcast_no = $2"
						  "   AND to_number OPERATOR(bar9.>=) $3::bar9.e164"
						  "   AND to_number OPERATOR(bar9.<=) $4::bar9.e164"
						  " ORDER BY to_number LIMIT $5",
						  5, types),
				values, NULL, SPI_OK_SELECT);
	got = (int) rows->numvals;
	n = Min(got, want);
	numbers = palloc(sizeof(uint64) * (got + 1));
	for (int i = 0; i < got; i++)
		numbers[i] = DatumGetE164(Col(rows, i, 1, &isnull));
	SPI_freetuptable(rows);
	if (got == 0)
	{
		DropEmptyRun(a, b, claim_no);
		return;
	}

	id.account_no = a;
	id.broadcast_no = b;
	id.retry = false;
	if (got > n)
		id.claim_no = SplitRun(call, a, b, claim_no, numbers[0],
							   numbers[n - 1], numbers[n], n);
	else
		id.claim_no = RenewRun(call, a, b, claim_no);
	for (int i = 0; i < n; i++)
	{
		id.number = numbers[i];
		Take(call, &id, attempt + 1, false);
	}
}

/* How many expired runs one call looks at, at most. */
#define CLAIM_EXPIRED_LOOK	16

/*
 * Lock the expired run (a, b, claim_no) unless another call holds it or
 * took it over meanwhile; returns its row, or NULL.  One row of one shard:
 * on Citus, no lock spans shards.
 */
static SPITupleTable *
LockExpiredRun(int32 a, int32 b, int64 claim_no)
{
	static const Oid types[3] = {INT4OID, INT4OID, INT8OID};
	Datum		values[3];
	SPITupleTable *rows;

	values[0] = Int32GetDatum(a);
	values[1] = Int32GetDatum(b);
	values[2] = Int64GetDatum(claim_no);
	rows = Exec(bar9_plan(&plan_expired_lock,
						  "SELECT account_no, broadcast_no, claim_no,"
						  "       first_number::text, last_number::text,"
						  "       remaining, attempt"
						  "  FROM bar9.sms_claims"
						  " WHERE account_no = $1 AND broadcast_no = $2"
						  "   AND claim_no = $3 AND lease_until <= pg_catalog.now()"
						  "   FOR UPDATE SKIP LOCKED",
						  3, types),
				values, NULL, SPI_OK_SELECT);
	return rows->numvals == 1 ? rows : NULL;
}

/*
 * Step 1: take over runs whose lease ran out, oldest first: read the
 * oldest few without a lock (on Citus, from every shard), then lock each
 * by its key, skipping those another call holds.
 */
static void
ClaimExpiredRuns(ClaimCall *call)
{
	int64	   *keys;
	int			n;
	bool		isnull;
	SPITupleTable *rows;

	if (call->left <= 0)
		return;
	rows = Exec(bar9_plan(&plan_expired,
						  "SELECT account_no, broadcast_no, claim_no"
						  "  FROM bar9.sms_claims"
						  " WHERE lease_until <= pg_catalog.now()"
						  " ORDER BY lease_until LIMIT " CppAsString2(CLAIM_EXPIRED_LOOK),
						  0, NULL),
				NULL, NULL, SPI_OK_SELECT);
	n = (int) rows->numvals;
	keys = palloc(sizeof(int64) * 3 * Max(n, 1));
	for (int i = 0; i < n; i++)
		for (int c = 0; c < 3; c++)
			keys[3 * i + c] = c < 2 ? DatumGetInt32(Col(rows, i, c + 1, &isnull)) :
				DatumGetInt64(Col(rows, i, c + 1, &isnull));
	SPI_freetuptable(rows);

	for (int i = 0; i < n && call->left > 0; i++)
	{
		SPITupleTable *run = LockExpiredRun((int32) keys[3 * i],
											(int32) keys[3 * i + 1],
											keys[3 * i + 2]);

		if (run == NULL)
			continue;
		TakeOverRun(call,
					DatumGetInt32(Col(run, 0, 1, &isnull)),
					DatumGetInt32(Col(run, 0, 2, &isnull)),
					DatumGetInt64(Col(run, 0, 3, &isnull)),
					Col(run, 0, 4, &isnull), Col(run, 0, 5, &isnull),
					DatumGetInt32(Col(run, 0, 6, &isnull)),
					DatumGetInt16(Col(run, 0, 7, &isnull)));
	}
}

/* --- 2. retried SMS ------------------------------------------------------- */

/*
 * Claim due retried SMS of one account (and its retries whose lease ran
 * out), under one new claim number: one statement on the account's shard.
 */
static void
ClaimAccountRetries(ClaimCall *call, int32 account_no)
{
	static const Oid types[4] = {INT4OID, TIMESTAMPTZOID, INT8OID, INT4OID};
	Datum		values[4];
	SPITupleTable *rows;

	values[0] = Int32GetDatum(call->left);
	values[1] = TimestampTzGetDatum(call->lease_until);
	values[2] = Int64GetDatum(bar9_new_claim_no());
	values[3] = Int32GetDatum(account_no);
	rows = Exec(bar9_plan(&plan_retries,
						  "WITH picked AS ("
						  "  SELECT account_no, broadcast_no, to_number,"
						  "         claim_no IS NULL AS was_queued"
						  "    FROM bar9.sms_retry"
						  "   WHERE account_no = $4 AND due_at <= pg_catalog.now()"
						  "   ORDER BY due_at LIMIT $1"
						  "     FOR UPDATE SKIP LOCKED)"
						  " UPDATE bar9.sms_retry r"
						  "    SET claim_no = $3, attempt = r.attempt + 1,"
						  "        due_at = $2"
						  "   FROM picked p"
						  "  WHERE r.account_no = $4 AND p.account_no = $4"
						  "    AND r.broadcast_no = p.broadcast_no"
						  "    AND r.to_number OPERATOR(bar9.=) p.to_number"
						  " RETURNING r.account_no, r.broadcast_no, r.to_number,"
						  "           r.claim_no, r.attempt, p.was_queued",
						  4, types),
				values, NULL, SPI_OK_UPDATE_RETURNING);
	for (uint64 i = 0; i < rows->numvals; i++)
	{
		bool		isnull;
		SmsId		id;

		id.account_no = DatumGetInt32(Col(rows, i, 1, &isnull));
		id.broadcast_no = DatumGetInt32(Col(rows, i, 2, &isnull));
		id.number = DatumGetE164(Col(rows, i, 3, &isnull));
		id.retry = true;
		id.claim_no = DatumGetInt64(Col(rows, i, 4, &isnull));
		Take(call, &id, DatumGetInt16(Col(rows, i, 5, &isnull)),
			 DatumGetBool(Col(rows, i, 6, &isnull)));
	}
}

/*
 * Step 2: claim due retried SMS, account by account, the accounts with
 * the longest-due ones first (an unlocked read; on Citus, of every shard).
 */
static void
ClaimRetries(ClaimCall *call)
{
	int32	   *accounts;
	int			n;
	bool		isnull;
	SPITupleTable *rows;

	if (call->left <= 0)
		return;
	rows = Exec(bar9_plan(&plan_retry_accounts,
						  "SELECT account_no FROM bar9.sms_retry"
						  " WHERE due_at <= pg_catalog.now()"
						  " GROUP BY account_no ORDER BY pg_catalog.min(due_at)"
						  " LIMIT " CppAsString2(CLAIM_EXPIRED_LOOK),
						  0, NULL),
				NULL, NULL, SPI_OK_SELECT);
	n = (int) rows->numvals;
	accounts = palloc(sizeof(int32) * Max(n, 1));
	for (int i = 0; i < n; i++)
		accounts[i] = DatumGetInt32(Col(rows, i, 1, &isnull));
	SPI_freetuptable(rows);
	for (int i = 0; i < n && call->left > 0; i++)
		ClaimAccountRetries(call, accounts[i]);
}

/*
 * Cancel what steps 1 and 2 took of a canceled broadcast: not handed out
 * after all.  Its runs' SMS and its retried SMS go to the history.
 */
static void
CancelTaken(Broadcast *b, TakenSms *t, int n)
{
	static const Oid types[4] = {INT4OID, INT4OID, INT8OID, TEXTARRAYOID};
	uint64	   *numbers = palloc(sizeof(uint64) * n);
	Datum		values[4];

	for (int i = 0; i < n; i++)
		numbers[i] = t[i].id.number;
	values[0] = Int32GetDatum(b->account_no);
	values[1] = Int32GetDatum(b->broadcast_no);
	values[2] = Int64GetDatum(t[0].id.claim_no);
	values[3] = bar9_numbers_text_array(numbers, n);
	Exec(t[0].id.retry ?
		 bar9_plan(&plan_retry_cancel,
				   "WITH gone AS ("
				   "  DELETE FROM bar9.sms_retry"
				   "   WHERE account_no = $1 AND broadcast_no = $2"
				   "     AND claim_no = $3"
				   "     AND to_number OPERATOR(bar9.=) ANY ($4::bar9.e164[])"
				   "  RETURNING to_number, attempt - 1 AS attempt, error)"
				   " INSERT INTO bar9.sms_history"
				   " SELECT $1, $2, to_number, 5, attempt,"
				   "        " SQL_CHANGED_S("$2") ", NULL, error FROM gone",
				   4, types) :
		 bar9_plan(&plan_run_cancel,
				   "WITH gone AS ("
				   "  DELETE FROM bar9.sms_queue"
				   "   WHERE account_no = $1 AND broadcast_no = $2"
				   "     AND to_number OPERATOR(bar9.=) ANY ($4::bar9.e164[])"
				   "  RETURNING to_number),"
				   " claim AS ("
				   "  DELETE FROM bar9.sms_claims"
				   "   WHERE account_no = $1 AND broadcast_no = $2"
				   "     AND claim_no = $3"
				   "  RETURNING attempt - 1 AS attempt)"
				   " INSERT INTO bar9.sms_history"
				   " SELECT $1, $2, to_number, 5, claim.attempt,"
				   "        " SQL_CHANGED_S("$2") ", NULL, NULL FROM gone, claim",
				   4, types),
		 values, NULL, SPI_OK_INSERT);
	if (SPI_processed != (uint64) n)
		elog(ERROR, "could not cancel SMS of a canceled broadcast");
}

/*
 * Hand out what steps 1 and 2 took, once their broadcasts are locked; or
 * cancel it, where the broadcast was canceled.
 */
static void
HandOutTaken(ClaimCall *call)
{
	int			start = 0;

	for (int i = 0; i < call->ntaken; i++)
		bar9_broadcasts_add(&call->locked, call->taken[i].id.account_no,
							call->taken[i].id.broadcast_no);
	bar9_broadcasts_lock(&call->locked);

	/* the taken SMS come in groups of one claim each */
	for (int i = 1; i <= call->ntaken; i++)
	{
		TakenSms   *t = &call->taken[start];
		Broadcast  *b;

		if (i < call->ntaken && call->taken[i].id.claim_no == t->id.claim_no &&
			call->taken[i].id.account_no == t->id.account_no &&
			call->taken[i].id.broadcast_no == t->id.broadcast_no)
			continue;
		b = bar9_broadcasts_find(&call->locked, t->id.account_no,
								 t->id.broadcast_no);
		if (!b->found || b->canceled)
		{
			if (b->found)
				CancelTaken(b, t, i - start);
			for (int k = start; k < i; k++)
				bar9_broadcast_move(b, call->taken[k].was_queued ?
									SMS_QUEUED : SMS_SENDING,
									SMS_CANCELED, 1);
		}
		else
		{
			for (int k = start; k < i; k++)
			{
				Emit(call, b, &call->taken[k].id, call->taken[k].attempt);
				if (call->taken[k].was_queued)
					bar9_broadcast_move(b, SMS_QUEUED, SMS_SENDING, 1);
			}
		}
		start = i;
	}
}

/* --- 3. new SMS ----------------------------------------------------------- */

/*
 * Lock broadcast (a, b) for a claim of new SMS, waiting unless skip_locked;
 * fills *out and its cursor.  False when it is locked by another (with
 * skip_locked), gone, or no longer takes claims.
 */
static bool
LockTurn(int32 a, int32 b, bool skip_locked, Broadcast *out,
		 bool *have_cursor, Datum *cursor)
{
	static const Oid types[2] = {INT4OID, INT4OID};
	Datum		values[2];
	bool		isnull;
	SPITupleTable *rows;

	values[0] = Int32GetDatum(a);
	values[1] = Int32GetDatum(b);
	rows = Exec(bar9_plan(&plan_lock_turn[skip_locked ? 1 : 0],
						  skip_locked ?
						  "SELECT broadcast_id, body, from_address, claim_cursor::text"
						  "  FROM bar9.broadcasts"
						  " WHERE account_no = $1 AND broadcast_no = $2"
						  "   AND status IN ('pending', 'queued', 'sending')"
						  "   FOR NO KEY UPDATE SKIP LOCKED" :
						  "SELECT broadcast_id, body, from_address, claim_cursor::text"
						  "  FROM bar9.broadcasts"
						  " WHERE account_no = $1 AND broadcast_no = $2"
						  "   AND status IN ('pending', 'queued', 'sending')"
						  "   FOR NO KEY UPDATE",
						  2, types),
				values, NULL, SPI_OK_SELECT);
	if (rows->numvals == 0)
		return false;
	memset(out, 0, sizeof(*out));
	out->account_no = a;
	out->broadcast_no = b;
	out->found = true;
	out->broadcast_id = Col(rows, 0, 1, &isnull);
	out->body = Col(rows, 0, 2, &isnull);
	out->from_address = Col(rows, 0, 3, &out->from_null);
	*cursor = Col(rows, 0, 4, have_cursor);
	*have_cursor = !*have_cursor;
	return true;
}

/*
 * Claim the next run of new SMS of locked broadcast b (after its cursor):
 * one sms_claims row, the cursor moved.  Returns how many.
 */
static int
ClaimRun(ClaimCall *call, Broadcast *b, bool have_cursor, Datum cursor)
{
	static const Oid row_types[4] = {INT4OID, INT4OID, INT4OID, TEXTOID};
	static const Oid claim_types[7] = {INT4OID, INT4OID, TEXTOID, TEXTOID,
	INT4OID, TIMESTAMPTZOID, INT8OID};
	static const Oid cursor_types[4] = {INT4OID, INT4OID, TEXTOID, INT4OID};
	Datum		values[7];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	uint64	   *numbers;
	int			n;
	bool		isnull;
	SmsId		id;
	SPITupleTable *rows;

	values[0] = Int32GetDatum(b->account_no);
	values[1] = Int32GetDatum(b->broadcast_no);
	values[2] = Int32GetDatum(call->left);
	values[3] = cursor;
	rows = Exec(have_cursor ?
				bar9_plan(&plan_new_rows[1],
						  "SELECT to_number FROM bar9.sms_queue"
						  " WHERE account_no = $1 AND broadcast_no = $2"
						  "   AND to_number OPERATOR(bar9.>) $4::bar9.e164"
						  " ORDER BY to_number LIMIT $3",
						  4, row_types) :
				bar9_plan(&plan_new_rows[0],
						  "SELECT to_number FROM bar9.sms_queue"
						  " WHERE account_no = $1 AND broadcast_no = $2"
						  " ORDER BY to_number LIMIT $3",
						  3, row_types),
				values, NULL, SPI_OK_SELECT);
	n = (int) rows->numvals;
	numbers = palloc(sizeof(uint64) * Max(n, 1));
	for (int i = 0; i < n; i++)
		numbers[i] = DatumGetE164(Col(rows, i, 1, &isnull));
	SPI_freetuptable(rows);

	/*
	 * The cursor and the counters move in one update; claimed_at even when
	 * nothing came: the next broadcast's turn.
	 */
	values[2] = n > 0 ? E164TextDatum(numbers[n - 1]) : (Datum) 0;
	nulls[2] = n > 0 ? ' ' : 'n';
	values[3] = Int32GetDatum(n);
	Exec(bar9_plan(&plan_cursor,
				   "UPDATE bar9.broadcasts"
				   "   SET claim_cursor = coalesce($3::bar9.e164, claim_cursor),"
				   "       claimed_at = pg_catalog.now(),"
				   "       n_queued = n_queued - $4, n_sending = n_sending + $4"
				   " WHERE account_no = $1 AND broadcast_no = $2",
				   4, cursor_types),
		 values, nulls, SPI_OK_UPDATE);
	if (n == 0)
		return 0;

	values[2] = E164TextDatum(numbers[0]);
	values[3] = E164TextDatum(numbers[n - 1]);
	values[4] = Int32GetDatum(n);
	values[5] = TimestampTzGetDatum(call->lease_until);
	values[6] = Int64GetDatum(bar9_new_claim_no());
	rows = Exec(bar9_plan(&plan_new_claim,
						  "INSERT INTO bar9.sms_claims VALUES"
						  " ($1, $2, $7,"
						  "  $3::bar9.e164, $4::bar9.e164, $5, 1, $6, pg_catalog.now())"
						  " RETURNING claim_no",
						  7, claim_types),
				values, NULL, SPI_OK_INSERT_RETURNING);
	id.account_no = b->account_no;
	id.broadcast_no = b->broadcast_no;
	id.retry = false;
	id.claim_no = DatumGetInt64(Col(rows, 0, 1, &isnull));
	for (int i = 0; i < n; i++)
	{
		id.number = numbers[i];
		Emit(call, b, &id, 1);
	}
	call->left -= n;
	return n;
}

/* How many broadcasts one call looks at for new SMS, at most. */
#define CLAIM_TURNS		16

/* Step 3: new SMS from broadcasts with queued SMS, in turn. */
static void
ClaimNew(ClaimCall *call)
{
	static const Oid types[1] = {INT4OID};
	Datum		values[1];
	int32	   *keys;
	int			nturns;
	bool		isnull;
	SPITupleTable *rows;

	if (call->left <= 0)
		return;
	values[0] = Int32GetDatum(CLAIM_TURNS);
	rows = Exec(bar9_plan(&plan_turns,
						  "SELECT account_no, broadcast_no FROM bar9.broadcasts"
						  " WHERE status IN ('pending', 'queued', 'sending')"
						  "   AND n_queued > 0"
						  " ORDER BY claimed_at NULLS FIRST LIMIT $1",
						  1, types),
				values, NULL, SPI_OK_SELECT);
	nturns = (int) rows->numvals;
	keys = palloc(sizeof(int32) * 2 * Max(nturns, 1));
	for (int i = 0; i < nturns; i++)
	{
		keys[2 * i] = DatumGetInt32(Col(rows, i, 1, &isnull));
		keys[2 * i + 1] = DatumGetInt32(Col(rows, i, 2, &isnull));
	}

	for (int i = 0; i < nturns && call->left > 0; i++)
	{
		Broadcast	turn;
		Broadcast  *b;
		bool		have_cursor;
		Datum		cursor;
		bool		holds = call->locked.n > 0;

		/* one that steps 1-2 locked is ours already: no wait */
		if (bar9_broadcasts_find(&call->locked, keys[2 * i],
								 keys[2 * i + 1]) != NULL)
			holds = false;
		if (!LockTurn(keys[2 * i], keys[2 * i + 1], holds, &turn,
					  &have_cursor, &cursor))
			continue;
		b = bar9_broadcasts_add(&call->locked, turn.account_no,
								turn.broadcast_no);
		memcpy(turn.delta, b->delta, sizeof(turn.delta));
		*b = turn;
		(void) ClaimRun(call, b, have_cursor, cursor);
	}
}

/*
 * SQL: bar9.claim_sms(max_count int DEFAULT 100, lease interval DEFAULT
 * '1 minute') -> TABLE(sms_id, to_number, body, message_id, attempt,
 * from_address).
 */
Datum
bar9_claim_sms(PG_FUNCTION_ARGS)
{
	int32		max_count = PG_GETARG_INT32(0);
	Interval   *lease = PG_GETARG_INTERVAL_P(1);
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	ClaimCall	call;

	if (max_count < 1 || max_count > BAR9_CLAIM_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_count must be between 1 and %d", BAR9_CLAIM_MAX)));
	call.lease_until =
		DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												TimestampTzGetDatum(now),
												PointerGetDatum(lease)));
	if (call.lease_until <= now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease must be a positive interval")));

	InitMaterializedSRF(fcinfo, 0);
	call.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	call.left = max_count;
	call.taken = palloc(sizeof(TakenSms) * max_count);
	call.ntaken = 0;
	bar9_broadcasts_init(&call.locked);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ClaimExpiredRuns(&call);
	ClaimRetries(&call);
	if (call.ntaken > 0)
		HandOutTaken(&call);
	ClaimNew(&call);
	bar9_broadcasts_count(&call.locked);
	SPI_finish();
	return (Datum) 0;
}
