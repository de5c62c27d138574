/*
 * sql_helpers.h
 *		Helpers of every file that runs SQL through SPI or hashes: the
 *		handlers of bar9.api, the worker, the fan-out and the sender queue.
 *		Apart from the HTTP dispatcher (api.h), which they do not need.
 */
#ifndef BAR9_SQL_HELPERS_H
#define BAR9_SQL_HELPERS_H

#include "executor/spi.h"

/*
 * Prepare sql once per backend and keep the plan in *slot (SPI_keepplan);
 * SPI must be connected.  The SQL must schema-qualify every object.
 */
extern SPIPlanPtr bar9_plan(SPIPlanPtr *slot, const char *sql, int nargs,
							const Oid *argtypes);

/* SHA-256 of data into out[32] (pg_cryptohash). */
extern void bar9_sha256(const void *data, size_t len, uint8 *out);

#endif							/* BAR9_SQL_HELPERS_H */
