/*
 * audiences.h
 *		Audiences ("marketing channels"): typed SQL functions and routes.
 */
#ifndef BAR9_AUDIENCES_H
#define BAR9_AUDIENCES_H

#include "api.h"

/* One audience as the API shows it. */
typedef struct Audience
{
	char	   *audience_id;
	char	   *name;
	int64		subscriber_count;
	int64		sms_count;
	TimestampTz created_at;
	TimestampTz updated_at;
	int32		account_no;		/* the account's, its shard's (distribute()) */
	int64		last_member_seq;	/* the added_seq of its latest member */
} Audience;

/*
 * Load a live (not deleted) audience of account_id; SPI must be connected.
 * lock: take FOR NO KEY UPDATE on its row (every change of membership or
 * counters takes it first, which orders concurrent writers and keeps
 * subscriber_count exact).  False when absent, deleted or another account's.
 */
extern bool audience_load(const char *account_id, const char *audience_id,
						  bool lock, Audience *out);

/* Write ch as an audience object ("object": "marketing_channel"). */
extern void audience_json(JsonOut *jo, const Audience *ch);

/* Route handlers (routes.c) */
extern void audiences_create_handler(ApiRequest *req, ApiResponse *resp);
extern void audiences_list_handler(ApiRequest *req, ApiResponse *resp);
extern void audiences_get_handler(ApiRequest *req, ApiResponse *resp);
extern void audiences_update_handler(ApiRequest *req, ApiResponse *resp);
extern void audiences_delete_handler(ApiRequest *req, ApiResponse *resp);

#endif							/* BAR9_AUDIENCES_H */
