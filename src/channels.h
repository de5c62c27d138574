/*
 * channels.h
 *		Audiences ("marketing channels"): typed SQL functions and routes.
 */
#ifndef BAR9_CHANNELS_H
#define BAR9_CHANNELS_H

#include "api.h"

/* One audience as the API shows it. */
typedef struct Channel
{
	char	   *channel_id;
	char	   *name;
	int64		subscriber_count;
	int64		message_count;
	TimestampTz created_at;
	TimestampTz updated_at;
	int32		account_no;		/* the account's, its shard's (distribute()) */
	int64		last_member_seq;	/* the added_seq of its latest member */
} Channel;

/*
 * Load a live (not deleted) audience of account_id; SPI must be connected.
 * lock: take FOR NO KEY UPDATE on its row (every change of membership or
 * counters takes it first, which orders concurrent writers and keeps
 * subscriber_count exact).  False when absent, deleted or another account's.
 */
extern bool channel_load(const char *account_id, const char *channel_id,
						 bool lock, Channel *out);

/* Write ch as an audience object ("object": "marketing_channel"). */
extern void channel_json(JsonOut *jo, const Channel *ch);

/* Route handlers (routes.c) */
extern void channels_create_handler(ApiRequest *req, ApiResponse *resp);
extern void channels_list_handler(ApiRequest *req, ApiResponse *resp);
extern void channels_get_handler(ApiRequest *req, ApiResponse *resp);
extern void channels_update_handler(ApiRequest *req, ApiResponse *resp);
extern void channels_delete_handler(ApiRequest *req, ApiResponse *resp);

#endif							/* BAR9_CHANNELS_H */
