/*
 * optouts.h
 *		The account-wide opt-out list: C interface, typed SQL functions and
 *		the three /v1/marketing/opt-outs routes.
 *
 * Locking protocol between opt-outs and fan-out (read this if you write SMS
 * for an account's broadcasts):
 *
 *	An opt-out must cancel every queued SMS to its number, including those a
 *	fan-out batch is inserting at the same moment, and no fan-out batch that
 *	starts after it may queue an SMS to the number.  Both sides take the
 *	account's "consent lock" (a transaction-scoped advisory lock on
 *	(BAR9_CONSENT_LOCK_CLASS, hashtext(account_id))):
 *	  - a fan-out batch takes it SHARED, as the FIRST lock of its transaction
 *	    (before it locks the message row), then reads bar9.opt_outs and
 *	    inserts its SMS in later statements;
 *	  - an opt-out takes it EXCLUSIVE before inserting into bar9.opt_outs and
 *	    canceling queued SMS.
 *	So a batch running when the opt-out starts commits before the opt-out's
 *	cancel runs (which then sees and cancels its SMS), and a batch starting
 *	later sees the opt-out row.  From SQL the shared lock is
 *		SELECT pg_advisory_xact_lock_shared(1650553401, hashtext(account_id));
 *	and from C bar9_consent_lock_shared(account_id, account_no,
 *	broadcast_id), which takes it through a SELECT of the broadcast's row
 *	(the opt-out: of the account's bar9.account_counters row), so that on
 *	Citus it is taken on the node of the account's shard.
 *
 *	After that, an opt-out locks bar9.sms rows (the queued SMS to the number;
 *	it waits for a claimer holding one, which turns it 'sending' so that it
 *	is left alone) BEFORE it locks bar9.broadcasts rows (to fix counters, in
 *	broadcast_id order): the same order as claim_sms.  Code that holds a
 *	message row lock must not wait for an SMS row lock (use SKIP LOCKED).
 */
#ifndef BAR9_OPTOUTS_H
#define BAR9_OPTOUTS_H

#include "datatype/timestamp.h"

#include "api.h"

/* First key of the consent advisory lock: 'b' 'a' 'r' '9' = 0x62617239. */
#define BAR9_CONSENT_LOCK_CLASS		1650553401

/* Most rows bar9.list_opt_outs returns in one call. */
#define OPT_OUTS_LIST_MAX			1000

/* One entry of the opt-out list. */
typedef struct OptOut
{
	uint64		phone_number;	/* bar9.e164 encoding */
	char	   *source;			/* "api" or "keyword" */
	TimestampTz created_at;
} OptOut;

/* Raise 22023 unless account_id names an existing account. */
extern void bar9_consent_require_account(const char *account_id);

/*
 * Take the account's consent lock (see above) on the node of the account's
 * shard: exclusive for an opt-out, shared for a fan-out batch of
 * broadcast_id (false when there is no such broadcast).  SPI must be
 * connected.
 */
extern void bar9_consent_lock_exclusive(const char *account_id,
										int32 account_no);
extern bool bar9_consent_lock_shared(const char *account_id, int32 account_no,
									 const char *broadcast_id);

/*
 * Put number on the account's opt-out list (source "api" or "keyword") and
 * cancel its queued, unclaimed SMS, all in the current transaction.  Returns
 * true when the entry is new; an existing entry is kept as it was.  *out
 * (when not NULL) receives the entry, *canceled (when not NULL) the number
 * of SMS canceled.  The account is not checked.
 */
extern bool bar9_opt_out_add(const char *account_id, uint64 number,
							 const char *source, OptOut *out, int64 *canceled);

/* What bar9_opt_out_remove did. */
typedef enum OptOutRemoved
{
	OPT_OUT_ABSENT,				/* the number was not on the list */
	OPT_OUT_REMOVED,			/* taken off */
	OPT_OUT_BY_RECIPIENT		/* kept: the recipient opted out by keyword */
} OptOutRemoved;

/*
 * Take number off the account's list.  An opt-out the recipient made by
 * keyword (STOP) is lifted only by the recipient (by_recipient: their
 * opt-in keyword); anyone else gets OPT_OUT_BY_RECIPIENT and it stays.
 */
extern OptOutRemoved bar9_opt_out_remove(const char *account_id,
										 uint64 number, bool by_recipient);

/* Is number on the account's opt-out list? */
extern bool bar9_is_opted_out(const char *account_id, uint64 number);

/* Write an opt-out object ("object": "opt_out"). */
extern void opt_out_json(JsonOut *jo, const OptOut *o);

/* Route handlers (routes.c) */
extern void opt_outs_add_handler(ApiRequest *req, ApiResponse *resp);
extern void opt_outs_list_handler(ApiRequest *req, ApiResponse *resp);
extern void opt_outs_remove_handler(ApiRequest *req, ApiResponse *resp);

#endif							/* BAR9_OPTOUTS_H */
