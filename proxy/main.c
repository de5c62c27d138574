/*
 * main.c
 *		bar9-proxy: options, start-up, and the SIGTERM shutdown.
 *
 * The proxy is thin on purpose: it holds no routes (but its own /healthz),
 * no JSON logic and no auth.  Every request becomes one parameterized call
 * of bar9.api(method, path, headers, body) and its answer is written back.
 *
 * SIGTERM (or SIGINT): stop accepting connections, let the requests in
 * flight finish (at most --shutdown-grace seconds), exit 0.  SIGHUP: reopen
 * the access log (after logrotate moved it); nothing else changes.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <microhttpd.h>

#include "proxy.h"

ProxyConfig config;
volatile bool shutting_down = false;

/* Prints the usage text. */
static void
Usage(FILE *out)
{
	fprintf(out,
			"bar9-proxy: HTTP front of the bar9 PostgreSQL extension\n"
			"\n"
			"Usage: bar9-proxy [OPTION]...\n"
			"\n"
			"  --listen ADDR:PORT        listen address (BAR9_HTTP_ADDR, default 127.0.0.1:8080)\n"
			"  --database-url URL        libpq connection string or URI (BAR9_DATABASE_URL;\n"
			"                            default: the PG* environment variables)\n"
			"  --pool-size N             database connections (BAR9_POOL_SIZE, default 8)\n"
			"  --pipeline-depth N        calls in flight per connection, at most\n"
			"                            (BAR9_PIPELINE_DEPTH, default 8; 1: no pipelining)\n"
			"  --threads N               event loops, each with its share of the pool\n"
			"                            (BAR9_HTTP_THREADS, default 1)\n"
			"  --max-connections N       open HTTP connections at once (BAR9_HTTP_MAX_CONNECTIONS,\n"
			"                            default 4096)\n"
			"  --client-timeout SECONDS  close a connection silent this long (BAR9_HTTP_TIMEOUT,\n"
			"                            default 30)\n"
			"  --max-connections-per-ip N\n"
			"                            open HTTP connections at once from one client\n"
			"                            address, more are closed at once; 0 = any\n"
			"                            (BAR9_HTTP_MAX_CONNECTIONS_PER_IP, default 1024)\n"
			"  --request-deadline SECONDS\n"
			"                            a request's line, headers and body must arrive\n"
			"                            within this, else 408; 0 = none\n"
			"                            (BAR9_HTTP_REQUEST_DEADLINE, default 30)\n"
			"  --max-body-memory BYTES   request body bytes held at once, then 503; 0 = any\n"
			"                            (BAR9_HTTP_MAX_BODY_MEMORY, default 268435456)\n"
			"  --pool-wait MS            wait for a free database connection, then 503\n"
			"                            (BAR9_POOL_WAIT_MS, default 5000)\n"
			"  --connect-timeout SECONDS libpq connect_timeout (BAR9_CONNECT_TIMEOUT, default 5)\n"
			"  --statement-timeout MS    limit of one bar9.api call, 0 = none\n"
			"                            (BAR9_STATEMENT_TIMEOUT_MS, default 30000)\n"
			"  --shutdown-grace SECONDS  on SIGTERM, wait this long for requests in flight\n"
			"                            (BAR9_SHUTDOWN_GRACE, default 30)\n"
			"  --access-log FILE         access log, '-' for stderr (BAR9_ACCESS_LOG, default -)\n"
			"  --no-metrics              do not serve GET /metrics (BAR9_METRICS=off)\n"
			"  --help, --version\n");
}

/* An environment variable, or def when unset or empty. */
static const char *
EnvOr(const char *name, const char *def)
{
	const char *v = getenv(name);

	return (v && v[0]) ? v : def;
}

/* Parses an integer setting within [min, max] (64 bits); exits on error. */
static long long
ParseLongSetting(const char *name, const char *value, long long min,
				 long long max)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
	{
		fprintf(stderr, "bar9-proxy: %s must be an integer from %lld to %lld, not \"%s\"\n",
				name, min, max, value);
		exit(2);
	}
	return v;
}

/*
 * A numeric setting: its option (--name), its environment variable, its
 * default and range, and the field of config it fills (an int, or for the
 * one 64-bit setting a long long).
 */
typedef struct NumberSetting
{
	const char *option;
	const char *env;
	long long	def;
	long long	min;
	long long	max;
	int		   *ivalue;
	long long  *lvalue;
} NumberSetting;

static const NumberSetting number_settings[] = {
	{"pool-size", "BAR9_POOL_SIZE", 8, 1, 1000, &config.pool_size, NULL},
	{"threads", "BAR9_HTTP_THREADS", 1, 1, 1024, &config.threads, NULL},
	{"pipeline-depth", "BAR9_PIPELINE_DEPTH", 8, 1, 1000,
	&config.pipeline_depth, NULL},
	{"max-connections", "BAR9_HTTP_MAX_CONNECTIONS", 4096, 1, 1000000,
	&config.max_connections, NULL},
	{"client-timeout", "BAR9_HTTP_TIMEOUT", 30, 1, 86400,
	&config.client_timeout, NULL},
	{"max-connections-per-ip", "BAR9_HTTP_MAX_CONNECTIONS_PER_IP", 1024,
	0, 1000000, &config.max_connections_per_ip, NULL},
	{"request-deadline", "BAR9_HTTP_REQUEST_DEADLINE", 30, 0, 86400,
	&config.request_deadline, NULL},
	{"max-body-memory", "BAR9_HTTP_MAX_BODY_MEMORY", 268435456, 0,
	MAX_BODY_MEMORY, NULL, &config.max_body_memory},
	{"pool-wait", "BAR9_POOL_WAIT_MS", 5000, 1, 3600000,
	&config.pool_wait_ms, NULL},
	{"connect-timeout", "BAR9_CONNECT_TIMEOUT", 5, 1, 3600,
	&config.connect_timeout, NULL},
	{"statement-timeout", "BAR9_STATEMENT_TIMEOUT_MS", 30000, 0, INT_MAX,
	&config.statement_timeout_ms, NULL},
	{"shutdown-grace", "BAR9_SHUTDOWN_GRACE", 30, 0, 86400,
	&config.shutdown_grace, NULL},
};

#define NUM_NUMBER_SETTINGS (sizeof(number_settings) / sizeof(number_settings[0]))

/* getopt_long's value for number_settings[i] (above every letter). */
#define NUMBER_OPTION(i) (1000 + (int) (i))

/* Stores value (from name: an option or variable) in s's field; exits on error. */
static void
SetNumber(const NumberSetting *s, const char *name, const char *value)
{
	long long	v = ParseLongSetting(name, value, s->min, s->max);

	if (s->ivalue)
		*s->ivalue = (int) v;
	else
		*s->lvalue = v;
}

/* Fills config from the environment: each setting's variable, or its default. */
static void
ReadEnvironment(void)
{
	char		def[32];
	size_t		i;

	for (i = 0; i < NUM_NUMBER_SETTINGS; i++)
	{
		const NumberSetting *s = &number_settings[i];

		snprintf(def, sizeof(def), "%lld", s->def);
		SetNumber(s, s->env, EnvOr(s->env, def));
	}
	config.listen_addr = EnvOr("BAR9_HTTP_ADDR", "127.0.0.1:8080");
	config.database_url = EnvOr("BAR9_DATABASE_URL", "");
	config.access_log = EnvOr("BAR9_ACCESS_LOG", "-");
	config.metrics = strcmp(EnvOr("BAR9_METRICS", "on"), "off") != 0;
}

/* Fills config from the environment, then from the command line. */
static void
ParseOptions(int argc, char **argv)
{
	static const struct option others[] = {
		{"listen", required_argument, NULL, 'l'},
		{"database-url", required_argument, NULL, 'd'},
		{"access-log", required_argument, NULL, 'a'},
		{"no-metrics", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}
	};
	struct option options[NUM_NUMBER_SETTINGS + sizeof(others) / sizeof(others[0])];
	char		name[64];
	size_t		i;
	int			opt;

	for (i = 0; i < NUM_NUMBER_SETTINGS; i++)
		options[i] = (struct option) {
			number_settings[i].option, required_argument, NULL,
			NUMBER_OPTION(i)
		};
	memcpy(&options[NUM_NUMBER_SETTINGS], others, sizeof(others));

	ReadEnvironment();
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1)
	{
		if (opt >= NUMBER_OPTION(0) && opt < NUMBER_OPTION(NUM_NUMBER_SETTINGS))
		{
			const NumberSetting *s = &number_settings[opt - NUMBER_OPTION(0)];

			snprintf(name, sizeof(name), "--%s", s->option);
			SetNumber(s, name, optarg);
			continue;
		}
		switch (opt)
		{
			case 'l':
				config.listen_addr = optarg;
				break;
			case 'd':
				config.database_url = optarg;
				break;
			case 'a':
				config.access_log = optarg;
				break;
			case 'n':
				config.metrics = false;
				break;
			case 'h':
				Usage(stdout);
				exit(0);
			case 'V':
				printf("bar9-proxy %s (libmicrohttpd %s)\n",
					   BAR9_PROXY_VERSION, MHD_get_version());
				exit(0);
			default:
				Usage(stderr);
				exit(2);
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "bar9-proxy: unexpected argument \"%s\"\n", argv[optind]);
		exit(2);
	}
	/*
	 * One event loop by default, as in PgBouncer: a request costs the
	 * proxy a few system calls, so one thread keeps up with a database
	 * server of many cores, and on a small machine shared with the database
	 * (make up) fewer threads leave more of it to the server (BENCHMARKS.md
	 * has the figures).  Each loop needs a connection of its own, so there
	 * are never more loops than connections.
	 */
	if (config.threads > config.pool_size)
		config.threads = config.pool_size;
}

/* Raises the open-file limit so that max_connections sockets fit. */
static void
RaiseFileLimit(void)
{
	struct rlimit rl;
	rlim_t		want = (rlim_t) config.max_connections + config.pool_size + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want)
		? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		LogInfo("open-file limit %lu is below --max-connections %d",
				(unsigned long) rl.rlim_cur, config.max_connections);
}

/* Starts everything, waits for SIGTERM/SIGINT, shuts down cleanly. */
int
main(int argc, char **argv)
{
	sigset_t	stop_signals;
	int			sig;
	double		deadline;

	/* every thread started from here on inherits the blocked signals */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	ParseOptions(argc, argv);
	if (!LogOpen(config.access_log))
		return 1;
	RaiseFileLimit();
	if (config.max_body_memory > 0 && config.max_body_memory < MAX_BODY_BYTES)
		LogInfo("--max-body-memory %lld is below the largest body (%d bytes): "
				"larger bodies always get 503", config.max_body_memory,
				MAX_BODY_BYTES);

	if (!LoopsStart())
	{
		LogError("cannot start the event loops");
		return 1;
	}
	if (!HttpStart())
		return 1;
	LogInfo("listening on %s; pool of %d database connections, %d event loops, "
			"pipeline depth %d", config.listen_addr, config.pool_size,
			config.threads, config.pipeline_depth);

	do
	{
		if (sigwait(&stop_signals, &sig) != 0)
			sig = 0;
		if (sig == SIGHUP)
			LogReopen(config.access_log);
	} while (sig != SIGTERM && sig != SIGINT);

	LogInfo("%s: no new connections; finishing %d request(s) in flight",
			sig == SIGTERM ? "SIGTERM" : "SIGINT", HttpInFlight());
	shutting_down = true;
	HttpStopAccepting();

	deadline = NowMs() + config.shutdown_grace * 1000.0;
	while (HttpInFlight() > 0 && NowMs() < deadline)
		usleep(20 * 1000);
	if (HttpInFlight() > 0)
	{
		LogError("shutdown grace over: %d request(s) cut off", HttpInFlight());
		/* no connection may stay suspended when the daemon stops */
		LoopsAbort();
		while (HttpPendingJobs() > 0)
			usleep(20 * 1000);
	}

	LoopsStop();
	LogFlush();
	LogInfo("stopped");
	return 0;
}
