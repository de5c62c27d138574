/*
 * api.h
 *		bar9.api(method, path, headers, body): the HTTP dispatcher's interface
 *		for route handlers.
 *
 * What the dispatcher (api.c) does before a handler runs
 * -------------------------------------------------------
 *   1. body over 1 MiB: 413 payload_too_large
 *   2. path percent-decoded segment by segment and query string parsed
 *      (bad escape, %00 or bad UTF-8 anywhere in the target: 400
 *      invalid_parameter; the same key given twice: 400 invalid_parameter)
 *   3. key from "authorization: Bearer <key>" or "x-api-key": else 401
 *   4. route lookup in bar9_routes[] (routes.c): no path matches: 404;
 *      path matches with another method: 405 + "Allow"
 *   5. the route's scope: else 403 insufficient_scope
 *   6. a body (non-NULL, non-empty) needs content-type application/json
 *      (415), valid UTF-8 and valid JSON (400 invalid_json), and must be a
 *      JSON object (400 invalid_json)
 *   7. POST with "idempotency-key": replay / 409 / 422 (docs/api.md)
 *   8. the handler runs with SPI connected, inside a subtransaction:
 *        - it answers by filling the ApiResponse (status + JSON body);
 *        - a response with status >= 400 ROLLS BACK everything the handler
 *          wrote, so a handler may write first and refuse later;
 *        - an ERROR raised by the handler becomes 500 internal_error (the
 *          error is logged in full with LOG_SERVER_ONLY, the body says
 *          nothing); errors that are server faults, not bugs (SQLSTATE class
 *          40 transaction rollback, 53 insufficient resources, 57 operator
 *          intervention e.g. query canceled, 58 system error) are re-raised
 *          to the caller instead, so that it can retry.
 *   Every response carries "content-type: application/json".
 *
 * How to add a route (e.g. for the broadcasts or opt-outs engineer)
 * ------------------------------------------------------------------
 *   1. In your own file (broadcasts.c, opt_outs.c, ...) write a handler
 *
 *			void broadcasts_create_handler(ApiRequest *req, ApiResponse *resp);
 *
 *      and declare it in your own header.
 *   2. In routes.c add one #include of that header and one row:
 *
 *			{"POST", "/v1/marketing/channels/:channel_id/messages",
 *			 BAR9_SCOPE_SEND, broadcasts_create_handler},
 *
 *      A pattern segment ":name" matches any one (decoded) path segment;
 *      read it with api_path_param(req, "name").  Order of rows does not
 *      matter (a literal segment never collides with a parameter because
 *      patterns are matched segment by segment and every matching row is
 *      considered for 405).
 *
 * A handler, in short
 * -------------------
 *		void
 *		thing_get_handler(ApiRequest *req, ApiResponse *resp)
 *		{
 *			const char *id = api_path_param(req, "thing_id");
 *
 *			if (!api_valid_id(id, "thg_") || !ThingLoad(req->account_id, id, &t))
 *			{
 *				api_not_found(resp, "thing", id);
 *				return;
 *			}
 *			resp->status = 200;
 *			json_out_begin_object(&resp->json);
 *			json_out_kv_string(&resp->json, "id", t.id);
 *			json_out_end_object(&resp->json);
 *		}
 *
 *   - The authenticated account is req->account_id: put it in EVERY query
 *     (another account's object must be 404, never 403).
 *   - Queries: SPI is connected; schema-qualify everything (bar9.x, and
 *     OPERATOR(bar9.=) for e164 operators: search_path is pg_catalog,
 *     pg_temp); use parameters; keep plans with bar9_plan().
 *   - Lists: api_page_params() then api_list_begin()/api_list_end();
 *     fetch limit + 1 rows to know has_more.
 *   - Body: req->body is the parsed JSON object (NULL: no body); read it
 *     with api_body_field() / api_body_string(); refuse unknown keys with
 *     api_body_check_keys().
 *   - Errors: api_error(resp, 400, "invalid_parameter", "...", "param").
 *   - An audience in the path: audience_load() (audiences.h) is false for
 *     another account's or a deleted audience: answer api_not_found(resp,
 *     "marketing_channel", id).  A phone number in a path, query or body:
 *     numbers_parse_phone() (numbers.h) answers 400 invalid_phone_number.
 */
#ifndef BAR9_API_H
#define BAR9_API_H

#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "auth.h"
#include "json_out.h"
#include "sql_helpers.h"

/* Largest request body accepted (docs/api.md): 1 MiB. */
#define API_MAX_BODY_BYTES		(1024 * 1024)

#define API_MAX_PATH_PARAMS		4
#define API_MAX_QUERY_PARAMS	16
#define API_MAX_HEADERS			12

/* Page size of lists: ?limit=1..100, default 20. */
#define API_DEFAULT_LIMIT		20
#define API_MAX_LIMIT			100

/* A decoded name/value pair: a path parameter or a query parameter. */
typedef struct ApiParam
{
	const char *name;
	char	   *value;
} ApiParam;

struct ApiRoute;

/* One request, as the handler sees it (everything already validated). */
typedef struct ApiRequest
{
	const char *method;			/* "GET", "POST", "PATCH", "DELETE", ... */
	const char *target;			/* path + query string exactly as received */
	const char *account_id;		/* the authenticated account, "acct_..." */
	const char *key_id;			/* the key used, "key_..." */
	int			scopes;			/* BAR9_SCOPE_* bits of that key */
	const struct ApiRoute *route;	/* the route being served */
	int			nparams;		/* decoded path parameters (":name") */
	ApiParam	params[API_MAX_PATH_PARAMS];
	int			nquery;			/* decoded query parameters */
	ApiParam	query[API_MAX_QUERY_PARAMS];
	Jsonb	   *body;			/* parsed JSON object; NULL when no body */
	const char *idempotency_key;	/* NULL when none was sent */
} ApiRequest;

/* The answer a handler builds: status, JSON body, extra headers. */
typedef struct ApiResponse
{
	int			status;			/* HTTP status; 200 unless set */
	StringInfoData body;		/* JSON text of the body */
	JsonOut		json;			/* writer appending to body */
	int			nheaders;		/* extra headers (content-type is added) */
	char	   *header_name[API_MAX_HEADERS];	/* lower-case */
	char	   *header_value[API_MAX_HEADERS];
	MemoryContext mcxt;			/* where response data lives */
} ApiResponse;

typedef void (*ApiHandler) (ApiRequest *req, ApiResponse *resp);

/* One row of the route table (routes.c). */
typedef struct ApiRoute
{
	const char *method;			/* "GET", "POST", "PATCH", "DELETE" */
	const char *pattern;		/* "/v1/.../:channel_id/numbers" */
	int			scope;			/* BAR9_SCOPE_READ / _WRITE / _SEND */
	ApiHandler	handler;
} ApiRoute;

/* routes.c */
extern const ApiRoute bar9_routes[];
extern const int bar9_nroutes;

/* --- answering -------------------------------------------------------- */

/*
 * Replace the response with an error: status and
 * {"error": {"code": code, "message": message, "param": param}} (param is
 * omitted when NULL).  Messages must not echo SQL or other accounts' data.
 */
extern void api_error(ApiResponse *resp, int status, const char *code,
					  const char *message, const char *param);

/* 404 not_found, "No such <object>: '<id>'" (id may be NULL). */
extern void api_not_found(ApiResponse *resp, const char *object,
						  const char *id);

/* Add (or replace) a response header; name is lower-cased, both copied. */
extern void api_set_header(ApiResponse *resp, const char *name,
						   const char *value);

/* Start {"object":"list","data":[ ... and end it with ],"has_more":b} */
extern void api_list_begin(ApiResponse *resp);
extern void api_list_end(ApiResponse *resp, bool has_more);

/* --- reading the request ---------------------------------------------- */

/* Decoded value of path parameter ":name", or NULL if the route has none. */
extern const char *api_path_param(const ApiRequest *req, const char *name);

/* Decoded value of query parameter name, or NULL when absent. */
extern const char *api_query_param(const ApiRequest *req, const char *name);

/*
 * ?limit= (1..100, default 20) and ?starting_after= (*starting_after is
 * NULL when absent; an empty value is a 400).  Returns false after setting a
 * 400 invalid_parameter on resp.  Whether starting_after names something is
 * the handler's check: an unknown id is 400 invalid_parameter, like Stripe's
 * "No such object".
 */
extern bool api_page_params(const ApiRequest *req, ApiResponse *resp,
							int *limit, const char **starting_after);

/* Looks up key in the body object; false when no body or key absent. */
extern bool api_body_field(const ApiRequest *req, const char *key,
						   JsonbValue *out);

/*
 * Read a string field.  Absent: *out = NULL, and if required a 400
 * missing_parameter is set and false returned.  Present but not a JSON
 * string (null, number, ...): 400 invalid_parameter, false.  Otherwise
 * *out is a palloc'd NUL-terminated copy (a string holding \u0000 cannot
 * reach here: jsonb refuses it).
 */
extern bool api_body_string(const ApiRequest *req, ApiResponse *resp,
							const char *key, bool required, char **out);

/*
 * Refuse a body that lacks the key required (NULL: none) with 400
 * missing_parameter, naming an unknown key too if there is one; then keys
 * not in allowed (a NULL-terminated list) with 400 invalid_parameter
 * "Received unknown parameter: x".  True when all is well.
 */
extern bool api_body_check_keys(const ApiRequest *req, ApiResponse *resp,
								const char *const *allowed,
								const char *required);

/* The first key of the body not in allowed; NULL when there is none. */
extern char *api_body_unknown_key(const ApiRequest *req,
								  const char *const *allowed);

/*
 * 400 missing_parameter: param is missing ("what" says so in the message),
 * and unknown (unless NULL) was received instead.
 */
extern void api_missing_parameter(ApiResponse *resp, const char *param,
								  const char *what, const char *unknown);

/* True when s is prefix followed by exactly 22 base-62 characters. */
extern bool api_valid_id(const char *s, const char *prefix);

/* --- SQL helpers ------------------------------------------------------- */

#endif							/* BAR9_API_H */
