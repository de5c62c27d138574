/*
 * proxy.h
 *		Declarations shared by the files of bar9-proxy, the thin HTTP front
 *		of bar9: every request becomes one call of bar9.api().
 *
 * One file per concern: main.c (options, start, SIGTERM), loop.c (the
 * event loops, one per thread), http.c (the libmicrohttpd side), pool.c
 * (libpq connections and the bar9.api call), headers.c (request headers
 * as JSON text, UTF-8 repair), log.c (access and error log), metrics.c
 * (GET /metrics).
 */
#ifndef BAR9_PROXY_H
#define BAR9_PROXY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define BAR9_PROXY_VERSION "1.0"

/* The largest request body bar9 accepts (docs/api.md: 413 above it). */
#define MAX_BODY_BYTES		(1024 * 1024)

/* The largest --max-body-memory: 1 TiB. */
#define MAX_BODY_MEMORY		(1024LL * 1024 * 1024 * 1024)

/* Settings from flags and environment (main.c). */
typedef struct ProxyConfig
{
	const char *listen_addr;	/* host:port, [v6]:port or :port */
	const char *database_url;	/* libpq conninfo or URI; "" = PG* env */
	int			pool_size;		/* database connections */
	int			pipeline_depth; /* calls in flight per connection, at most */
	int			threads;		/* event loops (threads) */
	int			max_connections;	/* open HTTP connections at once */
	int			client_timeout; /* seconds a client may stay silent */
	int			max_connections_per_ip; /* open at once per address; 0 = any */
	int			request_deadline;	/* seconds to receive a request; 0 = none */
	long long	max_body_memory;	/* request body bytes held; 0 = no cap */
	int			pool_wait_ms;	/* wait for a free database connection */
	int			connect_timeout;	/* seconds, libpq connect_timeout */
	int			statement_timeout_ms;	/* per bar9.api call; 0 = none */
	int			shutdown_grace; /* seconds to finish requests on SIGTERM */
	const char *access_log;		/* file name, or "-" for stderr */
	bool		metrics;		/* serve GET /metrics (--no-metrics: not) */
} ProxyConfig;

extern ProxyConfig config;

/* Set once SIGTERM arrived: responses then close their connection. */
extern volatile bool shutting_down;

/* ---- log.c ---- */

/* Opens the access log (or keeps stderr) and starts its flusher thread. */
extern bool LogOpen(const char *path);

/* Reopens the access log file (SIGHUP: log rotation); stderr stays. */
extern void LogReopen(const char *path);

/* Writes out the buffered access-log lines (also done every 50 ms). */
extern void LogFlush(void);

/* An operational message on stderr, prefixed with time and level. */
extern void LogError(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern void LogInfo(const char *fmt,...) __attribute__((format(printf, 1, 2)));

/* The request this thread works for, named in its error lines. */
extern __thread const char *log_request_id;

/* One access-log line; status 0 means no response was sent. */
extern void LogAccess(const char *request_id, const char *method,
					  const char *target, int status, double duration_ms,
					  int pipelined, const char *note);

/* Milliseconds on the monotonic clock. */
extern double NowMs(void);

/* ---- headers.c ---- */

/* A growable byte buffer. */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

extern bool BufReserve(Buf *b, size_t extra);
extern bool BufAppend(Buf *b, const void *data, size_t len);
extern void BufFree(Buf *b);

/* Appends s as a JSON string body (no quotes), repairing bad UTF-8. */
extern bool JsonAppendEscaped(Buf *out, const char *s, size_t len);

/* Header collector: lower-cased names, duplicates joined with ", ". */
typedef struct HeaderSet HeaderSet;

extern HeaderSet *HeaderSetNew(void);
extern bool HeaderSetAdd(HeaderSet *hs, const char *name, size_t name_len,
						 const char *value, size_t value_len);
extern bool HeaderSetToJson(const HeaderSet *hs, Buf *out);
extern void HeaderSetFree(HeaderSet *hs);

/* Copies s, replacing bytes outside printable ASCII by %XX. */
extern char *PercentEncodeUnsafe(const char *s, size_t len);

/* ---- pool.c ---- */

/* What bar9.api answered. */
typedef struct ApiResult
{
	int			status;
	int			n_headers;
	char	  **header_names;
	char	  **header_values;
	char	   *body;
	size_t		body_len;
} ApiResult;

/* Outcome of a database round trip. */
typedef enum PoolOutcome
{
	POOL_OK,					/* the call ran and answered */
	POOL_UNAVAILABLE,			/* no connection, outage, waited too long: 503 */
	POOL_FAILED					/* bar9.api raised or answered nonsense: 500 */
} PoolOutcome;

typedef enum JobKind
{
	JOB_API,					/* call bar9.api */
	JOB_PING,					/* SELECT 1, for /healthz */
	JOB_METRICS					/* SELECT bar9.metrics(), for /metrics */
} JobKind;

/*
 * One piece of database work.  The HTTP side fills the inputs and submits
 * it to its loop's pool; the pool fills the outputs and calls done(), in
 * the same thread, outside libmicrohttpd's callbacks.
 */
typedef struct Job
{
	JobKind		kind;
	const char *method;
	const char *path;
	const char *headers_json;
	const char *body;			/* NULL: no body */
	size_t		body_len;
	const char *request_id;		/* for error-log lines */
	void		(*done) (struct Job *job);
	void	   *arg;			/* the submitter's */

	PoolOutcome outcome;
	ApiResult	result;			/* when outcome is POOL_OK and kind JOB_API */
	int			ahead;			/* calls in flight on its connection when it
								 * was sent: > 0 means pipelined */

	/* private to pool.c */
	double		queued_ms;		/* submitted */
	double		sent_ms;		/* sent to the server */
	int			attempts;		/* sends that were refused and retried */
	bool		retry;			/* send again once its Sync is back */
	struct Job *next;
} Job;

typedef struct Pool Pool;
typedef struct Loop Loop;

/* Creates a pool of n database connections for a loop (its thread). */
extern Pool *PoolCreate(Loop *loop, int n);

/* Starts opening every connection of the pool. */
extern void PoolConnectAll(Pool *pool);

/* A pool's figures for /metrics, or their sum over the loops. */
typedef struct PoolStats
{
	int			size;			/* connections configured */
	int			open;			/* ready for calls */
	int			in_use;			/* with a call in flight */
	int			calls;			/* calls in flight */
	int			waiting;		/* jobs waiting for a connection */
} PoolStats;

/* Publishes the pool's figures (its loop, after each dispatch). */
extern void PoolPublish(Pool *pool);

/* Adds the pool's last published figures to st (any thread). */
extern void PoolStatsAdd(Pool *pool, PoolStats *st);

/* Queues a job; done() is called later, from PoolDispatch or an event. */
extern void PoolSubmit(Pool *pool, Job *job);

/* Sends queued jobs, expires old ones, reconnects: once per loop pass. */
extern void PoolDispatch(Pool *pool);

/* A socket event of connection index of the pool. */
extern void PoolSocketReady(Pool *pool, int index, uint32_t events);

/* Milliseconds to the pool's next deadline, or -1. */
extern int	PoolTimeoutMs(Pool *pool);

/* End of the shutdown grace: every job in the pool is answered 503. */
extern void PoolAbort(Pool *pool);

/* Closes the connections and frees the pool. */
extern void PoolClose(Pool *pool);

extern void ApiResultFree(ApiResult *result);

/* ---- loop.c ---- */

struct MHD_Daemon;
struct HandOver;

/* One event loop: a thread, its epoll set, its daemon and its pool. */
struct Loop
{
	pthread_t	thread;
	int			epoll_fd;
	int			wake_fd;		/* eventfd: mail and commands */
	struct MHD_Daemon *daemon;
	Pool	   *pool;
	bool		resumed;		/* a connection was resumed: run the daemon */
	bool		stopping;		/* the loop thread's copy of stop_requested */

	pthread_mutex_t mutex;		/* guards the fields below */
	struct HandOver *mail;		/* accepted sockets for this loop, oldest */
	struct HandOver *mail_tail; /* and newest */
	bool		abort_requested;
	bool		stop_requested;
};

/* The loop that the calling thread runs (NULL outside the loops). */
extern __thread Loop *loop_self;

/* Creates the loops (config.threads) and starts their threads. */
extern bool LoopsStart(void);

/* Hands an accepted socket to a loop; false when it could not. */
extern bool LoopHandOver(int fd, const struct sockaddr *addr, socklen_t len);

/* Has every loop answer its jobs 503 (end of the shutdown grace). */
extern void LoopsAbort(void);

/* Stops the loops and their threads. */
extern void LoopsStop(void);

/* The pools' figures, summed over the loops. */
extern void LoopsPoolStats(PoolStats *st);

/* Adds, changes or (events 0) removes a socket of the loop's epoll set. */
extern bool LoopWatch(Loop *loop, int fd, uint32_t events, uint64_t tag,
					  bool known);

/* The epoll tag of database connection index of a loop's pool. */
extern uint64_t LoopTagDb(int index);

/* ---- http.c ---- */

/* Opens the listen socket and starts the acceptor; false on failure. */
extern bool HttpStart(void);

/* Stops accepting connections (SIGTERM); already accepted ones are served. */
extern void HttpStopAccepting(void);

/* Creates a loop's daemon (run by the loop, no threads of its own). */
extern bool HttpDaemonStart(Loop *loop);

/* The daemon's epoll descriptor, for the loop's epoll set. */
extern int	HttpDaemonFd(Loop *loop);

/* Runs the daemon once: reads requests, writes answers. */
extern void HttpRun(Loop *loop);

/* Cuts off the loop's requests past --request-deadline; true if any. */
extern bool HttpSweep(Loop *loop);

/* Milliseconds until the daemon needs to run, or -1. */
extern long long HttpTimeoutMs(Loop *loop);

/* Gives an accepted socket to the loop's daemon. */
extern void HttpAddConnection(Loop *loop, int fd, const struct sockaddr *addr,
							  socklen_t len);

/* Stops a loop's daemon; no connection of it may wait for a job. */
extern void HttpDaemonStop(Loop *loop);

/* Requests begun and not yet completed (and fresh connections). */
extern int	HttpInFlight(void);

/* Connections suspended while their job is in the pool. */
extern int	HttpPendingJobs(void);

/* ---- metrics.c ---- */

/* True when the raw target names the proxy's /metrics. */
extern bool MetricsIsPath(const char *target);

/* Counts one finished request (status 0: no response was sent). */
extern void MetricsObserve(const char *method, const char *target,
						   int status, double duration_ms);

/* The text of GET /metrics; db_text NULL: the database's part is missing. */
extern bool MetricsRender(Buf *out, const char *db_text);

#endif							/* BAR9_PROXY_H */
