/*
 * pool.c
 *		The database side of one event loop: its share of the libpq
 *		connections, non-blocking and in pipeline mode, the jobs waiting for
 *		one, and the one query the proxy runs:
 *
 *	SELECT status, <headers as a 2-D text array>, body
 *	  FROM bar9.api($1, $2, $3::jsonb, $4::bytea)
 *
 * prepared once per connection, with the body sent and every column
 * received in binary format, so that the proxy parses no JSON at all: the
 * response headers arrive as a text[][] of name/value pairs.
 *
 * Pipelining.  A job goes to the connection with the fewest calls in
 * flight; when none is idle, it is pipelined behind the calls of a busy
 * one (at most pipeline_depth in flight per connection), each call
 * followed by its own Sync, so that every request is still a transaction
 * of its own and one request's error never touches another.  The server
 * then reads and answers calls back to back instead of sleeping between
 * them, which is most of what a request costs it on a small machine.  A
 * connection whose oldest call has run for PIPELINE_STALL_MS takes no
 * more jobs: a slow call (a lock wait, a large upload) holds back at most
 * the few calls already behind it, and new jobs wait in the queue, where
 * pool_wait_ms bounds their wait (then 503).
 *
 * Failures.  A connection is opened without blocking the loop
 * (PQconnectStartParams, with connect_timeout enforced here).  When it
 * breaks, its calls in flight are answered 503: they may or may not have
 * run, so none is sent again.  A call is retried only when it certainly
 * did not run: its connection was found dead before sending, or the server
 * refused the prepared statement (the statement then failed as a whole).
 * While no connection can be opened, jobs are answered 503 at once, and a
 * new attempt is made RECONNECT_BACKOFF_MS after the last failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "proxy.h"

#define API_STATEMENT	"bar9_api"
#define API_QUERY \
	"SELECT a.status," \
	" (SELECT array_agg(ARRAY[h.key, h.value])" \
	"    FROM pg_catalog.jsonb_each_text(a.headers) AS h)," \
	" a.body" \
	" FROM bar9.api($1::pg_catalog.text, $2::pg_catalog.text," \
	" $3::pg_catalog.jsonb, $4::pg_catalog.bytea) AS a"
#define API_PARAM_TYPES \
	"(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.bytea)"

/* A connection idle this long is checked before use (ConnectionIsDead). */
#define IDLE_CHECK_MS	50.0

/* After a failed connection attempt, fail fast for this long. */
#define RECONNECT_BACKOFF_MS	200.0

/* A connection whose oldest call is this old takes no pipelined job. */
#define PIPELINE_STALL_MS	5.0

/* A call with a body larger than this runs alone on its connection. */
#define PIPELINE_HEAVY_BODY	(64 * 1024)

typedef enum ConnState
{
	CONN_DOWN,					/* no connection */
	CONN_CONNECTING,			/* PQconnectPoll until it is made */
	CONN_SETUP,					/* SET statement_timeout; PREPARE */
	CONN_READY					/* in pipeline mode, taking jobs */
} ConnState;

/* One database connection of a pool. */
typedef struct Conn
{
	int			index;			/* in its pool; its epoll tag */
	PGconn	   *pg;
	PGcancel   *cancel;
	ConnState	state;
	int			fd;				/* its socket in the epoll set, or -1 */
	uint32_t	events;			/* the events asked for on fd */
	bool		dead;			/* the server said it is closing pg */
	bool		stale;			/* prepared statement refused: close when idle */
	bool		got_result;		/* the head job's result is in */
	double		deadline_ms;	/* CONNECTING or SETUP must end by then */
	double		last_used_ms;	/* end of its last call */
	Job		   *head;			/* calls sent, oldest first */
	Job		   *tail;
	int			depth;			/* calls sent and not yet answered */
} Conn;

/* One loop's connections and the jobs waiting for one. */
struct Pool
{
	Loop	   *loop;
	Conn	   *conns;
	int			n_conns;
	Job		   *wait_head;		/* oldest first */
	Job		   *wait_tail;
	double		last_failure_ms;
	bool		aborted;		/* end of the shutdown grace: 503 to all */
	PoolStats	published;		/* for /metrics: atomic fields (PoolPublish) */
};

static pthread_mutex_t state_mutex = PTHREAD_MUTEX_INITIALIZER;
static bool database_up = true; /* under state_mutex; for log transitions */

/* Notice receiver: a FATAL notice means the server is closing the session. */
static void
NoticeReceiver(void *arg, const PGresult *res)
{
	Conn	   *c = arg;
	const char *severity = PQresultErrorField(res,
											  PG_DIAG_SEVERITY_NONLOCALIZED);

	if (severity && (strcmp(severity, "FATAL") == 0 ||
					 strcmp(severity, "PANIC") == 0))
		c->dead = true;
}

/* Records whether the database answered, logging only the changes. */
static void
NoteDatabaseState(Pool *pool, bool up, const char *why)
{
	bool		was_up;

	if (!up)
		pool->last_failure_ms = NowMs();
	pthread_mutex_lock(&state_mutex);
	was_up = database_up;
	database_up = up;
	pthread_mutex_unlock(&state_mutex);
	if (was_up && !up)
		LogError("database unavailable: %s", why);
	else if (!was_up && up)
		LogInfo("database available again");
}

/*
 * Logs a failed result: SQLSTATE and primary message only.  DETAIL and
 * CONTEXT are left out on purpose: they can quote parameter values, and
 * the headers parameter holds the client's API key.
 */
static void
LogResultError(const char *what, PGconn *conn, const PGresult *res)
{
	const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res,
												   PG_DIAG_MESSAGE_PRIMARY) : NULL;

	LogError("%s failed: %s%s%s", what,
			 sqlstate ? sqlstate : "",
			 sqlstate ? " " : "",
			 primary ? primary : PQerrorMessage(conn));
}

/* True for SQLSTATEs that mean "try later" rather than "bug". */
static bool
IsTransientError(const char *sqlstate)
{
	if (sqlstate == NULL)
		return true;			/* no server error: the connection failed */
	return strncmp(sqlstate, "08", 2) == 0 ||	/* connection exception */
		strncmp(sqlstate, "53", 2) == 0 ||	/* insufficient resources */
		strncmp(sqlstate, "57", 2) == 0 ||	/* operator intervention */
		strcmp(sqlstate, "40001") == 0 ||	/* serialization failure */
		strcmp(sqlstate, "40P01") == 0 ||	/* deadlock detected */
		strcmp(sqlstate, "55P03") == 0; /* lock not available */
}

/* Reads a big-endian int32 from p. */
static int32_t
ReadInt32(const char *p)
{
	uint32_t	v;

	memcpy(&v, p, 4);
	return (int32_t) ntohl(v);
}

/* True when s is a valid header name (an RFC 9110 token). */
static bool
IsHeaderName(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c <= 0x20 || c >= 0x7F || strchr("\"(),/:;<=>?@[\\]{}", c))
			return false;
	}
	return true;
}

/* True when s can be sent as a header value: no CR, LF or NUL. */
static bool
IsHeaderValue(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return false;
	return true;
}

/* Copies len bytes into a new NUL-terminated string. */
static char *
CopyString(const char *s, size_t len)
{
	char	   *out = malloc(len + 1);

	if (out)
	{
		memcpy(out, s, len);
		out[len] = '\0';
	}
	return out;
}

/*
 * Parses the binary text[][] of (name, value) pairs into result.  Pairs
 * that cannot be sent as HTTP headers are dropped with a log line.
 */
static bool
ParseHeaderArray(const char *p, int len, ApiResult *result)
{
	const char *end = p + len;
	int32_t		ndim;
	int32_t		npairs;

	if (len < 12)
		return false;
	ndim = ReadInt32(p);
	if (ndim == 0)
		return true;			/* an empty array */
	if (ndim != 2 || len < 12 + 16)
		return false;
	npairs = ReadInt32(p + 12);
	if (npairs < 0 || npairs > 10000 || ReadInt32(p + 20) != 2)
		return false;
	p += 12 + 16;

	result->header_names = calloc(npairs ? npairs : 1, sizeof(char *));
	result->header_values = calloc(npairs ? npairs : 1, sizeof(char *));
	if (!result->header_names || !result->header_values)
		return false;

	for (int i = 0; i < npairs; i++)
	{
		const char *item[2];
		int32_t		item_len[2];

		for (int j = 0; j < 2; j++)
		{
			if (end - p < 4)
				return false;
			item_len[j] = ReadInt32(p);
			p += 4;
			if (item_len[j] < -1 || item_len[j] > end - p)
				return false;
			item[j] = p;
			if (item_len[j] > 0)
				p += item_len[j];
		}
		if (item_len[0] < 0 || item_len[1] < 0)
			continue;			/* a JSON null value: no header */
		if (!IsHeaderName(item[0], item_len[0]) ||
			!IsHeaderValue(item[1], item_len[1]))
		{
			LogError("bar9.api returned a header that cannot be sent; dropped");
			continue;
		}
		result->header_names[result->n_headers] = CopyString(item[0],
															 item_len[0]);
		result->header_values[result->n_headers] = CopyString(item[1],
															  item_len[1]);
		if (!result->header_names[result->n_headers] ||
			!result->header_values[result->n_headers])
			return false;
		result->n_headers++;
	}
	return true;
}

/* Turns the one-row binary result of the API query into result. */
static bool
ParseApiResult(const PGresult *res, ApiResult *result)
{
	if (PQntuples(res) != 1 || PQnfields(res) != 3)
	{
		LogError("bar9.api returned %d rows, expected 1", PQntuples(res));
		return false;
	}
	if (PQgetisnull(res, 0, 0) || PQgetlength(res, 0, 0) != 4)
	{
		LogError("bar9.api returned no status");
		return false;
	}
	result->status = ReadInt32(PQgetvalue(res, 0, 0));
	if (result->status < 100 || result->status > 599)
	{
		LogError("bar9.api returned status %d", result->status);
		return false;
	}
	if (!PQgetisnull(res, 0, 1) &&
		!ParseHeaderArray(PQgetvalue(res, 0, 1), PQgetlength(res, 0, 1),
						  result))
	{
		LogError("cannot read the headers bar9.api returned");
		return false;
	}
	if (!PQgetisnull(res, 0, 2))
	{
		result->body_len = PQgetlength(res, 0, 2);
		result->body = CopyString(PQgetvalue(res, 0, 2), result->body_len);
		if (result->body == NULL)
			return false;
	}
	return true;
}

/* Releases what an ApiResult holds. */
void
ApiResultFree(ApiResult *result)
{
	for (int i = 0; i < result->n_headers; i++)
	{
		free(result->header_names[i]);
		free(result->header_values[i]);
	}
	free(result->header_names);
	free(result->header_values);
	free(result->body);
	memset(result, 0, sizeof(ApiResult));
}

/* Appends job to the end of a list. */
static void
ListAppend(Job **head, Job **tail, Job *job)
{
	job->next = NULL;
	if (*tail)
		(*tail)->next = job;
	else
		*head = job;
	*tail = job;
}

/* Removes and returns the first job of a list, or NULL. */
static Job *
ListPop(Job **head, Job **tail)
{
	Job		   *job = *head;

	if (job)
	{
		*head = job->next;
		if (*head == NULL)
			*tail = NULL;
		job->next = NULL;
	}
	return job;
}

/* Answers a job: its connection is resumed by done(). */
static void
Finish(Job *job, PoolOutcome outcome)
{
	if (outcome != POOL_OK)
		ApiResultFree(&job->result);
	job->outcome = outcome;
	job->done(job);
}

/* Answers every waiting job with 503, logging why once per job. */
static void
FailWaiting(Pool *pool, const char *why)
{
	Job		   *job;

	while ((job = ListPop(&pool->wait_head, &pool->wait_tail)) != NULL)
	{
		log_request_id = job->request_id;
		LogError("%s", why);
		log_request_id = NULL;
		Finish(job, POOL_UNAVAILABLE);
	}
}

/* Asks epoll for these events on the connection's socket. */
static bool
ConnWatch(Pool *pool, Conn *c, uint32_t events)
{
	int			fd = c->pg ? PQsocket(c->pg) : -1;

	if (fd != c->fd)
	{
		/*
		 * libpq moved to another socket (the next host or address of the
		 * connection string) and closed the old one, which left the epoll
		 * set with it: no EPOLL_CTL_DEL, whose number may be taken already.
		 */
		c->fd = -1;
		c->events = 0;
	}
	if (fd < 0)
		return false;
	if (fd == c->fd && events == c->events)
		return true;
	if (!LoopWatch(pool->loop, fd, events, LoopTagDb(c->index), c->fd == fd))
		return false;
	c->fd = fd;
	c->events = events;
	return true;
}

/* Closes a connection; its calls in flight are answered 503. */
static void
ConnClose(Pool *pool, Conn *c)
{
	Job		   *job;

	if (c->fd >= 0)
		LoopWatch(pool->loop, c->fd, 0, 0, true);
	c->fd = -1;
	c->events = 0;
	if (c->cancel)
		PQfreeCancel(c->cancel);
	c->cancel = NULL;
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->state = CONN_DOWN;
	c->dead = false;
	c->stale = false;
	c->got_result = false;
	while ((job = ListPop(&c->head, &c->tail)) != NULL)
	{
		/* it may or may not have run: never sent again */
		log_request_id = job->request_id;
		LogError("the database connection broke during the call");
		log_request_id = NULL;
		Finish(job, POOL_UNAVAILABLE);
	}
	c->depth = 0;
}

/* A connection failed: log it, close it, start the back-off. */
static void
ConnFail(Pool *pool, Conn *c, const char *what)
{
	char		why[512];

	snprintf(why, sizeof(why), "%s: %s", what,
			 c->pg ? PQerrorMessage(c->pg) : "out of memory");
	/* libpq's messages end with a newline */
	why[strcspn(why, "\n")] = '\0';
	ConnClose(pool, c);
	NoteDatabaseState(pool, false, why);
}

/* Starts opening a connection, without waiting for it. */
static void
ConnStart(Pool *pool, Conn *c)
{
	const char *keywords[5];
	const char *values[5];
	char		connect_timeout[16];

	/*
	 * Our defaults come before the user's connection string so that it can
	 * override them; client_encoding comes after: the proxy speaks UTF-8.
	 */
	snprintf(connect_timeout, sizeof(connect_timeout), "%d",
			 config.connect_timeout);
	keywords[0] = "fallback_application_name";
	values[0] = "bar9-proxy";
	keywords[1] = "connect_timeout";
	values[1] = connect_timeout;
	keywords[2] = "dbname";
	values[2] = config.database_url;
	keywords[3] = "client_encoding";
	values[3] = "UTF8";
	keywords[4] = NULL;
	values[4] = NULL;

	/* a host name is resolved here, synchronously; an address is not */
	c->pg = PQconnectStartParams(keywords, values, 1);
	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD)
	{
		ConnFail(pool, c, "cannot connect");
		return;
	}
	PQsetNoticeReceiver(c->pg, NoticeReceiver, c);
	c->state = CONN_CONNECTING;
	/* libpq enforces connect_timeout only when it blocks: here it is ours */
	c->deadline_ms = NowMs() + config.connect_timeout * 1000.0;
	if (!ConnWatch(pool, c, EPOLLOUT))
		ConnFail(pool, c, "cannot connect");
}

/*
 * The connection is made: set the session up in one round trip.  PREPARE
 * in SQL makes the same prepared statement as the protocol's Parse, and
 * lets SET and PREPARE travel in one simple query.
 */
static void
ConnSetup(Pool *pool, Conn *c)
{
	char		sql[1024];
	int			n = 0;

	if (config.statement_timeout_ms > 0)
		n = snprintf(sql, sizeof(sql), "SET statement_timeout = %d; ",
					 config.statement_timeout_ms);
	snprintf(sql + n, sizeof(sql) - n, "PREPARE " API_STATEMENT " "
			 API_PARAM_TYPES " AS " API_QUERY);
	if (PQsetnonblocking(c->pg, 1) != 0 || !PQsendQuery(c->pg, sql))
	{
		ConnFail(pool, c, "cannot set the session up");
		return;
	}
	c->state = CONN_SETUP;
	if (PQflush(c->pg) < 0 || !ConnWatch(pool, c, EPOLLIN | EPOLLOUT))
		ConnFail(pool, c, "cannot set the session up");
}

/* Drives PQconnectPoll one step, on a socket event or a deadline. */
static void
ConnPollConnect(Pool *pool, Conn *c)
{
	switch (PQconnectPoll(c->pg))
	{
		case PGRES_POLLING_READING:
			if (!ConnWatch(pool, c, EPOLLIN))
				ConnFail(pool, c, "cannot connect");
			break;
		case PGRES_POLLING_WRITING:
			if (!ConnWatch(pool, c, EPOLLOUT))
				ConnFail(pool, c, "cannot connect");
			break;
		case PGRES_POLLING_OK:
			ConnSetup(pool, c);
			break;
		default:
			ConnFail(pool, c, "cannot connect");
			break;
	}
}

/* Reads the answers to the session set-up; READY when both are in. */
static void
ConnReadSetup(Pool *pool, Conn *c)
{
	PGresult   *res;
	bool		ok = true;

	if (!PQconsumeInput(c->pg))
	{
		ConnFail(pool, c, "connection lost during set-up");
		return;
	}
	while (!PQisBusy(c->pg))
	{
		res = PQgetResult(c->pg);
		if (res == NULL)
			break;
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			LogResultError("setting the session up", c->pg, res);
			ok = false;
		}
		PQclear(res);
	}
	if (PQisBusy(c->pg))
	{
		if (!ok)
			ConnFail(pool, c, "cannot set the session up");
		return;					/* more to come */
	}
	if (!ok || !PQenterPipelineMode(c->pg))
	{
		/* no bar9.api, or no right to call it: a 503 and the log say so */
		ConnFail(pool, c, "cannot set the session up");
		return;
	}
	c->cancel = PQgetCancel(c->pg);
	c->state = CONN_READY;
	c->last_used_ms = NowMs();
	if (!ConnWatch(pool, c, EPOLLIN))
		ConnFail(pool, c, "cannot watch the connection");
	else
		NoteDatabaseState(pool, true, NULL);
}

/*
 * True when the server closed an idle connection.  Its socket is read
 * only when the connection rested IDLE_CHECK_MS or more (a FATAL notice
 * or the close also wakes the loop, but may come in the same round as a
 * request); a busy connection costs no system call here.
 */
static bool
ConnectionIsDead(Conn *c)
{
	PGnotify   *notify;

	if (c->dead || PQstatus(c->pg) != CONNECTION_OK)
		return true;
	if (NowMs() - c->last_used_ms < IDLE_CHECK_MS)
		return false;
	if (!PQconsumeInput(c->pg))
		return true;
	while ((notify = PQnotifies(c->pg)) != NULL)
		PQfreemem(notify);
	c->last_used_ms = NowMs();
	return c->dead || PQstatus(c->pg) != CONNECTION_OK;
}

/*
 * Sends a job on a READY connection: the call and a Sync.  False when
 * nothing could be sent: the connection is then closed and the job, which
 * did not reach the server, may go elsewhere.
 */
static bool
ConnSend(Pool *pool, Conn *c, Job *job)
{
	static const int formats[4] = {0, 0, 0, 1};
	const char *params[4];
	int			lengths[4];
	int			ok;
	int			flushed;

	params[0] = job->method;
	params[1] = job->path;
	params[2] = job->headers_json;
	params[3] = job->body;		/* NULL: no body */
	lengths[0] = lengths[1] = lengths[2] = 0;
	lengths[3] = (int) job->body_len;

	memset(&job->result, 0, sizeof(ApiResult));
	job->outcome = POOL_UNAVAILABLE;
	if (job->kind == JOB_PING)
		ok = PQsendQueryParams(c->pg, "SELECT 1", 0, NULL, NULL, NULL, NULL, 1);
	else if (job->kind == JOB_METRICS)
		ok = PQsendQueryParams(c->pg, "SELECT bar9.metrics()", 0, NULL, NULL,
							   NULL, NULL, 0);
	else
		ok = PQsendQueryPrepared(c->pg, API_STATEMENT, 4, params, lengths,
								 formats, 1);
	if (!ok)
	{
		ConnFail(pool, c, "sending the bar9.api call failed");
		return false;
	}
	job->sent_ms = NowMs();
	if (c->depth == 0)
		c->got_result = false;
	ListAppend(&c->head, &c->tail, job);
	job->ahead = c->depth;
	c->depth++;
	if (!PQpipelineSync(c->pg))
	{
		ConnFail(pool, c, "sending the bar9.api call failed");
		return true;			/* it was answered 503 */
	}
	flushed = PQflush(c->pg);
	if (flushed < 0)
		ConnFail(pool, c, "sending the bar9.api call failed");
	else if (!ConnWatch(pool, c, flushed ? EPOLLIN | EPOLLOUT : EPOLLIN))
		ConnFail(pool, c, "cannot watch the connection");
	return true;
}

/* Takes the answer of the head job's call; the job ends at its Sync. */
static void
ConnTakeResult(Conn *c, PGresult *res)
{
	Job		   *job = c->head;
	const char *sqlstate;

	if (job == NULL)
		return;					/* a stray result: nothing waits for it */
	if (c->got_result)
		return;					/* only the first result counts */
	c->got_result = true;
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
	{
		if (job->kind == JOB_PING)
			job->outcome = POOL_OK;
		else if (job->kind == JOB_METRICS)
		{
			/* the text goes in the result's body */
			job->result.body = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ?
				CopyString(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0)) : NULL;
			job->outcome = job->result.body ? POOL_OK : POOL_FAILED;
		}
		else
			job->outcome = ParseApiResult(res, &job->result) ? POOL_OK :
				POOL_FAILED;	/* Finish frees a partial result */
		return;
	}
	log_request_id = job->request_id;
	LogResultError(job->kind == JOB_PING ? "ping" :
				   job->kind == JOB_METRICS ? "bar9.metrics call" : "bar9.api call",
				   c->pg, res);
	log_request_id = NULL;
	sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (sqlstate && job->attempts == 0 &&
		(strcmp(sqlstate, "0A000") == 0 ||	/* cached plan changed */
		 strcmp(sqlstate, "26000") == 0))	/* statement gone */
	{
		/* the statement failed as a whole: send it again elsewhere */
		job->retry = true;
		c->stale = true;
		return;
	}
	job->outcome = IsTransientError(sqlstate) ? POOL_UNAVAILABLE : POOL_FAILED;
}

/* The head job's Sync came back: it is done, or goes back to the queue. */
static void
ConnEndHead(Pool *pool, Conn *c)
{
	Job		   *job = ListPop(&c->head, &c->tail);

	c->depth--;
	c->got_result = false;
	c->last_used_ms = NowMs();
	if (job == NULL)
		return;
	if (job->retry)
	{
		job->retry = false;
		job->attempts++;
		job->next = pool->wait_head;
		pool->wait_head = job;
		if (pool->wait_tail == NULL)
			pool->wait_tail = job;
		return;
	}
	Finish(job, job->outcome);
}

/* Reads what the server sent on a READY connection and answers jobs. */
static void
ConnRead(Pool *pool, Conn *c)
{
	int			nulls = 0;

	if (!PQconsumeInput(c->pg))
	{
		ConnFail(pool, c, "connection lost");
		return;
	}
	while (c->head && !PQisBusy(c->pg))
	{
		PGresult   *res = PQgetResult(c->pg);

		if (res == NULL)
		{
			/* the end of one call's results; its Sync comes next */
			if (++nulls > 1)
				break;
			continue;
		}
		nulls = 0;
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
			ConnEndHead(pool, c);
		else
			ConnTakeResult(c, res);
		PQclear(res);
	}
	if (c->dead || PQstatus(c->pg) != CONNECTION_OK)
		ConnFail(pool, c, "the server closed the connection");
	else if (c->stale && c->depth == 0)
		ConnClose(pool, c);		/* opened again, and prepared, on demand */
}

/* A socket event on one of the pool's connections. */
void
PoolSocketReady(Pool *pool, int index, uint32_t events)
{
	Conn	   *c;

	if (index < 0 || index >= pool->n_conns)
		return;
	c = &pool->conns[index];
	switch (c->state)
	{
		case CONN_DOWN:
			break;
		case CONN_CONNECTING:
			ConnPollConnect(pool, c);
			break;
		case CONN_SETUP:
		case CONN_READY:
			if (events & EPOLLOUT)
			{
				int			flushed = PQflush(c->pg);

				if (flushed < 0)
				{
					ConnFail(pool, c, "sending failed");
					break;
				}
				if (!ConnWatch(pool, c, flushed ? EPOLLIN | EPOLLOUT : EPOLLIN))
				{
					ConnFail(pool, c, "cannot watch the connection");
					break;
				}
			}
			if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			{
				if (c->state == CONN_SETUP)
					ConnReadSetup(pool, c);
				else
					ConnRead(pool, c);
			}
			break;
	}
}

/* True when a job is heavy: it runs alone, nothing is pipelined with it. */
static bool
IsHeavy(const Job *job)
{
	return job->body_len > PIPELINE_HEAVY_BODY;
}

/*
 * The connection for the next job, or NULL when it must wait.  Busy
 * connections come first: the deepest pipeline that is still short
 * (under pipeline_depth) and moving (its oldest call younger than
 * PIPELINE_STALL_MS, and not heavy).  Filling one pipeline before the
 * next keeps the server's work in few sessions, where it costs least.
 * Then an idle connection; one that the server closed is closed here.
 */
static Conn *
PickConn(Pool *pool, Job *job, double now)
{
	Conn	   *best = NULL;

	if (!IsHeavy(job))
	{
		for (int i = 0; i < pool->n_conns; i++)
		{
			Conn	   *c = &pool->conns[i];

			if (c->state != CONN_READY || c->stale || c->depth == 0 ||
				c->depth >= config.pipeline_depth ||
				now - c->head->sent_ms >= PIPELINE_STALL_MS ||
				IsHeavy(c->tail))
				continue;
			if (best == NULL || c->depth > best->depth)
				best = c;
		}
		if (best)
			return best;
	}
	for (int i = 0; i < pool->n_conns; i++)
	{
		Conn	   *c = &pool->conns[i];

		if (c->state != CONN_READY || c->stale || c->depth > 0)
			continue;
		if (ConnectionIsDead(c))
		{
			ConnFail(pool, c, "the server closed the connection");
			continue;
		}
		return c;
	}
	return NULL;
}

/* Sends what waits, expires what waited too long, reconnects if needed. */
void
PoolDispatch(Pool *pool)
{
	double		now = NowMs();
	bool		live = false;
	bool		grow = false;

	if (pool->aborted)
	{
		FailWaiting(pool, "shutting down");
		return;
	}
	for (int i = 0; i < pool->n_conns; i++)
	{
		Conn	   *c = &pool->conns[i];

		if ((c->state == CONN_CONNECTING || c->state == CONN_SETUP) &&
			now >= c->deadline_ms)
			ConnFail(pool, c, "timeout expired while connecting");
	}

	while (pool->wait_head &&
		   now - pool->wait_head->queued_ms >= config.pool_wait_ms)
	{
		Job		   *job = ListPop(&pool->wait_head, &pool->wait_tail);

		log_request_id = job->request_id;
		LogError("no free database connection within %d ms",
				 config.pool_wait_ms);
		log_request_id = NULL;
		Finish(job, POOL_UNAVAILABLE);
	}

	while (pool->wait_head)
	{
		Conn	   *c = PickConn(pool, pool->wait_head, now);
		Job		   *job;

		if (c == NULL)
			break;
		if (c->depth > 0)
			grow = true;		/* all busy: open the closed ones too */
		job = ListPop(&pool->wait_head, &pool->wait_tail);
		if (!ConnSend(pool, c, job))
		{
			/* it did not reach the server: first in line again */
			job->next = pool->wait_head;
			pool->wait_head = job;
			if (pool->wait_tail == NULL)
				pool->wait_tail = job;
		}
	}
	if (pool->wait_head == NULL && !grow)
		return;

	/* reopen closed connections, unless the last attempt failed just now */
	for (int i = 0; i < pool->n_conns; i++)
	{
		Conn	   *c = &pool->conns[i];

		if (c->state == CONN_DOWN &&
			now - pool->last_failure_ms >= RECONNECT_BACKOFF_MS)
			ConnStart(pool, c);
		if (c->state != CONN_DOWN)
			live = true;
	}
	if (!live)
		FailWaiting(pool, "the database is not available");
}

/* Milliseconds to the pool's next deadline, or -1 for none. */
int
PoolTimeoutMs(Pool *pool)
{
	double		now = NowMs();
	double		next = -1;

	if (pool->wait_head)
		next = pool->wait_head->queued_ms + config.pool_wait_ms;
	for (int i = 0; i < pool->n_conns; i++)
	{
		Conn	   *c = &pool->conns[i];
		double		t = -1;

		if (c->state == CONN_CONNECTING || c->state == CONN_SETUP)
			t = c->deadline_ms;
		if (t >= 0 && (next < 0 || t < next))
			next = t;
	}
	if (next < 0)
		return -1;
	return next <= now ? 0 : (int) (next - now) + 1;
}

/*
 * Publishes the pool's figures for /metrics, which another loop's thread
 * may read: the loop calls it after each dispatch.  The wait list is walked
 * (it holds at most the loop's suspended connections).
 */
void
PoolPublish(Pool *pool)
{
	int			open = 0;
	int			in_use = 0;
	int			calls = 0;
	int			waiting = 0;

	for (int i = 0; i < pool->n_conns; i++)
	{
		Conn	   *c = &pool->conns[i];

		open += c->state == CONN_READY;
		in_use += c->depth > 0;
		calls += c->depth;
	}
	for (Job *j = pool->wait_head; j != NULL; j = j->next)
		waiting++;
	__atomic_store_n(&pool->published.size, pool->n_conns, __ATOMIC_RELAXED);
	__atomic_store_n(&pool->published.open, open, __ATOMIC_RELAXED);
	__atomic_store_n(&pool->published.in_use, in_use, __ATOMIC_RELAXED);
	__atomic_store_n(&pool->published.calls, calls, __ATOMIC_RELAXED);
	__atomic_store_n(&pool->published.waiting, waiting, __ATOMIC_RELAXED);
}

/* Adds the pool's last published figures to st. */
void
PoolStatsAdd(Pool *pool, PoolStats *st)
{
	st->size += __atomic_load_n(&pool->published.size, __ATOMIC_RELAXED);
	st->open += __atomic_load_n(&pool->published.open, __ATOMIC_RELAXED);
	st->in_use += __atomic_load_n(&pool->published.in_use, __ATOMIC_RELAXED);
	st->calls += __atomic_load_n(&pool->published.calls, __ATOMIC_RELAXED);
	st->waiting += __atomic_load_n(&pool->published.waiting, __ATOMIC_RELAXED);
}

/* Queues a job; PoolDispatch sends it, and done() is called later. */
void
PoolSubmit(Pool *pool, Job *job)
{
	job->queued_ms = NowMs();
	job->attempts = 0;
	job->retry = false;
	ListAppend(&pool->wait_head, &pool->wait_tail, job);
}

/* Creates a pool of n connections for a loop; they open in PoolConnectAll. */
Pool *
PoolCreate(Loop *loop, int n)
{
	Pool	   *pool = calloc(1, sizeof(Pool));

	if (pool == NULL)
		return NULL;
	pool->loop = loop;
	pool->n_conns = n;
	pool->last_failure_ms = -1e9;
	pool->conns = calloc(n ? n : 1, sizeof(Conn));
	if (pool->conns == NULL)
	{
		free(pool);
		return NULL;
	}
	for (int i = 0; i < n; i++)
	{
		pool->conns[i].index = i;
		pool->conns[i].fd = -1;
	}
	return pool;
}

/* Starts opening every connection, so the first requests find them ready. */
void
PoolConnectAll(Pool *pool)
{
	for (int i = 0; i < pool->n_conns; i++)
		if (pool->conns[i].state == CONN_DOWN)
			ConnStart(pool, &pool->conns[i]);
}

/*
 * The shutdown grace is over: cancels the calls in flight (best effort),
 * answers them and the waiting jobs with 503, and closes the connections.
 */
void
PoolAbort(Pool *pool)
{
	char		errbuf[256];

	if (pool->aborted)
		return;
	pool->aborted = true;
	for (int i = 0; i < pool->n_conns; i++)
	{
		Conn	   *c = &pool->conns[i];

		if (c->depth > 0 && c->cancel)
			PQcancel(c->cancel, errbuf, sizeof(errbuf));
		ConnClose(pool, c);
	}
	FailWaiting(pool, "shutting down");
}

/* Closes the pool's connections and frees it (its loop is stopping). */
void
PoolClose(Pool *pool)
{
	for (int i = 0; i < pool->n_conns; i++)
		ConnClose(pool, &pool->conns[i]);
	FailWaiting(pool, "shutting down");
	free(pool->conns);
	free(pool);
}
