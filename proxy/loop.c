/*
 * loop.c
 *		The proxy's event loops: one thread each, each with its own epoll
 *		set, its own libmicrohttpd daemon (run from here, not by threads of
 *		its own) and its own share of the database connections (pool.c).
 *
 * A request never leaves the thread whose loop read it: its HTTP socket,
 * its bar9.api call on a non-blocking libpq connection, and its answer
 * are all events of the same epoll set.  No request is handed between
 * threads, so a request costs no thread wake-up of the proxy's own; when
 * the machine is busy one epoll_wait returns many events, and the proxy's
 * cost per request falls as the load rises.
 *
 * Events (epoll_event.data.u64): the loop's eventfd (new connections from
 * the acceptor, abort and stop commands), the daemon's epoll descriptor,
 * and one per database connection (LOOP_TAG_DB + its index).
 *
 * One pass of a loop:
 *	epoll_wait			at most until the next deadline of the daemon or pool
 *	eventfd				take accepted sockets, see commands
 *	database sockets	read answers: jobs done, their connections resumed
 *	HttpSweep			cut off requests past --request-deadline
 *	MHD_run				read requests (jobs are queued), write answers
 *	PoolDispatch		send queued jobs, expire old ones, reconnect
 *	MHD_run				again if a job was answered without the database
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "proxy.h"

#define LOOP_TAG_WAKE	0
#define LOOP_TAG_HTTP	1
#define LOOP_TAG_DB		2		/* + the connection's index in its pool */

#define LOOP_MAX_EVENTS	64

/* A socket accepted by the acceptor thread, waiting for its loop. */
typedef struct HandOver
{
	int			fd;
	socklen_t	addr_len;
	struct sockaddr_storage addr;
	struct HandOver *next;
} HandOver;

static Loop *loops;
static int	n_loops;
static unsigned int next_loop;	/* round-robin; acceptor thread only */

__thread Loop *loop_self;

/* Wakes a loop up from another thread. */
static void
LoopWake(Loop *loop)
{
	uint64_t	one = 1;

	if (write(loop->wake_fd, &one, sizeof(one)) != sizeof(one) && errno != EAGAIN)
		LogError("cannot wake an event loop: %s", strerror(errno));
}

/*
 * Adds, changes or (events == 0) removes a socket of this loop's epoll
 * set.  A socket that libpq closed and opened again may have the same
 * number and be unknown to epoll: MOD then falls back to ADD.
 */
bool
LoopWatch(Loop *loop, int fd, uint32_t events, uint64_t tag, bool known)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = tag;
	if (events == 0)
		return epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, NULL) == 0;
	if (known && epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return true;
	if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0)
		return true;
	if (errno == EEXIST)
		return epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, fd, &ev) == 0;
	LogError("epoll_ctl: %s", strerror(errno));
	return false;
}

/* The tag of a database connection's socket. */
uint64_t
LoopTagDb(int index)
{
	return LOOP_TAG_DB + (uint64_t) index;
}

/* Takes what the acceptor and main thread left for this loop. */
static void
LoopTakeMail(Loop *loop)
{
	uint64_t	count;
	HandOver   *mail;
	bool		abort;

	if (read(loop->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		LogError("reading the loop's eventfd: %s", strerror(errno));
	pthread_mutex_lock(&loop->mutex);
	mail = loop->mail;
	loop->mail = NULL;
	loop->mail_tail = NULL;
	abort = loop->abort_requested;
	loop->abort_requested = false;
	loop->stopping = loop->stop_requested;
	pthread_mutex_unlock(&loop->mutex);

	if (abort)
		PoolAbort(loop->pool);

	while (mail)
	{
		HandOver   *next = mail->next;

		HttpAddConnection(loop, mail->fd, (struct sockaddr *) &mail->addr,
						  mail->addr_len);
		free(mail);
		mail = next;
	}
}

/* The milliseconds epoll_wait may sleep: to the nearest deadline. */
static int
LoopTimeout(Loop *loop)
{
	long long	http = HttpTimeoutMs(loop);
	int			pool = PoolTimeoutMs(loop->pool);
	long long	t = -1;

	if (http >= 0)
		t = http;
	if (pool >= 0 && (t < 0 || pool < t))
		t = pool;
	return t > 60000 ? 60000 : (int) t;
}

/* A loop thread: runs until LoopsStop, then closes its daemon and pool. */
static void *
LoopMain(void *arg)
{
	Loop	   *loop = arg;
	struct epoll_event events[LOOP_MAX_EVENTS];

	loop_self = loop;
	PoolConnectAll(loop->pool);
	for (;;)
	{
		int			n = epoll_wait(loop->epoll_fd, events, LOOP_MAX_EVENTS,
								   LoopTimeout(loop));
		bool		run_http = false;

		if (n < 0 && errno != EINTR)
		{
			LogError("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++)
		{
			uint64_t	tag = events[i].data.u64;

			if (tag == LOOP_TAG_WAKE)
			{
				LoopTakeMail(loop);
				run_http = true;
			}
			else if (tag == LOOP_TAG_HTTP)
				run_http = true;
			else
				PoolSocketReady(loop->pool, (int) (tag - LOOP_TAG_DB),
								events[i].events);
		}
		if (HttpSweep(loop))
			run_http = true;
		if (run_http || loop->resumed || n == 0)
		{
			loop->resumed = false;
			HttpRun(loop);
		}
		PoolDispatch(loop->pool);
		PoolPublish(loop->pool);
		if (loop->resumed)
		{
			loop->resumed = false;
			HttpRun(loop);
		}
		if (loop->stopping)
			break;
	}
	PoolClose(loop->pool);
	HttpRun(loop);				/* the connections PoolClose resumed */
	HttpDaemonStop(loop);
	return NULL;
}

/* The pools' figures, summed over the loops (any thread). */
void
LoopsPoolStats(PoolStats *st)
{
	memset(st, 0, sizeof(PoolStats));
	for (int i = 0; i < n_loops; i++)
		if (loops[i].pool)
			PoolStatsAdd(loops[i].pool, st);
}

/* Creates the loops and their daemons and pools, and starts their threads. */
bool
LoopsStart(void)
{
	n_loops = config.threads;
	loops = calloc(n_loops, sizeof(Loop));
	if (loops == NULL)
		return false;
	for (int i = 0; i < n_loops; i++)
	{
		Loop	   *loop = &loops[i];
		int			share = config.pool_size / n_loops +
			(i < config.pool_size % n_loops ? 1 : 0);

		pthread_mutex_init(&loop->mutex, NULL);
		loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
		loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (loop->epoll_fd < 0 || loop->wake_fd < 0 ||
			!LoopWatch(loop, loop->wake_fd, EPOLLIN, LOOP_TAG_WAKE, false))
		{
			LogError("cannot create an event loop: %s", strerror(errno));
			return false;
		}
		if (!HttpDaemonStart(loop))
			return false;
		if (!LoopWatch(loop, HttpDaemonFd(loop), EPOLLIN, LOOP_TAG_HTTP, false))
			return false;
		loop->pool = PoolCreate(loop, share);
		if (loop->pool == NULL)
			return false;
	}
	for (int i = 0; i < n_loops; i++)
		if (pthread_create(&loops[i].thread, NULL, LoopMain, &loops[i]) != 0)
			return false;
	return true;
}

/*
 * Hands an accepted socket to the next loop (round-robin); called by the
 * acceptor thread only.  False when it could not: the caller closes fd.
 */
bool
LoopHandOver(int fd, const struct sockaddr *addr, socklen_t len)
{
	Loop	   *loop = &loops[next_loop++ % (unsigned int) n_loops];
	HandOver   *h = malloc(sizeof(HandOver));

	if (h == NULL)
		return false;
	h->fd = fd;
	h->addr_len = len > sizeof(h->addr) ? sizeof(h->addr) : len;
	memcpy(&h->addr, addr, h->addr_len);
	h->next = NULL;
	pthread_mutex_lock(&loop->mutex);
	if (loop->mail_tail)
		loop->mail_tail->next = h;
	else
		loop->mail = h;
	loop->mail_tail = h;		/* oldest first, as they were accepted */
	pthread_mutex_unlock(&loop->mutex);
	LoopWake(loop);
	return true;
}

/* Gives every loop a command, abort or stop, and wakes it up. */
static void
LoopsCommand(bool stop)
{
	for (int i = 0; i < n_loops; i++)
	{
		pthread_mutex_lock(&loops[i].mutex);
		if (stop)
			loops[i].stop_requested = true;
		else
			loops[i].abort_requested = true;
		pthread_mutex_unlock(&loops[i].mutex);
		LoopWake(&loops[i]);
	}
}

/* Answers queued jobs with 503 and drops running calls (end of grace). */
void
LoopsAbort(void)
{
	LoopsCommand(false);
}

/* Stops the loops: their daemons, connections and threads. */
void
LoopsStop(void)
{
	LoopsCommand(true);
	for (int i = 0; i < n_loops; i++)
	{
		pthread_join(loops[i].thread, NULL);
		while (loops[i].mail)
		{
			HandOver   *next = loops[i].mail->next;

			close(loops[i].mail->fd);
			free(loops[i].mail);
			loops[i].mail = next;
		}
		close(loops[i].epoll_fd);
		close(loops[i].wake_fd);
	}
	free(loops);
	loops = NULL;
}
