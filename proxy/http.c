/*
 * http.c
 *		The libmicrohttpd side: each request's state, from its request line
 *		to the access-log line, and the hand-over to bar9.api.
 *
 * Life of a request:
 *	UriLog			the raw request target (still percent-encoded, with its
 *					query string), the start time, a request id
 *	HandleRequest	first call: headers are in; an oversized declared
 *					Content-Length is refused at once with 413
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

/* State of one HTTP request. */
typedef struct Request
{
	char	   *target;			/* request target as received (%-safe) */
	char	   *method;			/* method as received (%-safe) */
	char		request_id[REQUEST_ID_MAX + 1];
	double		started_ms;
	bool		started;		/* HandleRequest saw the headers */
	bool		too_large;		/* body passed MAX_BODY_BYTES: 413 sent */
	size_t		discarded;		/* bytes thrown away after a 413 */
	Buf			body;
	Buf			headers_json;	/* the headers parameter of bar9.api */
	bool		submitted;		/* job queued; connection suspended */
	Job			job;
	int			status;			/* status sent; 0 = none yet */
} Request;

/* State of one connection: has it sent a request line yet? */
typedef struct Connection
{
	bool		fresh;			/* accepted, no request line seen yet */
} Connection;

static int	in_flight;			/* requests begun, not completed (atomic) */
static int	pending_jobs;		/* connections suspended for a job (atomic) */
static int	fresh_connections;	/* accepted, no request yet (atomic) */
static int	expected_starts;	/* handed over, not yet started (atomic) */
static int	open_connections;	/* accepted and not yet closed (atomic) */

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

/* Counts connections from accept to their first request line. */
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
		}
		else if (expected > 0)
			__atomic_sub_fetch(&fresh_connections, 1, __ATOMIC_SEQ_CST);
		*socket_context = c;
	}
	else
	{
		__atomic_sub_fetch(&open_connections, 1, __ATOMIC_SEQ_CST);
		if (c != NULL)
		{
			if (c->fresh)
				__atomic_sub_fetch(&fresh_connections, 1, __ATOMIC_SEQ_CST);
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
	}
	if (req == NULL)
		return NULL;
	req->started_ms = NowMs();
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

/* Queues a JSON response made here (errors, /healthz). */
static enum MHD_Result
QueueOwn(struct MHD_Connection *con, Request *req, int status,
		 const char *json, bool close, const char *allow)
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
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(con, status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES)
		req->status = status;
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

/*
 * Sends 413 straight to the socket while the body is still arriving.
 * libmicrohttpd cannot queue a response in the middle of an upload, and a
 * chunked body must be cut off at the limit without reading the rest, so
 * the response is written here, the sending side shut, and the connection
 * closed a little later (see HandleRequest).
 */
static void
SendRaw413(struct MHD_Connection *con, Request *req)
{
	const union MHD_ConnectionInfo *info;
	char		buf[512];
	int			n;
	size_t		off = 0;

	info = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (info == NULL)
		return;
	n = snprintf(buf, sizeof(buf),
				 "HTTP/1.1 413 Content Too Large\r\n"
				 "Connection: close\r\n"
				 "Content-Type: application/json\r\n"
				 "X-Request-Id: %s\r\n"
				 "Content-Length: %zu\r\n\r\n%s",
				 req->request_id, strlen(BODY_413), BODY_413);
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
	req->status = 413;
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
	BufFree(&req->body);
	if (job->outcome == POOL_OK && job->kind == JOB_PING)
		return QueueOwn(con, req, 200, "{\"status\":\"ok\"}", false, NULL);
	if (job->outcome == POOL_OK)
	{
		ret = QueueApiResult(con, req, &job->result);
		ApiResultFree(&job->result);
		return ret;
	}
	if (job->outcome == POOL_UNAVAILABLE)
		return QueueOwn(con, req, 503, BODY_503, false, NULL);
	return QueueOwn(con, req, 500, BODY_500, false, NULL);
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
							false, "GET, HEAD");
		job->kind = JOB_PING;
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
			return QueueOwn(con, req, 500, BODY_500, false, NULL);
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
				return QueueOwn(con, req, 413, BODY_413, true, NULL);
			if (length > 0 && !BufReserve(&req->body, (size_t) length))
				return MHD_NO;
		}
		return MHD_YES;
	}

	if (*upload_data_size > 0)
	{
		size_t		n = *upload_data_size;

		*upload_data_size = 0;
		if (!req->too_large && req->body.len + n > MAX_BODY_BYTES)
		{
			req->too_large = true;
			BufFree(&req->body);
			SendRaw413(con, req);
		}
		if (req->too_large)
		{
			/* drain a little so the client can read the 413, then close */
			req->discarded += n;
			return req->discarded > MAX_BODY_BYTES ? MHD_NO : MHD_YES;
		}
		return BufAppend(&req->body, upload_data, n) ? MHD_YES : MHD_NO;
	}

	/* the whole request is in */
	if (req->too_large)
		return MHD_NO;			/* its 413 is out: close the connection */
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

	if (req == NULL)
		return;
	*con_cls = NULL;
	LogAccess(req->request_id, req->method, req->target, req->status,
			  NowMs() - req->started_ms,
			  req->status == 413 ? NULL : TerminationNote(toe));
	free(req->target);
	free(req->method);
	BufFree(&req->body);
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
		AddConnection(fd, (struct sockaddr *) &addr, len);
	}
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

	if (MHD_get_timeout(loop->daemon, &t) != MHD_YES)
		return -1;
	return t > 60000 ? 60000 : (long long) t;
}

/* Stops a loop's daemon: no connection of it may be suspended any more. */
void
HttpDaemonStop(Loop *loop)
{
	MHD_stop_daemon(loop->daemon);
	loop->daemon = NULL;
}
