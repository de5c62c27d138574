/*
 * api.c
 *		bar9.api(method, path, headers, body): the HTTP dispatcher.
 *
 * The proxy hands every request to this one function and writes back the
 * (status, headers, body) row it returns.  Here the request target is split
 * and percent-decoded, the key is checked (auth.c), the route is looked up
 * in bar9_routes[] (routes.c), the route's scope is checked, the body is
 * checked (size, media type, UTF-8, JSON), Idempotency-Key is honoured
 * (idempotency.c), and the route's handler runs.  The steps and the rules a
 * handler follows are described in api.h.
 *
 * Client mistakes are answered with a 4xx row; nothing a client sends makes
 * this function raise.  The handler runs in a subtransaction: an ERROR in it
 * is a bug, answered 500 internal_error and logged with LOG_SERVER_ONLY;
 * server faults (deadlock, serialization failure, cancel, out of memory ...)
 * are re-raised so that the caller can retry.
 *
 * Percent-decoding: a path segment or query component with a bad escape
 * ("%", "%4", "%zz"), an escaped NUL ("%00") or bytes that are not UTF-8
 * after decoding is answered 400 invalid_parameter, before authentication
 * (it says nothing about any account).  '+' means space only in query
 * values; in a path it is a plus sign.
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "api.h"
#include "auth.h"
#include "idempotency.h"
#include "ratelimit.h"
#include "ids.h"

/* Most segments a path can have and still match a route. */
#define API_MAX_SEGMENTS	16

/* The request headers bar9 reads (lower-case names); NULL when absent. */
typedef struct ApiHeaders
{
	char	   *authorization;
	char	   *x_api_key;
	char	   *content_type;
	char	   *idempotency_key;
} ApiHeaders;

/* The parsed request target. */
typedef struct ApiTarget
{
	int			nsegs;			/* -1: too many segments to match anything */
	char	   *segs[API_MAX_SEGMENTS];
} ApiTarget;

static bool ApiDecode(const char *s, int len, bool plus_is_space, char **out);
static bool ApiParseTarget(ApiRequest *req, ApiResponse *resp,
						   const char *target, ApiTarget *t);
static void ApiReadHeaders(Jsonb *headers, ApiHeaders *h);
static bool ApiAuthenticate(ApiRequest *req, ApiResponse *resp,
							const ApiHeaders *h);
static bool ApiPatternMatch(const char *pattern, const ApiTarget *t,
							ApiRequest *req);
static const ApiRoute *ApiFindRoute(ApiRequest *req, ApiResponse *resp,
									const ApiTarget *t);
static const ApiRoute *ApiFindPublicRoute(ApiRequest *req,
										  const ApiTarget *t);
static bool ApiMediaTypeIsJson(const char *ct);
static bool ApiIsServerFault(int sqlerrcode);
static bool ApiRunHandler(ApiRequest *req, ApiResponse *resp,
						  char *body_text);
static void ApiServe(ApiRequest *req, ApiResponse *resp, const char *method,
					 const char *target, Jsonb *headers, bytea *body);
static Datum ApiHeadersJsonb(const ApiResponse *resp);

/* ---------------------------------------------------------------------
 * Answering
 * ---------------------------------------------------------------------
 */

/* Replace the response with an error object (see api.h). */
void
api_error(ApiResponse *resp, int status, const char *code,
		  const char *message, const char *param)
{
	JsonOut    *jo = &resp->json;

	resp->status = status;
	resetStringInfo(&resp->body);
	json_out_init(jo, &resp->body);
	json_out_begin_object(jo);
	json_out_key(jo, "error");
	json_out_begin_object(jo);
	json_out_kv_string(jo, "code", code);
	json_out_kv_string(jo, "message", message);
	if (param != NULL)
		json_out_kv_string(jo, "param", param);
	json_out_end_object(jo);
	json_out_end_object(jo);
}

/* 404 not_found naming the object kind and the id asked for. */
void
api_not_found(ApiResponse *resp, const char *object, const char *id)
{
	char	   *msg;

	if (id != NULL)
		msg = psprintf("No such %s: '%s'", object, id);
	else
		msg = psprintf("No such %s", object);
	api_error(resp, 404, "not_found", msg, NULL);
	pfree(msg);
}

/* Add or replace a response header (name lower-cased; both copied). */
void
api_set_header(ApiResponse *resp, const char *name, const char *value)
{
	MemoryContext old = MemoryContextSwitchTo(resp->mcxt);
	char	   *lname = pstrdup(name);
	char	   *p;
	int			i;

	for (p = lname; *p; p++)
		*p = pg_ascii_tolower((unsigned char) *p);

	for (i = 0; i < resp->nheaders; i++)
	{
		if (strcmp(resp->header_name[i], lname) == 0)
		{
			resp->header_value[i] = pstrdup(value);
			MemoryContextSwitchTo(old);
			return;
		}
	}
	if (resp->nheaders >= API_MAX_HEADERS)
		elog(ERROR, "too many response headers");
	resp->header_name[resp->nheaders] = lname;
	resp->header_value[resp->nheaders] = pstrdup(value);
	resp->nheaders++;
	MemoryContextSwitchTo(old);
}

/* Open a list object: {"object":"list","data":[ */
void
api_list_begin(ApiResponse *resp)
{
	json_out_begin_object(&resp->json);
	json_out_kv_string(&resp->json, "object", "list");
	json_out_key(&resp->json, "data");
	json_out_begin_array(&resp->json);
}

/* Close a list object: ],"has_more":b} */
void
api_list_end(ApiResponse *resp, bool has_more)
{
	json_out_end_array(&resp->json);
	json_out_kv_bool(&resp->json, "has_more", has_more);
	json_out_end_object(&resp->json);
}

/* ---------------------------------------------------------------------
 * Reading the request
 * ---------------------------------------------------------------------
 */

/* The decoded value of path parameter ":name", or NULL. */
const char *
api_path_param(const ApiRequest *req, const char *name)
{
	int			i;

	for (i = 0; i < req->nparams; i++)
	{
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	}
	return NULL;
}

/* The decoded value of query parameter name, or NULL. */
const char *
api_query_param(const ApiRequest *req, const char *name)
{
	int			i;

	for (i = 0; i < req->nquery; i++)
	{
		if (strcmp(req->query[i].name, name) == 0)
			return req->query[i].value;
	}
	return NULL;
}

/* ?limit= and ?starting_after= of a list request (see api.h). */
bool
api_page_params(const ApiRequest *req, ApiResponse *resp, int *limit,
				const char **starting_after)
{
	const char *l = api_query_param(req, "limit");
	const char *sa = api_query_param(req, "starting_after");

	*limit = API_DEFAULT_LIMIT;
	*starting_after = NULL;

	if (l != NULL)
	{
		int			v = 0;
		const char *p;

		for (p = l; *p; p++)
		{
			if (*p < '0' || *p > '9' || v > API_MAX_LIMIT)
				break;
			v = v * 10 + (*p - '0');
		}
		if (*l == '\0' || *p != '\0' || v < 1 || v > API_MAX_LIMIT)
		{
			api_error(resp, 400, "invalid_parameter",
					  "limit must be an integer from 1 to 100", "limit");
			return false;
		}
		*limit = v;
	}

	if (sa != NULL)
	{
		if (*sa == '\0')
		{
			api_error(resp, 400, "invalid_parameter",
					  "starting_after must not be empty", "starting_after");
			return false;
		}
		*starting_after = sa;
	}
	return true;
}

/* Look up key in the body object; false when no body or no such key. */
bool
api_body_field(const ApiRequest *req, const char *key, JsonbValue *out)
{
	JsonbValue *v;

	if (req->body == NULL || !JB_ROOT_IS_OBJECT(req->body))
		return false;
	v = getKeyJsonValueFromContainer(&req->body->root, key, strlen(key), out);
	return v != NULL;
}

/* Read a string field of the body (see api.h). */
bool
api_body_string(const ApiRequest *req, ApiResponse *resp, const char *key,
				bool required, char **out)
{
	JsonbValue	v;

	*out = NULL;
	if (!api_body_field(req, key, &v))
	{
		if (required)
		{
			char	   *msg = psprintf("Missing required parameter: %s", key);

			api_error(resp, 400, "missing_parameter", msg, key);
			return false;
		}
		return true;
	}
	if (v.type != jbvString)
	{
		char	   *msg = psprintf("%s must be a string", key);

		api_error(resp, 400, "invalid_parameter", msg, key);
		return false;
	}
	*out = pnstrdup(v.val.string.val, v.val.string.len);
	return true;
}

/* The first top-level key of the body not in allowed; NULL if none. */
char *
api_body_unknown_key(const ApiRequest *req, const char *const *allowed)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			level = 0;

	if (req->body == NULL || !JB_ROOT_IS_OBJECT(req->body))
		return NULL;

	it = JsonbIteratorInit(&req->body->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
			level++;
		else if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
			level--;
		else if (tok == WJB_KEY && level == 1)
		{
			bool		known = false;

			for (const char *const *a = allowed; *a != NULL; a++)
			{
				if (strlen(*a) == (size_t) v.val.string.len &&
					memcmp(*a, v.val.string.val, v.val.string.len) == 0)
				{
					known = true;
					break;
				}
			}
			if (!known)
				return pnstrdup(v.val.string.val, v.val.string.len);
		}
	}
	return NULL;
}

/*
 * 400 missing_parameter for param, whose message (what) also names an
 * unknown parameter received, if any: a client that misspelt a field
 * learns both at once.
 */
void
api_missing_parameter(ApiResponse *resp, const char *param, const char *what,
					  const char *unknown)
{
	api_error(resp, 400, "missing_parameter",
			  unknown == NULL ? psprintf("Missing required parameter: %s", what) :
			  psprintf("Missing required parameter: %s; received unknown parameter: %s",
					   what, unknown),
			  param);
}

/*
 * Refuse a body whose required key (NULL: none) is missing, then one with
 * keys not in the NULL-terminated list allowed.
 */
bool
api_body_check_keys(const ApiRequest *req, ApiResponse *resp,
					const char *const *allowed, const char *required)
{
	char	   *unknown = api_body_unknown_key(req, allowed);
	JsonbValue	v;

	if (required != NULL && !api_body_field(req, required, &v))
	{
		api_missing_parameter(resp, required, required, unknown);
		return false;
	}
	if (unknown != NULL)
	{
		api_error(resp, 400, "invalid_parameter",
				  psprintf("Received unknown parameter: %s", unknown), unknown);
		return false;
	}
	return true;
}

/* True when s is prefix followed by exactly BAR9_ID_RANDOM_CHARS base 62. */
bool
api_valid_id(const char *s, const char *prefix)
{
	size_t		plen = strlen(prefix);
	int			i;

	if (s == NULL || strncmp(s, prefix, plen) != 0)
		return false;
	s += plen;
	for (i = 0; i < BAR9_ID_RANDOM_CHARS; i++)
	{
		char		c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
			  (c >= 'a' && c <= 'z')))
			return false;
	}
	return s[BAR9_ID_RANDOM_CHARS] == '\0';
}

/* ---------------------------------------------------------------------
 * Parsing the request
 * ---------------------------------------------------------------------
 */

/* Value of one hex digit, or -1. */
static int
ApiHexValue(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode s[0..len) into a new NUL-terminated string.  False for a
 * bad escape, an escaped NUL, or a result that is not valid UTF-8.
 */
static bool
ApiDecode(const char *s, int len, bool plus_is_space, char **out)
{
	char	   *d = palloc(len + 1);
	int			i;
	int			n = 0;

	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c == '%')
		{
			int			hi;
			int			lo;

			if (i + 2 >= len)
				return false;	/* fewer than two characters follow */
			hi = ApiHexValue(s[i + 1]);
			lo = (hi < 0) ? -1 : ApiHexValue(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return false;
			d[n++] = (char) (hi * 16 + lo);
			i += 2;
		}
		else if (c == '+' && plus_is_space)
			d[n++] = ' ';
		else if (c == '\0')
			return false;
		else
			d[n++] = c;
	}
	d[n] = '\0';
	if (!pg_verify_mbstr(PG_UTF8, d, n, true))
		return false;
	*out = d;
	return true;
}

/*
 * Split target into decoded path segments (t) and query parameters (req).
 * False after setting a 400 on resp.
 */
static bool
ApiParseTarget(ApiRequest *req, ApiResponse *resp, const char *target,
			   ApiTarget *t)
{
	const char *q = strchr(target, '?');
	int			plen = q ? (int) (q - target) : (int) strlen(target);
	int			start;
	int			i;

	t->nsegs = 0;

	/*
	 * path: "/a/b/c" -> segments a, b, c ("/" alone -> one empty segment);
	 * a target not starting with "/" (absolute-form, "*") matches no route
	 */
	start = (plen > 0 && target[0] == '/') ? 1 : 0;
	if (start == 0)
		t->nsegs = -1;
	for (i = start; i <= plen; i++)
	{
		if (i == plen || target[i] == '/')
		{
			char	   *seg;

			if (!ApiDecode(target + start, i - start, false, &seg))
			{
				api_error(resp, 400, "invalid_parameter",
						  "The request path is not validly percent-encoded",
						  NULL);
				return false;
			}
			if (t->nsegs >= 0 && t->nsegs < API_MAX_SEGMENTS)
				t->segs[t->nsegs++] = seg;
			else
				t->nsegs = -1;	/* too long to match any route */
			start = i + 1;
		}
	}

	/* query: k=v&k2=v2 ('+' is a space in values) */
	req->nquery = 0;
	if (q != NULL)
	{
		const char *p = q + 1;

		while (*p)
		{
			const char *amp = strchr(p, '&');
			int			len = amp ? (int) (amp - p) : (int) strlen(p);
			const char *eq = memchr(p, '=', len);
			char	   *name;
			char	   *value;

			if (len > 0)
			{
				int			nlen = eq ? (int) (eq - p) : len;

				if (!ApiDecode(p, nlen, false, &name) ||
					!ApiDecode(eq ? eq + 1 : p + len,
							   eq ? len - nlen - 1 : 0, true, &value))
				{
					api_error(resp, 400, "invalid_parameter",
							  "The query string is not validly percent-encoded",
							  NULL);
					return false;
				}
				if (name[0] == '\0')
				{
					api_error(resp, 400, "invalid_parameter",
							  "The query string has a parameter without a name",
							  NULL);
					return false;
				}
				for (i = 0; i < req->nquery; i++)
				{
					if (strcmp(req->query[i].name, name) == 0)
					{
						char	   *msg = psprintf("%s is given more than once",
												   name);

						api_error(resp, 400, "invalid_parameter", msg, name);
						return false;
					}
				}
				if (req->nquery >= API_MAX_QUERY_PARAMS)
				{
					api_error(resp, 400, "invalid_parameter",
							  "The query string has too many parameters",
							  NULL);
					return false;
				}
				req->query[req->nquery].name = name;
				req->query[req->nquery].value = value;
				req->nquery++;
			}
			if (amp == NULL)
				break;
			p = amp + 1;
		}
	}
	return true;
}

/* Pick the headers bar9 reads out of the headers object (names any case). */
static void
ApiReadHeaders(Jsonb *headers, ApiHeaders *h)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	  **slot = NULL;

	memset(h, 0, sizeof(*h));
	if (headers == NULL || !JB_ROOT_IS_OBJECT(headers))
		return;

	it = JsonbIteratorInit(&headers->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			const char *k = v.val.string.val;
			int			klen = v.val.string.len;

			slot = NULL;
			if (klen == 13 && pg_strncasecmp(k, "authorization", 13) == 0)
				slot = &h->authorization;
			else if (klen == 9 && pg_strncasecmp(k, "x-api-key", 9) == 0)
				slot = &h->x_api_key;
			else if (klen == 12 && pg_strncasecmp(k, "content-type", 12) == 0)
				slot = &h->content_type;
			else if (klen == 15 &&
					 pg_strncasecmp(k, "idempotency-key", 15) == 0)
				slot = &h->idempotency_key;
		}
		else if (tok == WJB_VALUE)
		{
			/* only string values count; a nested value is skipped whole */
			if (slot != NULL && v.type == jbvString && *slot == NULL)
				*slot = pnstrdup(v.val.string.val, v.val.string.len);
			slot = NULL;
		}
	}
}

/* The 401 every bad key gets, whatever was wrong with it. */
static void
ApiUnauthorized(ApiResponse *resp)
{
	api_error(resp, 401, "unauthorized",
			  "Invalid or missing API key. Pass it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
			  NULL);
	api_set_header(resp, "www-authenticate", "Bearer");
}

/* Find and check the key; false after setting the 401 on resp. */
static bool
ApiAuthenticate(ApiRequest *req, ApiResponse *resp, const ApiHeaders *h)
{
	const char *key = NULL;
	const char *end;
	AuthResult	ar;

	if (h->authorization != NULL)
	{
		const char *a = h->authorization;

		while (*a == ' ' || *a == '\t')
			a++;
		if (pg_strncasecmp(a, "bearer", 6) == 0 && (a[6] == ' ' || a[6] == '\t'))
		{
			key = a + 6;
			while (*key == ' ' || *key == '\t')
				key++;
		}
	}
	else if (h->x_api_key != NULL)
	{
		key = h->x_api_key;
		while (*key == ' ' || *key == '\t')
			key++;
	}
	if (key == NULL)
	{
		ApiUnauthorized(resp);
		return false;
	}
	end = key + strlen(key);
	while (end > key && (end[-1] == ' ' || end[-1] == '\t'))
		end--;

	if (!auth_check_key(key, end - key, &ar))
	{
		ApiUnauthorized(resp);
		return false;
	}
	req->account_id = ar.account_id;
	req->key_id = ar.key_id;
	req->scopes = ar.scopes;
	return true;
}

/*
 * Does the route pattern match the segments?  When req is not NULL, also
 * record the ":name" parameters in it.
 */
static bool
ApiPatternMatch(const char *pattern, const ApiTarget *t, ApiRequest *req)
{
	const char *p = pattern;
	int			i = 0;

	if (t->nsegs < 0)
		return false;
	if (req != NULL)
		req->nparams = 0;
	if (*p == '/')
		p++;
	for (;;)
	{
		const char *slash = strchr(p, '/');
		int			len = slash ? (int) (slash - p) : (int) strlen(p);

		if (i >= t->nsegs)
			return false;
		if (len > 0 && p[0] == ':')
		{
			if (t->segs[i][0] == '\0')
				return false;
			if (req != NULL)
			{
				if (req->nparams >= API_MAX_PATH_PARAMS)
					elog(ERROR, "route pattern \"%s\" has too many parameters",
						 pattern);
				req->params[req->nparams].name = pnstrdup(p + 1, len - 1);
				req->params[req->nparams].value = t->segs[i];
				req->nparams++;
			}
		}
		else if ((int) strlen(t->segs[i]) != len ||
				 memcmp(t->segs[i], p, len) != 0)
			return false;
		i++;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	return i == t->nsegs;
}

/* The public route (scope 0) of (method, path); NULL when there is none. */
static const ApiRoute *
ApiFindPublicRoute(ApiRequest *req, const ApiTarget *t)
{
	for (int i = 0; i < bar9_nroutes; i++)
	{
		const ApiRoute *r = &bar9_routes[i];

		if (r->scope == 0 && strcmp(r->method, req->method) == 0 &&
			ApiPatternMatch(r->pattern, t, req))
			return r;
	}
	return NULL;
}

/* Find the route of (method, path): NULL after setting 404 or 405. */
static const ApiRoute *
ApiFindRoute(ApiRequest *req, ApiResponse *resp, const ApiTarget *t)
{
	const char *methods[8];
	int			nmethods = 0;
	int			i;

	for (i = 0; i < bar9_nroutes; i++)
	{
		const ApiRoute *r = &bar9_routes[i];

		if (!ApiPatternMatch(r->pattern, t, NULL))
			continue;
		if (strcmp(r->method, req->method) == 0)
		{
			(void) ApiPatternMatch(r->pattern, t, req);
			return r;
		}
		if (nmethods < lengthof(methods))
			methods[nmethods++] = r->method;
	}

	if (nmethods == 0)
	{
		/* the method and path as received, without the query string */
		api_error(resp, 404, "not_found",
				  psprintf("Unrecognized request URL (%s %.*s)", req->method,
						   (int) Min(strcspn(req->target, "?"), 200),
						   req->target), NULL);
		return NULL;
	}
	else
	{
		StringInfoData allow;
		char	   *msg;
		int			j;

		/* Allow: the methods in alphabetical order, each once */
		for (i = 1; i < nmethods; i++)
		{
			const char *m = methods[i];

			for (j = i; j > 0 && strcmp(methods[j - 1], m) > 0; j--)
				methods[j] = methods[j - 1];
			methods[j] = m;
		}
		initStringInfo(&allow);
		for (i = 0; i < nmethods; i++)
		{
			if (i > 0 && strcmp(methods[i], methods[i - 1]) == 0)
				continue;
			if (allow.len > 0)
				appendStringInfoString(&allow, ", ");
			appendStringInfoString(&allow, methods[i]);
		}
		msg = psprintf("Method not allowed; this URL accepts %s", allow.data);
		api_error(resp, 405, "method_not_allowed", msg, NULL);
		api_set_header(resp, "allow", allow.data);
		return NULL;
	}
}

/* Is a Content-Type value application/json (charset, if any, UTF-8)? */
static bool
ApiMediaTypeIsJson(const char *ct)
{
	const char *p = ct;
	const char *semi;
	int			len;

	while (*p == ' ' || *p == '\t')
		p++;
	semi = strchr(p, ';');
	len = semi ? (int) (semi - p) : (int) strlen(p);
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len != 16 || pg_strncasecmp(p, "application/json", 16) != 0)
		return false;

	/* parameters: only charset is looked at, and must say UTF-8 */
	while (semi != NULL)
	{
		const char *param = semi + 1;
		const char *next = strchr(param, ';');
		int			plen = next ? (int) (next - param) : (int) strlen(param);

		while (plen > 0 && (*param == ' ' || *param == '\t'))
			param++, plen--;
		while (plen > 0 && (param[plen - 1] == ' ' || param[plen - 1] == '\t'))
			plen--;
		if (plen >= 8 && pg_strncasecmp(param, "charset=", 8) == 0)
		{
			const char *cs = param + 8;
			int			cslen = plen - 8;

			if (cslen >= 2 && cs[0] == '"' && cs[cslen - 1] == '"')
				cs++, cslen -= 2;
			if (!((cslen == 5 && pg_strncasecmp(cs, "utf-8", 5) == 0) ||
				  (cslen == 4 && pg_strncasecmp(cs, "utf8", 4) == 0)))
				return false;
		}
		semi = next;
	}
	return true;
}

/*
 * Errors that are the server's condition rather than a bug in bar9: the
 * caller gets them as errors, to retry or report.
 */
static bool
ApiIsServerFault(int sqlerrcode)
{
	int			category = ERRCODE_TO_CATEGORY(sqlerrcode);

	return category == ERRCODE_TRANSACTION_ROLLBACK ||
		category == ERRCODE_INSUFFICIENT_RESOURCES ||
		category == ERRCODE_OPERATOR_INTERVENTION ||
		category == ERRCODE_SYSTEM_ERROR ||
		category == ERRCODE_PROGRAM_LIMIT_EXCEEDED ||
		sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		sqlerrcode == ERRCODE_READ_ONLY_SQL_TRANSACTION;
}

/*
 * Parse the body (if any) and run the route's handler, both inside a
 * subtransaction: see the header comment of this file and api.h.  Returns
 * whether the handler ran (false: the body was refused before it).
 */
static bool
ApiRunHandler(ApiRequest *req, ApiResponse *resp, char *body_text)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool in_handler = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);

	PG_TRY();
	{
		if (body_text != NULL)
		{
			req->body = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
														   CStringGetDatum(body_text)));
			if (!JB_ROOT_IS_OBJECT(req->body))
				api_error(resp, 400, "invalid_json",
						  "The request body must be a JSON object", NULL);
		}
		if (resp->status < 400)
		{
			in_handler = true;
			req->route->handler(req, resp);
		}

		/* an error answer leaves nothing of the handler's work behind */
		if (resp->status >= 400)
			RollbackAndReleaseCurrentSubTransaction();
		else
			ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;

		/*
		 * A body nested deep enough to exhaust the parser's stack is the
		 * client's mistake, not a server fault: answer 400 like any bad JSON.
		 */
		if (ApiIsServerFault(edata->sqlerrcode) &&
			!(!in_handler && edata->sqlerrcode == ERRCODE_STATEMENT_TOO_COMPLEX))
			ReThrowError(edata);

		if (!in_handler)
		{
			char	   *msg;

			if (edata->sqlerrcode == ERRCODE_STATEMENT_TOO_COMPLEX)
				msg = pstrdup("The request body is not valid JSON: it is nested too deeply");
			/* jsonb refused the body: its detail speaks of the input only */
			else if (edata->sqlerrcode == ERRCODE_INVALID_TEXT_REPRESENTATION &&
				edata->detail != NULL)
				msg = psprintf("The request body is not valid JSON: %s",
							   edata->detail);
			else
				msg = pstrdup("The request body is not valid JSON");
			api_error(resp, 400, "invalid_json", msg, NULL);
		}
		else
		{
			/* a bug: the log says all, the client learns nothing */
			/* (the statement is not logged: it can hold the API key) */
			ereport(LOG_SERVER_ONLY,
					(errcode(edata->sqlerrcode),
					 errmsg_internal("bar9.api: internal error serving %s %s: %s",
									 req->method, req->route->pattern,
									 edata->message ? edata->message : "?"),
					 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
					 edata->hint ? errhint("%s", edata->hint) : 0,
					 edata->internalquery ?
					 errcontext_msg("query: %s", edata->internalquery) : 0,
					 edata->context ? errcontext_msg("%s", edata->context) : 0,
					 errhidestmt(true)));
			resetStringInfo(&resp->body);
			resp->nheaders = 0;
			api_error(resp, 500, "internal_error",
					  "An internal error occurred; it has been logged", NULL);
		}
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return in_handler;
}

/*
 * Take a token from the account's request budget (ratelimit.c) and say so
 * in the RateLimit-* headers; false after setting the 429 when none is left.
 */
static bool
ApiTakeToken(ApiRequest *req, ApiResponse *resp)
{
	RateLimitResult rl;

	bar9_ratelimit_take(req->account_id, &rl);
	if (rl.limit < 0)
		return true;			/* bar9.rate_limits = off */
	api_set_header(resp, "ratelimit-limit", psprintf("%d", rl.limit));
	api_set_header(resp, "ratelimit-remaining", psprintf("%d", rl.remaining));
	api_set_header(resp, "ratelimit-reset", psprintf("%d", rl.reset));
	if (rl.allowed)
		return true;
	api_set_header(resp, "retry-after", psprintf("%d", rl.retry_after));
	api_error(resp, 429, "rate_limited",
			  psprintf("Too many requests for this account: retry after %d second%s",
					   rl.retry_after, rl.retry_after == 1 ? "" : "s"),
			  NULL);
	return false;
}

/* Serve one request into resp; SPI is connected by the caller. */
static void
ApiServe(ApiRequest *req, ApiResponse *resp, const char *method,
		 const char *target, Jsonb *headers, bytea *body)
{
	ApiHeaders	h;
	ApiTarget	t;
	const ApiRoute *route;
	char	   *body_text = NULL;
	int			body_len = body ? VARSIZE_ANY_EXHDR(body) : 0;
	IdempotencyState idem;

	req->method = method;
	req->target = target;

	/* 1. size */
	if (body_len > API_MAX_BODY_BYTES)
	{
		api_error(resp, 413, "payload_too_large",
				  "The request body is larger than 1 MiB", NULL);
		return;
	}

	/* 2. target */
	if (!ApiParseTarget(req, resp, target, &t))
		return;

	/* 3. key, but for a public route */
	ApiReadHeaders(headers, &h);
	route = ApiFindPublicRoute(req, &t);
	if (route != NULL)
	{
		req->route = route;
		(void) ApiRunHandler(req, resp, NULL);
		return;
	}
	if (!ApiAuthenticate(req, resp, &h))
		return;

	/* 3b. the account's request budget: 429 when spent */
	if (!ApiTakeToken(req, resp))
		return;

	/* 4. route */
	route = ApiFindRoute(req, resp, &t);
	if (route == NULL)
		return;
	req->route = route;

	/* 5. scope */
	if ((req->scopes & route->scope) != route->scope)
	{
		char	   *msg = psprintf("This API key does not have the required scope: %s",
								   auth_scope_name(route->scope));

		api_error(resp, 403, "insufficient_scope", msg, NULL);
		return;
	}

	/* 6. body: media type and UTF-8 (JSON syntax is checked by the parse) */
	if (body_len > 0)
	{
		const char *data = VARDATA_ANY(body);

		if (h.content_type == NULL || !ApiMediaTypeIsJson(h.content_type))
		{
			api_error(resp, 415, "unsupported_media_type",
					  "The request body must be JSON, sent with 'Content-Type: application/json'",
					  NULL);
			return;
		}
		if (!pg_verify_mbstr(PG_UTF8, data, body_len, true))
		{
			api_error(resp, 400, "invalid_json",
					  "The request body is not valid UTF-8", NULL);
			return;
		}
		if (GetDatabaseEncoding() == PG_UTF8)
			body_text = pnstrdup(data, body_len);
		else
			body_text = pg_any_to_server(pnstrdup(data, body_len), body_len,
										 PG_UTF8);
	}

	/* 7. idempotency */
	idem.active = false;
	if (h.idempotency_key != NULL && strcmp(method, "POST") == 0)
	{
		req->idempotency_key = h.idempotency_key;
		if (!idempotency_begin(req, resp, body ? VARDATA_ANY(body) : "",
							   body_len, &idem))
			return;
	}

	/* 8. handler; only what it answered is kept for Idempotency-Key */
	if (ApiRunHandler(req, resp, body_text) && idem.active)
		idempotency_finish(req, resp, &idem);
}

/* Add one string pair to the jsonb object being built in *state. */
static void
PushHeader(JsonbParseState **state, const char *name, const char *value)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) name;
	v.val.string.len = strlen(name);
	(void) pushJsonbValue(state, WJB_KEY, &v);
	v.val.string.val = (char *) value;
	v.val.string.len = strlen(value);
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

/*
 * Response headers as jsonb: content-type plus the handler's, built as
 * jsonb directly (every authenticated answer has its RateLimit-* headers:
 * no text to parse on this path).
 */
static Datum
ApiHeadersJsonb(const ApiResponse *resp)
{
	JsonbParseState *state = NULL;
	JsonbValue *obj;
	int			i;

	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	PushHeader(&state, "content-type", "application/json");
	for (i = 0; i < resp->nheaders; i++)
		PushHeader(&state, resp->header_name[i], resp->header_value[i]);
	obj = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(obj));
}

PG_FUNCTION_INFO_V1(bar9_api);

/*
 * SQL: bar9.api(method text, path text, headers jsonb, body bytea)
 *		RETURNS TABLE(status int, headers jsonb, body text)
 */
Datum
bar9_api(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ApiRequest	req;
	ApiResponse resp;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	char	   *method = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *target = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	Jsonb	   *headers = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	bytea	   *body = PG_ARGISNULL(3) ? NULL : PG_GETARG_BYTEA_PP(3);

	InitMaterializedSRF(fcinfo, 0);

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	resp.status = 200;
	resp.mcxt = CurrentMemoryContext;
	initStringInfo(&resp.body);
	json_out_init(&resp.json, &resp.body);

	if (method == NULL || target == NULL)
		api_error(&resp, 400, "invalid_parameter",
				  "The request has no method or no path", NULL);
	else
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		ApiServe(&req, &resp, method, target, headers, body);
		MemoryContextSwitchTo(resp.mcxt);
		SPI_finish();
	}

	values[0] = Int32GetDatum(resp.status);
	values[1] = ApiHeadersJsonb(&resp);
	values[2] = PointerGetDatum(cstring_to_text_with_len(resp.body.data,
														 resp.body.len));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
