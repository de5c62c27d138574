/*
 * log.c
 *		The access log (one line per request) and the operational log.
 *
 * Access-log lines are logfmt:
 *
 *	time=2026-11-26T13:22:55.123Z id=req_... method=GET path=/v1/... status=200 ms=1.234
 *
 * The path never carries its query string, and nothing from headers or the
 * body is ever written: no API key and no message body can reach the log.
 * A phone number in the path keeps only its last four digits
 * (/opt-outs/%2B********3456).  SIGHUP reopens the file (log rotation).
 * Access lines are gathered in a buffer written out every FLUSH_MS (or
 * when it fills, and at exit): one write(2) per request would be most of
 * the proxy's cost on a small virtual machine.  Whole lines only, so lines
 * of concurrent requests never interleave.  Operational lines are written
 * at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "proxy.h"

#define FLUSH_MS		50
#define ACCESS_BUF_SIZE (64 * 1024)

static int	access_fd = 2;
static pthread_mutex_t access_mutex = PTHREAD_MUTEX_INITIALIZER;
static char access_buf[ACCESS_BUF_SIZE];
static size_t access_len;		/* under access_mutex */

__thread const char *log_request_id = NULL;

static void WriteLine(int fd, const char *line, size_t len);

/* Writes out the buffered access-log lines. */
void
LogFlush(void)
{
	pthread_mutex_lock(&access_mutex);
	if (access_len > 0)
		WriteLine(access_fd, access_buf, access_len);
	access_len = 0;
	pthread_mutex_unlock(&access_mutex);
}

/* The flusher thread: writes the buffer out every FLUSH_MS. */
static void *
FlusherMain(void *arg)
{
	for (;;)
	{
		usleep(FLUSH_MS * 1000);
		LogFlush();
	}
	return NULL;
}

/* True when path names a file (not stderr). */
static bool
IsFile(const char *path)
{
	return path != NULL && path[0] != '\0' && strcmp(path, "-") != 0;
}

/* Opens path for appending; -1 (logged) when it cannot. */
static int
OpenAccessFile(const char *path)
{
	int			fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

	if (fd < 0)
		LogError("cannot open access log \"%s\": %s", path, strerror(errno));
	return fd;
}

/* Opens the access log (or keeps stderr); false when it cannot be opened. */
bool
LogOpen(const char *path)
{
	int			fd;
	pthread_t	flusher;

	if (pthread_create(&flusher, NULL, FlusherMain, NULL) != 0)
		return false;
	pthread_detach(flusher);
	if (!IsFile(path))
		return true;
	fd = OpenAccessFile(path);
	if (fd < 0)
		return false;
	access_fd = fd;
	return true;
}

/*
 * Reopens the access log (SIGHUP, after a rotation moved it): what is
 * buffered goes to the old file, what follows to the new one.  When the
 * file cannot be opened, the old one is kept.
 */
void
LogReopen(const char *path)
{
	int			fd;
	int			old;

	if (!IsFile(path))
		return;
	fd = OpenAccessFile(path);
	if (fd < 0)
		return;
	pthread_mutex_lock(&access_mutex);
	if (access_len > 0)
		WriteLine(access_fd, access_buf, access_len);
	access_len = 0;
	old = access_fd;
	access_fd = fd;
	pthread_mutex_unlock(&access_mutex);
	close(old);
	LogInfo("SIGHUP: access log %s reopened", path);
}

/* Milliseconds on the monotonic clock. */
double
NowMs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1000000.0;
}

/* Writes the current UTC time as RFC 3339 with milliseconds into buf. */
static void
FormatNow(char *buf, size_t size)
{
	struct timeval tv;
	struct tm	tm;
	char		base[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03dZ", base, (int) (tv.tv_usec / 1000));
}

/* Writes all of a line, retrying short writes. */
static void
WriteLine(int fd, const char *line, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = write(fd, line, len);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			return;
		}
		line += n;
		len -= (size_t) n;
	}
}

static void LogV(const char *level, const char *fmt, va_list ap)
			__attribute__((format(printf, 2, 0)));

/* Formats "time=... level=... msg=..." for the operational log. */
static void
LogV(const char *level, const char *fmt, va_list ap)
{
	char		now[40];
	char		msg[1024];
	char		line[1200];
	int			n;

	FormatNow(now, sizeof(now));
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* keep a message on one line and its quotes balanced */
	for (char *p = msg; *p; p++)
	{
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
		else if (*p == '"')
			*p = '\'';
	}
	n = snprintf(line, sizeof(line), "time=%s level=%s%s%s msg=\"%s\"\n",
				 now, level, log_request_id ? " id=" : "",
				 log_request_id ? log_request_id : "", msg);
	if (n < 0)
		return;
	if ((size_t) n >= sizeof(line))
	{
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	WriteLine(2, line, (size_t) n);
}

/* An error message on stderr. */
void
LogError(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	LogV("error", fmt, ap);
	va_end(ap);
}

/* An informational message on stderr. */
void
LogInfo(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	LogV("info", fmt, ap);
	va_end(ap);
}

/*
 * Copies path[0..len) into out (room for len + 1), masking the digits of a
 * phone number ("+" or "%2B" then 7 or more digits) but its last four.
 */
static void
MaskPath(const char *path, size_t len, char *out)
{
	size_t		i = 0;

	while (i < len)
	{
		size_t		plus = 0;
		size_t		ndigits = 0;

		if (path[i] == '+')
			plus = 1;
		else if (i + 3 <= len && strncasecmp(path + i, "%2B", 3) == 0)
			plus = 3;
		while (plus > 0 && i + plus + ndigits < len &&
			   path[i + plus + ndigits] >= '0' && path[i + plus + ndigits] <= '9')
			ndigits++;
		if (plus == 0 || ndigits < 7)
		{
			*out++ = path[i++];
			continue;
		}
		memcpy(out, path + i, plus);
		out += plus;
		for (size_t d = 0; d < ndigits; d++)
			*out++ = d + 4 < ndigits ? '*' : path[i + plus + d];
		i += plus + ndigits;
	}
	*out = '\0';
}

/*
 * One access-log line; status 0 means no response was sent, pipelined > 0
 * the calls already in flight on the database connection it was sent on.
 */
void
LogAccess(const char *request_id, const char *method, const char *target,
		  int status, double duration_ms, int pipelined, const char *note)
{
	char		pipelined_text[32] = "";
	char		now[40];
	char		line[2400];
	char		status_text[12];
	char		path[2001];
	size_t		path_len;
	const char *q;
	int			n;

	FormatNow(now, sizeof(now));
	/* the path only: a query string is never logged */
	q = target ? strchr(target, '?') : NULL;
	path_len = target ? (q ? (size_t) (q - target) : strlen(target)) : 0;
	if (path_len > 2000)
		path_len = 2000;
	MaskPath(target ? target : "", path_len, path);
	if (status > 0)
		snprintf(status_text, sizeof(status_text), "%d", status);
	else
		strcpy(status_text, "-");
	if (pipelined > 0)
		snprintf(pipelined_text, sizeof(pipelined_text), " pipelined=%d",
				 pipelined);
	n = snprintf(line, sizeof(line),
				 "time=%s id=%s method=%s path=%.*s status=%s ms=%.3f%s%s%s\n",
				 now, request_id ? request_id : "-",
				 method && method[0] ? method : "-",
				 (int) path_len, path_len ? path : "-",
				 status_text, duration_ms, pipelined_text,
				 note ? " note=" : "", note ? note : "");
	if (n < 0)
		return;
	if ((size_t) n >= sizeof(line))
	{
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	pthread_mutex_lock(&access_mutex);
	if (access_len + n > sizeof(access_buf))
	{
		WriteLine(access_fd, access_buf, access_len);
		access_len = 0;
	}
	memcpy(access_buf + access_len, line, n);
	access_len += n;
	pthread_mutex_unlock(&access_mutex);
}
