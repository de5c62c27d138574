/*
 * bar9.c
 *		Module entry point: _PG_init starts each subsystem of bar9.
 *
 * bar9 must be preloaded (shared_preload_libraries = 'bar9'): its background
 * worker and its shared memory can only be set up at postmaster start.  Like
 * pg_cron, we refuse to load any other way, with a hint saying how to fix it.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "bar9.h"
#include "queue.h"
#include "ratelimit.h"
#include "worker.h"

PG_MODULE_MAGIC;

bool		bar9_preloaded = false;

void		_PG_init(void);

/* Load-time set-up: check preloading, then let each subsystem initialise. */
void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;

	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("bar9 can only be loaded via shared_preload_libraries"),
				 errhint("Add bar9 to the shared_preload_libraries configuration "
						 "variable in postgresql.conf and restart the server.")));

	bar9_preloaded = true;

	/* Subsystems, each in its own file, register GUCs/workers/hooks here. */
	bar9_worker_init();
	bar9_queue_init();
	bar9_ratelimit_init();
}
