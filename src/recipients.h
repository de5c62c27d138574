/*
 * recipients.h
 *		The recipients of a broadcast: one SMS each, with its status, over
 *		HTTP (GET …/messages/:message_id/recipients).
 */
#ifndef BAR9_RECIPIENTS_H
#define BAR9_RECIPIENTS_H

#include "api.h"

/* Route handler (routes.c) */
extern void recipients_list_handler(ApiRequest *req, ApiResponse *resp);

#endif							/* BAR9_RECIPIENTS_H */
