/*
 * cluster.c
 *		Cluster-wide unique values, made by the node that needs them.
 *
 * A claim number names one claim for ever (it travels in the sms_id).  On
 * Citus a claim may be made on any node, and a sequence is each node's own:
 * so a claim number is the node's group id (0 on a single node and on the
 * coordinator) times 2^40, plus the node's own bar9.claim_no_seq.  The
 * value is computed before the statement that stores it: no function runs
 * inside a distributed write.
 *
 * Advisory locks that must hold cluster-wide are taken on the node of the
 * account's shard, through a read of one of the account's rows
 * (bar9_lock_on_shard).
 */
#include "postgres.h"

#include "catalog/pg_namespace.h"
#include "executor/spi.h"
#include "utils/lsyscache.h"

#include "cluster.h"
#include "sql_helpers.h"

/*
 * A worker node's group id, once read (it never changes once the node is
 * added); 0 is read again each time: a node not added yet says 0 too.
 */
static int32 node_group = 0;

/*
 * This node's Citus group id: 0 on the coordinator and without Citus.
 * SPI must be connected.
 */
int32
bar9_node_group(void)
{
	int			rc;
	bool		isnull;

	if (node_group > 0)
		return node_group;
	if (!OidIsValid(get_relname_relid("pg_dist_local_group",
									  PG_CATALOG_NAMESPACE)))
		return 0;
	rc = SPI_execute("SELECT groupid FROM pg_catalog.pg_dist_local_group",
					 true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the Citus node group: %s",
			 SPI_result_code_string(rc));
	if (SPI_processed == 1)
		node_group = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1,
												 &isnull));
	return node_group;
}

/* A new claim number, unique in the cluster.  SPI must be connected. */
int64
bar9_new_claim_no(void)
{
	int64		group = bar9_node_group();
	int			rc;
	bool		isnull;

	rc = SPI_execute("SELECT pg_catalog.nextval('bar9.claim_no_seq')",
					 false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not draw a claim number: %s",
			 SPI_result_code_string(rc));
	return (group << BAR9_CLAIM_NODE_SHIFT) +
		DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Has bar9.distribute() run in this database?  SPI must be connected.  Only
 * "yes" is kept: it cannot be undone, while "no" may change any time.
 */
bool
bar9_citus_distributed(void)
{
	static bool distributed = false;
	int			rc;

	if (distributed)
		return true;
	if (!OidIsValid(get_relname_relid("pg_dist_partition",
									  PG_CATALOG_NAMESPACE)))
		return false;
	rc = SPI_execute("SELECT FROM pg_catalog.pg_dist_partition"
					 " WHERE logicalrelid = 'bar9.accounts'::pg_catalog.regclass",
					 true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the Citus tables: %s",
			 SPI_result_code_string(rc));
	distributed = (SPI_processed == 1);
	return distributed;
}

/*
 * Run sql (prepared once into *plan): a SELECT of at most one row of an
 * account's shard whose first column calls an advisory-lock function, with
 * FOR KEY SHARE.  On Citus that is a router query, the function pushed down
 * with it: the lock is taken on the node of the shard, whichever node runs
 * the request, and FOR KEY SHARE makes Citus open the request's transaction
 * on that shard now, so the lock is held until the request's transaction
 * ends (it conflicts with no update but of a key).  Not a write: no
 * volatile function in a distributed write.  On a single node it is the
 * local advisory lock.  Returns whether the row was there; *acquired (when
 * not NULL) is the first column, for pg_try_advisory_xact_lock.  SPI must
 * be connected.
 */
bool
bar9_lock_on_shard(SPIPlanPtr *plan, const char *sql, int nargs,
				   Oid *argtypes, Datum *args, bool *acquired)
{
	bool		isnull;
	int			rc;

	rc = SPI_execute_plan(bar9_plan(plan, sql, nargs, argtypes),
						  args, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "advisory lock on the account's shard failed: %s",
			 SPI_result_code_string(rc));
	if (SPI_processed != 1)
		return false;
	if (acquired != NULL)
		*acquired = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1,
											   &isnull));
	return true;
}
