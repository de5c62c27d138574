/*
 * launcher.c
 *		Starts the bar9 fan-out worker as role bar9_worker, once that role
 *		exists, and starts it again when it stops.
 *
 * The fan-out worker (worker.c) runs as bar9_worker, a role that is not a
 * superuser and holds rights on bar9's objects only (099_proxy_role.sql).
 * CREATE EXTENSION creates that role, usually long after the postmaster
 * registered its workers, so the worker cannot be a static one: connecting
 * as a role that does not exist is a FATAL error, and a static worker
 * would fail and be restarted every second until the extension is there.
 *
 * The launcher is the static worker instead.  It connects to no database
 * (only the shared catalogs, like PostgreSQL's own launchers), so it runs
 * no SQL and no function a user could have planted; it reads pg_authid
 * through the syscache and nothing else.  While bar9_worker is missing it
 * sleeps (logged once); it is woken by the commit of CREATE EXTENSION
 * (bar9.wake_worker() sets its latch when no worker runs) and looks again
 * every bar9.poll_interval.  Once the role is there it registers the
 * fan-out worker as a dynamic background worker, which the postmaster
 * reports to it when it stops; then the launcher starts it again after a
 * second, as the postmaster did for the static worker before.  A crash
 * resets everything: the postmaster forgets dynamic workers and restarts
 * the launcher, which starts a new fan-out worker.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "worker.h"

/* Wait before starting the fan-out worker again after it stopped (ms). */
#define RESTART_DELAY_MS	1000

/* How bar9_worker stands, as the launcher sees it. */
typedef enum WorkerRoleState
{
	ROLE_MISSING,
	ROLE_CANNOT_LOGIN,
	ROLE_READY
} WorkerRoleState;

/* The running fan-out worker, if any (launcher only). */
static BackgroundWorkerHandle *worker_handle = NULL;

/* What the launcher last said about the role, so as to say it once. */
static WorkerRoleState told_state = ROLE_READY;

/*
 * Fill w to run bar9's function (in a database connection), named name and
 * of type type in pg_stat_activity; restart_time as BackgroundWorker says.
 */
static void
FillWorker(BackgroundWorker *w, const char *function, const char *name,
		   const char *type, int restart_time)
{
	memset(w, 0, sizeof(*w));
	w->bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	w->bgw_start_time = BgWorkerStart_RecoveryFinished;
	w->bgw_restart_time = restart_time;
	strlcpy(w->bgw_library_name, "bar9", BGW_MAXLEN);
	strlcpy(w->bgw_function_name, function, BGW_MAXLEN);
	strlcpy(w->bgw_name, name, BGW_MAXLEN);
	strlcpy(w->bgw_type, type, BGW_MAXLEN);
	w->bgw_main_arg = (Datum) 0;
}

/* Register the launcher (at postmaster start, from bar9_worker_init). */
void
bar9_launcher_register(void)
{
	BackgroundWorker launcher;

	FillWorker(&launcher, "bar9_launcher_main", "bar9 launcher",
			   "bar9 launcher", 1);
	launcher.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&launcher);
}

/* Does role bar9_worker exist, and may it connect? */
static WorkerRoleState
LookUpWorkerRole(void)
{
	HeapTuple	tup;
	WorkerRoleState state = ROLE_MISSING;

	StartTransactionCommand();
	tup = SearchSysCache1(AUTHNAME, CStringGetDatum(BAR9_WORKER_ROLE));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_authid role = (Form_pg_authid) GETSTRUCT(tup);

		state = role->rolcanlogin ? ROLE_READY : ROLE_CANNOT_LOGIN;
		ReleaseSysCache(tup);
	}
	CommitTransactionCommand();
	return state;
}

/* Log, once per change, why the fan-out worker is not started. */
static void
TellRoleState(WorkerRoleState state)
{
	if (state == told_state)
		return;
	told_state = state;
	if (state == ROLE_MISSING)
		ereport(LOG,
				(errmsg("bar9 launcher is waiting for role \"%s\" to start the fan-out worker",
						BAR9_WORKER_ROLE),
				 errhint("CREATE EXTENSION bar9 creates it.")));
	else if (state == ROLE_CANNOT_LOGIN)
		ereport(LOG,
				(errmsg("bar9 launcher cannot start the fan-out worker: role \"%s\" has NOLOGIN",
						BAR9_WORKER_ROLE),
				 errhint("PostgreSQL 15 lets a background worker connect only as a role with LOGIN: ALTER ROLE %s LOGIN (its CONNECTION LIMIT 0 keeps every client out).",
						 BAR9_WORKER_ROLE)));
}

/*
 * Register the fan-out worker, to run as bar9_worker; the postmaster tells
 * this process (its latch) when it starts and when it stops.
 */
static void
StartFanoutWorker(void)
{
	BackgroundWorker worker;

	FillWorker(&worker, "bar9_worker_main", "bar9 fan-out worker",
			   "bar9 fan-out", BGW_NEVER_RESTART);
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &worker_handle))
	{
		worker_handle = NULL;
		ereport(LOG,
				(errmsg("bar9 launcher could not start the fan-out worker: no background worker slot is free"),
				 errhint("Raise max_worker_processes.")));
	}
}

/* Is the fan-out worker registered and not yet stopped? */
static bool
FanoutWorkerRuns(void)
{
	pid_t		pid;

	if (worker_handle == NULL)
		return false;
	if (GetBackgroundWorkerPid(worker_handle, &pid) != BGWH_STOPPED)
		return true;
	pfree(worker_handle);
	worker_handle = NULL;
	return false;
}

/* before_shmem_exit callback: the fan-out worker goes with its launcher. */
static void
StopFanoutWorker(int code, Datum arg)
{
	if (worker_handle != NULL)
		TerminateBackgroundWorker(worker_handle);
}

/*
 * One look: start the fan-out worker unless its role is not ready.
 * Returns how long to sleep (ms), -1 for as long as the worker runs.
 */
static long
LauncherStep(void)
{
	WorkerRoleState state = LookUpWorkerRole();

	TellRoleState(state);
	if (state != ROLE_READY)
		return bar9_worker_poll_interval();
	StartFanoutWorker();
	return worker_handle != NULL ? -1 : bar9_worker_poll_interval();
}

/* Entry point of the launcher. */
void
bar9_launcher_main(Datum main_arg)
{
	TimestampTz stopped_at = 0; /* when the fan-out worker last stopped */

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* no database: the shared catalogs only, and no SQL */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	bar9_worker_attach_launcher();
	before_shmem_exit(StopFanoutWorker, (Datum) 0);

	for (;;)
	{
		long		timeout;
		TimestampTz now;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		now = GetCurrentTimestamp();
		if (worker_handle != NULL && !FanoutWorkerRuns())
			stopped_at = now;

		if (worker_handle != NULL)
			timeout = -1;		/* until the postmaster says it stopped */
		else if (stopped_at != 0 &&
				 now < TimestampTzPlusMilliseconds(stopped_at,
												   RESTART_DELAY_MS))
			timeout = TimestampDifferenceMilliseconds(now,
													  TimestampTzPlusMilliseconds(stopped_at, RESTART_DELAY_MS)) + 1;
		else
		{
			stopped_at = 0;
			timeout = LauncherStep();
		}

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
						 (timeout >= 0 ? WL_TIMEOUT : 0),
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
