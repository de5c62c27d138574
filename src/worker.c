/*
 * worker.c
 *		The bar9 background worker: fans broadcasts out into queued SMS.
 *
 * One worker serves the database named by bar9.database_name (the pg_cron
 * pattern), connected as role bar9_worker, which is not a superuser and
 * holds rights on bar9's objects only; the launcher (launcher.c) starts it
 * once CREATE EXTENSION has created that role.  It sleeps on its latch until
 * one of these happens:
 *
 *	- a backend that created a broadcast commits (bar9_wake_worker);
 *	- the send_at of the next scheduled broadcast comes (a timer: the wait's
 *	  timeout is the time left until then, so it fires on time without
 *	  polling);
 *	- bar9.poll_interval passes (a fallback only).
 *
 * Then it fans out every due broadcast, one batch (one transaction) per
 * broadcast in turn, accounts in turn, so that a large broadcast does not
 * hold up a small one nor one account's broadcasts another's, until none
 * is left.  fanout.c does each batch.  Between two rounds it removes a
 * batch of the numbers of deleted audiences (maintenance.c).  Every
 * bar9.maintenance_interval it also does the housekeeping of
 * maintenance.c (old Idempotency-Key answers, old SMS).
 *
 * Start-up needs no reconciliation: a fan-out keeps no state but its
 * cursor, which commits with each batch, so whatever a crash interrupted
 * is simply resumed from its cursor by the next pass.  A batch that fails
 * is logged and rolled back; its broadcast is left alone for the rest of
 * that pass and retried after bar9.poll_interval.
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "sql_helpers.h"
#include "cluster.h"
#include "fanout.h"
#include "maintenance.h"
#include "worker.h"

/* Broadcasts taken per look at the to-do list; the rest wait a round. */
#define DUE_LIST_LIMIT 64

/* GUCs */
char	   *bar9_database_name = NULL;
int			bar9_fanout_batch_size = 10000;
static int	bar9_poll_interval = 10000;	/* ms */
static int	bar9_worker_lock_timeout = 1000;	/* ms */

/* Shared state: where the worker's latch is, so backends can set it. */
typedef struct WorkerShmem
{
	slock_t		mutex;
	int			worker_procno;	/* INVALID_PGPROCNO when not running */
	int			launcher_procno;	/* woken instead when no worker runs */
} WorkerShmem;

static WorkerShmem *worker_shmem = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Per backend: a wake was asked for in the current transaction. */
static bool wake_at_commit = false;
static bool wake_callback_registered = false;

/* One broadcast on the worker's to-do list. */
typedef struct DueBroadcast
{
	char	   *account_id;
	char	   *broadcast_id;
	char	   *audience_id;
	int32		account_no;		/* the account's shard key */
} DueBroadcast;

/* Worker only: the memory of one pass, and whether we said the extension is missing. */
static MemoryContext pass_context = NULL;

/* The last bar9_worker_transaction failed waiting for a lock (55P03). */
static bool last_failure_was_lock = false;

/* Broadcasts whose wait for a lock was logged (message ids, Top context). */
static List *lock_waits_logged = NIL;
static bool told_extension_missing = false;

/*
 * Statement of the to-do list; $1 holds the ids failed in this pass.
 * Accounts take turns: each account's oldest due broadcast comes before
 * any account's second, so thousands of broadcasts of one account do not
 * hold up another's.
 */
static const char *due_sql =
"SELECT account_id, broadcast_id, audience_id, account_no"
"  FROM bar9.broadcasts"
" WHERE status IN ('scheduled', 'pending')"
"   AND (status = 'pending' OR send_at <= pg_catalog.now())"
"   AND broadcast_id <> ALL ($1)"
" ORDER BY pg_catalog.row_number() OVER ("
"            PARTITION BY account_id ORDER BY coalesce(send_at, created_at)),"
"          coalesce(send_at, created_at)"
" LIMIT " CppAsString2(DUE_LIST_LIMIT);

/* When the next scheduled broadcast is due, if any. */
static const char *next_due_sql =
"SELECT min(send_at) FROM bar9.broadcasts"
" WHERE status = 'scheduled' AND send_at > pg_catalog.now()";

static const Oid due_argtypes[1] = {TEXTARRAYOID};
static SPIPlanPtr due_plan = NULL;
static SPIPlanPtr next_due_plan = NULL;

/* The to-do list (in pass_context) from the rows of due_sql. */
static List *
DueFromRows(SPITupleTable *rows)
{
	MemoryContext old = MemoryContextSwitchTo(pass_context);
	List	   *due = NIL;

	for (uint64 i = 0; i < rows->numvals; i++)
	{
		HeapTuple	tup = rows->vals[i];
		DueBroadcast *m = palloc(sizeof(DueBroadcast));
		bool		isnull;

		m->account_id = SPI_getvalue(tup, rows->tupdesc, 1);
		m->broadcast_id = SPI_getvalue(tup, rows->tupdesc, 2);
		m->audience_id = SPI_getvalue(tup, rows->tupdesc, 3);
		m->account_no = DatumGetInt32(SPI_getbinval(tup, rows->tupdesc, 4,
													&isnull));
		due = lappend(due, m);
	}
	MemoryContextSwitchTo(old);
	return due;
}

static void WorkerShmemRequest(void);
static void WorkerShmemStartup(void);
static void WakeXactCallback(XactEvent event, void *arg);
static void SetWorkerLatch(void);
static void WorkerDetachShmem(int code, Datum arg);
static void ApplyLockTimeout(void);
static void ReloadConfigIfPending(void);
static void NoteLockWait(DueBroadcast *m, bool waiting);
static long WorkerPass(void);

/* this node is a Citus worker node: its bar9 worker does nothing */
static bool on_citus_worker = false;
static List *FetchDue(List *failed, bool *extension_missing,
					  TimestampTz *next_due);
static bool RunBatch(DueBroadcast *m, bool *more);
static void BatchErrorContext(void *arg);

/* Define the GUCs, ask for shared memory and register the worker. */
void
bar9_worker_init(void)
{
	DefineCustomStringVariable("bar9.database_name",
							   "Database in which the bar9 background worker fans out broadcasts.",
							   "The bar9 extension must be created in that database.",
							   &bar9_database_name,
							   "postgres",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("bar9.fanout_batch_size",
							"Recipients fanned out per transaction of the bar9 worker.",
							NULL,
							&bar9_fanout_batch_size,
							10000, 1, 1000000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("bar9.poll_interval",
							"Longest sleep of the bar9 worker between looks at its to-do list.",
							"The worker is woken when a broadcast is created and when a "
							"scheduled one is due; this is only a fallback.",
							&bar9_poll_interval,
							10000, 100, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("bar9.worker_lock_timeout",
							"Longest wait of the bar9 worker for a lock, 0 = no limit.",
							"A fan-out batch that waits longer (a consent lock held "
							"by another session, say) is rolled back and its broadcast "
							"retried after bar9.poll_interval; other broadcasts go on.",
							&bar9_worker_lock_timeout,
							1000, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	bar9_maintenance_define_gucs();
	bar9_launcher_register();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = WorkerShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = WorkerShmemStartup;
}

/*
 * shmem_request_hook: reserve the worker's shared state.  It runs after
 * every preloaded library's _PG_init, so it is also where the "bar9." GUC
 * prefix is reserved: every bar9 subsystem has defined its GUCs by now, and
 * a misspelt bar9.* setting is reported instead of silently ignored.
 */
static void
WorkerShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(WorkerShmem)));
	MarkGUCPrefixReserved("bar9");
}

/* shmem_startup_hook: create or attach to the worker's shared state. */
static void
WorkerShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	worker_shmem = ShmemInitStruct("bar9 worker", sizeof(WorkerShmem),
								   &found);
	if (!found)
	{
		SpinLockInit(&worker_shmem->mutex);
		worker_shmem->worker_procno = INVALID_PGPROCNO;
		worker_shmem->launcher_procno = INVALID_PGPROCNO;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Set the worker's latch now, if the worker is running; else the
 * launcher's, which starts it if it can.
 */
static void
SetWorkerLatch(void)
{
	int			procno;

	if (worker_shmem == NULL)
		return;
	SpinLockAcquire(&worker_shmem->mutex);
	procno = worker_shmem->worker_procno;
	if (procno == INVALID_PGPROCNO)
		procno = worker_shmem->launcher_procno;
	SpinLockRelease(&worker_shmem->mutex);
	if (procno != INVALID_PGPROCNO)
		SetLatch(&GetPGProcByNumber(procno)->procLatch);
}

/*
 * Ask for the worker to be woken when the current transaction commits, so
 * that it sees the broadcast this transaction created.  Nothing happens on
 * rollback.  Cheap: call it for every broadcast created, scheduled or not.
 */
void
bar9_wake_worker(void)
{
	if (!wake_callback_registered)
	{
		RegisterXactCallback(WakeXactCallback, NULL);
		wake_callback_registered = true;
	}
	wake_at_commit = true;
}

/* Transaction callback: wake the worker after a commit that asked for it. */
static void
WakeXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit)
				SetWorkerLatch();
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

PG_FUNCTION_INFO_V1(bar9_wake_worker_sql);

/* SQL: bar9.wake_worker() -> void; wakes the worker when the caller commits. */
Datum
bar9_wake_worker_sql(PG_FUNCTION_ARGS)
{
	bar9_wake_worker();
	PG_RETURN_VOID();
}

/* on_shmem_exit callback: the worker is gone, nobody should set its latch. */
static void
WorkerDetachShmem(int code, Datum arg)
{
	SpinLockAcquire(&worker_shmem->mutex);
	worker_shmem->worker_procno = INVALID_PGPROCNO;
	SpinLockRelease(&worker_shmem->mutex);
}

/* on_shmem_exit callback of the launcher: nobody should set its latch. */
static void
LauncherDetachShmem(int code, Datum arg)
{
	SpinLockAcquire(&worker_shmem->mutex);
	worker_shmem->launcher_procno = INVALID_PGPROCNO;
	SpinLockRelease(&worker_shmem->mutex);
}

/* The launcher's latch is set by bar9_wake_worker while no worker runs. */
void
bar9_worker_attach_launcher(void)
{
	SpinLockAcquire(&worker_shmem->mutex);
	worker_shmem->launcher_procno = MyProc->pgprocno;
	SpinLockRelease(&worker_shmem->mutex);
	on_shmem_exit(LauncherDetachShmem, (Datum) 0);
}

/* bar9.poll_interval, for the launcher's look for the worker's role. */
long
bar9_worker_poll_interval(void)
{
	return bar9_poll_interval;
}

/*
 * The worker's lock_timeout is bar9.worker_lock_timeout: no lock that
 * another session can take or hold (the consent lock of an account, which
 * any login can take as an advisory lock; rows an open transaction of
 * bar9.api has locked) stalls it for longer.
 */
static void
ApplyLockTimeout(void)
{
	char		value[32];

	snprintf(value, sizeof(value), "%d", bar9_worker_lock_timeout);
	SetConfigOption("lock_timeout", value, PGC_SUSET, PGC_S_OVERRIDE);
}

/* Re-read the configuration file if SIGHUP came. */
static void
ReloadConfigIfPending(void)
{
	if (!ConfigReloadPending)
		return;
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	ApplyLockTimeout();
}

/*
 * Log once that m's fan-out waits for a lock (waiting), or forget that it
 * did once a batch of it ran.
 */
static void
NoteLockWait(DueBroadcast *m, bool waiting)
{
	ListCell   *lc;
	MemoryContext old;

	foreach(lc, lock_waits_logged)
	{
		if (strcmp((char *) lfirst(lc), m->broadcast_id) == 0)
		{
			if (!waiting)
			{
				pfree(lfirst(lc));
				lock_waits_logged = foreach_delete_current(lock_waits_logged,
														   lc);
			}
			return;
		}
	}
	if (!waiting)
		return;
	ereport(LOG,
			(errmsg("bar9 fan-out of broadcast \"%s\" of account \"%s\" waits: a lock it needs was held longer than bar9.worker_lock_timeout",
					m->broadcast_id, m->account_id),
			 errdetail("Other broadcasts go on; this one is retried every bar9.poll_interval, and logged again only after it ran.")));
	old = MemoryContextSwitchTo(TopMemoryContext);
	lock_waits_logged = lappend(lock_waits_logged, pstrdup(m->broadcast_id));
	MemoryContextSwitchTo(old);
}

/* Entry point of the background worker. */
void
bar9_worker_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/*
	 * As bar9_worker, not a superuser: a bug, or a function planted where
	 * the worker would call it, runs with the rights on bar9's objects that
	 * the worker needs and no more (099_proxy_role.sql).
	 */
	BackgroundWorkerInitializeConnection(bar9_database_name,
										 BAR9_WORKER_ROLE, 0);

	/*
	 * Still, no schema a user can create objects in may be on its
	 * search_path, or a function planted there (public.unnest, public.now,
	 * ...) would run with the worker's rights.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET,
					PGC_S_OVERRIDE);

	/*
	 * A batch lost in a crash is redone from the cursor, which commits with
	 * it, and a sender's own commit flushes the WAL of every batch it saw:
	 * waiting for the WAL flush at each batch's commit buys nothing.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	ApplyLockTimeout();

	/* one worker at a time (a launcher restarted while its worker ran) */
	SpinLockAcquire(&worker_shmem->mutex);
	if (worker_shmem->worker_procno != INVALID_PGPROCNO)
	{
		SpinLockRelease(&worker_shmem->mutex);
		ereport(LOG,
				(errmsg("bar9 fan-out worker is running already; this one exits")));
		proc_exit(0);
	}
	worker_shmem->worker_procno = MyProc->pgprocno;
	SpinLockRelease(&worker_shmem->mutex);
	on_shmem_exit(WorkerDetachShmem, (Datum) 0);

	pass_context = AllocSetContextCreate(TopMemoryContext,
										 "bar9 worker pass",
										 ALLOCSET_DEFAULT_SIZES);

	ereport(LOG,
			(errmsg("bar9 fan-out worker started in database \"%s\"",
					bar9_database_name)));

	for (;;)
	{
		long		timeout;

		CHECK_FOR_INTERRUPTS();
		ReloadConfigIfPending();

		timeout = WorkerPass();
		/* on a Citus worker node the coordinator's worker does it all */
		if (!on_citus_worker)
			timeout = Min(timeout, bar9_maintenance(GetCurrentTimestamp()));

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * One pass: fan out every due broadcast, a batch of each in turn, until
 * none is left.  Returns how long to sleep (ms): until the next scheduled
 * broadcast, at most bar9.poll_interval.
 */
static long
WorkerPass(void)
{
	List	   *failed = NIL;
	bool		extension_missing;
	TimestampTz next_due = 0;
	long		timeout = bar9_poll_interval;

	MemoryContextReset(pass_context);

	for (;;)
	{
		List	   *due;
		ListCell   *lc;

		due = FetchDue(failed, &extension_missing, &next_due);
		if (extension_missing)
			return bar9_poll_interval;
		/* a batch of the numbers of deleted audiences between two rounds */
		if (!bar9_purge_deleted_audiences() && due == NIL)
			break;

		/* One round: a batch of each due broadcast. */
		foreach(lc, due)
		{
			DueBroadcast *m = (DueBroadcast *) lfirst(lc);
			bool		more;

			if (!RunBatch(m, &more))
			{
				MemoryContext old = MemoryContextSwitchTo(pass_context);

				failed = lappend(failed, pstrdup(m->broadcast_id));
				MemoryContextSwitchTo(old);
			}
			NoteLockWait(m, last_failure_was_lock);

			CHECK_FOR_INTERRUPTS();
			ReloadConfigIfPending();
		}
	}

	/*
	 * Sleep until the next scheduled broadcast, if it comes first.  (The
	 * broadcasts that failed in this pass are retried at the next pass.)
	 */
	if (next_due != 0)
	{
		long		ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
														 next_due);

		timeout = Min(timeout, ms);
	}
	return timeout;
}

/*
 * Read the to-do list: due broadcasts not in failed (message ids).  When
 * it is empty, *next_due is set to the send_at of the next scheduled one
 * (0 if none).  *extension_missing is set when bar9 is not installed in
 * the worker's database; the worker then waits quietly.
 */
static List *
FetchDue(List *failed, bool *extension_missing, TimestampTz *next_due)
{
	List	   *due = NIL;
	Datum	   *elems;
	ArrayType  *failed_array;
	Datum		arg;
	int			n;
	ListCell   *lc;
	int			rc;

	*extension_missing = false;
	*next_due = 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();

	if (!OidIsValid(get_extension_oid("bar9", true)))
	{
		if (!told_extension_missing)
			ereport(LOG,
					(errmsg("bar9 fan-out worker is waiting for extension \"bar9\" in database \"%s\"",
							bar9_database_name),
					 errhint("Run CREATE EXTENSION bar9 in that database, or set bar9.database_name.")));
		told_extension_missing = true;
		*extension_missing = true;
		CommitTransactionCommand();
		return NIL;
	}
	told_extension_missing = false;

	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());

	/*
	 * On Citus, the coordinator's worker fans out every broadcast and does
	 * the housekeeping (README, "Scale-out with Citus"): the worker of a
	 * worker node only waits, as if bar9 were not installed there.
	 */
	on_citus_worker = bar9_node_group() > 0;
	if (on_citus_worker)
	{
		*extension_missing = true;
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		return NIL;
	}
	pgstat_report_activity(STATE_RUNNING, "bar9 fan-out: reading to-do list");

	bar9_plan(&due_plan, due_sql, 1, due_argtypes);
	bar9_plan(&next_due_plan, next_due_sql, 0, NULL);

	elems = palloc(sizeof(Datum) * Max(list_length(failed), 1));
	n = 0;
	foreach(lc, failed)
		elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
	failed_array = construct_array(elems, n, TEXTOID, -1, false,
								   TYPALIGN_INT);
	arg = PointerGetDatum(failed_array);

	rc = SPI_execute_plan(due_plan, &arg, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the fan-out to-do list: %s",
			 SPI_result_code_string(rc));

	due = DueFromRows(SPI_tuptable);

	if (due == NIL)
	{
		bool		isnull;
		Datum		d;

		rc = SPI_execute_plan(next_due_plan, NULL, NULL, true, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "could not read the fan-out schedule: %s",
				 SPI_result_code_string(rc));
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						  &isnull);
		if (!isnull)
			*next_due = DatumGetTimestampTz(d);
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return due;
}

/* Error context of a batch: which broadcast it was. */
static void
BatchErrorContext(void *arg)
{
	DueBroadcast *m = (DueBroadcast *) arg;

	errcontext("fan-out of broadcast \"%s\" of account \"%s\"",
			   m->broadcast_id, m->account_id);
}

/* What a fan-out batch needs and tells, for RunBatchStep. */
typedef struct BatchStep
{
	DueBroadcast *m;
	bool		more;
} BatchStep;

/* The body of a fan-out batch's transaction. */
static void
RunBatchStep(void *arg)
{
	BatchStep  *step = (BatchStep *) arg;
	FanoutBatchResult result;

	bar9_fanout_batch(step->m->account_id, step->m->account_no,
					  step->m->broadcast_id, step->m->audience_id,
					  bar9_fanout_batch_size, &result);
	step->more = result.more;
}

/*
 * Run one fan-out batch of m in its own transaction.  Returns false if it
 * failed (the error is logged and the transaction rolled back); *more
 * tells whether the broadcast has more to fan out.
 */
static bool
RunBatch(DueBroadcast *m, bool *more)
{
	BatchStep	step;
	char		activity[128];
	bool		ok;

	step.m = m;
	step.more = false;
	snprintf(activity, sizeof(activity), "bar9 fan-out of broadcast %s",
			 m->broadcast_id);
	ok = bar9_worker_transaction(RunBatchStep, &step, activity,
								 BatchErrorContext, m);
	*more = step.more;
	return ok;
}

/* Did the last bar9_worker_transaction fail waiting for a lock? */
bool
bar9_worker_lock_was_busy(void)
{
	return last_failure_was_lock;
}

/* Why this database's broadcasts wait for ever (see worker.h), or NULL. */
const char *
bar9_worker_absent_reason(void)
{
	const char *db = get_database_name(MyDatabaseId);

	if (bar9_database_name != NULL && db != NULL &&
		strcmp(db, bar9_database_name) == 0)
		return NULL;
	return psprintf("the bar9 worker serves database \"%s\", not \"%s\": set bar9.database_name = '%s' and restart the server",
					bar9_database_name ? bar9_database_name : "", db ? db : "",
					db ? db : "");
}

/*
 * Run fn(arg) in a transaction of its own, shown as activity in
 * pg_stat_activity, with context(context_arg) (unless NULL) in the context
 * of its errors.  Returns false if it failed: the error is logged and the
 * transaction rolled back, and the worker carries on.
 */
bool
bar9_worker_transaction(void (*fn) (void *arg), void *arg,
						const char *activity,
						void (*context) (void *arg), void *context_arg)
{
	MemoryContext old = CurrentMemoryContext;
	ErrorContextCallback errcallback;
	volatile bool ok = true;

	errcallback.callback = context;
	errcallback.arg = context_arg;
	errcallback.previous = error_context_stack;
	last_failure_was_lock = false;

	PG_TRY();
	{
		if (context)
			error_context_stack = &errcallback;
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, activity);

		fn(arg);

		PopActiveSnapshot();
		CommitTransactionCommand();
		error_context_stack = errcallback.previous;
	}
	PG_CATCH();
	{
		/*
		 * Log it (unless it is a lock wait past lock_timeout: the caller
		 * logs those once), roll back, and carry on.
		 */
		ErrorData  *edata;

		error_context_stack = errcallback.previous;
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(old);
		edata = CopyErrorData();
		last_failure_was_lock = edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE;
		if (!last_failure_was_lock)
			EmitErrorReport();
		FreeErrorData(edata);
		AbortCurrentTransaction();
		FlushErrorState();
		RESUME_INTERRUPTS();
		ok = false;
	}
	PG_END_TRY();

	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}
