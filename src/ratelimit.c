/*
 * ratelimit.c
 *		Per-account request budgets of bar9.api: token buckets in shared
 *		memory, and bar9.set_account_limits.
 *
 * Each account that made a request since the server started has a bucket
 * in a shared hash table (bar9.rate_limit_accounts of them at most): its
 * tokens, when they were counted, and the account's limits, read from
 * bar9.accounts when the bucket is made.  A request takes one token under
 * the bucket's spinlock, after refilling it at the account's rate up to its
 * burst; none left is 429.  Nothing is written to the database per request,
 * and requests of different accounts only share the table's lock, in
 * shared mode.
 *
 * bar9.set_account_limits updates bar9.accounts and, when its transaction
 * ends, drops the account's bucket: the next request makes a new one (full)
 * with the limits then committed.  Buckets are not kept across restarts:
 * a restart gives every account a full bucket.  When the table is full, an
 * account without a bucket is not limited (logged once per backend): the
 * table is sized for the accounts that are active at once.
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "api.h"
#include "ratelimit.h"

/* Longest account id kept as a key ("acct_" and 22 characters fit). */
#define RATE_KEY_LEN	32

/* Highest requests per second and burst an operator may set. */
#define RATE_LIMIT_MAX	1000000

/* One account's bucket. */
typedef struct RateBucket
{
	char		account_id[RATE_KEY_LEN];	/* hash key */
	slock_t		mutex;			/* protects the fields below */
	double		tokens;
	TimestampTz counted_at;		/* when tokens was right */
	int32		rate;			/* tokens per second */
	int32		burst;			/* most tokens */
} RateBucket;

static int	bar9_rate_limit_accounts = 10000;
static bool bar9_rate_limits = true;

static HTAB *buckets = NULL;
static LWLock *buckets_lock = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Accounts whose bucket goes when this transaction ends. */
static List *buckets_to_drop = NIL;
static bool xact_callback_registered = false;

/* The table was full once in this backend (logged). */
static bool told_table_full = false;

/* shmem_request_hook: the hash table and its lock. */
static void
RateLimitShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(hash_estimate_size(bar9_rate_limit_accounts,
											  sizeof(RateBucket)));
	RequestNamedLWLockTranche("bar9 rate limits", 1);
}

/* shmem_startup_hook: create or attach to the hash table. */
static void
RateLimitShmemStartup(void)
{
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	memset(&info, 0, sizeof(info));
	info.keysize = RATE_KEY_LEN;
	info.entrysize = sizeof(RateBucket);
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	buckets = ShmemInitHash("bar9 rate limits", bar9_rate_limit_accounts,
							bar9_rate_limit_accounts, &info,
							HASH_ELEM | HASH_STRINGS);
	buckets_lock = &(GetNamedLWLockTranche("bar9 rate limits"))->lock;
	LWLockRelease(AddinShmemInitLock);
}

/* Defines bar9.rate_limit_accounts and asks for the shared memory. */
void
bar9_ratelimit_init(void)
{
	DefineCustomIntVariable("bar9.rate_limit_accounts",
							"Accounts whose request budget is kept in shared memory at once.",
							"An account beyond them is not rate limited until a restart.",
							&bar9_rate_limit_accounts,
							10000, 100, 10000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("bar9.rate_limits",
							 "Whether bar9.api enforces the accounts' request budgets.",
							 "Off, no request is counted or refused and no RateLimit "
							 "header is sent (for benchmarks and emergencies).",
							 &bar9_rate_limits,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = RateLimitShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = RateLimitShmemStartup;
}

/* Read an account's limits from bar9.accounts (defaults if it has none). */
static void
LoadLimits(const char *account_id, int32 *rate, int32 *burst)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;

	*rate = RATE_LIMIT_DEFAULT_RPS;
	*burst = RATE_LIMIT_DEFAULT_BURST;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = CStringGetTextDatum(account_id);
	if (SPI_execute_plan(bar9_plan(&plan,
								   "SELECT requests_per_second, burst"
								   "  FROM bar9.accounts WHERE account_id = $1",
								   1, types),
						 values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the limits of an account");
	if (SPI_processed == 1)
	{
		*rate = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull));
		*burst = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_finish();
}

/* Refill b at now and take a token if there is one (b->mutex held). */
static void
TakeToken(RateBucket *b, TimestampTz now, RateLimitResult *out)
{
	double		elapsed = (double) (now - b->counted_at) / USECS_PER_SEC;

	if (elapsed > 0)
	{
		b->tokens = Min((double) b->burst, b->tokens + elapsed * b->rate);
		b->counted_at = now;
	}
	out->allowed = b->tokens >= 1.0;
	if (out->allowed)
		b->tokens -= 1.0;
	out->limit = b->burst;
	out->remaining = (int32) floor(b->tokens);
	out->reset = (int32) ceil((b->burst - b->tokens) / b->rate);
	out->retry_after = out->allowed ? 0 :
		Max((int32) ceil((1.0 - b->tokens) / b->rate), 1);
}

/* Take one token from account_id's bucket (see ratelimit.h). */
void
bar9_ratelimit_take(const char *account_id, RateLimitResult *out)
{
	char		key[RATE_KEY_LEN];
	RateBucket *b;
	bool		found;
	TimestampTz now = GetCurrentTimestamp();

	if (!bar9_rate_limits)
	{
		out->allowed = true;
		out->limit = -1;		/* no headers */
		return;
	}
	if (buckets == NULL)
		elog(ERROR, "bar9 rate limits are not set up: bar9 must be in shared_preload_libraries");
	memset(key, 0, sizeof(key));
	strlcpy(key, account_id, sizeof(key));

	LWLockAcquire(buckets_lock, LW_SHARED);
	b = hash_search(buckets, key, HASH_FIND, NULL);
	if (b == NULL)
	{
		int32		rate;
		int32		burst;

		LWLockRelease(buckets_lock);
		LoadLimits(account_id, &rate, &burst);
		LWLockAcquire(buckets_lock, LW_EXCLUSIVE);
		b = hash_search(buckets, key, HASH_ENTER_NULL, &found);
		if (b == NULL)
		{
			LWLockRelease(buckets_lock);
			if (!told_table_full)
				ereport(LOG,
						(errmsg("bar9 rate limits: the table of %d accounts is full; account \"%s\" is not limited",
								bar9_rate_limit_accounts, account_id),
						 errhint("Raise bar9.rate_limit_accounts and restart the server.")));
			told_table_full = true;
			out->allowed = true;
			out->limit = out->remaining = burst;
			out->reset = out->retry_after = 0;
			return;
		}
		if (!found)
		{
			SpinLockInit(&b->mutex);
			b->tokens = burst;
			b->counted_at = now;
			b->rate = rate;
			b->burst = burst;
		}
	}
	SpinLockAcquire(&b->mutex);
	TakeToken(b, now, out);
	SpinLockRelease(&b->mutex);
	LWLockRelease(buckets_lock);
}

/* At the end of a transaction: drop the buckets of the accounts listed. */
static void
DropBucketsAtEnd(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT)
		return;
	if (buckets_to_drop == NIL)
		return;
	LWLockAcquire(buckets_lock, LW_EXCLUSIVE);
	foreach(lc, buckets_to_drop)
		(void) hash_search(buckets, lfirst(lc), HASH_REMOVE, NULL);
	LWLockRelease(buckets_lock);
	list_free_deep(buckets_to_drop);
	buckets_to_drop = NIL;
}

/*
 * bar9.set_account_limits(account_id text, requests_per_second int,
 * burst int): set an account's request budget; its bucket starts again,
 * full, with them once the transaction ends.
 */
PG_FUNCTION_INFO_V1(bar9_set_account_limits);
Datum
bar9_set_account_limits(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	char	   *account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		rate = PG_GETARG_INT32(1);
	int32		burst = PG_GETARG_INT32(2);
	Oid			types[3] = {TEXTOID, INT4OID, INT4OID};
	Datum		values[3];
	MemoryContext old;
	char	   *key;

	if (rate < 1 || rate > RATE_LIMIT_MAX || burst < 1 || burst > RATE_LIMIT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("requests_per_second and burst must be between 1 and %d",
						RATE_LIMIT_MAX)));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = PG_GETARG_DATUM(0);
	values[1] = Int32GetDatum(rate);
	values[2] = Int32GetDatum(burst);
	if (SPI_execute_plan(bar9_plan(&plan,
								   "UPDATE bar9.accounts"
								   "   SET requests_per_second = $2, burst = $3"
								   " WHERE account_id = $1",
								   3, types),
						 values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not set the limits of an account");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("account \"%s\" does not exist", account_id)));
	SPI_finish();

	if (!xact_callback_registered)
	{
		RegisterXactCallback(DropBucketsAtEnd, NULL);
		xact_callback_registered = true;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	key = palloc0(RATE_KEY_LEN);
	strlcpy(key, account_id, RATE_KEY_LEN);
	buckets_to_drop = lappend(buckets_to_drop, key);
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}
