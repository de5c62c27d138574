/*
 * cluster.h
 *		What bar9 needs to know about the Citus cluster it may run in.
 *
 * bar9 runs the same code on one node and on every node of a Citus cluster
 * (bar9.distribute(), README "Scale-out with Citus").  Values that must be
 * unique across the cluster are made here, by the node that needs them,
 * without asking another.
 */
#ifndef BAR9_CLUSTER_H
#define BAR9_CLUSTER_H

#include "executor/spi.h"

/* claim numbers: the node's group id above this bit, its own count below */
#define BAR9_CLAIM_NODE_SHIFT	40

extern int32 bar9_node_group(void);
extern bool bar9_citus_distributed(void);
extern int64 bar9_new_claim_no(void);
extern bool bar9_lock_on_shard(SPIPlanPtr *plan, const char *sql, int nargs,
							   Oid *argtypes, Datum *args, bool *acquired);

#endif							/* BAR9_CLUSTER_H */
