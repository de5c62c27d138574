/*
 * sms_history.c
 *		The partitions of bar9.sms_history: one per day of broadcasts,
 *		created ahead by the worker, dropped whole when retired.
 *
 * A broadcast files all its finished SMS under one day, which its number
 * carries: broadcast_no = day << 15 | n (060_queue.sql), the day it was
 * created, or the newest day with a partition before it when the worker
 * has not created that day's yet (bar9.broadcast_no_floor).  A day's
 * partition holds the broadcast numbers [day << 15, (day + 1) << 15).
 * Retiring a day is dropping its partition, once the day ended longer ago
 * than the retention and every broadcast of the day is completed or
 * canceled: no row is read, deleted or vacuumed, and the broadcasts keep
 * their counts.
 */
#include "postgres.h"

#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "sql_helpers.h"

/* Days ahead of today (UTC) that get their partition in advance. */
#define SMS_DAYS_AHEAD		2

PG_FUNCTION_INFO_V1(bar9_sms_add_partitions);
PG_FUNCTION_INFO_V1(bar9_sms_add_partition);
PG_FUNCTION_INFO_V1(bar9_retire_sms);

/* The UTC date of a timestamp. */
static DateADT
UtcDate(TimestampTz t)
{
	return (DateADT) (t / USECS_PER_DAY);
}

/* The name of the partition of day: sms_history_YYYYMMDD. */
static char *
PartitionName(DateADT day)
{
	int			y,
				m,
				d;

	j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	return psprintf("sms_history_%04d%02d%02d", y, m, d);
}

/* The first broadcast_no of day (see the head of this file). */
static int32
FirstBroadcastNo(DateADT day)
{
	if (day < 0 || day >= (PG_INT32_MAX >> 15))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("no broadcast numbers for a day before 2000-01-01 or after 2179")));
	return (int32) day << 15;
}

/* The day as an SQL date literal, 'YYYY-MM-DD'. */
static char *
DayLiteral(DateADT day)
{
	return quote_literal_cstr(DatumGetCString(DirectFunctionCall1(date_out,
																  DateADTGetDatum(day))));
}

/* Does day have a partition (a row in bar9.sms_days)? */
static bool
DayExists(DateADT day)
{
	Oid			types[1] = {DATEOID};
	Datum		values[1] = {DateADTGetDatum(day)};

	if (SPI_execute_with_args("SELECT 1 FROM bar9.sms_days WHERE sms_day = $1",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read bar9.sms_days");
	return SPI_processed > 0;
}

/* The name of the owner of bar9.sms_history, quoted. */
static const char *
HistoryOwner(void)
{
	Oid			relid = RangeVarGetRelid(makeRangeVar("bar9", "sms_history", -1),
										 NoLock, false);
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return quote_identifier(GetUserNameFromId(owner, false));
}

/*
 * Create the partition of day and record it.  The partition gets the
 * owner of sms_history (the worker's role, 099_proxy_role.sql), whoever
 * creates it, so that the worker can drop it when it retires the day.
 */
static void
AddPartition(DateADT day)
{
	char	   *sql;

	sql = psprintf("CREATE TABLE bar9.%s PARTITION OF bar9.sms_history"
				   " FOR VALUES FROM (%d) TO (%d)",
				   PartitionName(day), FirstBroadcastNo(day),
				   FirstBroadcastNo(day + 1));
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create partition %s", PartitionName(day));
	sql = psprintf("ALTER TABLE bar9.%s OWNER TO %s", PartitionName(day),
				   HistoryOwner());
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not give partition %s its owner",
			 PartitionName(day));

	/*
	 * Created by CREATE EXTENSION (the install script makes the first days),
	 * the partition would be a member of the extension, which retirement
	 * could not drop: a partition is data, like the rows of a table.
	 */
	if (creating_extension)
	{
		Oid			relid = RangeVarGetRelid(makeRangeVar("bar9",
														  PartitionName(day),
														  -1),
											 NoLock, false);

		deleteDependencyRecordsForSpecific(RelationRelationId, relid,
										   DEPENDENCY_EXTENSION,
										   ExtensionRelationId,
										   CurrentExtensionObject);
	}
	sql = psprintf("INSERT INTO bar9.sms_days VALUES (%s)", DayLiteral(day));
	if (SPI_execute(sql, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record partition %s", PartitionName(day));
}

/*
 * SQL: bar9.sms_add_partition(day date) -> boolean: create the partition of
 * day unless it exists; true when it was created.  For the days the worker
 * does not make ahead (a backfill, a test).
 */
Datum
bar9_sms_add_partition(PG_FUNCTION_ARGS)
{
	DateADT		day = PG_GETARG_DATEADT(0);
	bool		created = false;

	(void) FirstBroadcastNo(day);	/* a day that has broadcast numbers */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!DayExists(day))
	{
		AddPartition(day);
		created = true;
	}
	SPI_finish();
	PG_RETURN_BOOL(created);
}

/*
 * SQL: bar9.sms_add_partitions() -> int: create the missing partitions of
 * today and the next SMS_DAYS_AHEAD days; returns how many were created.
 */
Datum
bar9_sms_add_partitions(PG_FUNCTION_ARGS)
{
	DateADT		today = UtcDate(GetCurrentTransactionStartTimestamp());
	int			created = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (DateADT day = today; day <= today + SMS_DAYS_AHEAD; day++)
	{
		if (DayExists(day))
			continue;
		AddPartition(day);
		created++;
	}
	SPI_finish();
	PG_RETURN_INT32(created);
}

/* The days of SMS history that ended before cutoff ($1). */
#define OLD_DAYS_SQL \
	"SELECT sms_day FROM bar9.sms_days WHERE sms_day < $1 ORDER BY sms_day"

/*
 * The broadcasts of one day (broadcast_no in [$1, $2)): how many are not
 * finished, and the SMS the finished ones hold by their counts.  A query
 * of its own per day, not joined to bar9.sms_days: on Citus that is a
 * reference table, bar9.broadcasts a distributed one.
 */
#define DAY_BROADCASTS_SQL \
	"SELECT pg_catalog.count(*) FILTER (WHERE status NOT IN ('completed', 'canceled'))," \
	"       coalesce(pg_catalog.sum(n_sent + n_delivered + n_failed + n_canceled), 0)::bigint" \
	"  FROM bar9.broadcasts WHERE broadcast_no >= $1 AND broadcast_no < $2"

/*
 * Whether the partition of day may go (every broadcast of the day
 * finished); *count is the SMS it holds.
 */
static bool
DayRetirable(DateADT day, int64 *count)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2];
	bool		isnull;

	/* a day's broadcast numbers: day << 15 up to the next day's (060_queue.sql) */
	values[0] = Int32GetDatum((int32) day << 15);
	values[1] = Int32GetDatum((int32) (day + 1) << 15);
	if (SPI_execute_with_args(DAY_BROADCASTS_SQL, 2, types, values, NULL,
							  false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count the broadcasts of a day of SMS history");
	*count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 2, &isnull));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull)) == 0;
}

/* Drop the partition of day and forget it. */
static void
DropPartition(DateADT day)
{
	char	   *sql;

	sql = psprintf("DROP TABLE bar9.%s", PartitionName(day));
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not drop partition %s", PartitionName(day));
	/* receipts that never came for its SMS stop waiting (a rare scan) */
	sql = psprintf("DELETE FROM bar9.sms_receipt_wait"
				   " WHERE broadcast_no >= %d AND broadcast_no < %d",
				   FirstBroadcastNo(day), FirstBroadcastNo(day + 1));
	if (SPI_execute(sql, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not drop the receipts of %s", PartitionName(day));
	sql = psprintf("DELETE FROM bar9.sms_days WHERE sms_day = %s",
				   DayLiteral(day));
	if (SPI_execute(sql, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not forget partition %s", PartitionName(day));
}

/*
 * SQL: bar9.retire_sms(older_than interval DEFAULT '30 days') -> bigint:
 * drop every partition of SMS history whose day ended more than
 * older_than ago and whose broadcasts are all finished; returns how many
 * SMS that retired (by the broadcasts' counts).
 */
Datum
bar9_retire_sms(PG_FUNCTION_ARGS)
{
	Interval   *older_than = PG_GETARG_INTERVAL_P(0);
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TimestampTz cutoff;
	Oid			types[1] = {DATEOID};
	Datum		values[1];
	int64		retired = 0;
	DateADT    *days;
	int			ndays;

	cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													 TimestampTzGetDatum(now),
													 PointerGetDatum(older_than)));
	if (cutoff > now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* a day ends at the next midnight: it is old once that is before cutoff */
	values[0] = DateADTGetDatum(UtcDate(cutoff));
	if (SPI_execute_with_args(OLD_DAYS_SQL, 1, types, values, NULL,
							  false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the days of SMS history");
	ndays = (int) SPI_processed;
	days = palloc(sizeof(DateADT) * Max(ndays, 1));
	for (int i = 0; i < ndays; i++)
	{
		bool		isnull;

		days[i] = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[i],
												SPI_tuptable->tupdesc, 1,
												&isnull));
	}
	for (int i = 0; i < ndays; i++)
	{
		int64		count;

		if (!DayRetirable(days[i], &count))
			continue;
		DropPartition(days[i]);
		retired += count;
	}
	SPI_finish();
	PG_RETURN_INT64(retired);
}
