/*
 * loop.c
 *		The sender's loop (see main.c for its shape): binds and rebinds,
 *		the window of submit_sm, the rate cap, throttling, acks in batches.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdint.h>

#include <smpp34.h>
#include <smpp34_structs.h>
#include <smpp34_params.h>

#include "sender.h"

/* The 32-bit big-endian word at p. */
static uint32_t
Word(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
		((uint32_t) p[2] << 8) | p[3];
}

/* Is status an SMSC asking us to slow down (retry later, not a failure)? */
static bool
Throttling(uint32_t status)
{
	return status == ESME_RTHROTTLED || status == ESME_RMSGQFUL;
}

/* The submit_sm numbered seq has its answer: take it out of the window. */
static bool
TakeOutstanding(Sender *s, uint32_t seq, Outstanding *o)
{
	for (int i = 0; i < s->nout; i++)
		if (s->out[i].seq == seq)
		{
			*o = s->out[i];
			s->out[i] = s->out[--s->nout];
			o->sms->out--;
			return true;
		}
	return false;
}

/* A submit_sm_resp (or generic_nack) for a part we submitted. */
static void
OnSubmitResp(Sender *s, const uint8_t *pdu, uint32_t len, uint32_t status,
			 uint32_t seq)
{
	Outstanding o;
	Sms		   *m;

	if (!TakeOutstanding(s, seq, &o))
		return;					/* from before a rebind: already re-queued */
	m = o.sms;
	if (status == ESME_ROK)
	{
		m->state[o.part] = PART_OK;
		s->throttle_backoff = 0;
		if (len > 16)
		{
			/* submitted again after a rebind: the newer id is the one kept */
			free(m->part_refs[o.part]);
			m->part_refs[o.part] = strndup((const char *) pdu + 16, len - 16);
		}
		return;
	}
	if (Throttling(status))
	{
		/* back to the queue, and a pause that doubles while it lasts */
		m->state[o.part] = PART_PENDING;
		s->throttled++;
		s->throttle_backoff = s->throttle_backoff == 0 ? 0.2 :
			(s->throttle_backoff * 2 > 10 ? 10 : s->throttle_backoff * 2);
		s->paused_until = now_s() + s->throttle_backoff;
		logmsg("error: SMSC throttling: %s (0x%08x); pausing %.1f s",
			   smpp_status_name(status), status, s->throttle_backoff);
		return;
	}
	/* a permanent error: the SMS failed, its other parts are not sent */
	m->state[o.part] = PART_DROPPED;
	if (m->error == NULL)
	{
		char		err[160];

		snprintf(err, sizeof(err), "%s (0x%08x)", smpp_status_name(status),
				 status);
		m->error = strdup(err);
		if (m->sms_id)
			logmsg("error: sms %s failed: %s", m->sms_id, err);
		else
			logmsg("error: a reply failed: %s", err);
	}
	for (int i = 0; i < m->enc.nparts; i++)
		if (m->state[i] == PART_PENDING)
			m->state[i] = PART_DROPPED;
}

/* Handle one whole PDU from the SMSC. */
static void
OnPdu(Sender *s, const uint8_t *pdu, uint32_t len)
{
	uint32_t	id = Word(pdu + 4),
				status = Word(pdu + 8),
				seq = Word(pdu + 12);

	switch (id)
	{
		case SUBMIT_SM_RESP:
		case GENERIC_NACK:
			OnSubmitResp(s, pdu, len, status, seq);
			break;
		case DELIVER_SM:
			sender_deliver_sm(s, pdu, len);
			break;
		case ENQUIRE_LINK:
			smpp_respond(&s->bind, ENQUIRE_LINK_RESP, seq, ESME_ROK);
			break;
		case ENQUIRE_LINK_RESP:
		case UNBIND_RESP:
			break;
		case UNBIND:
			smpp_respond(&s->bind, UNBIND_RESP, seq, ESME_ROK);
			smpp_close(&s->bind, "the SMSC unbound");
			break;
		default:
			if (!(id & 0x80000000))
				smpp_respond(&s->bind, GENERIC_NACK, seq, ESME_RINVCMDID);
			break;
	}
}

/* The next bind attempt after a doubling back-off (0.5 s to 30 s). */
static void
BackOff(Sender *s)
{
	s->bind.backoff = s->bind.backoff == 0 ? 0.5 :
		(s->bind.backoff * 2 > 30 ? 30 : s->bind.backoff * 2);
	s->bind.retry_at = now_s() + s->bind.backoff;
}

/*
 * The bind dropped: every part in the window goes back to the queue, to be
 * submitted again after the rebind (the SMSC may have taken some: SMPP
 * cannot tell, so these are the duplicates the window bounds).
 */
static void
Unbound(Sender *s)
{
	for (int i = 0; i < s->nout; i++)
	{
		s->out[i].sms->state[s->out[i].part] = PART_PENDING;
		s->out[i].sms->out--;
	}
	s->nout = 0;
	/* a report in flight answers its deliver_sm on the old bind: wait for it */
	if (s->rdb_req == REQ_REPORT)
		sender_db_collect(s, true);
	/* unanswered receipts: the SMSC sends them again; answered ones stay */
	{
		int			k = 0;

		for (int i = 0; i < s->nreceipts; i++)
			if (s->receipts[i].answered)
				s->receipts[k++] = s->receipts[i];
		s->nreceipts = k;
	}
	BackOff(s);
}

/* Read the socket and handle every whole PDU; rebind bookkeeping on loss. */
static void
ReadSmsc(Sender *s)
{
	uint8_t    *pdu;
	uint32_t	len;

	if (!s->bind.bound)
		return;
	if (smpp_read(&s->bind) < 0)
		smpp_close(&s->bind, "the SMSC closed the connection");
	while (s->bind.bound && smpp_next_pdu(&s->bind, &pdu, &len))
	{
		uint8_t		copy[70000];

		memcpy(copy, pdu, len);
		smpp_consume(&s->bind, len);
		OnPdu(s, copy, len);
	}
}

/* Keep the bind alive: enquire_link every period; no answer in 2: rebind. */
static void
KeepAlive(Sender *s, double now)
{
	enquire_link_t el;

	if (!s->bind.bound)
		return;
	if (now - s->bind.last_rx > 2.0 * s->cfg.enquire_link_s + 5)
	{
		smpp_close(&s->bind, "no answer to enquire_link");
		return;
	}
	for (int i = 0; i < s->nout; i++)
		if (now - s->out[i].sent_at > SUBMIT_RESP_TIMEOUT)
		{
			smpp_close(&s->bind, "a submit_sm got no answer in time");
			return;
		}
	if (now - s->bind.last_enquire >= s->cfg.enquire_link_s &&
		now - s->bind.last_rx >= s->cfg.enquire_link_s)
	{
		memset(&el, 0, sizeof(el));
		s->bind.last_enquire = now;
		(void) smpp_send(&s->bind, ENQUIRE_LINK, &el, NULL);
	}
}

/*
 * The provider_ref an SMS is acknowledged with: its message_id, or for a
 * split SMS the message_ids of its parts in order, separated by spaces
 * (each part gets its own receipt: bar9 waits for every one, and keeps
 * the first as the SMS's provider_ref).  A part without an id, or an id
 * with a space in it, leaves the first part's alone.
 */
static char *
ProviderRef(const Sms *m)
{
	size_t		len = 0;
	char	   *out;

	if (m->part_refs[0] == NULL || m->part_refs[0][0] == '\0')
		return NULL;
	for (int i = 0; i < m->enc.nparts; i++)
	{
		const char *r = m->part_refs[i];

		if (r == NULL || r[0] == '\0' || strchr(r, ' ') != NULL)
			return strdup(m->part_refs[0]);
		len += strlen(r) + 1;
	}
	out = malloc(len + 1);
	out[0] = '\0';
	for (int i = 0; i < m->enc.nparts; i++)
	{
		if (i > 0)
			strcat(out, " ");
		strcat(out, m->part_refs[i]);
	}
	return out;
}

/* Free the claimed SMS whose acknowledgement committed; they leave the window. */
static void
FreeAcked(Sender *s)
{
	for (Sms **p = &s->queue; *p;)
	{
		Sms		   *m = *p;

		if (m->acked)
		{
			*p = m->next;
			if (m->started)
				s->nstarted--;
			sms_free(m);
		}
		else
			p = &m->next;
	}
}

/*
 * Acknowledge the claimed SMS that finished and are not being acked: the
 * sent in one ack_sms_batch sent without waiting (REQ_ACK); when one
 * failed, all of them at once by the blocking path (one batch per error;
 * failures are rare).  True when a request went.  ack_done_gen moves only
 * when a batch committed: a receipt held for a batch that failed waits for
 * the batch that acks its SMS after the reconnect, instead of finding no
 * SMS and being given up while the database is away.
 */
static bool
StartAck(Sender *s)
{
	int			n = 0;
	bool		any_failed = false;

	for (Sms *m = s->queue; m; m = m->next)
		if (m->sms_id && !m->acking && !m->acked && sms_finished(m))
		{
			if (n == 10000)
				break;			/* ack_sms_batch's limit: the rest next */
			if (n % 64 == 0)
				s->acking = realloc(s->acking, sizeof(Sms *) * (n + 64));
			if (m->provider_ref == NULL && m->error == NULL)
				m->provider_ref = ProviderRef(m);
			any_failed = any_failed || m->error != NULL;
			s->acking[n++] = m;
		}
	if (n == 0)
		return false;
	s->ack_sent_gen++;
	if (any_failed)
	{
		if (db_ack(&s->db, s->acking, n, &s->acked, &s->failed))
		{
			for (int i = 0; i < n; i++)
				s->acking[i]->acked = true;
			FreeAcked(s);
			s->ack_done_gen = s->ack_sent_gen;
		}
		return true;
	}
	if (!db_send_ack(&s->db, s->acking, n))
		return true;
	for (int i = 0; i < n; i++)
		s->acking[i]->acking = true;
	s->nacking = n;
	s->db_req = REQ_ACK;
	return true;
}

/* Are claimed SMS finished and not yet acknowledged (or being)? */
static bool
AcksPending(const Sender *s)
{
	if (s->db_req == REQ_ACK)
		return true;
	for (const Sms *m = s->queue; m; m = m->next)
		if (m->sms_id && !m->acked && sms_finished(m))
			return true;
	return false;
}

/*
 * The answer to the ack in flight.  Committed: the SMS leave the window.
 * Refused whole (a claim went stale): SMS by SMS, blocking.  The
 * connection gone: they stay, finished, to be acked after the reconnect.
 */
static void
AckDone(Sender *s, DbResult r)
{
	bool		ok = r == RES_OK;

	if (ok)
		s->acked += s->nacking;
	else if (s->db.conn != NULL)
		ok = db_ack(&s->db, s->acking, s->nacking, &s->acked, &s->failed);
	for (int i = 0; i < s->nacking; i++)
	{
		s->acking[i]->acking = false;
		s->acking[i]->acked = ok;
	}
	s->nacking = 0;
	if (ok)
		s->ack_done_gen = s->ack_sent_gen;
	FreeAcked(s);
}

/*
 * Move the receipts to report now to the front of s->receipts, the others
 * behind them in their order; how many (at most max).  A receipt waits for
 * the ack batch sent after it came (ack_gen) to commit, or until no ack
 * can come (nothing finished unacked, nothing in the window): so it does
 * not overtake the ack naming its provider_ref, though the two run on two
 * connections, whether its submit_sm_resp came before or after it.  One
 * kept unmatched is due again a second later, after the next ack batch:
 * while the database is away it waits for its SMS's ack rather than run
 * out its --receipt-wait on reports that cannot find it.  New receipts are
 * taken first: receipts kept for an ack that may never come (a killed
 * sender's, whose claims another sender took over) must not hold up those
 * that came after them.
 */
static int
DueReceipts(Sender *s, double now, int max)
{
	static Receipt rest[MAX_RECEIPTS];	/* scratch: the sender has one thread */
	bool		due[MAX_RECEIPTS];
	bool		no_ack_to_come = !AcksPending(s) && s->nout == 0;
	int			n = 0,
				k = 0;

	/* first the new receipts, then the kept ones, each once its ack came */
	memset(due, 0, sizeof(bool) * s->nreceipts);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < s->nreceipts && n < max; i++)
		{
			const Receipt *rc = &s->receipts[i];
			bool		kept = rc->answered;

			if (kept != (pass == 1) || (kept && now < rc->retry_at) ||
				!(no_ack_to_come || rc->ack_gen <= s->ack_done_gen))
				continue;
			due[i] = true;
			n++;
		}
	if (n == 0)
		return 0;
	for (int i = 0; i < s->nreceipts; i++)
		if (!due[i])
			rest[k++] = s->receipts[i];
	for (int i = 0, j = 0; i < s->nreceipts; i++)
		if (due[i])
			s->receipts[j++] = s->receipts[i];	/* j <= i: in place */
	memcpy(&s->receipts[n], rest, sizeof(Receipt) * k);
	return n;
}

/*
 * Send the receipts that are due (DueReceipts) to report_deliveries on rdb
 * (REQ_REPORT), when none is in flight there: at most a window's worth
 * (16 at least) per report.  report_deliveries moves each broadcast's
 * counters once, at the end of its statement: the row the acks also move
 * is locked only from then to its commit, not from the first receipt on,
 * so the next ack waits little for it.
 */
static void
StartReport(Sender *s, double now)
{
	int			n;

	if (s->rdb_req != REQ_NONE || s->nreceipts == 0)
		return;
	n = DueReceipts(s, now, s->cfg.window < 16 ? 16 : s->cfg.window);
	if (n == 0 || !db_ready(&s->rdb, &s->cfg) ||
		!db_send_report(&s->rdb, s->receipts, n))
		return;
	s->nreporting = n;
	s->rdb_req = REQ_REPORT;
}

/*
 * The answer to the receipts reported.  One that found no SMS may have
 * overtaken the submit_sm_resp of its SMS (some SMSCs send the receipt
 * first): it is tried again for --receipt-wait s before it is dropped.  Each
 * deliver_sm is answered once: OK when reported (or kept to retry), a
 * temporary error when the database could not take it (the SMSC sends it
 * again).  One answered OK before is kept through a failed report, as
 * the SMSC will not send it again.  Receipts that came meanwhile stay for
 * the next report.
 */
static void
ReportDone(Sender *s, DbResult r, PGresult *res, double now)
{
	bool		matched[MAX_RECEIPTS];
	bool		ok;
	int			n = s->nreporting,
				k = 0;

	ok = r == RES_OK && db_reported(res, n, matched);
	for (int i = 0; i < n; i++)
	{
		Receipt    *rc = &s->receipts[i];
		bool		was_answered = rc->answered;

		if (!rc->answered)
			smpp_respond(&s->bind, DELIVER_SM_RESP, rc->seq,
						 ok ? ESME_ROK : 0x00000064 /* ESME_RX_T_APPN */ );
		rc->answered = true;
		if (ok && matched[i])
			s->receipts_n++;
		else if (!ok && !was_answered)
			continue;			/* the SMSC will send it again */
		else if (now - rc->first_at < s->cfg.receipt_wait_s)
		{
			/* try again after the next ack batch: its SMS's may be in it */
			rc->retry_at = now + 1;
			rc->ack_gen = s->ack_sent_gen + 1;
			s->receipts[k++] = *rc;
		}
		else
			s->receipts_unmatched++;	/* unknown, or no longer waiting */
	}
	memmove(&s->receipts[k], &s->receipts[n],
			sizeof(Receipt) * (s->nreceipts - n));
	s->nreceipts = k + s->nreceipts - n;
	s->nreporting = 0;
}

/* Take the answer of the claim or ack in flight on db, if it came (wait: block). */
static void
CollectMain(Sender *s, bool wait)
{
	PGresult   *res;
	DbResult	r;
	double		now;

	if (s->db_req == REQ_NONE)
		return;
	r = db_result(&s->db, wait, PGRES_TUPLES_OK, &res);
	if (r == RES_PENDING)
		return;
	now = now_s();
	if (s->db_req == REQ_CLAIM)
	{
		Sms		  **tail = &s->queue;

		while (*tail)
			tail = &(*tail)->next;
		/* idle: NOTIFY bar9_sms wakes us sooner */
		if (r != RES_OK || db_claimed(res, tail, now) == 0)
			s->next_claim = now + 1;
	}
	else
		AckDone(s, r);
	PQclear(res);
	s->db_req = REQ_NONE;
}

/* Take the answers of the requests in flight, those that came (wait: block). */
void
sender_db_collect(Sender *s, bool wait)
{
	PGresult   *res;
	DbResult	r;

	CollectMain(s, wait);
	if (s->rdb_req == REQ_NONE)
		return;
	r = db_result(&s->rdb, wait, PGRES_TUPLES_OK, &res);
	if (r == RES_PENDING)
		return;
	ReportDone(s, r, res, now_s());
	PQclear(res);
	s->rdb_req = REQ_NONE;
}

/* Replies free themselves once answered; claimed SMS wait for their ack. */
static void
DropAnsweredReplies(Sender *s)
{
	for (Sms **p = &s->queue; *p;)
	{
		Sms		   *m = *p;

		if (m->sms_id == NULL && sms_finished(m))
		{
			*p = m->next;
			sms_free(m);
		}
		else
			p = &m->next;
	}
}

/*
 * Claimed SMS whose lease is nearly over and that have no part in the
 * window and parts still to submit are let go: a later claim brings them
 * back (submitted once more at most), rather than being submitted by us
 * and, once the lease ended, by the claim that took them over too.  After
 * a long rebind this keeps the duplicates within the window.
 */
static void
DropStale(Sender *s, double now)
{
	int			n = 0;

	for (Sms **p = &s->queue; *p;)
	{
		Sms		   *m = *p;

		if (m->sms_id && m->out == 0 && !sms_finished(m) &&
			now > m->claimed_at + 0.8 * s->cfg.lease_s)
		{
			*p = m->next;
			if (m->started)
				s->nstarted--;
			sms_free(m);
			n++;
		}
		else
			p = &m->next;
	}
	if (n > 0)
		logmsg("error: %d claimed SMS were not submitted within their lease; they will be claimed again", n);
}

/*
 * How many SMS a claim asks for: four windows (a claim round trip feeds
 * many acks), no more than the rate cap submits in two seconds nor in half
 * a lease, at least one, at most claim_sms's 10,000.  Claimed ahead and
 * not yet submitted, they are outside the window: a kill -9 only lets
 * their claims run out (README, "Delivery").
 */
static int
ClaimSize(const Sender *s)
{
	double		n = 4.0 * s->cfg.window;

	if (s->cfg.rate > 0 && n > s->cfg.rate * 2)
		n = s->cfg.rate * 2;
	if (s->cfg.rate > 0 && n > s->cfg.rate * s->cfg.lease_s / 2)
		n = s->cfg.rate * s->cfg.lease_s / 2;
	return n < 1 ? 1 : (n > 10000 ? 10000 : (int) n);
}

/*
 * Claim more SMS (REQ_CLAIM) when fewer than half a claim's worth wait to
 * start: so that a slot freed by an ack is filled at once, not after a
 * claim.  True when a request went.
 */
static bool
StartClaim(Sender *s, double now)
{
	int			waiting = 0,
				max = ClaimSize(s);

	for (Sms *m = s->queue; m; m = m->next)
		if (m->sms_id && !sms_started(m))
			waiting++;
	if (stopping || waiting * 2 >= max || now < s->next_claim ||
		!s->bind.bound)
		return false;
	if (!db_send_claim(&s->db, &s->cfg, max))
		return true;
	s->db_req = REQ_CLAIM;
	return true;
}

/*
 * Start the next database requests where none is in flight: on db, acks
 * first (they free window slots), then a claim if the backlog runs low
 * (not when claim is false); on rdb, the receipts.  A report holds up no
 * ack: the window's path (submit_sm, its response, the ack) never waits
 * for receipts.
 */
static void
DbDispatch(Sender *s, double now, bool claim)
{
	if (s->db_req == REQ_NONE && db_ready(&s->db, &s->cfg) && !StartAck(s) &&
		claim)
		(void) StartClaim(s, now);
	StartReport(s, now);
}

/*
 * Wait for the database to take what is at hand: the request in flight,
 * then the acks of what finished and the receipts (no claim).  At exit,
 * and when the receipts fill up.
 */
void
sender_flush(Sender *s)
{
	for (int i = 0; i < 4; i++)
	{
		sender_db_collect(s, true);
		DbDispatch(s, now_s(), false);
		if (s->db_req == REQ_NONE && s->rdb_req == REQ_NONE)
			break;
	}
	sender_db_collect(s, true);
}

/* Refill the rate cap's bucket; true when a submit_sm may go now. */
static bool
RateAllows(Sender *s, double now)
{
	double		burst;

	if (s->cfg.rate <= 0)
		return true;
	burst = s->cfg.rate / 20 < 1 ? 1 : s->cfg.rate / 20;
	s->tokens += (now - s->tokens_at) * s->cfg.rate;
	s->tokens_at = now;
	if (s->tokens > burst)
		s->tokens = burst;
	return s->tokens >= 1;
}

/* Submit pending parts, in queue order, while the window and the cap allow. */
static void
Submit(Sender *s, double now)
{
	for (Sms *m = s->queue; m && s->bind.bound; m = m->next)
	{
		bool		started = sms_started(m);

		if (!started && m->sms_id &&
			(stopping || s->nstarted >= s->cfg.window))
			continue;
		for (int i = 0; i < m->enc.nparts; i++)
		{
			uint32_t	seq;

			if (m->state[i] != PART_PENDING)
				continue;
			if (s->nout >= s->cfg.window || now < s->paused_until ||
				!RateAllows(s, now))
				return;
			if (!smpp_submit(&s->bind, m, i, &seq))
				return;			/* the bind is gone: the next turn rebinds */
			s->tokens -= 1;
			s->submitted++;
			m->state[i] = PART_OUT;
			m->out++;
			s->out[s->nout++] = (Outstanding) {seq, m, i, now};
			if (!started && m->sms_id)
				s->nstarted++;
			started = m->started = true;
		}
	}
}

/* How long poll() may sleep: until the next token, pause, claim or keepalive. */
static int
PollTimeout(Sender *s, double now)
{
	double		t = 1.0;

	if (s->cfg.rate > 0 && s->tokens < 1)
		t = (1 - s->tokens) / s->cfg.rate;
	if (s->paused_until > now && s->paused_until - now < t)
		t = s->paused_until - now;
	if (!s->bind.bound && s->bind.retry_at - now < t)
		t = s->bind.retry_at - now;
	if (t < 0.001)
		t = 0.001;
	return (int) (t * 1000) + 1;
}

/* Is the drain after SIGTERM over (window empty, nothing started left)? */
static bool
Drained(Sender *s, double now)
{
	if (s->stop_by == 0)
	{
		s->stop_by = now + s->cfg.drain_s;
		logmsg("stopping: finishing the window (%d submit_sm outstanding)",
			   s->nout);
	}
	for (Sms *m = s->queue; m; m = m->next)
		if (sms_started(m) && !sms_finished(m))
			return now >= s->stop_by;
	return true;
}

/*
 * Bind when unbound and the back-off allows.  A bind that was lost (by
 * whichever path closed it) first puts its window back in the queue.
 */
static void
EnsureBound(Sender *s, double now)
{
	if (s->bind.bound)
		return;
	if (s->was_bound)
	{
		s->was_bound = false;
		Unbound(s);
		return;
	}
	if (now < s->bind.retry_at)
		return;
	if (smpp_bind(&s->bind, &s->cfg))
	{
		s->bind.backoff = 0;
		s->binds++;
		s->was_bound = true;
	}
	else
		BackOff(s);
}

/* Run until SIGTERM and the drain; the exit status. */
int
sender_run(Sender *s)
{
	for (;;)
	{
		double		now = now_s();
		struct pollfd p[3];
		int			np = 0;

		if (stopping && Drained(s, now))
			break;
		EnsureBound(s, now);
		ReadSmsc(s);
		KeepAlive(s, now);
		sender_db_collect(s, false);
		DropAnsweredReplies(s);
		DropStale(s, now);
		DbDispatch(s, now, true);
		Submit(s, now);
		if (now >= s->next_stats)
		{
			sender_log_stats(s);
			s->next_stats = now + s->cfg.stats_s;
		}
		if (s->bind.fd >= 0)
			p[np++] = (struct pollfd) {s->bind.fd, POLLIN, 0};
		if (s->db.conn)
			p[np++] = (struct pollfd) {PQsocket(s->db.conn), POLLIN, 0};
		if (s->rdb.conn && s->rdb_req != REQ_NONE)
			p[np++] = (struct pollfd) {PQsocket(s->rdb.conn), POLLIN, 0};
		if (poll(p, np, PollTimeout(s, now)) < 0 && errno != EINTR)
			break;
		if (db_wait(&s->db))
			s->next_claim = 0;
	}
	sender_flush(s);
	if (s->bind.bound)
	{
		unbind_t	u;

		memset(&u, 0, sizeof(u));
		smpp_send(&s->bind, UNBIND, &u, NULL);
		smpp_close(&s->bind, "stopped");
	}
	sender_log_stats(s);
	logmsg("stopped");
	return 0;
}
