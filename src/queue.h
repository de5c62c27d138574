/*
 * queue.h
 *		The sender queue: what claim (claim.c), acknowledgement (ack.c), the
 *		fan-out, cancel and opt-out share about SMS and their broadcasts.
 *
 * The tables and the life of an SMS are described in src/sql/060_queue.sql.
 * Lock order, for everything that writes SMS:
 *
 *	- SMS-level rows first (sms_claims, sms_retry, sms_queue), then the
 *	  bar9.broadcasts rows of their broadcasts, in (account_no, broadcast_no)
 *	  order, to move their counters once per broadcast per batch;
 *	- a transaction that holds a bar9.broadcasts row lock waits for no
 *	  SMS-level row lock (SKIP LOCKED), and a claim waits for a broadcast
 *	  lock only while it holds none (further ones it skips when locked).
 *	  The fan-out, cancel and opt-out lock the broadcast first: they touch
 *	  only SMS that no claim covers (after its claim_cursor), and skip
 *	  retried SMS a claimer holds; that claimer then sees the broadcast
 *	  'canceled' under its lock and cancels them itself.
 *
 * Broadcast status follows the counters: a trigger on bar9.broadcasts
 * (bar9.broadcasts_settle_status) turns a fanned-out 'queued' broadcast into
 * 'sending' once any of its SMS was claimed, and a fanned-out 'queued' or
 * 'sending' one into 'completed' once none is queued or sending.
 */
#ifndef BAR9_QUEUE_H
#define BAR9_QUEUE_H

#include "executor/spi.h"
#include "utils/date.h"

/* GUC bar9.max_attempts: claims of one SMS before a 'retry' fails it. */
extern int	bar9_max_attempts;

/* GUCs bar9.retry_delay / bar9.retry_delay_max, in milliseconds. */
extern int	bar9_retry_delay_ms;
extern int	bar9_retry_delay_max_ms;

/* Most SMS one call of bar9.claim_sms or bar9.ack_sms_batch may take. */
#define BAR9_CLAIM_MAX		10000

/* The states of an SMS, as numbered in sms_history.state and n_* order. */
typedef enum SmsState
{
	SMS_QUEUED,
	SMS_SENDING,
	SMS_SENT,
	SMS_DELIVERED,
	SMS_FAILED,
	SMS_CANCELED,
	SMS_NSTATES
} SmsState;

extern const char *const bar9_sms_state_names[SMS_NSTATES];

/* What an sms_id says: which SMS, and which claim handed it out. */
typedef struct SmsId
{
	int32		account_no;
	int32		broadcast_no;
	uint64		number;			/* bar9.e164 encoding */
	bool		retry;			/* claimed from sms_retry, not a run */
	int64		claim_no;
} SmsId;

/* Parse text as an sms_id, or raise 22P02. */
extern void bar9_sms_id_parse(const char *s, SmsId *out);

/* The text of an sms_id. */
extern Datum bar9_sms_id_text(const SmsId *id);

/* One broadcast touched by a batch: what it is and its counter deltas. */
typedef struct Broadcast
{
	int32		account_no;
	int32		broadcast_no;
	bool		found;			/* its row exists (and is locked) */
	bool		canceled;		/* its status is 'canceled' */
	Datum		broadcast_id;		/* text; valid when found */
	Datum		body;			/* text */
	Datum		from_address;	/* text, or 0 when from_null */
	bool		from_null;
	bool		have_cursor;	/* claim_cursor is not NULL */
	uint64		cursor;			/* its claim_cursor */
	int64		delta[SMS_NSTATES];
} Broadcast;

/* The distinct broadcasts of a batch, kept sorted by key. */
typedef struct BroadcastSet
{
	Broadcast  *items;
	int			n;
	int			cap;
} BroadcastSet;

extern void bar9_broadcasts_init(BroadcastSet *set);
extern Broadcast *bar9_broadcasts_add(BroadcastSet *set, int32 account_no,
									  int32 broadcast_no);
extern Broadcast *bar9_broadcasts_find(BroadcastSet *set, int32 account_no,
									   int32 broadcast_no);

/*
 * Lock the bar9.broadcasts rows of set FOR NO KEY UPDATE, in key order, and
 * fill in what they are (found stays false for one that is gone).
 */
extern void bar9_broadcasts_lock(BroadcastSet *set);

/* Apply the counter deltas of set, one row update per broadcast. */
extern void bar9_broadcasts_count(BroadcastSet *set);

/* Record that k SMS of b move from state from to state to. */
static inline void
bar9_broadcast_move(Broadcast *b, SmsState from, SmsState to, int64 k)
{
	if (b == NULL || from == to || k == 0)
		return;
	b->delta[from] -= k;
	b->delta[to] += k;
}

/*
 * Cancel the SMS of one broadcast that no claim covers: those of sms_queue
 * after its claim cursor (every one when !have_cursor: nothing claimed yet)
 * and the unclaimed ones of sms_retry; only those to *number when number
 * is not NULL.  The caller holds the
 * broadcast's row lock and moves its counters (queued -> canceled by the
 * count returned).  SPI is connected.
 */
extern int64 bar9_sms_cancel_unclaimed(int32 account_no, int32 broadcast_no,
									   bool have_cursor, uint64 cursor,
									   const uint64 *number);

/*
 * SQL for sms_history.changed_s of a row written now: the seconds since
 * the start (00:00 UTC) of the day of its broadcast, whose number is the
 * SQL expression bno (060_queue.sql).
 */
#define SQL_CHANGED_S(bno) \
	"((pg_catalog.extract('epoch', pg_catalog.now()) - 946684800)::bigint" \
	" - ((" bno ")::bigint >> 15) * 86400)::integer"

/* A text[] of the phone numbers numbers[0..n) ("+digits"). */
extern Datum bar9_numbers_text_array(const uint64 *numbers, int n);

/* Define the queue's GUCs; called from _PG_init. */
extern void bar9_queue_init(void);

#endif							/* BAR9_QUEUE_H */
