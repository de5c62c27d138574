/*
 * routes.c
 *		The route table of bar9.api: one row per method and path.
 *
 * SHARED FILE.  To add a route: #include your header below and add ONE row
 * in your section; the handler lives in your own file (see api.h, "How to
 * add a route").  Patterns are matched segment by segment against the
 * percent-decoded path; ":name" segments become api_path_param(req, "name").
 * A path that matches some row but not its method is answered 405 with an
 * Allow header listing the methods of every matching row.
 */
#include "postgres.h"

#include "api.h"
#include "audiences.h"
#include "numbers.h"
#include "broadcasts.h"
#include "openapi.h"
#include "optouts.h"
#include "recipients.h"

const ApiRoute bar9_routes[] = {
	/* audiences (audiences.c) */
	{"POST", "/v1/marketing/channels", BAR9_SCOPE_WRITE, audiences_create_handler},
	{"GET", "/v1/marketing/channels", BAR9_SCOPE_READ, audiences_list_handler},
	{"GET", "/v1/marketing/channels/:channel_id", BAR9_SCOPE_READ, audiences_get_handler},
	{"PATCH", "/v1/marketing/channels/:channel_id", BAR9_SCOPE_WRITE, audiences_update_handler},
	{"DELETE", "/v1/marketing/channels/:channel_id", BAR9_SCOPE_WRITE, audiences_delete_handler},

	/* numbers of an audience (numbers.c) */
	{"POST", "/v1/marketing/channels/:channel_id/numbers", BAR9_SCOPE_WRITE, numbers_add_handler},
	{"GET", "/v1/marketing/channels/:channel_id/numbers", BAR9_SCOPE_READ, numbers_list_handler},
	{"GET", "/v1/marketing/channels/:channel_id/numbers/:phone_number", BAR9_SCOPE_READ, numbers_get_handler},
	{"DELETE", "/v1/marketing/channels/:channel_id/numbers/:phone_number", BAR9_SCOPE_WRITE, numbers_remove_handler},

	/* broadcasts (broadcasts.c) */
	{"POST", "/v1/marketing/channels/:channel_id/messages", BAR9_SCOPE_SEND, broadcasts_create_handler},
	{"GET", "/v1/marketing/channels/:channel_id/messages", BAR9_SCOPE_READ, broadcasts_list_handler},
	{"GET", "/v1/marketing/channels/:channel_id/messages/:message_id", BAR9_SCOPE_READ, broadcasts_get_handler},
	{"POST", "/v1/marketing/channels/:channel_id/messages/:message_id/cancel", BAR9_SCOPE_SEND, broadcasts_cancel_handler},

	/* the recipients of a broadcast (recipients.c) */
	{"GET", "/v1/marketing/channels/:channel_id/messages/:message_id/recipients", BAR9_SCOPE_READ, recipients_list_handler},

	/* consent (optouts.c) */
	{"POST", "/v1/marketing/opt-outs", BAR9_SCOPE_WRITE, opt_outs_add_handler},
	{"GET", "/v1/marketing/opt-outs", BAR9_SCOPE_READ, opt_outs_list_handler},
	{"DELETE", "/v1/marketing/opt-outs/:phone_number", BAR9_SCOPE_WRITE, opt_outs_remove_handler},

	/* the API's own description: a public route (scope 0, no key) */
	{"GET", "/v1/openapi.json", 0, openapi_handler},
};

const int	bar9_nroutes = lengthof(bar9_routes);
