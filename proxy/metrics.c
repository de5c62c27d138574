/*
 * metrics.c
 *		GET /metrics: the proxy's counters, its pool, and the database's
 *		figures (bar9.metrics()) in the Prometheus text format.
 *
 * Requests are counted by route, method and status, and timed by route,
 * from the first byte of the request to the end of the response.  A route
 * is the path's template (/v1/marketing/channels/{channel_id}), never the
 * path itself, so that the series are few and carry no id or number; a
 * path no route matches is "other".  The counters are plain arrays of
 * atomics: counting costs no lock and no allocation.  /metrics itself and
 * /healthz are counted too.
 *
 * Turned off by --no-metrics: /metrics then goes to bar9.api like any
 * other path (404).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proxy.h"

/* The routes a request is counted under (docs/api.md), and the rest. */
static const char *const route_names[] = {
	"/v1/marketing/channels",
	"/v1/marketing/channels/{channel_id}",
	"/v1/marketing/channels/{channel_id}/numbers",
	"/v1/marketing/channels/{channel_id}/numbers/{phone_number}",
	"/v1/marketing/channels/{channel_id}/messages",
	"/v1/marketing/channels/{channel_id}/messages/{message_id}",
	"/v1/marketing/channels/{channel_id}/messages/{message_id}/recipients",
	"/v1/marketing/channels/{channel_id}/messages/{message_id}/cancel",
	"/v1/marketing/opt-outs",
	"/v1/marketing/opt-outs/{phone_number}",
	"/v1/openapi.json",
	"/healthz",
	"/metrics",
	"other"
};

#define N_ROUTES	((int) (sizeof(route_names) / sizeof(route_names[0])))
#define ROUTE_OTHER (N_ROUTES - 1)

static const char *const method_names[] = {
	"GET", "HEAD", "POST", "PATCH", "DELETE", "other"
};

#define N_METHODS	((int) (sizeof(method_names) / sizeof(method_names[0])))

/* Statuses 100 to 599 by their value; slot 0: no response was sent. */
#define N_STATUS	600

/* Upper bounds of the latency buckets, in seconds (then +Inf). */
static const double bucket_le[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};

#define N_BUCKETS	((int) (sizeof(bucket_le) / sizeof(bucket_le[0])))

static unsigned long requests[N_ROUTES][N_METHODS][N_STATUS];
static unsigned long buckets[N_ROUTES][N_BUCKETS + 1];	/* not cumulative */
static unsigned long long duration_us[N_ROUTES];

/* Length of the path segment at s (up to '/', '?' or the end). */
static size_t
SegmentLength(const char *s)
{
	return strcspn(s, "/?");
}

/* True when the segment at s of length n is word. */
static bool
SegmentIs(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && strncmp(s, word, n) == 0;
}

/* The route index of a raw request target. */
static int
RouteOf(const char *target)
{
	const char *seg[8];
	size_t		len[8];
	int			n = 0;
	const char *p = target;

	if (*p != '/')
		return ROUTE_OTHER;
	while (*p == '/' && n < 8)
	{
		p++;
		seg[n] = p;
		len[n] = SegmentLength(p);
		if (len[n] == 0)
			return ROUTE_OTHER; /* an empty segment: no route has one */
		p += len[n];
		n++;
	}
	if (*p != '\0' && *p != '?')
		return ROUTE_OTHER;
	if (n == 1 && SegmentIs(seg[0], len[0], "healthz"))
		return 11;
	if (n == 1 && SegmentIs(seg[0], len[0], "metrics"))
		return 12;
	if (n == 2 && SegmentIs(seg[0], len[0], "v1") &&
		SegmentIs(seg[1], len[1], "openapi.json"))
		return 10;
	if (n < 3 || !SegmentIs(seg[0], len[0], "v1") ||
		!SegmentIs(seg[1], len[1], "marketing"))
		return ROUTE_OTHER;
	if (SegmentIs(seg[2], len[2], "opt-outs"))
		return n == 3 ? 8 : n == 4 ? 9 : ROUTE_OTHER;
	if (!SegmentIs(seg[2], len[2], "channels"))
		return ROUTE_OTHER;
	if (n <= 4)
		return n - 3;			/* 0 or 1 */
	if (SegmentIs(seg[4], len[4], "numbers"))
		return n == 5 ? 2 : n == 6 ? 3 : ROUTE_OTHER;
	if (!SegmentIs(seg[4], len[4], "messages"))
		return ROUTE_OTHER;
	if (n == 5)
		return 4;
	if (n == 6)
		return 5;
	if (n == 7 && SegmentIs(seg[6], len[6], "recipients"))
		return 6;
	if (n == 7 && SegmentIs(seg[6], len[6], "cancel"))
		return 7;
	return ROUTE_OTHER;
}

/* The method index of a method name. */
static int
MethodOf(const char *method)
{
	for (int i = 0; i < N_METHODS - 1; i++)
		if (method && strcmp(method, method_names[i]) == 0)
			return i;
	return N_METHODS - 1;
}

/* True when the raw target names the proxy's /metrics. */
bool
MetricsIsPath(const char *target)
{
	return RouteOf(target) == 12;
}

/* Counts one finished request (status 0: no response was sent). */
void
MetricsObserve(const char *method, const char *target, int status,
			   double duration_ms)
{
	int			r = target ? RouteOf(target) : ROUTE_OTHER;
	int			b = 0;
	double		s = duration_ms / 1000.0;

	if (status < 100 || status >= N_STATUS)
		status = 0;
	while (b < N_BUCKETS && s > bucket_le[b])
		b++;
	__atomic_add_fetch(&requests[r][MethodOf(method)][status], 1,
					   __ATOMIC_RELAXED);
	__atomic_add_fetch(&buckets[r][b], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&duration_us[r],
					   (unsigned long long) (duration_ms * 1000.0 + 0.5),
					   __ATOMIC_RELAXED);
}

/* Appends formatted text to out; false when out of memory. */
static bool
Printf(Buf *out, const char *fmt,...) __attribute__((format(printf, 2, 3)));
static bool
Printf(Buf *out, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !BufReserve(out, (size_t) n + 1))
		return false;
	va_start(ap, fmt);
	vsnprintf(out->data + out->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	out->len += (size_t) n;
	return true;
}

/* The request counters: every route, method and status seen so far. */
static bool
RenderRequests(Buf *out)
{
	bool		ok = Printf(out,
							"# HELP bar9_http_requests_total HTTP requests answered, by route template, method and status (0: none sent).\n"
							"# TYPE bar9_http_requests_total counter\n");

	for (int r = 0; r < N_ROUTES && ok; r++)
		for (int m = 0; m < N_METHODS && ok; m++)
			for (int s = 0; s < N_STATUS && ok; s++)
			{
				unsigned long v = __atomic_load_n(&requests[r][m][s],
												  __ATOMIC_RELAXED);

				if (v)
					ok = Printf(out,
								"bar9_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %lu\n",
								route_names[r], method_names[m], s, v);
			}
	return ok;
}

/* The latency histogram, by route (routes with no request left out). */
static bool
RenderLatency(Buf *out)
{
	bool		ok = Printf(out,
							"# HELP bar9_http_request_duration_seconds Time from a request's first byte to the end of its response, by route template.\n"
							"# TYPE bar9_http_request_duration_seconds histogram\n");

	for (int r = 0; r < N_ROUTES && ok; r++)
	{
		unsigned long cum = 0;
		unsigned long count[N_BUCKETS + 1];

		for (int b = 0; b <= N_BUCKETS; b++)
			count[b] = __atomic_load_n(&buckets[r][b], __ATOMIC_RELAXED);
		for (int b = 0; b <= N_BUCKETS; b++)
			cum += count[b];
		if (cum == 0)
			continue;
		cum = 0;
		for (int b = 0; b < N_BUCKETS && ok; b++)
		{
			cum += count[b];
			ok = Printf(out,
						"bar9_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %lu\n",
						route_names[r], bucket_le[b], cum);
		}
		cum += count[N_BUCKETS];
		ok = ok && Printf(out,
						  "bar9_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %lu\n"
						  "bar9_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
						  "bar9_http_request_duration_seconds_count{route=\"%s\"} %lu\n",
						  route_names[r], cum, route_names[r],
						  __atomic_load_n(&duration_us[r], __ATOMIC_RELAXED) / 1e6,
						  route_names[r], cum);
	}
	return ok;
}

/* The database pool, summed over the loops. */
static bool
RenderPool(Buf *out)
{
	PoolStats	st;

	LoopsPoolStats(&st);
	return Printf(out,
				  "# HELP bar9_pool_connections Database connections of the proxy: configured, open (ready for calls), in use (a call in flight).\n"
				  "# TYPE bar9_pool_connections gauge\n"
				  "bar9_pool_connections{state=\"configured\"} %d\n"
				  "bar9_pool_connections{state=\"open\"} %d\n"
				  "bar9_pool_connections{state=\"in_use\"} %d\n"
				  "# HELP bar9_pool_calls_in_flight bar9.api calls sent and not yet answered (several per connection when pipelined).\n"
				  "# TYPE bar9_pool_calls_in_flight gauge\n"
				  "bar9_pool_calls_in_flight %d\n"
				  "# HELP bar9_pool_waiting Requests waiting for a database connection.\n"
				  "# TYPE bar9_pool_waiting gauge\n"
				  "bar9_pool_waiting %d\n",
				  st.size, st.open, st.in_use, st.calls, st.waiting);
}

/*
 * The whole answer of GET /metrics into out: the proxy's figures, then the
 * database's (db_text, what bar9.metrics() returned; NULL when it could
 * not be read, which bar9_database_metrics_up says).  False when out of
 * memory.
 */
bool
MetricsRender(Buf *out, const char *db_text)
{
	if (!RenderRequests(out) || !RenderLatency(out) || !RenderPool(out))
		return false;
	if (!Printf(out,
				"# HELP bar9_database_metrics_up 1 when bar9.metrics() answered this scrape, else 0 (the database figures are then missing).\n"
				"# TYPE bar9_database_metrics_up gauge\n"
				"bar9_database_metrics_up %d\n", db_text != NULL))
		return false;
	return db_text == NULL || BufAppend(out, db_text, strlen(db_text));
}
