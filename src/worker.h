/*
 * worker.h
 *		The bar9 background worker: it fans broadcasts out into queued SMS.
 *
 * One worker per cluster serves the database named by bar9.database_name,
 * connected as role BAR9_WORKER_ROLE; the launcher (launcher.c) starts it.
 * It sleeps on its latch; a backend that creates a broadcast calls
 * bar9_wake_worker() and the worker wakes when that transaction commits.
 */
#ifndef BAR9_WORKER_H
#define BAR9_WORKER_H

#include "fmgr.h"

/* The role the worker connects as (created by CREATE EXTENSION). */
#define BAR9_WORKER_ROLE "bar9_worker"

/* GUC bar9.fanout_batch_size: recipients per fan-out transaction. */
extern int	bar9_fanout_batch_size;

/* GUC bar9.database_name: the database the worker serves. */
extern char *bar9_database_name;

/*
 * Why the broadcasts of this database wait for ever, or NULL: the worker
 * serves another database.
 */
extern const char *bar9_worker_absent_reason(void);

extern void bar9_worker_init(void);
extern void bar9_wake_worker(void);

/* launcher.c: registers the launcher, which starts the worker */
extern void bar9_launcher_register(void);

/* For the launcher: be woken by bar9_wake_worker while no worker runs. */
extern void bar9_worker_attach_launcher(void);

/* GUC bar9.poll_interval (ms). */
extern long bar9_worker_poll_interval(void);

/* Runs fn(arg) in a transaction of its own; false if it failed (logged, but see below). */
extern bool bar9_worker_transaction(void (*fn) (void *arg), void *arg,
									const char *activity,
									void (*context) (void *arg),
									void *context_arg);

/*
 * Whether the last bar9_worker_transaction failed because a lock wait ran
 * past lock_timeout (55P03).  Such a failure is not logged by
 * bar9_worker_transaction: the caller logs it, once.
 */
extern bool bar9_worker_lock_was_busy(void);

extern PGDLLEXPORT void bar9_worker_main(Datum main_arg) pg_attribute_noreturn();
extern PGDLLEXPORT void bar9_launcher_main(Datum main_arg) pg_attribute_noreturn();

#endif							/* BAR9_WORKER_H */
