/*
 * ack.c
 *		bar9.ack_sms and bar9.ack_sms_batch: what happened to claimed SMS.
 *
 * An acknowledgement names SMS by the sms_id that bar9.claim_sms handed
 * out, which carries the claim (queue.h).  The SMS of one claim are
 * acknowledged together, one statement each step:
 *
 *	1. lock the claim (its sms_claims row; or, for retried SMS, their
 *	   sms_retry rows, which hold the claim number), in key order;
 *	2. move the SMS: out of sms_queue or sms_retry, into sms_history as
 *	   sent, delivered or failed, or into sms_retry with its back-off
 *	   ('retry'; 'failed' once bar9.max_attempts claims were made);
 *	3. a delivery receipt ('delivered') for an SMS already 'sent' changes
 *	   its sms_history row, whichever session sends it;
 *	4. whatever did not move gets its precise error (all or none), or is a
 *	   repeated receipt and changes nothing;
 *	5. lock the broadcasts (after the SMS, queue.h) and move their
 *	   counters; a retry of an SMS of a canceled broadcast cancels it.
 *
 * The claim, not the session, owns the SMS: any connection may ack while
 * the claim stands.  Once the lease ran out and another claim took the
 * SMS over (claim.c), the old claim number is gone and its acks refused.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "sql_helpers.h"
#include "e164.h"
#include "queue.h"

/* What a sender may report about an SMS it claimed. */
typedef enum AckOutcome
{
	ACK_SENT,
	ACK_DELIVERED,
	ACK_FAILED,
	ACK_RETRY
} AckOutcome;

/* One SMS to acknowledge. */
typedef struct AckItem
{
	SmsId		id;
	char	   *text;			/* the sms_id as given, for errors */
	char	   *provider_ref;
	bool		done;			/* moved (or a repeated receipt) */
} AckItem;

/* One acknowledgement call: its outcome and what it moved. */
typedef struct AckCall
{
	AckOutcome	outcome;
	char	   *error;
	BroadcastSet set;
	SmsState	last;			/* the new status of the last SMS moved */
} AckCall;

static SPIPlanPtr plan_lock_run;
static SPIPlanPtr plan_run_retry;
static SPIPlanPtr plan_run_done;
static SPIPlanPtr plan_run_drop;
static SPIPlanPtr plan_retry_final;
static SPIPlanPtr plan_retry_again;
static SPIPlanPtr plan_receipt;
static SPIPlanPtr plan_where;

PG_FUNCTION_INFO_V1(bar9_ack_sms);
PG_FUNCTION_INFO_V1(bar9_ack_sms_batch);

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

/* The final state an outcome other than retry records. */
static SmsState
OutcomeState(AckOutcome outcome)
{
	return outcome == ACK_SENT ? SMS_SENT :
		outcome == ACK_DELIVERED ? SMS_DELIVERED : SMS_FAILED;
}

/* -1, 0 or 1 as a is below, equal to or above b. */
static inline int
Cmp(int64 a, int64 b)
{
	return (a > b) - (a < b);
}

/*
 * Order of sms_ids: account, broadcast, then (by_claim) retried or not and
 * claim number, then phone number.
 */
static int
SmsIdCmp(const SmsId *x, const SmsId *y, bool by_claim)
{
	int			c = Cmp(x->account_no, y->account_no);

	if (c == 0)
		c = Cmp(x->broadcast_no, y->broadcast_no);
	if (c == 0 && by_claim)
		c = Cmp(x->retry, y->retry);
	if (c == 0 && by_claim)
		c = Cmp(x->claim_no, y->claim_no);
	if (c == 0)
		c = (x->number > y->number) - (x->number < y->number);
	return c;
}

/* qsort order of items: by SMS (account, broadcast, number). */
static int
AckItemBySms(const void *a, const void *b)
{
	return SmsIdCmp(&((const AckItem *) a)->id, &((const AckItem *) b)->id,
					false);
}

/* qsort order of items: by claim, then number; the claims in lock order. */
static int
AckItemByClaim(const void *a, const void *b)
{
	return SmsIdCmp(&((const AckItem *) a)->id, &((const AckItem *) b)->id,
					true);
}

/* The numbers and provider references of items[0..n) as SPI arrays. */
static void
ItemArrays(AckItem *items, int n, Datum *numbers, Datum *refs)
{
	uint64	   *nums = palloc(sizeof(uint64) * Max(n, 1));
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		nums[i] = items[i].id.number;
		nulls[i] = (items[i].provider_ref == NULL);
		elems[i] = nulls[i] ? (Datum) 0 :
			CStringGetTextDatum(items[i].provider_ref);
	}
	*numbers = bar9_numbers_text_array(nums, n);
	*refs = PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
											   TEXTOID, -1, false,
											   TYPALIGN_INT));
}

/* qsort order of uint64. */
static int
Uint64Cmp(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return (x > y) - (x < y);
}

/*
 * Mark the items whose number column 1 of rows lists as done; items[0..n)
 * are sorted by number (one claim's).  Returns how many.
 */
static int
MarkDone(AckItem *items, int n, SPITupleTable *rows)
{
	int			nrows = (int) rows->numvals;
	uint64	   *numbers = palloc(sizeof(uint64) * Max(nrows, 1));
	int			k = 0;
	int			i = 0;

	for (int r = 0; r < nrows; r++)
	{
		bool		isnull;

		numbers[r] = DatumGetE164(SPI_getbinval(rows->vals[r], rows->tupdesc,
												1, &isnull));
	}
	qsort(numbers, nrows, sizeof(uint64), Uint64Cmp);
	for (int r = 0; r < nrows; r++)
	{
		while (i < n && items[i].id.number < numbers[r])
			i++;
		if (i < n && items[i].id.number == numbers[r] && !items[i].done)
		{
			items[i].done = true;
			k++;
		}
	}
	pfree(numbers);
	return k;
}

static void AckExplain(AckCall *call, AckItem *item);

/* The back-off of the n-th retry, in milliseconds, as float8. */
static Datum
RetryDelay(void)
{
	return Float8GetDatum((double) bar9_retry_delay_ms);
}

/*
 * The parameters every move statement shares: $1 account_no, $2
 * broadcast_no, $3 numbers (text[]), $4 provider refs (text[]), $5 claim
 * number, $6 state, $7 error.
 */
#define MOVE_NARGS	7
static const Oid move_types[MOVE_NARGS + 3] = {INT4OID, INT4OID, TEXTARRAYOID,
	TEXTARRAYOID, INT8OID, INT2OID, TEXTOID, INT4OID, FLOAT8OID, FLOAT8OID};

/* Fill the shared parameters of the move statements for items of a claim. */
static void
MoveArgs(AckCall *call, AckItem *items, int n, Datum *values, char *nulls)
{
	memset(nulls, ' ', MOVE_NARGS + 3);
	values[0] = Int32GetDatum(items[0].id.account_no);
	values[1] = Int32GetDatum(items[0].id.broadcast_no);
	ItemArrays(items, n, &values[2], &values[3]);
	values[4] = Int64GetDatum(items[0].id.claim_no);
	values[5] = Int16GetDatum((int16) OutcomeState(call->outcome));
	values[6] = call->error ? CStringGetTextDatum(call->error) : (Datum) 0;
	nulls[6] = call->error ? ' ' : 'n';
	values[7] = Int32GetDatum(bar9_max_attempts);
	values[8] = RetryDelay();
	values[9] = Float8GetDatum((double) bar9_retry_delay_max_ms);
}

/*
 * The SMS of a claim leaving sms_queue: those of $3 in the claimed run
 * (NAMED), or the whole run (WHOLE: every SMS of the claim is being
 * acknowledged, one range scan instead of a probe per SMS).
 */
#define RUN_CLAIM \
	"WITH claim AS (" \
	"  SELECT first_number, last_number, attempt FROM bar9.sms_claims" \
	"   WHERE account_no = $1 AND broadcast_no = $2 AND claim_no = $5),"
#define RUN_GONE_NAMED \
	" gone AS (" \
	"  DELETE FROM bar9.sms_queue q USING claim c" \
	"   WHERE q.account_no = $1 AND q.broadcast_no = $2" \
	"     AND q.to_number OPERATOR(bar9.=) ANY ($3::bar9.e164[])" \
	"     AND q.to_number OPERATOR(bar9.>=) c.first_number" \
	"     AND q.to_number OPERATOR(bar9.<=) c.last_number" \
	"  RETURNING q.to_number, c.attempt)"
#define RUN_GONE_WHOLE \
	" gone AS (" \
	"  DELETE FROM bar9.sms_queue q USING claim c" \
	"   WHERE q.account_no = $1 AND q.broadcast_no = $2" \
	"     AND q.to_number OPERATOR(bar9.>=) c.first_number" \
	"     AND q.to_number OPERATOR(bar9.<=) c.last_number" \
	"  RETURNING q.to_number, c.attempt)"
/*
 * The provider references given, by number: ref the SMS's (the first of a
 * split SMS's), parts every part's (a split SMS is acknowledged with its
 * parts' references separated by spaces).
 */
#define RUN_REFS \
	", refs AS (" \
	"  SELECT u.n::bar9.e164 AS to_number, p.a[1] AS ref, p.a AS parts" \
	"    FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4)) AS u(n, ref)," \
	"         LATERAL (SELECT pg_catalog.array_remove(" \
	"                    pg_catalog.string_to_array(u.ref, ' '), '') AS a) p" \
	"   WHERE u.ref IS NOT NULL)"
/*
 * An SMS 'sent' ($6 = 2) with a provider reference waits for its delivery
 * receipt in sms_receipt_wait (080_senders.sql), found by the hash of the
 * reference.  A split SMS waits for each part's (i = 1..n, part_ref the
 * part's reference), and counts them in one more row (i = 0, parts_left
 * n) under the hash of its first reference.
 */
#define RUN_WAIT \
	", wait AS (" \
	"  INSERT INTO bar9.sms_receipt_wait" \
	"  SELECT pg_catalog.hashtext(r.parts[GREATEST(i, 1)]), $1, $2, g.to_number," \
	"         CASE WHEN i > 0 AND pg_catalog.cardinality(r.parts) > 1 THEN r.parts[i] END," \
	"         CASE WHEN i = 0 THEN pg_catalog.cardinality(r.parts) END" \
	"    FROM gone g JOIN refs r ON r.to_number OPERATOR(bar9.=) g.to_number," \
	"         pg_catalog.generate_series(" \
	"           CASE WHEN pg_catalog.cardinality(r.parts) > 1 THEN 0 ELSE 1 END," \
	"           pg_catalog.cardinality(r.parts)) i" \
	"   WHERE $6 = 2)"
/* Into the history with state $6; with or without provider references. */
#define RUN_FINAL_INSERT(refs_join, ref) \
	" INSERT INTO bar9.sms_history" \
	" SELECT $1, $2, g.to_number, $6, g.attempt, " SQL_CHANGED_S("$2") ", " ref ", $7" \
	"   FROM gone g" refs_join \
	" RETURNING to_number"
#define REFS_JOIN \
	" LEFT JOIN refs r ON r.to_number OPERATOR(bar9.=) g.to_number"

/* The kept plans of the final acknowledgement, [whole run][with refs]. */
static SPIPlanPtr plan_run_final[2][2];

/* The final-acknowledgement plan for a whole run or not, refs or not. */
static SPIPlanPtr
RunFinalPlan(bool whole, bool with_refs)
{
	static const char *const sql[2][2] = {
		{RUN_CLAIM RUN_GONE_NAMED RUN_FINAL_INSERT("", "NULL"),
		RUN_CLAIM RUN_GONE_NAMED RUN_REFS RUN_WAIT RUN_FINAL_INSERT(REFS_JOIN, "r.ref")},
		{RUN_CLAIM RUN_GONE_WHOLE RUN_FINAL_INSERT("", "NULL"),
		RUN_CLAIM RUN_GONE_WHOLE RUN_REFS RUN_WAIT RUN_FINAL_INSERT(REFS_JOIN, "r.ref")}
	};

	return bar9_plan(&plan_run_final[whole][with_refs],
					 sql[whole][with_refs], MOVE_NARGS, move_types);
}

/* Do any of items[0..n) carry a provider reference? */
static bool
AnyRef(AckItem *items, int n)
{
	for (int i = 0; i < n; i++)
		if (items[i].provider_ref != NULL)
			return true;
	return false;
}

/*
 * Lock the claim of items (its sms_claims row); false when it is gone
 * (taken over, or all of it acknowledged).  *remaining: its SMS not yet
 * acknowledged.
 */
static bool
LockRun(Datum *values, const char *nulls, int32 *remaining)
{
	bool		isnull;

	if (SPI_execute_plan(bar9_plan(&plan_lock_run,
								   "SELECT remaining FROM bar9.sms_claims"
								   " WHERE account_no = $1 AND broadcast_no = $2"
								   "   AND claim_no = $5"
								   "   FOR NO KEY UPDATE",
								   MOVE_NARGS, move_types),
						 values, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not lock a claim");
	if (SPI_processed == 0)
		return false;
	*remaining = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1,
											 &isnull));
	return true;
}

/*
 * Count k acknowledged SMS off the claim: it goes once all of it is
 * acknowledged.
 */
static void
CountDownRun(Datum *values, char *nulls, int32 remaining, int k)
{
	SPIPlanPtr	plan;

	values[7] = Int32GetDatum(k);
	plan = remaining <= k ?
		bar9_plan(&plan_run_drop,
				  "DELETE FROM bar9.sms_claims"
				  " WHERE account_no = $1 AND broadcast_no = $2"
				  "   AND claim_no = $5",
				  MOVE_NARGS, move_types) :
		bar9_plan(&plan_run_done,
				  "UPDATE bar9.sms_claims SET remaining = remaining - $8"
				  " WHERE account_no = $1 AND broadcast_no = $2"
				  "   AND claim_no = $5",
				  MOVE_NARGS + 1, move_types);
	if (SPI_execute_plan(plan, values, nulls, false, 0) < 0)
		elog(ERROR, "could not count down a claim");
}

/*
 * Put the claimed SMS of a run back for a retry, or fail them for good;
 * returns the rows of the SMS that moved (to_number, state).
 */
static SPITupleTable *
RetryRun(AckCall *call, AckItem *items, int n, Broadcast *b, Datum *values,
		 char *nulls)
{
	SPITupleTable *rows;

	if (SPI_execute_plan(bar9_plan(&plan_run_retry,
								   RUN_CLAIM RUN_GONE_NAMED ","
								   " again AS ("
								   "  INSERT INTO bar9.sms_retry"
								   "  SELECT $1, $2, g.to_number, g.attempt,"
								   "         pg_catalog.now() + least($10,"
								   "           $9 * pg_catalog.power(2, g.attempt - 1))"
								   "           * interval '1 millisecond',"
								   "         NULL, $7"
								   "    FROM gone g WHERE g.attempt < $8"
								   "  RETURNING to_number, 0::smallint AS state),"
								   " failed AS ("
								   "  INSERT INTO bar9.sms_history"
								   "  SELECT $1, $2, g.to_number, 4,"
								   "         g.attempt, " SQL_CHANGED_S("$2") ", NULL,"
								   "         coalesce($7, 'gave up after ' || g.attempt"
								   "                  || ' attempts')"
								   "    FROM gone g"
								   "   WHERE g.attempt >= $8"
								   "  RETURNING to_number, state)"
								   " SELECT * FROM again UNION ALL SELECT * FROM failed",
								   MOVE_NARGS + 3, move_types),
						 values, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not put SMS back for a retry");
	rows = SPI_tuptable;
	for (uint64 r = 0; r < rows->numvals; r++)
	{
		bool		isnull;
		SmsState	to = DatumGetInt16(SPI_getbinval(rows->vals[r], rows->tupdesc,
													 2, &isnull)) == 0 ?
			SMS_QUEUED : SMS_FAILED;

		bar9_broadcast_move(b, SMS_SENDING, to, 1);
		call->last = to;
	}
	return rows;
}

/*
 * Move the claimed SMS of a run (items[0..n), one claim, sorted by number)
 * to its history, or back for a retry.  Items that did not move stay not
 * done (a stale or finished claim, an SMS not in it).
 */
static void
AckRun(AckCall *call, AckItem *items, int n, Broadcast *b)
{
	Datum		values[MOVE_NARGS + 3];
	char		nulls[MOVE_NARGS + 3];
	int32		remaining;
	bool		whole;
	int			k;
	SPITupleTable *rows;

	MoveArgs(call, items, n, values, nulls);
	if (!LockRun(values, nulls, &remaining))
		return;					/* stale or finished: the items stay */
	whole = (n == remaining && call->outcome != ACK_RETRY);
	if (call->outcome == ACK_RETRY)
		rows = RetryRun(call, items, n, b, values, nulls);
	else
	{
		if (SPI_execute_plan(RunFinalPlan(whole, AnyRef(items, n)),
							 values, nulls, false, 0) !=
			SPI_OK_INSERT_RETURNING)
			elog(ERROR, "could not acknowledge SMS");
		rows = SPI_tuptable;
	}
	k = MarkDone(items, n, rows);

	/*
	 * A whole-run acknowledgement moved every SMS of the run: each must have
	 * been named, or the call acknowledged SMS it did not name.
	 */
	if (whole && (uint64) k != rows->numvals)
	{
		for (int i = 0; i < n; i++)
			if (!items[i].done)
				AckExplain(call, &items[i]);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sms_ids name SMS outside their claim")));
	}
	if (call->outcome != ACK_RETRY)
	{
		bar9_broadcast_move(b, SMS_SENDING, OutcomeState(call->outcome), k);
		if (k > 0)
			call->last = OutcomeState(call->outcome);
	}
	CountDownRun(values, nulls, remaining, k);
}

/* Move SMS claimed from sms_retry to their history, or back for a retry. */
static void
AckRetried(AckCall *call, AckItem *items, int n, Broadcast *b)
{
	Datum		values[MOVE_NARGS + 3];
	char		nulls[MOVE_NARGS + 3];
	int			rc;
	SPITupleTable *rows;

	MoveArgs(call, items, n, values, nulls);
	if (call->outcome != ACK_RETRY)
		rc = SPI_execute_plan(bar9_plan(&plan_retry_final,
										"WITH gone AS ("
										"  DELETE FROM bar9.sms_retry"
										"   WHERE account_no = $1 AND broadcast_no = $2"
										"     AND to_number OPERATOR(bar9.=) ANY ($3::bar9.e164[])"
										"     AND claim_no = $5"
										"  RETURNING to_number, attempt, error)"
										RUN_REFS
										RUN_WAIT
										" INSERT INTO bar9.sms_history"
										" SELECT $1, $2, g.to_number, $6,"
										"        g.attempt, " SQL_CHANGED_S("$2") ", r.ref,"
										"        coalesce($7, g.error)"
										"   FROM gone g"
										"   LEFT JOIN refs r"
										"     ON r.to_number OPERATOR(bar9.=) g.to_number"
										" RETURNING to_number, state",
										MOVE_NARGS, move_types),
							  values, nulls, false, 0);
	else
		rc = SPI_execute_plan(bar9_plan(&plan_retry_again,
										"WITH again AS ("
										"  UPDATE bar9.sms_retry"
										"     SET claim_no = NULL,"
										"         due_at = pg_catalog.now() + least($10,"
										"           $9 * pg_catalog.power(2, attempt - 1))"
										"           * interval '1 millisecond',"
										"         error = coalesce($7, error)"
										"   WHERE account_no = $1 AND broadcast_no = $2"
										"     AND to_number OPERATOR(bar9.=) ANY ($3::bar9.e164[])"
										"     AND claim_no = $5 AND attempt < $8"
										"  RETURNING to_number, 0::smallint AS state),"
										" gone AS ("
										"  DELETE FROM bar9.sms_retry"
										"   WHERE account_no = $1 AND broadcast_no = $2"
										"     AND to_number OPERATOR(bar9.=) ANY ($3::bar9.e164[])"
										"     AND claim_no = $5 AND attempt >= $8"
										"  RETURNING to_number, attempt, error),"
										" failed AS ("
										"  INSERT INTO bar9.sms_history"
										"  SELECT $1, $2, g.to_number, 4, g.attempt,"
										"         " SQL_CHANGED_S("$2") ", NULL,"
										"         coalesce($7, 'gave up after ' || g.attempt"
										"                  || ' attempts')"
										"    FROM gone g"
										"  RETURNING to_number, state)"
										" SELECT * FROM again UNION ALL SELECT * FROM failed",
										MOVE_NARGS + 3, move_types),
							  values, nulls, false, 0);
	if (rc != SPI_OK_INSERT_RETURNING && rc != SPI_OK_SELECT)
		elog(ERROR, "could not acknowledge retried SMS");
	rows = SPI_tuptable;
	for (uint64 r = 0; r < rows->numvals; r++)
	{
		bool		isnull;
		int16		state = DatumGetInt16(SPI_getbinval(rows->vals[r],
														rows->tupdesc,
														2, &isnull));

		bar9_broadcast_move(b, SMS_SENDING, (SmsState) state, 1);
		call->last = (SmsState) state;
	}
	(void) MarkDone(items, n, rows);
}

/*
 * A delivery receipt for SMS of items already 'sent': their history rows
 * become 'delivered', from any session.
 */
static void
AckReceipts(AckCall *call, AckItem *items, int n, Broadcast *b)
{
	Datum		values[MOVE_NARGS + 3];
	char		nulls[MOVE_NARGS + 3];
	int			k;

	MoveArgs(call, items, n, values, nulls);
	if (SPI_execute_plan(bar9_plan(&plan_receipt,
								   "WITH refs AS ("
								   "  SELECT u.n::bar9.e164 AS to_number,"
								   "         (pg_catalog.string_to_array(u.ref, ' '))[1] AS ref"
								   "    FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4)) AS u(n, ref)),"
								   " old AS ("
								   "  SELECT h.to_number, h.provider_ref FROM bar9.sms_history h"
								   "    JOIN refs r ON h.to_number OPERATOR(bar9.=) r.to_number"
								   "   WHERE h.account_no = $1 AND h.broadcast_no = $2"
								   "     AND h.state = 2 AND h.provider_ref IS NOT NULL),"
								   " unwait AS ("
								   "  DELETE FROM bar9.sms_receipt_wait w USING old o"
								   "   WHERE w.ref_hash = pg_catalog.hashtext(o.provider_ref)"
								   "     AND w.account_no = $1 AND w.broadcast_no = $2"
								   "     AND w.to_number OPERATOR(bar9.=) o.to_number)"
								   " UPDATE bar9.sms_history h"
								   "    SET state = 3, changed_s = " SQL_CHANGED_S("$2") ","
								   "        provider_ref = coalesce(r.ref, h.provider_ref),"
								   "        error = coalesce($7, h.error)"
								   "   FROM refs r"
								   "  WHERE h.account_no = $1 AND h.broadcast_no = $2"
								   "    AND h.to_number OPERATOR(bar9.=) r.to_number"
								   "    AND h.state = 2"
								   " RETURNING h.to_number",
								   MOVE_NARGS, move_types),
						 values, nulls, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not record a delivery receipt");
	k = MarkDone(items, n, SPI_tuptable);
	bar9_broadcast_move(b, SMS_SENT, SMS_DELIVERED, k);
	if (k > 0)
		call->last = SMS_DELIVERED;
}

/*
 * An SMS that did not move: raise the precise error, or return for a
 * repeated delivery receipt (which changes nothing).
 */
static void
AckExplain(AckCall *call, AckItem *item)
{
	static const Oid types[3] = {INT4OID, INT4OID, TEXTOID};
	Datum		values[3];
	bool		isnull;
	char	   *where;
	SmsState	state;

	values[0] = Int32GetDatum(item->id.account_no);
	values[1] = Int32GetDatum(item->id.broadcast_no);
	values[2] = E164TextDatum(item->id.number);
	if (SPI_execute_plan(bar9_plan(&plan_where,
								   "SELECT 'history', h.state FROM bar9.sms_history h"
								   " WHERE h.account_no = $1 AND h.broadcast_no = $2"
								   "   AND h.to_number OPERATOR(bar9.=) $3::bar9.e164"
								   " UNION ALL"
								   " SELECT 'queue', (m.claim_cursor IS NOT NULL"
								   "        AND q.to_number OPERATOR(bar9.<=) m.claim_cursor)"
								   "        ::int::smallint"
								   "  FROM bar9.sms_queue q"
								   "  JOIN bar9.broadcasts m USING (account_no, broadcast_no)"
								   " WHERE q.account_no = $1 AND q.broadcast_no = $2"
								   "   AND q.to_number OPERATOR(bar9.=) $3::bar9.e164"
								   " UNION ALL"
								   " SELECT 'retry', (claim_no IS NOT NULL)::int::smallint"
								   "  FROM bar9.sms_retry"
								   " WHERE account_no = $1 AND broadcast_no = $2"
								   "   AND to_number OPERATOR(bar9.=) $3::bar9.e164",
								   3, types),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up an SMS");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("sms %s does not exist", item->text)));
	where = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	state = (SmsState) DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 2,
												   &isnull));
	if (strcmp(where, "history") == 0)
	{
		if (state == SMS_DELIVERED && call->outcome == ACK_DELIVERED)
		{
			item->done = true;	/* a repeated delivery receipt */
			return;
		}
		if (state == SMS_CANCELED)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("sms %s was canceled", item->text)));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sms %s was already acknowledged", item->text),
				 errdetail("Its status is %s.", bar9_sms_state_names[state])));
	}
	/* state here: 1 when a claim holds it, 0 when it is queued */
	if (state == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sms %s is not claimed", item->text),
				 strcmp(where, "retry") == 0 ?
				 errdetail("It was put back for a retry and is queued.") :
				 errdetail("It is queued: no claim has taken it yet."),
				 errhint("Claim SMS with bar9.claim_sms() before acknowledging them.")));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the claim of sms %s is no longer valid", item->text),
			 errdetail("Its lease ran out and another claim took the SMS over."),
			 errhint("Drop this acknowledgement: the SMS is the current claimer's to report.")));
}

/*
 * Cancel the SMS that a retry just put back in the queue when their
 * broadcast turned out canceled (locked now, see queue.h).
 */
static void
AckCancelRetried(BroadcastSet *set)
{
	for (int i = 0; i < set->n; i++)
	{
		Broadcast  *b = &set->items[i];
		int64		k;

		if (!b->found || !b->canceled || b->delta[SMS_QUEUED] <= 0)
			continue;
		k = bar9_sms_cancel_unclaimed(b->account_no, b->broadcast_no,
									  b->have_cursor, b->cursor, NULL);
		bar9_broadcast_move(b, SMS_QUEUED, SMS_CANCELED, k);
	}
}

/*
 * Acknowledge the n SMS of items with outcome, all or none (see the head
 * of this file).  Returns the new state of the last one moved.
 */
static SmsState
AckSms(AckItem *items, int n, const char *outcome_name, char *error)
{
	AckCall		call;
	int			start = 0;

	call.outcome = AckOutcomeFromName(outcome_name);
	call.error = error;
	call.last = SMS_DELIVERED;
	bar9_broadcasts_init(&call.set);

	qsort(items, n, sizeof(AckItem), AckItemBySms);
	for (int i = 1; i < n; i++)
		if (AckItemBySms(&items[i - 1], &items[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sms %s appears twice in sms_ids", items[i].text)));
	qsort(items, n, sizeof(AckItem), AckItemByClaim);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (int i = 1; i <= n; i++)
	{
		AckItem    *g = &items[start];
		Broadcast  *b;

		if (i < n && items[i].id.account_no == g->id.account_no &&
			items[i].id.broadcast_no == g->id.broadcast_no &&
			items[i].id.retry == g->id.retry &&
			items[i].id.claim_no == g->id.claim_no)
			continue;
		b = bar9_broadcasts_add(&call.set, g->id.account_no,
								g->id.broadcast_no);
		if (g->id.retry)
			AckRetried(&call, g, i - start, b);
		else
			AckRun(&call, g, i - start, b);
		start = i;
	}

	/* receipts for SMS sent already, then the precise errors */
	for (int i = 0; i < n; i++)
	{
		if (!items[i].done && call.outcome == ACK_DELIVERED)
			AckReceipts(&call, &items[i], 1,
						bar9_broadcasts_add(&call.set, items[i].id.account_no,
											items[i].id.broadcast_no));
		if (!items[i].done)
			AckExplain(&call, &items[i]);
	}

	bar9_broadcasts_lock(&call.set);
	if (call.outcome == ACK_RETRY)
		AckCancelRetried(&call.set);
	bar9_broadcasts_count(&call.set);
	SPI_finish();
	return call.last;
}

/* Parse one sms_id argument into item. */
static void
AckItemParse(text *t, AckItem *item)
{
	item->text = text_to_cstring(t);
	bar9_sms_id_parse(item->text, &item->id);
	item->provider_ref = NULL;
	item->done = false;
}

/*
 * SQL: bar9.ack_sms(sms_id text, outcome text, provider_ref text DEFAULT
 * NULL, error text DEFAULT NULL) -> text, the SMS's new status.
 */
Datum
bar9_ack_sms(PG_FUNCTION_ARGS)
{
	AckItem		item;
	SmsState	to;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sms_id and outcome must not be null")));
	(void) AckOutcomeFromName(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	AckItemParse(PG_GETARG_TEXT_PP(0), &item);
	item.provider_ref = PG_ARGISNULL(2) ? NULL :
		text_to_cstring(PG_GETARG_TEXT_PP(2));
	to = AckSms(&item, 1, text_to_cstring(PG_GETARG_TEXT_PP(1)),
				PG_ARGISNULL(3) ? NULL :
				text_to_cstring(PG_GETARG_TEXT_PP(3)));
	PG_RETURN_TEXT_P(cstring_to_text(bar9_sms_state_names[to]));
}

/* The provider_refs argument of ack_sms_batch, one per item. */
static void
AckBatchRefs(ArrayType *refs_arr, AckItem *items, int n)
{
	Datum	   *ref_datums;
	bool	   *ref_nulls;
	int			nrefs;

	if (ARR_NDIM(refs_arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("provider_refs must have one element per sms_id")));
	deconstruct_array(refs_arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &ref_datums, &ref_nulls, &nrefs);
	if (nrefs != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("provider_refs must have one element per sms_id")));
	for (int i = 0; i < n; i++)
		items[i].provider_ref = ref_nulls[i] ? NULL :
			TextDatumGetCString(ref_datums[i]);
}

/*
 * SQL: bar9.ack_sms_batch(sms_ids text[], outcome text, provider_refs
 * text[] DEFAULT NULL, error text DEFAULT NULL) -> bigint, the number of
 * SMS acknowledged: all of them, or an error and none.
 */
Datum
bar9_ack_sms_batch(PG_FUNCTION_ARGS)
{
	ArrayType  *ids_arr;
	Datum	   *id_datums;
	bool	   *id_nulls;
	int			n;
	AckItem    *items;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sms_ids and outcome must not be null")));
	(void) AckOutcomeFromName(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	ids_arr = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(ids_arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sms_ids must be a one-dimensional array")));
	deconstruct_array(ids_arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &id_datums, &id_nulls, &n);
	if (n > BAR9_CLAIM_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sms_ids may hold at most %d ids", BAR9_CLAIM_MAX)));
	items = palloc0(sizeof(AckItem) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (id_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("sms_ids must not contain nulls")));
		AckItemParse(DatumGetTextPP(id_datums[i]), &items[i]);
	}
	if (!PG_ARGISNULL(2))
		AckBatchRefs(PG_GETARG_ARRAYTYPE_P(2), items, n);
	if (n == 0)
		PG_RETURN_INT64(0);
	(void) AckSms(items, n, text_to_cstring(PG_GETARG_TEXT_PP(1)),
				  PG_ARGISNULL(3) ? NULL :
				  text_to_cstring(PG_GETARG_TEXT_PP(3)));
	PG_RETURN_INT64(n);
}
