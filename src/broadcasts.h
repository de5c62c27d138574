/*
 * broadcasts.h
 *		Broadcasts ("marketing messages"): typed SQL functions and the routes
 *		under /v1/marketing/channels/:channel_id/messages.
 *
 * Creating a broadcast only inserts its bar9.broadcasts row (status 'pending',
 * or 'scheduled' with send_at) and wakes the background worker, whatever the
 * audience size; the worker fans it out into SMS (fanout.c), senders claim
 * and acknowledge them (queue.c).  The counts of a broadcast are the n_*
 * counters of its row, kept exact by those writers.
 */
#ifndef BAR9_BROADCASTS_H
#define BAR9_BROADCASTS_H

#include "api.h"

/* send_at must lie this far ahead of the request, at least and at most. */
#define BROADCAST_SEND_AT_MIN_SECS	60
#define BROADCAST_SEND_AT_MAX_SECS	(35 * 24 * 60 * 60)

/* One broadcast as the API shows it. */
typedef struct ApiBroadcast
{
	char	   *broadcast_id;
	char	   *audience_id;
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
} ApiBroadcast;

/*
 * Load a broadcast of account_id (and of audience_id, unless NULL); SPI must
 * be connected.  False when absent or another account's.
 */
extern bool broadcast_load(const char *account_id, const char *audience_id,
						   const char *broadcast_id, ApiBroadcast *out);

/*
 * Cancel a broadcast whose row the caller holds locked and which is not
 * finished: its unclaimed queued SMS and itself.  SPI must be connected;
 * *out (unless NULL) is the broadcast afterwards.
 */
extern void broadcast_cancel_locked(const char *account_id,
									const char *broadcast_id, ApiBroadcast *out);

/* Write m as a message object ("object": "marketing_message"). */
extern void broadcast_json(JsonOut *jo, const ApiBroadcast *m);

/* Route handlers (routes.c) */
extern void broadcasts_create_handler(ApiRequest *req, ApiResponse *resp);
extern void broadcasts_list_handler(ApiRequest *req, ApiResponse *resp);
extern void broadcasts_get_handler(ApiRequest *req, ApiResponse *resp);
extern void broadcasts_cancel_handler(ApiRequest *req, ApiResponse *resp);

#endif							/* BAR9_BROADCASTS_H */
