/*
 * proxy.h
 *		Declarations shared by the files of bar9-proxy, the thin HTTP front
 *		of bar9: every request becomes one call of bar9.api().
 *
 * One file per concern: main.c (options, start, SIGTERM), http.c (the
 * libmicrohttpd callbacks), pool.c (libpq connections and the bar9.api
 * call), headers.c (request headers as JSON text, UTF-8 repair), log.c
 * (access and error log).
 */
#ifndef BAR9_PROXY_H
#define BAR9_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BAR9_PROXY_VERSION "1.0"

/* The largest request body bar9 accepts (API.md: 413 above it). */
#define MAX_BODY_BYTES		(1024 * 1024)

/* Settings from flags and environment (main.c). */
typedef struct ProxyConfig
{
	const char *listen_addr;	/* host:port, [v6]:port or :port */
	const char *database_url;	/* libpq conninfo or URI; "" = PG* env */
	int			pool_size;		/* database connections */
	int			threads;		/* HTTP threads */
	int			max_connections;	/* open HTTP connections at once */
	int			client_timeout; /* seconds a client may stay silent */
	int			pool_wait_ms;	/* wait for a free database connection */
	int			connect_timeout;	/* seconds, libpq connect_timeout */
	int			statement_timeout_ms;	/* per bar9.api call; 0 = none */
	int			shutdown_grace; /* seconds to finish requests on SIGTERM */
	const char *access_log;		/* file name, or "-" for stderr */
} ProxyConfig;

extern ProxyConfig config;

/* Set once SIGTERM arrived: responses then close their connection. */
extern volatile bool shutting_down;

/* ---- log.c ---- */

/* Opens the access log (or keeps stderr) and starts its flusher thread. */
extern bool LogOpen(const char *path);

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
					  const char *note);

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
	JOB_PING					/* SELECT 1, for /healthz */
} JobKind;

/*
 * One piece of database work.  The HTTP side fills the inputs and submits
 * it; a pool worker (or, after pool_wait_ms in the queue, the janitor)
 * fills the outputs and calls done() from its own thread.
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

	double		queued_ms;		/* private to pool.c */
	struct Job *next;
} Job;

/* Starts the pool's workers (one per database connection). */
extern bool PoolStart(void);

/* Queues a job; done() is called exactly once, from another thread. */
extern void PoolSubmit(Job *job);

/* Runs a job in the calling HTTP thread if that is possible right now. */
extern bool PoolTryRun(Job *job);

/* Answers queued jobs with 503 and cancels running calls (end of grace). */
extern void PoolAbort(void);

/* Stops the workers and closes the connections; the queue must be empty. */
extern void PoolStop(void);

extern void ApiResultFree(ApiResult *result);

/* ---- http.c ---- */

/* Starts listening and the HTTP threads; false on failure (logged). */
extern bool HttpStart(void);

/* Stops accepting connections (SIGTERM); already accepted ones are served. */
extern void HttpStopAccepting(void);

/* Stops the HTTP threads; no connection may wait for a job any more. */
extern void HttpStop(void);

/* Requests begun and not yet completed (and fresh connections). */
extern int	HttpInFlight(void);

/* Connections suspended while their job is in the pool. */
extern int	HttpPendingJobs(void);

#endif							/* BAR9_PROXY_H */
