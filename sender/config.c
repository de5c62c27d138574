/*
 * config.c
 *		The sender's configuration: BAR9_SMPP_URL and BAR9_DATABASE_URL from
 *		the environment, flags overriding them.
 *
 *	BAR9_SMPP_URL=smpp://system_id:password@host:port?system_type=X&window=N&rate=R
 *
 * system_id and password are percent-decoded; the port defaults to 2775
 * (the IANA port of SMPP).  Flags: --smpp-url, --database-url, --window,
 * --rate, --system-type, --lease, --enquire-link, --stats, --drain,
 * --receipt-wait.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sender.h"

/* Copy the percent-decoded s[0..n) into dst (size cap); false if too long. */
static bool
Decode(char *dst, size_t cap, const char *s, size_t n)
{
	size_t		o = 0;

	for (size_t i = 0; i < n; i++)
	{
		char		c = s[i];

		if (c == '%' && i + 2 < n &&
			isxdigit((unsigned char) s[i + 1]) &&
			isxdigit((unsigned char) s[i + 2]))
		{
			char		hex[3] = {s[i + 1], s[i + 2], 0};

			c = (char) strtol(hex, NULL, 16);
			i += 2;
		}
		if (o + 1 >= cap)
			return false;
		dst[o++] = c;
	}
	dst[o] = '\0';
	return true;
}

/* A positive integer (or, allow_zero, zero) from s; false otherwise. */
static bool
ParseInt(const char *s, int *out, bool allow_zero)
{
	char	   *end;
	long		v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < (allow_zero ? 0 : 1) || v > 1000000)
		return false;
	*out = (int) v;
	return true;
}

/* A rate: a number >= 0 (0: no cap). */
static bool
ParseRate(const char *s, double *out)
{
	char	   *end;
	double		v = strtod(s, &end);

	if (*s == '\0' || *end != '\0' || !(v >= 0) || v > 1e6)
		return false;
	*out = v;
	return true;
}

/* Apply one query parameter of the URL. */
static bool
UrlParam(Config *c, const char *key, size_t klen, const char *val, size_t vlen)
{
	char		v[64];

	if (!Decode(v, sizeof(v), val, vlen))
		return false;
	if (klen == 11 && strncmp(key, "system_type", klen) == 0)
		return strlen(v) < sizeof(c->system_type) &&
			strcpy(c->system_type, v) != NULL;
	if (klen == 6 && strncmp(key, "window", klen) == 0)
		return ParseInt(v, &c->window, false);
	if (klen == 4 && strncmp(key, "rate", klen) == 0)
		return ParseRate(v, &c->rate);
	fprintf(stderr, "bar9-sender: unknown parameter \"%.*s\" in the SMPP URL\n",
			(int) klen, key);
	return false;
}

/* Parse smpp://id:password@host:port?k=v&...; false with a message. */
static bool
ParseUrl(Config *c, const char *url)
{
	const char *p,
			   *at,
			   *colon,
			   *hostend,
			   *q;

	if (strncmp(url, "smpp://", 7) != 0)
		goto bad;
	p = url + 7;
	at = strchr(p, '@');
	if (at == NULL)
		goto bad;
	colon = memchr(p, ':', at - p);
	if (colon == NULL)
		goto bad;
	if (!Decode(c->system_id, sizeof(c->system_id), p, colon - p) ||
		!Decode(c->password, sizeof(c->password), colon + 1, at - colon - 1))
	{
		fprintf(stderr, "bar9-sender: system_id is at most 15 characters, the password at most 8\n");
		return false;
	}
	p = at + 1;
	q = strchr(p, '?');
	hostend = q ? q : p + strlen(p);
	colon = memchr(p, ':', hostend - p);
	if (colon != NULL)
	{
		char		port[8];

		if (hostend - colon - 1 >= (long) sizeof(port))
			goto bad;
		memcpy(port, colon + 1, hostend - colon - 1);
		port[hostend - colon - 1] = '\0';
		if (!ParseInt(port, &c->port, false) || c->port > 65535)
			goto bad;
	}
	else
		colon = hostend;
	if (colon == p || colon - p >= (long) sizeof(c->host))
		goto bad;
	memcpy(c->host, p, colon - p);
	c->host[colon - p] = '\0';
	while (q != NULL && *q != '\0')
	{
		const char *k = q + 1;
		const char *amp = strchr(k, '&');
		const char *end = amp ? amp : k + strlen(k);
		const char *eq = memchr(k, '=', end - k);

		if (eq == NULL || !UrlParam(c, k, eq - k, eq + 1, end - eq - 1))
			goto bad;
		q = amp;
	}
	return true;
bad:
	fprintf(stderr, "bar9-sender: BAR9_SMPP_URL must look like smpp://system_id:password@host:port?system_type=X&window=N&rate=R\n");
	return false;
}

/* The value of flag argv[*i] (--name value or --name=value). */
static const char *
FlagValue(int argc, char **argv, int *i, const char *name)
{
	size_t		n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return argv[++(*i)];
	return NULL;
}

/* Apply the flags after the URLs; false with a message on a bad one. */
static bool
Flags(Config *c, int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
	{
		const char *v;
		bool		ok = true;

		if ((v = FlagValue(argc, argv, &i, "--window")))
			ok = ParseInt(v, &c->window, false);
		else if ((v = FlagValue(argc, argv, &i, "--rate")))
			ok = ParseRate(v, &c->rate);
		else if ((v = FlagValue(argc, argv, &i, "--system-type")))
			ok = strlen(v) < sizeof(c->system_type) &&
				strcpy(c->system_type, v) != NULL;
		else if ((v = FlagValue(argc, argv, &i, "--lease")))
			ok = ParseInt(v, &c->lease_s, false);
		else if ((v = FlagValue(argc, argv, &i, "--enquire-link")))
			ok = ParseInt(v, &c->enquire_link_s, false);
		else if ((v = FlagValue(argc, argv, &i, "--stats")))
			ok = ParseInt(v, &c->stats_s, false);
		else if ((v = FlagValue(argc, argv, &i, "--drain")))
			ok = ParseInt(v, &c->drain_s, true);
		else if ((v = FlagValue(argc, argv, &i, "--receipt-wait")))
			ok = ParseInt(v, &c->receipt_wait_s, true);
		else if (FlagValue(argc, argv, &i, "--smpp-url") ||
				 FlagValue(argc, argv, &i, "--database-url"))
			continue;			/* read first, by config_load */
		else
		{
			fprintf(stderr, "bar9-sender: unknown argument \"%s\"\n"
					"usage: bar9-sender [--smpp-url URL] [--database-url URL] [--window N] [--rate SMS/s]\n"
					"                   [--system-type T] [--lease S] [--enquire-link S] [--stats S] [--drain S]\n"
					"                   [--receipt-wait S]\n",
					argv[i]);
			return false;
		}
		if (!ok)
		{
			fprintf(stderr, "bar9-sender: bad value for %s\n", argv[i]);
			return false;
		}
	}
	return true;
}

/* Prints the usage text (--help). */
static void
Usage(FILE *out)
{
	fprintf(out,
			"bar9-sender: hands bar9's SMS queue to an SMSC over SMPP 3.4\n"
			"\n"
			"Usage: bar9-sender [OPTION]...\n"
			"\n"
			"  --smpp-url URL        the SMSC (BAR9_SMPP_URL): smpp://system_id:password@host:port\n"
			"                        ?system_type=T&window=N&rate=R\n"
			"  --database-url URL    libpq connection string or URI of the database with bar9\n"
			"                        (BAR9_DATABASE_URL); the role needs only bar9_sender\n"
			"  --window N            submit_sm in flight at once (default 10)\n"
			"  --rate SMS/s          submit_sm per second on the bind, 0 = no cap\n"
			"  --system-type T       bind_transceiver's system_type\n"
			"  --lease S             seconds a claimed SMS stays ours (default 60)\n"
			"  --enquire-link S      seconds between enquire_link (default 30)\n"
			"  --stats S             seconds between counter lines in the log (default 60)\n"
			"  --drain S             on SIGTERM, wait this long for the window (default 30)\n"
			"  --receipt-wait S      seconds a receipt that finds no sent SMS is tried again\n"
			"                        (it may have overtaken its submit_sm_resp; default 10)\n"
			"  --help, --version\n"
			"\n"
			"Flags override the URL's parameters.\n");
}

/* Fill c from the environment and the flags; false (with a message) if bad. */
bool
config_load(Config *c, int argc, char **argv)
{
	const char *url = getenv("BAR9_SMPP_URL");

	memset(c, 0, sizeof(*c));
	c->port = 2775;
	c->window = 10;
	c->lease_s = 60;
	c->enquire_link_s = 30;
	c->stats_s = 60;
	c->drain_s = 30;
	c->receipt_wait_s = 10;
	c->database_url = getenv("BAR9_DATABASE_URL");
	for (int i = 1; i < argc; i++)
	{
		const char *v;

		if (strcmp(argv[i], "--help") == 0)
		{
			Usage(stdout);
			exit(0);
		}
		if (strcmp(argv[i], "--version") == 0)
		{
			printf("bar9-sender %s\n", BAR9_SENDER_VERSION);
			exit(0);
		}
		if ((v = FlagValue(argc, argv, &i, "--smpp-url")))
			url = v;
		else if ((v = FlagValue(argc, argv, &i, "--database-url")))
			c->database_url = v;
	}
	if (url == NULL || c->database_url == NULL)
	{
		fprintf(stderr, "bar9-sender: set BAR9_SMPP_URL and BAR9_DATABASE_URL (or --smpp-url, --database-url)\n");
		return false;
	}
	return ParseUrl(c, url) && Flags(c, argc, argv);
}
