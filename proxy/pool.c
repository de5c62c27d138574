/*
 * pool.c
 *		The database side: one worker thread per libpq connection, a queue
 *		of jobs between the HTTP threads and the workers, and the one query
 *		the proxy runs:
 *
 *	SELECT status, <headers as a 2-D text array>, body
 *	  FROM bar9.api($1, $2, $3::jsonb, $4::bytea)
 *
 * prepared once per connection, with the body sent and every column
 * received in binary format, so that the proxy parses no JSON at all: the
 * response headers arrive as a text[][] of name/value pairs.
 *
 * An HTTP thread runs the call itself when a connection is free (and
 * another HTTP thread stays free); otherwise the request is suspended and
 * its job queued, to run on whichever connection frees up first.  A job
 * still queued after pool_wait_ms is answered 503 by the janitor thread,
 * so no request waits for a connection without bound.
 *
 * A connection that the server closed (restart, crash, terminate) is
 * noticed before it is used and opened again; while the database is down
 * every job fails fast with 503, and connect_timeout bounds each attempt.
 * A call is retried on a fresh connection only when it certainly did not
 * run: the connection was found dead before sending, or the server refused
 * the cached plan (the statement then failed as a whole).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* A connection idle this long is checked before use (ConnectionIsDead). */
#define IDLE_CHECK_MS	50.0

/* After a failed connection attempt, fail fast for this long. */
#define RECONNECT_BACKOFF_MS	200.0

/* A worker thread and its connection. */
typedef struct Worker
{
	pthread_t	thread;
	PGconn	   *conn;
	PGcancel   *cancel;			/* under pool_mutex, for PoolAbort */
	bool		prepared;		/* API_STATEMENT exists on conn */
	bool		dead;			/* the server said it is closing conn */
	bool		busy;			/* running a job; under pool_mutex */
	double		last_used_ms;	/* end of its last call */
	pthread_cond_t wake;		/* a job is queued and this worker is free */
} Worker;

static Worker *workers;
static pthread_t janitor;
static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static int	inline_running;		/* jobs run by HTTP threads; under pool_mutex */
static Job *queue_head;			/* oldest first; under pool_mutex */
static Job *queue_tail;
static bool stopping;			/* under pool_mutex */
static double last_failure_ms = -1e9;	/* under pool_mutex */
static bool database_up = true; /* under pool_mutex; for log transitions */

/* Closes a worker's connection so that the next job opens a new one. */
static void
WorkerDrop(Worker *w)
{
	pthread_mutex_lock(&pool_mutex);
	if (w->cancel)
		PQfreeCancel(w->cancel);
	w->cancel = NULL;
	pthread_mutex_unlock(&pool_mutex);
	if (w->conn)
		PQfinish(w->conn);
	w->conn = NULL;
	w->prepared = false;
	w->dead = false;
}

/* Notice receiver: a FATAL notice means the server is closing the session. */
static void
NoticeReceiver(void *arg, const PGresult *res)
{
	Worker	   *w = arg;
	const char *severity = PQresultErrorField(res,
											  PG_DIAG_SEVERITY_NONLOCALIZED);

	if (severity && (strcmp(severity, "FATAL") == 0 ||
					 strcmp(severity, "PANIC") == 0))
		w->dead = true;
}

/*
 * True when the server closed the connection while it was idle.  Its
 * socket is looked at only when the connection rested IDLE_CHECK_MS or
 * more: a busy connection costs no system call here (on small virtual
 * machines system calls are most of the proxy's cost), and a connection
 * that the server closes is noticed on its next use after a rest, such as
 * the first requests after a restart.
 */
static bool
ConnectionIsDead(Worker *w)
{
	struct pollfd pfd;
	PGnotify   *notify;

	if (w->dead || PQstatus(w->conn) != CONNECTION_OK)
		return true;
	if (NowMs() - w->last_used_ms < IDLE_CHECK_MS)
		return false;
	pfd.fd = PQsocket(w->conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (pfd.fd < 0)
		return true;
	if (poll(&pfd, 1, 0) == 0)
		return false;			/* nothing arrived: the usual case */
	if (!PQconsumeInput(w->conn))
		return true;
	while ((notify = PQnotifies(w->conn)) != NULL)
		PQfreemem(notify);
	return w->dead || PQstatus(w->conn) != CONNECTION_OK;
}

/* Records whether the database answered, logging only the changes. */
static void
NoteDatabaseState(bool up, const char *why)
{
	bool		was_up;

	pthread_mutex_lock(&pool_mutex);
	was_up = database_up;
	database_up = up;
	if (!up)
		last_failure_ms = NowMs();
	pthread_mutex_unlock(&pool_mutex);
	if (was_up && !up)
		LogError("database unavailable: %s", why);
	else if (!was_up && up)
		LogInfo("database available again");
}

/* Opens the worker's connection unless it is open and alive. */
static bool
WorkerConnect(Worker *w)
{
	const char *keywords[6];
	const char *values[6];
	char		connect_timeout[16];
	double		since_failure;
	PGcancel   *cancel;

	if (w->conn && !ConnectionIsDead(w))
		return true;
	WorkerDrop(w);

	pthread_mutex_lock(&pool_mutex);
	since_failure = NowMs() - last_failure_ms;
	pthread_mutex_unlock(&pool_mutex);
	if (since_failure < RECONNECT_BACKOFF_MS)
		return false;

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

	w->conn = PQconnectdbParams(keywords, values, 1);
	if (w->conn == NULL || PQstatus(w->conn) != CONNECTION_OK)
	{
		char		why[512];

		snprintf(why, sizeof(why), "%s",
				 w->conn ? PQerrorMessage(w->conn) : "out of memory");
		WorkerDrop(w);
		NoteDatabaseState(false, why);
		return false;
	}
	PQsetNoticeReceiver(w->conn, NoticeReceiver, w);

	if (config.statement_timeout_ms > 0)
	{
		char		sql[64];
		PGresult   *res;

		snprintf(sql, sizeof(sql), "SET statement_timeout = %d",
				 config.statement_timeout_ms);
		res = PQexec(w->conn, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			LogError("cannot set statement_timeout: %s",
					 PQerrorMessage(w->conn));
			PQclear(res);
			WorkerDrop(w);
			NoteDatabaseState(false, "session set-up failed");
			return false;
		}
		PQclear(res);
	}
	cancel = PQgetCancel(w->conn);
	pthread_mutex_lock(&pool_mutex);
	w->cancel = cancel;
	pthread_mutex_unlock(&pool_mutex);
	NoteDatabaseState(true, NULL);
	return true;
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

/* Runs a JOB_API job: calls bar9.api on the worker's connection. */
static PoolOutcome
RunApiJob(Worker *w, Job *job)
{
	static const int formats[4] = {0, 0, 0, 1};
	const char *params[4];
	int			lengths[4];
	PoolOutcome outcome = POOL_UNAVAILABLE;

	params[0] = job->method;
	params[1] = job->path;
	params[2] = job->headers_json;
	params[3] = job->body;		/* NULL: no body */
	lengths[0] = lengths[1] = lengths[2] = 0;
	lengths[3] = (int) job->body_len;

	for (int attempt = 0; attempt < 2; attempt++)
	{
		PGresult   *res = NULL;
		PGresult   *extra;
		const char *sqlstate;

		if (!WorkerConnect(w))
			break;
		if (!w->prepared)
		{
			res = PQprepare(w->conn, API_STATEMENT, API_QUERY, 4, NULL);
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
			{
				LogResultError("preparing the bar9.api call", w->conn, res);
				PQclear(res);
				if (PQstatus(w->conn) != CONNECTION_OK)
				{
					WorkerDrop(w);
					continue;
				}
				break;			/* no bar9.api, or no right to call it */
			}
			PQclear(res);
			w->prepared = true;
		}

		if (!PQsendQueryPrepared(w->conn, API_STATEMENT, 4, params,
								 lengths, formats, 1))
		{
			/* nothing reached the server: safe to try a new connection */
			LogError("sending the bar9.api call failed: %s",
					 PQerrorMessage(w->conn));
			WorkerDrop(w);
			continue;
		}
		res = PQgetResult(w->conn);
		while ((extra = PQgetResult(w->conn)) != NULL)
			PQclear(extra);

		if (PQresultStatus(res) == PGRES_TUPLES_OK)
		{
			outcome = ParseApiResult(res, &job->result) ? POOL_OK : POOL_FAILED;
			if (outcome != POOL_OK)
				ApiResultFree(&job->result);
			PQclear(res);
			break;
		}

		LogResultError("bar9.api call", w->conn, res);
		sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		if (PQstatus(w->conn) != CONNECTION_OK)
		{
			/* it may or may not have run: never retried */
			PQclear(res);
			WorkerDrop(w);
			NoteDatabaseState(false, "connection lost during a call");
			outcome = POOL_UNAVAILABLE;
			break;
		}
		if (sqlstate && attempt == 0 &&
			(strcmp(sqlstate, "0A000") == 0 ||	/* cached plan changed */
			 strcmp(sqlstate, "26000") == 0))	/* statement gone */
		{
			/* the statement failed as a whole and was rolled back */
			PQclear(res);
			WorkerDrop(w);
			continue;
		}
		outcome = IsTransientError(sqlstate) ? POOL_UNAVAILABLE : POOL_FAILED;
		PQclear(res);
		break;
	}
	return outcome;
}

/* Runs a JOB_PING job: SELECT 1. */
static PoolOutcome
RunPingJob(Worker *w)
{
	PGresult   *res;
	bool		ok;

	if (!WorkerConnect(w))
		return POOL_UNAVAILABLE;
	res = PQexec(w->conn, "SELECT 1");
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	if (!ok && PQstatus(w->conn) != CONNECTION_OK)
	{
		WorkerDrop(w);
		NoteDatabaseState(false, "connection lost during a ping");
	}
	return ok ? POOL_OK : POOL_UNAVAILABLE;
}

/* Runs a job on a worker's connection, in the calling thread. */
static void
RunJob(Worker *w, Job *job)
{
	const char *outer = log_request_id;

	log_request_id = job->request_id;
	memset(&job->result, 0, sizeof(ApiResult));
	job->outcome = job->kind == JOB_PING ? RunPingJob(w) : RunApiJob(w, job);
	w->last_used_ms = NowMs();
	log_request_id = outer;
}

/* A worker: takes the oldest job, runs it, reports it; until PoolStop. */
static void *
WorkerMain(void *arg)
{
	Worker	   *w = arg;

	/* be ready before the first request; busy (set by PoolStart) till then */
	WorkerConnect(w);
	pthread_mutex_lock(&pool_mutex);
	w->busy = false;
	pthread_mutex_unlock(&pool_mutex);
	for (;;)
	{
		Job		   *job;

		pthread_mutex_lock(&pool_mutex);
		while ((queue_head == NULL || w->busy) && !stopping)
			pthread_cond_wait(&w->wake, &pool_mutex);
		job = w->busy ? NULL : queue_head;
		if (job == NULL)
		{
			pthread_mutex_unlock(&pool_mutex);
			break;				/* stopping, and nothing is left */
		}
		queue_head = job->next;
		if (queue_head == NULL)
			queue_tail = NULL;
		w->busy = true;
		pthread_mutex_unlock(&pool_mutex);

		RunJob(w, job);
		pthread_mutex_lock(&pool_mutex);
		w->busy = false;
		pthread_mutex_unlock(&pool_mutex);
		job->done(job);
	}
	WorkerDrop(w);
	return NULL;
}

/* Removes the queued jobs, all of them or only the expired ones. */
static Job *
TakeQueued(bool all)
{
	Job		   *taken = NULL;
	Job		  **tail = &taken;
	double		now = NowMs();

	while (queue_head &&
		   (all || now - queue_head->queued_ms >= config.pool_wait_ms))
	{
		Job		   *job = queue_head;

		queue_head = job->next;
		job->next = NULL;
		*tail = job;
		tail = &job->next;
	}
	if (queue_head == NULL)
		queue_tail = NULL;
	return taken;
}

/* Answers each job of a list with 503. */
static void
AnswerUnavailable(Job *job, const char *why)
{
	while (job)
	{
		Job		   *next = job->next;	/* done() may free job */

		log_request_id = job->request_id;
		LogError("%s", why);
		log_request_id = NULL;
		memset(&job->result, 0, sizeof(ApiResult));
		job->outcome = POOL_UNAVAILABLE;
		job->done(job);
		job = next;
	}
}

/* The janitor: answers 503 to jobs queued longer than pool_wait_ms. */
static void *
JanitorMain(void *arg)
{
	char		why[96];

	snprintf(why, sizeof(why), "no free database connection within %d ms",
			 config.pool_wait_ms);
	for (;;)
	{
		Job		   *expired;

		pthread_mutex_lock(&pool_mutex);
		if (stopping)
		{
			pthread_mutex_unlock(&pool_mutex);
			break;
		}
		expired = TakeQueued(false);
		pthread_mutex_unlock(&pool_mutex);
		AnswerUnavailable(expired, why);
		usleep(10 * 1000);
	}
	return NULL;
}

/* Starts the pool's workers (one per database connection). */
bool
PoolStart(void)
{
	workers = calloc(config.pool_size, sizeof(Worker));
	if (workers == NULL)
		return false;
	for (int i = 0; i < config.pool_size; i++)
	{
		pthread_cond_init(&workers[i].wake, NULL);
		workers[i].busy = true; /* until its thread has connected */
	}
	for (int i = 0; i < config.pool_size; i++)
		if (pthread_create(&workers[i].thread, NULL, WorkerMain,
						   &workers[i]) != 0)
			return false;
	return pthread_create(&janitor, NULL, JanitorMain, NULL) == 0;
}

/* Queues a job; done() is called exactly once, from another thread. */
void
PoolSubmit(Job *job)
{
	job->queued_ms = NowMs();
	job->next = NULL;
	pthread_mutex_lock(&pool_mutex);
	if (queue_tail)
		queue_tail->next = job;
	else
		queue_head = job;
	queue_tail = job;
	for (int i = 0; i < config.pool_size; i++)
	{
		if (!workers[i].busy)
		{
			pthread_cond_signal(&workers[i].wake);
			break;
		}
	}
	pthread_mutex_unlock(&pool_mutex);
}

/*
 * Runs a job at once, in the calling HTTP thread, when a connection is
 * free, nothing is queued, and another HTTP thread stays free to read new
 * requests; false when the job must be queued instead.  Handing a job to
 * another thread costs two wake-ups, more than all the rest of the
 * proxy's work on a small machine.
 */
bool
PoolTryRun(Job *job)
{
	Worker	   *w = NULL;

	pthread_mutex_lock(&pool_mutex);
	if (queue_head == NULL && !stopping && inline_running < config.threads - 1)
	{
		for (int i = 0; i < config.pool_size; i++)
		{
			if (!workers[i].busy)
			{
				w = &workers[i];
				w->busy = true;
				inline_running++;
				break;
			}
		}
	}
	pthread_mutex_unlock(&pool_mutex);
	if (w == NULL)
		return false;

	RunJob(w, job);

	pthread_mutex_lock(&pool_mutex);
	w->busy = false;
	inline_running--;
	if (queue_head)
		pthread_cond_signal(&w->wake);	/* its own thread takes the next job */
	pthread_mutex_unlock(&pool_mutex);
	return true;
}

/* Answers queued jobs with 503 and cancels running calls (end of grace). */
void
PoolAbort(void)
{
	Job		   *queued;
	char		errbuf[256];

	pthread_mutex_lock(&pool_mutex);
	queued = TakeQueued(true);
	for (int i = 0; i < config.pool_size; i++)
		if (workers[i].busy && workers[i].cancel)
			PQcancel(workers[i].cancel, errbuf, sizeof(errbuf));
	pthread_mutex_unlock(&pool_mutex);
	AnswerUnavailable(queued, "shutting down");
}

/* Stops the workers and closes the connections; the queue must be empty. */
void
PoolStop(void)
{
	pthread_mutex_lock(&pool_mutex);
	stopping = true;
	for (int i = 0; i < config.pool_size; i++)
		pthread_cond_signal(&workers[i].wake);
	pthread_mutex_unlock(&pool_mutex);
	for (int i = 0; i < config.pool_size; i++)
		pthread_join(workers[i].thread, NULL);
	pthread_join(janitor, NULL);
	free(workers);
	workers = NULL;
}
