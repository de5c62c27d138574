/*
 * ratelimit.h
 *		Per-account request budgets of bar9.api: token buckets in shared
 *		memory (docs/api.md, "Rate limits").
 */
#ifndef BAR9_RATELIMIT_H
#define BAR9_RATELIMIT_H

/* The limits of an account that has none of its own. */
#define RATE_LIMIT_DEFAULT_RPS		100
#define RATE_LIMIT_DEFAULT_BURST	200

/* What a take from an account's bucket found. */
typedef struct RateLimitResult
{
	bool		allowed;		/* a token was taken */
	int32		limit;			/* the burst: RateLimit-Limit; -1: limits off */
	int32		remaining;		/* whole tokens left: RateLimit-Remaining */
	int32		reset;			/* seconds until full: RateLimit-Reset */
	int32		retry_after;	/* when refused: seconds until a token */
} RateLimitResult;

/* Defines bar9.rate_limit_accounts and asks for the shared memory. */
extern void bar9_ratelimit_init(void);

/*
 * Take one token from account_id's bucket, made on first use with the
 * account's limits (bar9.accounts).  No write to the database: the buckets
 * live in shared memory and are lost, full again, at restart.
 */
extern void bar9_ratelimit_take(const char *account_id, RateLimitResult *out);

#endif							/* BAR9_RATELIMIT_H */
