/*
 * messages.h
 *		Broadcasts ("marketing messages"): typed SQL functions and the routes
 *		under /v1/marketing/channels/:channel_id/messages.
 *
 * Creating a broadcast only inserts its bar9.broadcasts row (status 'pending',
 * or 'scheduled' with send_at) and wakes the background worker, whatever the
 * audience size; the worker fans it out into SMS (fanout.c), senders claim
 * and acknowledge them (queue.c).  The counts of a broadcast are the n_*
 * counters of its row, kept exact by those writers.
 */
#ifndef BAR9_MESSAGES_H
#define BAR9_MESSAGES_H

#include "api.h"

/* send_at must lie this far ahead of the request, at least and at most. */
#define MESSAGE_SEND_AT_MIN_SECS	60
#define MESSAGE_SEND_AT_MAX_SECS	(35 * 24 * 60 * 60)

/* One broadcast as the API shows it. */
typedef struct Message
{
	char	   *message_id;
	char	   *channel_id;
	char	   *body;
	char	   *status;
	int64		recipient_count;
	int64		suppressed_count;
	char	   *encoding;
	int32		segments;
	bool		send_at_null;
	TimestampTz send_at;
	int64		counts[6];		/* queued, sending, sent, delivered, failed,
								 * canceled */
	TimestampTz created_at;
	char	   *from_address;	/* its sender address, or NULL */
} Message;

/*
 * Load a broadcast of account_id (and of channel_id, unless NULL); SPI must
 * be connected.  False when absent or another account's.
 */
extern bool message_load(const char *account_id, const char *channel_id,
						 const char *message_id, Message *out);

/*
 * Cancel a broadcast whose row the caller holds locked and which is not
 * finished: its unclaimed queued SMS and itself.  SPI must be connected;
 * *out (unless NULL) is the broadcast afterwards.
 */
extern void message_cancel_locked(const char *account_id,
								  const char *message_id, Message *out);

/* Write m as a message object ("object": "marketing_message"). */
extern void message_json(JsonOut *jo, const Message *m);

/* Route handlers (routes.c) */
extern void messages_create_handler(ApiRequest *req, ApiResponse *resp);
extern void messages_list_handler(ApiRequest *req, ApiResponse *resp);
extern void messages_get_handler(ApiRequest *req, ApiResponse *resp);
extern void messages_cancel_handler(ApiRequest *req, ApiResponse *resp);

#endif							/* BAR9_MESSAGES_H */
