/*
 * fanout.h
 *		Fan-out of one broadcast into queued SMS, one batch per call.
 *
 * A batch locks, in this order: the account's consent lock, shared
 * (optouts.h); the bar9.audiences row; the bar9.broadcasts row (both FOR NO
 * KEY UPDATE).  It then only inserts new bar9.sms rows, and waits for no
 * SMS row lock while it holds the message row (queue.h).
 */
#ifndef BAR9_FANOUT_H
#define BAR9_FANOUT_H

/* What one call of bar9_fanout_batch did. */
typedef struct FanoutBatchResult
{
	bool		found;			/* the broadcast exists */
	char		status[16];		/* its status after the batch */
	int64		recipients;		/* audience members read by this batch */
	int64		queued;			/* SMS this batch created */
	int64		suppressed;		/* members left out: opted out */
	bool		more;			/* another batch is due at once */
} FanoutBatchResult;

extern void bar9_fanout_batch(const char *account_id, int32 account_no,
							  const char *broadcast_id,
							  const char *audience_id, int batch_size,
							  FanoutBatchResult *result);
extern void bar9_fanout_cancel_audience(const char *account_id,
										const char *audience_id);

#endif							/* BAR9_FANOUT_H */
