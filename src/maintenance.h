/*
 * maintenance.h
 *		Housekeeping of the bar9 worker: Idempotency-Key answers past their
 *		24 hours are deleted, SMS older than bar9.sms_retention retired.
 */
#ifndef BAR9_MAINTENANCE_H
#define BAR9_MAINTENANCE_H

#include "datatype/timestamp.h"

/* Defines bar9.maintenance_interval and bar9.sms_retention. */
extern void bar9_maintenance_define_gucs(void);

/*
 * Does the housekeeping if it is due at now; returns the milliseconds
 * until it is due next (the worker sleeps at most that long).
 */
extern long bar9_maintenance(TimestampTz now);

/*
 * Remove one batch of the numbers of deleted audiences, in a transaction of
 * its own; returns true if more may be left.  The worker calls it between
 * rounds of fan-out batches.
 */
extern bool bar9_purge_deleted_audiences(void);

#endif							/* BAR9_MAINTENANCE_H */
