/*
 * maintenance.c
 *		Housekeeping that the bar9 worker does between fan-outs, every
 *		bar9.maintenance_interval:
 *
 *	- bar9.purge_idempotency_keys(): stored Idempotency-Key answers older
 *	  than 24 hours, which are ignored already, are deleted, 10,000 per
 *	  transaction;
 *	- bar9.sms_add_partitions(): the partitions of the SMS history for
 *	  today and the next two days are created ahead of need;
 *	- bar9.retire_sms(bar9.sms_retention): each day of SMS history that
 *	  ended longer ago than bar9.sms_retention, all of whose broadcasts
 *	  are finished, is retired by dropping its partition (sms_history.c):
 *	  O(days), never O(SMS).  The drop waits at most a second for its lock
 *	  (lock_timeout); a busy table is left for the next round.
 *
 * Each step is a transaction of its own that may fail alone (logged, as a
 * fan-out batch is).  The first round runs at the worker's start.
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "maintenance.h"
#include "worker.h"

/* Rows deleted per transaction (bounded work). */
#define PURGE_BATCH		10000

/* GUCs, in seconds; 0 turns the step off. */
static int	bar9_maintenance_interval = 3600;
static int	bar9_sms_retention = 30 * 24 * 3600;

/* When the next round is due; 0 before the first. */
static TimestampTz next_round = 0;

/* Defines bar9.maintenance_interval and bar9.sms_retention. */
void
bar9_maintenance_define_gucs(void)
{
	DefineCustomIntVariable("bar9.maintenance_interval",
							"Time between two housekeeping rounds of the bar9 worker.",
							"A round deletes Idempotency-Key answers older than 24 hours "
							"and retires SMS older than bar9.sms_retention; 0 turns "
							"housekeeping off.",
							&bar9_maintenance_interval,
							3600, 0, 7 * 24 * 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("bar9.sms_retention",
							"How long finished SMS of finished broadcasts are kept.",
							"The worker deletes them once they have not changed for this "
							"long; a broadcast's counters keep the history.  0 keeps "
							"them for ever.",
							&bar9_sms_retention,
							30 * 24 * 3600, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
}

/* Runs one SQL query of one int8 result, which goes to *count. */
static void
RunCountingQuery(const char *sql, int nargs, Oid *types, Datum *values,
				 int64 *count)
{
	bool		isnull;

	*count = 0;
	if (!OidIsValid(get_extension_oid("bar9", true)))
		return;					/* not created in this database (yet) */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(sql, nargs, types, values, NULL, false, 1)
		!= SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not run \"%s\"", sql);
	*count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		*count = 0;
	SPI_finish();
}

/*
 * Run one step in a transaction of its own; a step that waited for a lock
 * past lock_timeout is logged as skipped (it runs again next time).
 */
static bool
MaintenanceStep(void (*step) (void *arg), void *arg, const char *activity)
{
	if (bar9_worker_transaction(step, arg, activity, NULL, NULL))
		return true;
	if (bar9_worker_lock_was_busy())
		ereport(LOG,
				(errmsg("%s: skipped until the next round, a lock it needs was busy",
						activity)));
	return false;
}

/* A purge of PURGE_BATCH rows at most: its statement, then its count. */
typedef struct PurgeBatch
{
	const char *sql;			/* takes the batch size as $1 */
	int64		count;
} PurgeBatch;

/* A transaction: one purge batch. */
static void
PurgeStep(void *arg)
{
	PurgeBatch *batch = (PurgeBatch *) arg;
	Oid			types[1] = {INT4OID};
	Datum		values[1];

	values[0] = Int32GetDatum(PURGE_BATCH);
	RunCountingQuery(batch->sql, 1, types, values, &batch->count);
}

/* Run one purge batch of sql, shown as activity; -1 if it failed. */
static int64
Purge(const char *sql, const char *activity)
{
	PurgeBatch	batch;

	batch.sql = sql;
	batch.count = 0;
	if (!MaintenanceStep(PurgeStep, &batch, activity))
		return -1;
	return batch.count;
}

/*
 * Purge old Idempotency-Key answers one batch per transaction, until a
 * batch comes back short; returns how many went.
 */
static int64
PurgeKeys(void)
{
	int64		purged = 0;
	int64		batch;

	do
	{
		CHECK_FOR_INTERRUPTS();
		batch = Purge("SELECT bar9.purge_idempotency_keys($1)",
					  "bar9 maintenance: Idempotency-Key answers");
		if (batch < 0)
			break;
		purged += batch;
	} while (batch >= PURGE_BATCH);
	return purged;
}

/* A transaction of the round: the partitions of the days ahead. */
static void
AddPartitionsStep(void *arg)
{
	RunCountingQuery("SELECT bar9.sms_add_partitions()::bigint", 0, NULL,
					 NULL, (int64 *) arg);
}

/* A transaction of the round: retire the old days of SMS history. */
static void
RetireStep(void *arg)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1];

	values[0] = Int32GetDatum(bar9_sms_retention);
	RunCountingQuery("SELECT bar9.retire_sms(pg_catalog.make_interval("
					 "secs => $1)) FROM pg_catalog.set_config("
					 "'lock_timeout', '1s', true)",
					 1, types, values, (int64 *) arg);
}

/* One batch of the numbers of deleted audiences (see maintenance.h). */
bool
bar9_purge_deleted_audiences(void)
{
	return Purge("SELECT bar9.purge_deleted_audiences($1)",
				 "bar9: removing the numbers of deleted audiences") >= PURGE_BATCH;
}

/* One housekeeping round; logs what it did, if anything. */
static void
MaintenanceRound(void)
{
	int64		purged = PurgeKeys();
	int64		added = 0;
	int64		retired = 0;

	(void) MaintenanceStep(AddPartitionsStep, &added,
						   "bar9 maintenance: SMS history partitions");
	if (bar9_sms_retention > 0)
		(void) MaintenanceStep(RetireStep, &retired,
							   "bar9 maintenance: retiring SMS");
	if (purged > 0 || added > 0 || retired > 0)
		ereport(LOG,
				(errmsg("bar9 maintenance: %lld Idempotency-Key answers purged, %lld SMS history partitions added, %lld SMS retired",
						(long long) purged, (long long) added,
						(long long) retired)));
}

/*
 * Does the housekeeping if it is due at now; returns the milliseconds
 * until it is due next.
 */
long
bar9_maintenance(TimestampTz now)
{
	TimestampTz latest;

	if (bar9_maintenance_interval <= 0)
	{
		next_round = 0;
		return LONG_MAX;
	}
	/* a shorter interval (SIGHUP) takes effect at once */
	latest = TimestampTzPlusMilliseconds(now,
										 (int64) bar9_maintenance_interval * 1000);
	if (next_round > latest)
		next_round = latest;
	if (next_round == 0 || now >= next_round)
	{
		MaintenanceRound();
		next_round = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												 (int64) bar9_maintenance_interval * 1000);
	}
	return Max(TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
											   next_round), 0);
}
