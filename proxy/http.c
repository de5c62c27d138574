/*
 * http.c
 *		The libmicrohttpd side: each request's state, from its request line
 *		to the access-log line, and the hand-over to bar9.api.
 *
 * Life of a request:
 *	UriLog			the raw request target (still percent-encoded, with its
 *					query string), the start time, a request id
 *	HandleRequest	first call: headers are in; an oversized declared
 *					Content-Length is refused at once with 413, one that
 *					--max-body-memory cannot hold with 503
 *					next calls: body bytes, at most MAX_BODY_BYTES
 *					then: the connection is suspended and a job queued in
 *					the loop's pool (pool.c)
 *	JobDone			(the pool, same thread) resumes the connection
 *	HandleRequest	once more: the job's answer becomes the response
 *	RequestCompleted	the access-log line, memory freed
 *
 * Threads: each event loop (loop.c) owns one daemon, which has no thread
 * of its own: the loop runs it when its epoll descriptor is ready.  The
 * acceptor thread here accepts and hands each socket to a loop in turn.
 * So a new request is always read at once, never waits for the database
 * in a callback, waits for a connection at most pool_wait_ms (then 503),
 * and SIGTERM sees it.
 *
 * Limits against clients that hold resources (each 0 = none):
 *	--max-connections-per-ip	the acceptor counts open connections per
 *					client address (one table for all loops, so the limit
 *					is the process's whatever --threads) and closes those
 *					over it at once.  libmicrohttpd's own per-IP limit
 *					counts per daemon, that is per loop.
 *	--request-deadline	each connection's clock (Connection): its first
 *					request must arrive whole within the deadline of the
 *					accept, a later one within the deadline of its request
 *					line (and its request line within --client-timeout plus
 *					the deadline of the previous response: bytes waiting in
 *					libmicrohttpd's buffer cannot be seen).  The access
 *					handler checks on each piece of body; HttpSweep, run by
 *					the loop every SWEEP_MS, catches the rest (headers that
 *					trickle in before the handler is called).  An overdue
 *					request gets 408 written to its socket, which is then
 *					shut down: libmicrohttpd reads its end and closes it.
 *	--max-body-memory	the body bytes held by all loops, one atomic counter:
 *					a declared Content-Length is counted whole before any
 *					of the body is read (its buffer is allocated at that
 *					size), a chunked body as it arrives; released when the
 *					body is freed.  A body that does not fit gets 503 with
 *					Retry-After: 1.
 */
#define _GNU_SOURCE				/* accept4, pipe2 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "proxy.h"

#define REQUEST_ID_MAX	128

/*
 * libmicrohttpd's memory per connection, for the request line, headers and
 * read buffer (a request whose headers do not fit gets 431).  Half its
 * default: 1,000 idle keep-alive connections cost half as much memory.
 */
#define CONNECTION_MEMORY	(16 * 1024)

/* How often a loop looks for requests past --request-deadline. */
#define SWEEP_MS	250

/* Where a connection is, for --request-deadline. */
typedef enum ConnPhase
{
	PHASE_FIRST,				/* accepted, no request line yet */
	PHASE_IDLE,					/* keep-alive: answered, no new request line */
	PHASE_READING,				/* request line in: headers and body arriving */
	PHASE_ANSWERING,			/* request whole, or answered: no deadline */
	PHASE_CUT					/* past the deadline: shut down, closing */
} ConnPhase;

struct Request;

/*
 * State of one connection (libmicrohttpd's socket context), in its loop's
 * list; every callback of a loop's daemon runs in the loop's thread.
 */
typedef struct Connection
{
	bool		fresh;			/* accepted, no request line seen yet */
	ConnPhase	phase;
	double		since_ms;		/* when the phase's clock started */
	struct MHD_Connection *mhd;
	struct Request *req;		/* the request it reads or answers */
	struct Connection *prev;	/* the loop's connections */
	struct Connection *next;
} Connection;

/* State of one HTTP request. */
typedef struct Request
{
	char	   *target;			/* request target as received (%-safe) */
	char	   *method;			/* method as received (%-safe) */
	char		request_id[REQUEST_ID_MAX + 1];
	double		started_ms;
	Connection *conn;			/* NULL when out of memory */
	bool		started;		/* HandleRequest saw the headers */
	bool		refused;		/* 413 or 503 written mid-body: rest discarded */
	bool		raw;			/* the response was written by SendRaw */
	bool		overdue;		/* cut off by --request-deadline */
	bool		declared;		/* Content-Length counted in body_memory */
	size_t		discarded;		/* bytes thrown away after a refusal */
	size_t		charged;		/* body bytes counted in body_memory */
	Buf			body;
	Buf			headers_json;	/* the headers parameter of bar9.api */
	bool		submitted;		/* job queued; connection suspended */
	Job			job;
	int			status;			/* status sent; 0 = none yet */
} Request;

/* A client address's open connections (--max-connections-per-ip). */
typedef struct IpCount
{
	unsigned char addr[16];		/* IPv6, or IPv4 as ::ffff:a.b.c.d */
	int			count;
	struct IpCount *next;
} IpCount;

static int	in_flight;			/* requests begun, not completed (atomic) */
static int	pending_jobs;		/* connections suspended for a job (atomic) */
static int	fresh_connections;	/* accepted, no request yet (atomic) */
static int	expected_starts;	/* handed over, not yet started (atomic) */
static int	open_connections;	/* accepted and not yet closed (atomic) */
static long long body_memory;	/* body bytes held, all loops (atomic) */

/* --max-connections-per-ip: open connections by address, all loops */
static pthread_mutex_t ip_mutex = PTHREAD_MUTEX_INITIALIZER;
static IpCount **ip_table;
static unsigned int ip_table_mask;
static unsigned long ip_refused;	/* acceptor thread only */
static double ip_refused_logged_ms; /* acceptor thread only */

/* this loop's connections, and its next look for overdue requests */
static __thread Connection *loop_connections;
static __thread double next_sweep_ms;

static int	listen_fd = -1;
static int	stop_pipe[2];		/* a byte here stops the acceptor */
static pthread_t acceptor;

/*
 * Requests begun and not yet completed, plus connections accepted whose
 * first request has not been read yet (some may still wait in a loop's
 * mail): what SIGTERM waits for.
 */
int
HttpInFlight(void)
{
	return __atomic_load_n(&in_flight, __ATOMIC_SEQ_CST) +
		__atomic_load_n(&fresh_connections, __ATOMIC_SEQ_CST);
}

/* Connections suspended while their job is in the pool. */
int
HttpPendingJobs(void)
{
	return __atomic_load_n(&pending_jobs, __ATOMIC_SEQ_CST);
}

/*
 * The key of a client address in ip_table: IPv4 as ::ffff:a.b.c.d, so an
 * address counts the same over IPv4 and IPv6; false for other families.
 */
static bool
IpKey(const struct sockaddr *addr, unsigned char *key)
{
	if (addr == NULL)
		return false;
	if (addr->sa_family == AF_INET)
	{
		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *) addr)->sin_addr, 4);
		return true;
	}
	if (addr->sa_family == AF_INET6)
	{
		memcpy(key, &((const struct sockaddr_in6 *) addr)->sin6_addr, 16);
		return true;
	}
	return false;
}

/* The ip_table bucket of a key (FNV-1a). */
static IpCount **
IpBucket(const unsigned char *key)
{
	uint32_t	h = 2166136261u;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return &ip_table[h & ip_table_mask];
}

/*
 * Counts a new connection of addr; false, counting nothing, when addr has
 * --max-connections-per-ip open already (or no memory is left to count it).
 */
static bool
IpAcquire(const struct sockaddr *addr)
{
	unsigned char key[16];
	IpCount   **bucket;
	IpCount    *e;
	bool		ok = true;

	if (ip_table == NULL || !IpKey(addr, key))
		return true;
	pthread_mutex_lock(&ip_mutex);
	bucket = IpBucket(key);
	for (e = *bucket; e != NULL; e = e->next)
		if (memcmp(e->addr, key, 16) == 0)
			break;
	if (e == NULL)
	{
		e = calloc(1, sizeof(IpCount));
		if (e == NULL)
			ok = false;
		else
		{
			memcpy(e->addr, key, 16);
			e->next = *bucket;
			*bucket = e;
		}
	}
	if (ok && e->count >= config.max_connections_per_ip)
		ok = false;
	else if (ok)
		e->count++;
	pthread_mutex_unlock(&ip_mutex);
	return ok;
}

/* A connection of addr that IpAcquire counted is closed. */
static void
IpRelease(const struct sockaddr *addr)
{
	unsigned char key[16];
	IpCount   **link;

	if (ip_table == NULL || !IpKey(addr, key))
		return;
	pthread_mutex_lock(&ip_mutex);
	for (link = IpBucket(key); *link != NULL; link = &(*link)->next)
	{
		IpCount    *e = *link;

		if (memcmp(e->addr, key, 16) != 0)
			continue;
		if (--e->count <= 0)
		{
			*link = e->next;
			free(e);
		}
		break;
	}
	pthread_mutex_unlock(&ip_mutex);
}

/*
 * A connection starts or ends: counts connections from accept to their
 * first request line, keeps the loop's list for --request-deadline, and
 * the per-address counts.
 */
static void
ConnectionNotify(void *cls, struct MHD_Connection *con, void **socket_context,
				 enum MHD_ConnectionNotificationCode toe)
{
	Connection *c = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
	{
		int			expected = __atomic_load_n(&expected_starts,
											   __ATOMIC_SEQ_CST);

		c = calloc(1, sizeof(Connection));
		/* a connection handed over by AddConnection is counted already */
		while (expected > 0 &&
			   !__atomic_compare_exchange_n(&expected_starts, &expected,
											expected - 1, false,
											__ATOMIC_SEQ_CST,
											__ATOMIC_SEQ_CST))
			;
		if (c)
		{
			c->fresh = true;
			if (expected <= 0)
				__atomic_add_fetch(&fresh_connections, 1, __ATOMIC_SEQ_CST);
			c->phase = PHASE_FIRST;
			c->since_ms = NowMs();
			c->mhd = con;
			c->next = loop_connections;
			if (loop_connections)
				loop_connections->prev = c;
			loop_connections = c;
		}
		else if (expected > 0)
			__atomic_sub_fetch(&fresh_connections, 1, __ATOMIC_SEQ_CST);
		*socket_context = c;
	}
	else
	{
		const union MHD_ConnectionInfo *info;

		__atomic_sub_fetch(&open_connections, 1, __ATOMIC_SEQ_CST);
		info = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (info)
			IpRelease(info->client_addr);
		if (c != NULL)
		{
			if (c->fresh)
				__atomic_sub_fetch(&fresh_connections, 1, __ATOMIC_SEQ_CST);
			if (c->req)
				c->req->conn = NULL;
			if (c->prev)
				c->prev->next = c->next;
			else
				loop_connections = c->next;
			if (c->next)
				c->next->prev = c->prev;
			free(c);
			*socket_context = NULL;
		}
	}
}

/* Next number of this thread's xorshift128+ generator. */
static uint64_t
NextRandom(void)
{
	static __thread uint64_t state[2];
	uint64_t	s1 = state[0];
	uint64_t	s0 = state[1];

	if ((state[0] | state[1]) == 0)
	{
		/* seeded once per thread; unique is all a request id must be */
		if (getrandom(state, sizeof(state), 0) != (ssize_t) sizeof(state) ||
			(state[0] | state[1]) == 0)
		{
			state[0] = (uint64_t) (NowMs() * 1000.0) ^ (uint64_t) pthread_self();
			state[1] = 0x9E3779B97F4A7C15ULL;
		}
		s1 = state[0];
		s0 = state[1];
	}
	state[0] = s0;
	s1 ^= s1 << 23;
	state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	return state[1] + s0;
}

/* Fills buf with "req_" and 22 random base-62 characters. */
static void
NewRequestId(char *buf)
{
	static const char alphabet[] =
		"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	uint64_t	r = 0;

	memcpy(buf, "req_", 4);
	for (int i = 0; i < 22; i++)
	{
		if (i % 10 == 0)
			r = NextRandom();	/* 10 digits of 6 bits from each number */
		buf[4 + i] = alphabet[(r & 63) % 62];
		r >>= 6;
	}
	buf[4 + 22] = '\0';
}

/* True for a client-supplied X-Request-Id that is safe to echo and log. */
static bool
IsSaneRequestId(const char *s)
{
	size_t		len = strlen(s);

	if (len == 0 || len > REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
			  c == ':'))
			return false;
	}
	return true;
}

/* libmicrohttpd hands us each request line's raw target here. */
static void *
UriLog(void *cls, const char *uri, struct MHD_Connection *con)
{
	Request    *req = calloc(1, sizeof(Request));
	double		now = NowMs();
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (info && info->socket_context)
	{
		Connection *c = info->socket_context;

		if (c->fresh)
		{
			c->fresh = false;
			__atomic_sub_fetch(&fresh_connections, 1, __ATOMIC_SEQ_CST);
		}
		if (req)
		{
			/* a first request's clock runs from the accept */
			if (c->phase == PHASE_IDLE)
				c->since_ms = now;
			if (c->phase != PHASE_CUT)
				c->phase = PHASE_READING;
			c->req = req;
			req->conn = c;
		}
	}
	if (req == NULL)
		return NULL;
	req->started_ms = now;
	req->target = PercentEncodeUnsafe(uri ? uri : "", uri ? strlen(uri) : 0);
	NewRequestId(req->request_id);
	__atomic_add_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
	return req;
}

/* Adds the headers every response of the proxy carries. */
static void
AddCommonHeaders(struct MHD_Response *resp, const Request *req)
{
	MHD_add_response_header(resp, "X-Request-Id", req->request_id);
	if (shutting_down)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

/*
 * Queues a JSON response made here (errors, /healthz), with one more
 * header when name is not NULL.
 */
static enum MHD_Result
QueueOwn(struct MHD_Connection *con, Request *req, int status,
		 const char *json, bool close, const char *name, const char *value)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(json), (void *) json,
										   MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
							"application/json");
	AddCommonHeaders(resp, req);
	if (close && !shutting_down)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	if (name)
		MHD_add_response_header(resp, name, value);
	ret = MHD_queue_response(con, status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES)
	{
		req->status = status;
		/* answered: the rest of the request is not waited for */
		if (req->conn && req->conn->phase == PHASE_READING)
			req->conn->phase = PHASE_ANSWERING;
	}
	return ret;
}

#define BODY_413 \
	"{\"error\":{\"code\":\"payload_too_large\"," \
	"\"message\":\"the request body must be at most 1048576 bytes\"}}"
#define BODY_500 \
	"{\"error\":{\"code\":\"internal_error\"," \
	"\"message\":\"an internal error occurred; the request id identifies it in the log\"}}"
#define BODY_503 \
	"{\"error\":{\"code\":\"service_unavailable\"," \
	"\"message\":\"the database is not available; retry later\"}}"
#define BODY_503_BUSY \
	"{\"error\":{\"code\":\"service_unavailable\"," \
	"\"message\":\"the proxy holds too many request bodies; retry later\"}}"
#define BODY_408 \
	"{\"error\":{\"code\":\"request_timeout\"," \
	"\"message\":\"the request did not arrive whole in time\"}}"

/*
 * Sends an error straight to the socket while the request is still
 * arriving (413, 503, 408).  libmicrohttpd cannot queue a response in the
 * middle of an upload, and a chunked body must be cut off at the limit
 * without reading the rest, so the response is written here, the sending
 * side shut, and the connection closed a little later (see HandleRequest).
 * extra: more header lines, each ending in CRLF.
 */
static void
SendRaw(struct MHD_Connection *con, Request *req, int status,
		const char *reason, const char *json, const char *extra)
{
	const union MHD_ConnectionInfo *info;
	char		buf[1024];
	int			n;
	size_t		off = 0;

	info = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (info == NULL)
		return;
	n = snprintf(buf, sizeof(buf),
				 "HTTP/1.1 %d %s\r\n"
				 "Connection: close\r\n"
				 "Content-Type: application/json\r\n"
				 "X-Request-Id: %s\r\n"
				 "%s"
				 "Content-Length: %zu\r\n\r\n%s",
				 status, reason, req->request_id, extra, strlen(json), json);
	if (n < 0 || (size_t) n >= sizeof(buf))
		return;
	while (off < (size_t) n)
	{
		ssize_t		w = send(info->connect_fd, buf + off, n - off,
							 MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;				/* a full or closed socket: give up */
		off += (size_t) w;
	}
	shutdown(info->connect_fd, SHUT_WR);
	req->status = status;
	req->raw = true;
}

/*
 * Counts n more body bytes in body_memory; false, counting nothing, when
 * that would pass --max-body-memory.
 */
static bool
BodyCharge(Request *req, size_t n)
{
	long long	cur;

	if (config.max_body_memory <= 0)
		return true;
	cur = __atomic_load_n(&body_memory, __ATOMIC_SEQ_CST);
	do
	{
		if (cur + (long long) n > config.max_body_memory)
			return false;
	} while (!__atomic_compare_exchange_n(&body_memory, &cur,
										  cur + (long long) n, true,
										  __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	req->charged += n;
	return true;
}

/* Frees the request's body and uncounts its bytes. */
static void
BodyFree(Request *req)
{
	BufFree(&req->body);
	if (req->charged > 0)
		__atomic_sub_fetch(&body_memory, (long long) req->charged,
						   __ATOMIC_SEQ_CST);
	req->charged = 0;
}

/*
 * Cuts off a connection past --request-deadline: 408 when it reads a
 * request that has no answer yet, then its socket shut down both ways, so
 * that libmicrohttpd reads its end and closes it (outside the access
 * handler, with a timeout of one second as a backstop; in it, the handler
 * answers MHD_NO, which closes it).
 */
static void
CutConnection(Connection *c, bool in_handler)
{
	const union MHD_ConnectionInfo *info;
	Request    *req = c->req;

	if (c->phase == PHASE_READING && req != NULL)
	{
		req->overdue = true;
		if (req->status == 0)
			SendRaw(c->mhd, req, 408, "Request Timeout", BODY_408, "");
	}
	c->phase = PHASE_CUT;
	info = MHD_get_connection_info(c->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (info)
		shutdown(info->connect_fd, SHUT_RDWR);
	if (!in_handler)
		MHD_set_connection_option(c->mhd, MHD_CONNECTION_OPTION_TIMEOUT, 1u);
}

/* True when the connection is past --request-deadline in its phase. */
static bool
IsOverdue(const Connection *c, double now)
{
	double		limit = config.request_deadline * 1000.0;

	if (config.request_deadline <= 0)
		return false;
	switch (c->phase)
	{
		case PHASE_FIRST:
		case PHASE_READING:
			break;
		case PHASE_IDLE:
			/* silence is the idle timeout's; this bounds a trickle */
			limit += config.client_timeout * 1000.0;
			break;
		default:
			return false;
	}
	return now - c->since_ms > limit;
}

/* Cuts off the loop's requests past --request-deadline; true if any. */
bool
HttpSweep(Loop *loop)
{
	double		now;
	bool		cut = false;

	if (config.request_deadline <= 0 || loop_connections == NULL)
		return false;
	now = NowMs();
	if (now < next_sweep_ms)
		return false;
	next_sweep_ms = now + SWEEP_MS;
	for (Connection *c = loop_connections; c != NULL; c = c->next)
	{
		if (IsOverdue(c, now))
		{
			CutConnection(c, false);
			cut = true;
		}
	}
	return cut;
}

/* Parses a decimal Content-Length; false when it is not one. */
static bool
ParseLength(const char *s, unsigned long long *out)
{
	char	   *end;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* True when the raw target names the proxy's own /healthz. */
static bool
IsHealthz(const char *target)
{
	size_t		n = strcspn(target, "?");

	return n == 8 && strncmp(target, "/healthz", 8) == 0;
}

/* Header iterator: collects request headers into a HeaderSet. */
static enum MHD_Result
CollectHeader(void *cls, enum MHD_ValueKind kind, const char *key,
			  size_t key_size, const char *value, size_t value_size)
{
	return HeaderSetAdd(cls, key, key_size, value ? value : "",
						value ? value_size : 0) ? MHD_YES : MHD_NO;
}

/* True for the response headers the proxy itself owns. */
static bool
IsHopHeader(const char *name)
{
	return strcasecmp(name, "content-length") == 0 ||
		strcasecmp(name, "transfer-encoding") == 0 ||
		strcasecmp(name, "connection") == 0 ||
		strcasecmp(name, "keep-alive") == 0 ||
		strcasecmp(name, "x-request-id") == 0;
}

/* Queues bar9.api's answer: its status, headers and body. */
static enum MHD_Result
QueueApiResult(struct MHD_Connection *con, Request *req, ApiResult *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	bool		has_type = false;

	resp = MHD_create_response_from_buffer(r->body_len,
										   r->body ? r->body : (void *) "",
										   r->body ? MHD_RESPMEM_MUST_FREE :
										   MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	r->body = NULL;				/* libmicrohttpd frees it now */
	for (int i = 0; i < r->n_headers; i++)
	{
		if (IsHopHeader(r->header_names[i]))
			continue;
		if (strcasecmp(r->header_names[i], "content-type") == 0)
			has_type = true;
		if (MHD_add_response_header(resp, r->header_names[i],
									r->header_values[i]) != MHD_YES)
			LogError("header \"%s\" from bar9.api refused", r->header_names[i]);
	}
	if (!has_type && r->body_len > 0)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
								"application/json");
	AddCommonHeaders(resp, req);
	ret = MHD_queue_response(con, r->status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES)
		req->status = r->status;
	return ret;
}

/* Queues the text of GET /metrics (db_text: bar9.metrics(), or NULL). */
static enum MHD_Result
QueueMetrics(struct MHD_Connection *con, Request *req, const char *db_text)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	Buf			text = {0};

	if (!MetricsRender(&text, db_text))
	{
		BufFree(&text);
		return QueueOwn(con, req, 500, BODY_500, false, NULL, NULL);
	}
	resp = MHD_create_response_from_buffer(text.len, text.data,
										   MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
	{
		BufFree(&text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
							"text/plain; version=0.0.4; charset=utf-8");
	AddCommonHeaders(resp, req);
	ret = MHD_queue_response(con, 200, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES)
		req->status = 200;
	return ret;
}

/* Called by the pool when a job is done: wake its connection. */
static void
JobDone(Job *job)
{
	MHD_resume_connection((struct MHD_Connection *) job->arg);
	__atomic_sub_fetch(&pending_jobs, 1, __ATOMIC_SEQ_CST);
	loop_self->resumed = true;
}

/* The request's job is done: queue its response. */
static enum MHD_Result
Respond(struct MHD_Connection *con, Request *req)
{
	Job		   *job = &req->job;
	enum MHD_Result ret;

	BufFree(&req->headers_json);
	BodyFree(req);
	if (job->outcome == POOL_OK && job->kind == JOB_PING)
		return QueueOwn(con, req, 200, "{\"status\":\"ok\"}", false,
						NULL, NULL);
	if (job->kind == JOB_METRICS)
	{
		/* the proxy's figures are served even when the database's are not */
		ret = QueueMetrics(con, req, job->outcome == POOL_OK ?
						   job->result.body : NULL);
		ApiResultFree(&job->result);
		return ret;
	}
	if (job->outcome == POOL_OK)
	{
		ret = QueueApiResult(con, req, &job->result);
		ApiResultFree(&job->result);
		return ret;
	}
	if (job->outcome == POOL_UNAVAILABLE)
		return QueueOwn(con, req, 503, BODY_503, false, "Retry-After", "1");
	return QueueOwn(con, req, 500, BODY_500, false, NULL, NULL);
}

/*
 * The request is complete: turn it into a job for the loop's pool and
 * suspend the connection until the job is done.
 */
static enum MHD_Result
Submit(struct MHD_Connection *con, Request *req, const char *method)
{
	Job		   *job = &req->job;

	memset(job, 0, sizeof(Job));
	if (IsHealthz(req->target))
	{
		/* the proxy's one route of its own */
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return QueueOwn(con, req, 405,
							"{\"error\":{\"code\":\"method_not_allowed\","
							"\"message\":\"/healthz answers GET and HEAD\"}}",
							false, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		job->kind = JOB_PING;
	}
	else if (config.metrics && MetricsIsPath(req->target))
	{
		/* GET /metrics: no key, the database's part by bar9.metrics() */
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return QueueOwn(con, req, 405,
							"{\"error\":{\"code\":\"method_not_allowed\","
							"\"message\":\"/metrics answers GET and HEAD\"}}",
							false, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		job->kind = JOB_METRICS;
	}
	else
	{
		HeaderSet  *hs = HeaderSetNew();

		if (hs == NULL ||
			MHD_get_connection_values_n(con, MHD_HEADER_KIND, CollectHeader,
										hs) < 0 ||
			!HeaderSetToJson(hs, &req->headers_json))
		{
			HeaderSetFree(hs);
			LogError("out of memory reading request headers");
			return QueueOwn(con, req, 500, BODY_500, false, NULL, NULL);
		}
		HeaderSetFree(hs);
		job->kind = JOB_API;
		job->method = req->method;
		job->path = req->target;
		job->headers_json = req->headers_json.data;
		/* an empty body is no body: bar9.api gets NULL */
		job->body = req->body.len ? req->body.data : NULL;
		job->body_len = req->body.len;
	}
	job->request_id = req->request_id;
	job->done = JobDone;
	job->arg = con;

	req->submitted = true;
	__atomic_add_fetch(&pending_jobs, 1, __ATOMIC_SEQ_CST);
	MHD_suspend_connection(con);
	PoolSubmit(loop_self->pool, job);
	return MHD_YES;
}

/* libmicrohttpd's access handler: called for headers, body parts, end. */
static enum MHD_Result
HandleRequest(void *cls, struct MHD_Connection *con, const char *url,
			  const char *method, const char *version,
			  const char *upload_data, size_t *upload_data_size,
			  void **con_cls)
{
	Request    *req = *con_cls;
	enum MHD_Result ret;

	if (req == NULL || req->target == NULL)
		return MHD_NO;			/* out of memory in UriLog */

	/* headers or body past the deadline: 408 and close */
	if ((!req->started || *upload_data_size > 0) && req->conn &&
		IsOverdue(req->conn, NowMs()))
	{
		CutConnection(req->conn, true);
		return MHD_NO;
	}

	if (!req->started)
	{
		const char *id;
		unsigned long long length;

		req->started = true;
		req->method = PercentEncodeUnsafe(method, strlen(method));
		if (req->method == NULL)
			return MHD_NO;
		id = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
										 "X-Request-Id");
		if (id && IsSaneRequestId(id))
			snprintf(req->request_id, sizeof(req->request_id), "%s", id);

		/* refuse an oversized body before reading any of it */
		if (ParseLength(MHD_lookup_connection_value(con, MHD_HEADER_KIND,
													MHD_HTTP_HEADER_CONTENT_LENGTH),
						&length))
		{
			if (length > MAX_BODY_BYTES)
				return QueueOwn(con, req, 413, BODY_413, true, NULL, NULL);
			if (length > 0)
			{
				/* the whole body is counted, and allocated, at once */
				if (!BodyCharge(req, (size_t) length))
					return QueueOwn(con, req, 503, BODY_503_BUSY, true,
									"Retry-After", "1");
				req->declared = true;
				req->body.data = malloc((size_t) length + 1);
				if (req->body.data == NULL)
					return MHD_NO;
				req->body.cap = (size_t) length + 1;
			}
		}
		return MHD_YES;
	}

	if (*upload_data_size > 0)
	{
		size_t		n = *upload_data_size;

		*upload_data_size = 0;
		if (!req->refused && req->body.len + n > MAX_BODY_BYTES)
		{
			req->refused = true;
			BodyFree(req);
			SendRaw(con, req, 413, "Content Too Large", BODY_413, "");
		}
		else if (!req->refused && !req->declared && !BodyCharge(req, n))
		{
			/* a chunked body that no longer fits in --max-body-memory */
			req->refused = true;
			BodyFree(req);
			SendRaw(con, req, 503, "Service Unavailable", BODY_503_BUSY,
					"Retry-After: 1\r\n");
		}
		if (req->refused)
		{
			/* drain a little so the client can read the answer, then close */
			req->discarded += n;
			return req->discarded > MAX_BODY_BYTES ? MHD_NO : MHD_YES;
		}
		return BufAppend(&req->body, upload_data, n) ? MHD_YES : MHD_NO;
	}

	/* the whole request is in */
	if (req->refused)
		return MHD_NO;			/* its 413 or 503 is out: close the connection */
	if (req->conn && req->conn->phase == PHASE_READING)
		req->conn->phase = PHASE_ANSWERING;
	log_request_id = req->request_id;
	ret = req->submitted ? Respond(con, req) : Submit(con, req, method);
	log_request_id = NULL;
	return ret;
}

/* Names a termination code for the access log (NULL for a normal end). */
static const char *
TerminationNote(enum MHD_RequestTerminationCode toe)
{
	switch (toe)
	{
		case MHD_REQUEST_TERMINATED_COMPLETED_OK:
			return NULL;
		case MHD_REQUEST_TERMINATED_WITH_ERROR:
			return "error";
		case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
			return "timeout";
		case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
			return "shutdown";
		case MHD_REQUEST_TERMINATED_READ_ERROR:
			return "read_error";
		case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
			return "client_abort";
		default:
			return "other";
	}
}

/* End of a request, however it ended: one access-log line. */
static void
RequestCompleted(void *cls, struct MHD_Connection *con, void **con_cls,
				 enum MHD_RequestTerminationCode toe)
{
	Request    *req = *con_cls;
	double		now = NowMs();

	if (req == NULL)
		return;
	*con_cls = NULL;
	if (config.metrics)
		MetricsObserve(req->method, req->target, req->status,
					   now - req->started_ms);
	LogAccess(req->request_id, req->method, req->target, req->status,
			  now - req->started_ms, req->job.ahead,
			  (req->status == 413 || req->raw) ? NULL :
			  req->overdue ? "deadline" : TerminationNote(toe));
	if (req->conn)
	{
		Connection *c = req->conn;

		/* a keep-alive connection waits for its next request line */
		c->req = NULL;
		if (c->phase != PHASE_CUT)
		{
			c->phase = PHASE_IDLE;
			c->since_ms = now;
		}
	}
	free(req->target);
	free(req->method);
	BodyFree(req);
	BufFree(&req->headers_json);
	if (req->submitted)
		ApiResultFree(&req->job.result);	/* the client left before it */
	free(req);
	__atomic_sub_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
}

/*
 * Hands an accepted socket to a loop, counting it as open and fresh at
 * once: its loop starts it later (HttpAddConnection).  Loops take sockets
 * in turn, so connections spread over the threads.
 */
static void
AddConnection(int fd, const struct sockaddr *addr, socklen_t len)
{
	__atomic_add_fetch(&open_connections, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&fresh_connections, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&expected_starts, 1, __ATOMIC_SEQ_CST);
	if (!LoopHandOver(fd, addr, len))
	{
		close(fd);
		IpRelease(addr);
		__atomic_sub_fetch(&expected_starts, 1, __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(&fresh_connections, 1, __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(&open_connections, 1, __ATOMIC_SEQ_CST);
	}
}

/* Gives an accepted socket to the loop's daemon (in the loop's thread). */
void
HttpAddConnection(Loop *loop, int fd, const struct sockaddr *addr,
				  socklen_t len)
{
	if (MHD_add_connection(loop->daemon, fd, addr, len) != MHD_YES)
	{
		/* libmicrohttpd has closed fd */
		IpRelease(addr);
		__atomic_sub_fetch(&expected_starts, 1, __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(&fresh_connections, 1, __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(&open_connections, 1, __ATOMIC_SEQ_CST);
	}
}

/* Accepts what the listen backlog holds, up to the connection limit. */
static void
AcceptPending(bool ignore_limit)
{
	for (;;)
	{
		struct sockaddr_storage addr;
		socklen_t	len = sizeof(addr);
		int			fd;

		if (!ignore_limit &&
			__atomic_load_n(&open_connections, __ATOMIC_SEQ_CST) >=
			config.max_connections)
			return;
		fd = accept4(listen_fd, (struct sockaddr *) &addr, &len,
					 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
		{
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE)
			{
				LogError("accept: %s", strerror(errno));
				usleep(10 * 1000);
			}
			return;				/* EAGAIN: the backlog is empty */
		}
		if (!IpAcquire((struct sockaddr *) &addr))
		{
			/* over --max-connections-per-ip: closed at once */
			close(fd);
			ip_refused++;
			continue;
		}
		AddConnection(fd, (struct sockaddr *) &addr, len);
	}
}

/* Logs the connections over --max-connections-per-ip, once per 10 s. */
static void
LogRefused(void)
{
	double		now;

	if (ip_refused == 0)
		return;
	now = NowMs();
	if (ip_refused_logged_ms > 0 && now - ip_refused_logged_ms < 10000)
		return;
	LogInfo("closed %lu connection(s) over --max-connections-per-ip %d",
			ip_refused, config.max_connections_per_ip);
	ip_refused = 0;
	ip_refused_logged_ms = now;
}

/*
 * The acceptor thread.  libmicrohttpd's own accept loop takes up to ten
 * connections in a row into one thread, so a client opening several at
 * once (a connection pool) would have them all served by one thread, one
 * request after the other; accepting here spreads them.  At the connection
 * limit it stops accepting, and new connections wait in the backlog.  On
 * stop it hands over what the backlog holds (those clients connected
 * before SIGTERM) and closes the listen socket.
 */
static void *
AcceptorMain(void *arg)
{
	struct pollfd pfd[2];

	pfd[0].fd = listen_fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = stop_pipe[0];
	pfd[1].events = POLLIN;
	for (;;)
	{
		bool		full = __atomic_load_n(&open_connections, __ATOMIC_SEQ_CST) >=
			config.max_connections;

		pfd[0].revents = pfd[1].revents = 0;
		/* when full, wake up every 10 ms to see whether a slot came free */
		if (poll(full ? &pfd[1] : pfd, full ? 1 : 2, full ? 10 : -1) < 0 &&
			errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (pfd[0].revents)
			AcceptPending(false);
		else if (full)
			AcceptPending(false);
		LogRefused();
	}
	AcceptPending(true);
	close(listen_fd);
	listen_fd = -1;
	return NULL;
}

/* Stops accepting connections (SIGTERM); already accepted ones are served. */
void
HttpStopAccepting(void)
{
	if (write(stop_pipe[1], "x", 1) != 1)
		LogError("cannot stop the acceptor: %s", strerror(errno));
	pthread_join(acceptor, NULL);
}

/* libmicrohttpd's own messages go to our operational log. */
static void MhdLog(void *cls, const char *fmt, va_list ap)
			__attribute__((format(printf, 2, 0)));

/* libmicrohttpd's own messages go to our operational log. */
static void
MhdLog(void *cls, const char *fmt, va_list ap)
{
	char		msg[512];
	size_t		len;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		msg[--len] = '\0';
	LogError("libmicrohttpd: %s", msg);
}

/*
 * Resolves "host:port", "[v6]:port", ":port" or "port" into addr; the
 * host defaults to 127.0.0.1.
 */
static bool
ResolveListenAddr(const char *spec, struct sockaddr_storage *addr,
				  bool *is_v6)
{
	char		host[256];
	const char *port;
	const char *colon;
	struct addrinfo hints;
	struct addrinfo *res;
	int			rc;

	if (spec[0] == '[')
	{
		const char *close = strchr(spec, ']');

		if (close == NULL || close[1] != ':' ||
			(size_t) (close - spec - 1) >= sizeof(host))
			return false;
		memcpy(host, spec + 1, close - spec - 1);
		host[close - spec - 1] = '\0';
		port = close + 2;
	}
	else if ((colon = strrchr(spec, ':')) != NULL)
	{
		if ((size_t) (colon - spec) >= sizeof(host))
			return false;
		memcpy(host, spec, colon - spec);
		host[colon - spec] = '\0';
		port = colon + 1;
		if (host[0] == '\0')
			strcpy(host, "0.0.0.0");
	}
	else
	{
		strcpy(host, "127.0.0.1");
		port = spec;
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
	{
		LogError("cannot resolve listen address \"%s\": %s", spec,
				 gai_strerror(rc));
		return false;
	}
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*is_v6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	return true;
}

/* Opens, binds and listens on addr; -1 on failure (logged). */
static int
OpenListenSocket(const struct sockaddr_storage *addr, bool is_v6)
{
	int			one = 1;
	socklen_t	len = is_v6 ? sizeof(struct sockaddr_in6) :
		sizeof(struct sockaddr_in);
	int			fd = socket(is_v6 ? AF_INET6 : AF_INET,
							SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 ||
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
		bind(fd, (const struct sockaddr *) addr, len) != 0 ||
		listen(fd, 1024) != 0)
	{
		LogError("cannot listen on %s: %s", config.listen_addr,
				 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Opens the listen socket and starts the acceptor; false on failure. */
bool
HttpStart(void)
{
	struct sockaddr_storage addr;
	bool		is_v6 = false;

	memset(&addr, 0, sizeof(addr));
	if (!ResolveListenAddr(config.listen_addr, &addr, &is_v6))
		return false;
	if (config.max_connections_per_ip > 0)
	{
		unsigned int n = 64;

		/* about one address per bucket, up to 64k buckets */
		while (n < (unsigned int) config.max_connections && n < 65536)
			n *= 2;
		ip_table = calloc(n, sizeof(IpCount *));
		if (ip_table == NULL)
			return false;
		ip_table_mask = n - 1;
	}
	listen_fd = OpenListenSocket(&addr, is_v6);
	if (listen_fd < 0)
		return false;
	if (pipe2(stop_pipe, O_CLOEXEC) != 0)
		return false;
	return pthread_create(&acceptor, NULL, AcceptorMain, NULL) == 0;
}

/*
 * Creates a loop's daemon.  It has no thread and no listen socket of its
 * own: the loop runs it, the acceptor gives it its connections.  TURBO:
 * reads and writes are tried at once, without asking epoll first.
 */
bool
HttpDaemonStart(Loop *loop)
{
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_TURBO |
		MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ERROR_LOG;

	loop->daemon = MHD_start_daemon(flags, 0, NULL, NULL, HandleRequest, NULL,
									MHD_OPTION_EXTERNAL_LOGGER, MhdLog, NULL,
									/* the acceptor enforces max_connections */
									MHD_OPTION_CONNECTION_LIMIT,
									(unsigned int) config.max_connections * 2 + 1,
									MHD_OPTION_CONNECTION_TIMEOUT,
									(unsigned int) config.client_timeout,
									/* per connection: headers and read buffer */
									MHD_OPTION_CONNECTION_MEMORY_LIMIT,
									(size_t) CONNECTION_MEMORY,
									MHD_OPTION_URI_LOG_CALLBACK, UriLog, NULL,
									MHD_OPTION_NOTIFY_COMPLETED,
									RequestCompleted, NULL,
									MHD_OPTION_NOTIFY_CONNECTION,
									ConnectionNotify, NULL,
									MHD_OPTION_END);
	if (loop->daemon == NULL)
	{
		LogError("cannot start libmicrohttpd");
		return false;
	}
	return true;
}

/* The daemon's epoll descriptor, for the loop's epoll set. */
int
HttpDaemonFd(Loop *loop)
{
	const union MHD_DaemonInfo *info;

	info = MHD_get_daemon_info(loop->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	return info ? info->epoll_fd : -1;
}

/* Runs the daemon once: reads requests, writes answers, times out. */
void
HttpRun(Loop *loop)
{
	if (MHD_run(loop->daemon) != MHD_YES)
		LogError("libmicrohttpd: MHD_run failed");
}

/* Milliseconds until the daemon needs to run, or -1 for no deadline. */
long long
HttpTimeoutMs(Loop *loop)
{
	MHD_UNSIGNED_LONG_LONG t;
	long long	ms = -1;

	if (MHD_get_timeout(loop->daemon, &t) == MHD_YES)
		ms = t > 60000 ? 60000 : (long long) t;
	/* HttpSweep's next look, while the loop has connections */
	if (config.request_deadline > 0 && loop_connections != NULL)
	{
		long long	sweep = (long long) (next_sweep_ms - NowMs()) + 1;

		if (sweep < 0)
			sweep = 0;
		if (ms < 0 || sweep < ms)
			ms = sweep;
	}
	return ms;
}

/* Stops a loop's daemon: no connection of it may be suspended any more. */
void
HttpDaemonStop(Loop *loop)
{
	MHD_stop_daemon(loop->daemon);
	loop->daemon = NULL;
}
