/*
 * main.c
 *		bar9-sender: the loop that moves SMS from bar9's queue to the SMSC and
 *		receipts and inbound SMS back (README, "Delivery").
 *
 * Each turn of the loop: read and handle the PDUs the SMSC sent; take the
 * answer of the database request in flight if it came; start the next one
 * (acks of what finished first, then a claim when the backlog runs low,
 * then the receipts: report_deliveries goes after the acks sent before it,
 * so that a receipt never overtakes the ack that names its provider_ref);
 * submit parts while the window, the rate cap and any throttling allow;
 * then poll() both sockets.  The database works while the SMSC does: the
 * loop never waits for one to talk to the other (loop.c).
 *
 * The window bounds two things: submit_sm PDUs without a response, and SMS
 * started (a part submitted) but not yet acknowledged in the database (an
 * SMS leaves the window when its ack has committed, not when it is sent).
 * So after a kill -9 at most `window` SMS come back by lease expiry having
 * been submitted already: they are submitted again (SMPP has no
 * idempotency key).  SMS claimed ahead and not yet submitted (the backlog,
 * a few windows' worth) are not in the window: after a kill -9 their
 * claims expire and they are claimed again, never submitted twice.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sender.h"

volatile sig_atomic_t stopping = 0;

/* SIGTERM, SIGINT: finish the window and leave. */
static void
OnStop(int sig)
{
	(void) sig;
	stopping = 1;
}

/* Seconds since the epoch, as a double. */
double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One log line on stderr, timestamped (never a message body). */
void
logmsg(const char *fmt,...)
{
	char		when[32];
	time_t		t = time(NULL);
	va_list		ap;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	fprintf(stderr, "%s bar9-sender: ", when);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* Log the counters. */
void
sender_log_stats(Sender *s)
{
	logmsg("stats: submitted=%ld acked=%ld failed=%ld receipts=%ld receipts_unmatched=%ld inbound=%ld throttled=%ld binds=%ld window=%d/%d",
		   s->submitted, s->acked, s->failed, s->receipts_n,
		   s->receipts_unmatched, s->inbound, s->throttled, s->binds,
		   s->nout, s->cfg.window);
}

/* Free an SMS. */
void
sms_free(Sms *m)
{
	free(m->sms_id);
	free(m->from);
	free(m->provider_ref);
	for (int i = 0; m->part_refs && i < m->enc.nparts; i++)
		free(m->part_refs[i]);
	free(m->part_refs);
	free(m->error);
	free(m->state);
	encoded_free(&m->enc);
	free(m);
}

/* Is every part of m answered (or dropped)? */
bool
sms_finished(const Sms *m)
{
	for (int i = 0; i < m->enc.nparts; i++)
		if (m->state[i] == PART_PENDING || m->state[i] == PART_OUT)
			return false;
	return true;
}

/* Was a part of m submitted (so it counts against the window until acked)? */
bool
sms_started(const Sms *m)
{
	return m->started;
}

/* The sender's entry point: configure, then run the loop until stopped. */
int
main(int argc, char **argv)
{
	Sender	   *s = calloc(1, sizeof(Sender));
	struct sigaction sa;

	if (!config_load(&s->cfg, argc, argv))
		return 2;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = OnStop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	s->out = calloc(s->cfg.window, sizeof(Outstanding));
	s->bind.fd = -1;
	s->db.name = "database";
	s->db.listen = true;
	s->rdb.name = "receipts";
	s->tokens_at = now_s();
	s->next_stats = now_s() + s->cfg.stats_s;
	logmsg("starting: %s:%d window=%d rate=%g/s lease=%ds", s->cfg.host,
		   s->cfg.port, s->cfg.window, s->cfg.rate, s->cfg.lease_s);
	return sender_run(s);
}
