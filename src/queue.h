/*
 * queue.h
 *		The sender queue: bar9.claim_sms, bar9.ack_sms, retiring old SMS.
 *
 * Senders (the programs that hand SMS to carriers) claim queued SMS for a
 * lease and acknowledge each one.  Locking protocol, shared with the
 * opt-out cancel (optouts.h) and the fan-out (fanout.h):
 *
 *	- claim and ack lock bar9.sms rows FIRST (claim with SKIP LOCKED, ack
 *	  waiting, in sms_id order), THEN the bar9.messages rows of those SMS,
 *	  ordered by (account_id, message_id), to move their counters once per
 *	  broadcast per batch;
 *	- code holding a bar9.messages row lock (fan-out batch, cancel) never
 *	  waits for a bar9.sms row lock: fan-out only inserts new rows and cancel
 *	  uses SKIP LOCKED.  An SMS that cancel skipped is locked by a claimer,
 *	  which then sees the broadcast 'canceled' under the message lock and
 *	  cancels the SMS itself instead of handing it out.
 *
 * Broadcast status follows the counters: a trigger on bar9.messages
 * (bar9.messages_settle_status, 060_queue.sql) turns a fanned-out 'queued'
 * broadcast into 'sending' once any of its SMS was claimed, and a
 * fanned-out 'queued' or 'sending' one into 'completed' once none is queued
 * or sending.  Whoever moves counters (fan-out, claim, ack, opt-out cancel)
 * thus gets the status right without computing it.
 */
#ifndef BAR9_QUEUE_H
#define BAR9_QUEUE_H

/* GUC bar9.max_attempts: claims of one SMS before a 'retry' fails it. */
extern int	bar9_max_attempts;

/* Most SMS one call of bar9.claim_sms may claim. */
#define BAR9_CLAIM_MAX		10000

/* Define the queue's GUCs; called from _PG_init. */
extern void bar9_queue_init(void);

/* This session's claimer id, as stored in bar9.sms.claimed_by. */
extern int64 bar9_claimer_id(void);

#endif							/* BAR9_QUEUE_H */
