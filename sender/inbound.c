/*
 * inbound.c
 *		deliver_sm from the SMSC: delivery receipts and inbound SMS.
 *
 * A receipt (esm_class bits 2-5 = 0001, "SMSC delivery receipt") names the
 * SMS by the message_id its submit_sm_resp gave, in the
 * receipted_message_id TLV or in the text ("id:... stat:DELIVRD err:000",
 * SMPP 3.4 appendix B); the TLVs win when both are there.  It is reported
 * after the acks (loop.c).  Any other deliver_sm is an SMS from a
 * handset: bar9.receive_sms_at for the account owning its destination
 * address, and the reply (STOP confirmation, HELP) is submitted back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdint.h>

#include <smpp34.h>
#include <smpp34_structs.h>
#include <smpp34_params.h>

#include "sender.h"

/* The outcome of a final state name (text "stat:"), NULL when not final. */
static const char *
StatOutcome(const char *stat)
{
	if (strncmp(stat, "DELIVRD", 7) == 0)
		return "delivered";
	if (strncmp(stat, "EXPIRED", 7) == 0 || strncmp(stat, "DELETED", 7) == 0 ||
		strncmp(stat, "UNDELIV", 7) == 0 || strncmp(stat, "REJECTD", 7) == 0 ||
		strncmp(stat, "UNKNOWN", 7) == 0)
		return "failed";
	return NULL;				/* ENROUTE, ACCEPTD: not final */
}

/* The state name of a message_state TLV value (SMPP 3.4 5.2.28). */
static const char *
StateName(int state)
{
	static const char *const names[] = {"", "ENROUTE", "DELIVRD", "EXPIRED",
	"DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD"};

	return state >= 1 && state <= 8 ? names[state] : "UNKNOWN";
}

/* Copy the value after "key" in text (up to a space) into out. */
static bool
TextField(const char *text, const char *key, char *out, size_t cap)
{
	const char *p = strstr(text, key);
	size_t		n;

	if (p == NULL)
		return false;
	p += strlen(key);
	n = strcspn(p, " ");
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

/* Fill r from a receipt's TLVs and text; false when it is not final. */
static bool
ParseReceipt(const deliver_sm_t *d, Receipt *r)
{
	char		text[256];
	char		stat[16] = "",
				err[16] = "";
	int			state = -1;

	memcpy(text, d->short_message, d->sm_length);
	text[d->sm_length] = '\0';
	r->ref[0] = '\0';
	for (tlv_t *t = d->tlv; t; t = t->next)
	{
		if (t->tag == TLVID_receipted_message_id)
			snprintf(r->ref, sizeof(r->ref), "%.*s", t->length,
					 (const char *) t->value.octet);
		else if (t->tag == TLVID_message_state)
			state = t->value.val08;
	}
	if (r->ref[0] == '\0')
		TextField(text, "id:", r->ref, sizeof(r->ref));
	if (state >= 0)
		snprintf(stat, sizeof(stat), "%s", StateName(state));
	else
		TextField(text, "stat:", stat, sizeof(stat));
	TextField(text, "err:", err, sizeof(err));
	r->outcome = StatOutcome(stat);
	if (r->ref[0] == '\0' || r->outcome == NULL)
		return false;
	if (strcmp(r->outcome, "failed") == 0)
		snprintf(r->error, sizeof(r->error), "stat:%s err:%s", stat,
				 err[0] ? err : "-");
	else
		r->error[0] = '\0';
	return true;
}

/* An address as bar9 writes it: "+digits" for an international number. */
static void
Address(char *out, size_t cap, uint8_t ton, const uint8_t *addr)
{
	const char *a = (const char *) addr;
	bool		digits = a[0] != '\0';

	for (const char *p = a; *p; p++)
		digits = digits && *p >= '0' && *p <= '9';
	/* a long all-digit address with no TON is taken as international */
	if (a[0] != '+' && digits && (ton == 1 || (ton == 0 && strlen(a) > 8)))
		snprintf(out, cap, "+%s", a);
	else
		snprintf(out, cap, "%s", a);
}

/* Queue the reply text to `to` (digits) from our address `from`, first. */
static void
QueueReply(Sender *s, const char *from, const char *to, const char *text)
{
	static uint8_t ref = 128;
	Sms		   *m = calloc(1, sizeof(Sms));

	snprintf(m->to, sizeof(m->to), "%.20s", to[0] == '+' ? to + 1 : to);
	m->from = strdup(from);
	encode_body(text, ref++, &m->enc);
	m->state = calloc(m->enc.nparts, sizeof(PartState));
	m->part_refs = calloc(m->enc.nparts, sizeof(char *));
	m->claimed_at = now_s();
	m->next = s->queue;
	s->queue = m;
}

/* An SMS from a handset: its keywords, and the reply submitted back. */
static void
Inbound(Sender *s, const deliver_sm_t *d, uint32_t seq)
{
	char		to[32],
				from[32];
	const uint8_t *text = d->short_message;
	int			len = d->sm_length;
	char	   *body,
			   *reply = NULL;
	bool		ok;

	Address(to, sizeof(to), d->dest_addr_ton, d->destination_addr);
	Address(from, sizeof(from), d->source_addr_ton, d->source_addr);
	for (tlv_t *t = d->tlv; len == 0 && t; t = t->next)
		if (t->tag == TLVID_message_payload)
			text = t->value.octet, len = t->length;
	if ((d->esm_class & 0x40) && len > 0 && text[0] + 1 <= len)
	{
		len -= text[0] + 1;		/* a part of a longer SMS: skip its UDH */
		text += text[0] + 1;
	}
	body = decode_text(d->data_coding, text, len);
	s->inbound++;
	sender_db_collect(s, true);	/* rdb is free for a blocking call */
	ok = db_ready(&s->rdb, &s->cfg) &&
		db_inbound(&s->rdb, to, from, body, &reply);
	smpp_respond(&s->bind, DELIVER_SM_RESP, seq,
				 ok ? ESME_ROK : 0x00000064 /* ESME_RX_T_APPN */ );
	if (reply)
		QueueReply(s, to, from, reply);
	free(reply);
	free(body);
}

/* A deliver_sm: a receipt (reported with the next acks) or an inbound SMS. */
void
sender_deliver_sm(Sender *s, const uint8_t *pdu, uint32_t len)
{
	deliver_sm_t d;
	uint32_t	seq = ((uint32_t) pdu[12] << 24) | ((uint32_t) pdu[13] << 16) |
		((uint32_t) pdu[14] << 8) | pdu[15];

	memset(&d, 0, sizeof(d));
	if (smpp34_unpack(DELIVER_SM, &d, pdu, (int) len) != 0)
	{
		logmsg("error: could not unpack a deliver_sm: %s", smpp34_strerror);
		smpp_respond(&s->bind, DELIVER_SM_RESP, seq, 0x00000008 /* ESME_RSYSERR */ );
		destroy_tlv(d.tlv);
		return;
	}
	if ((d.esm_class & 0x3C) == 0x04)
	{
		Receipt    *r;

		if (s->nreceipts == MAX_RECEIPTS)
			sender_flush(s);	/* full: report them first */
		if (s->nreceipts == MAX_RECEIPTS)
		{
			/* all kept for a retry: the SMSC sends this one again later */
			smpp_respond(&s->bind, DELIVER_SM_RESP, seq, 0x00000064 /* ESME_RX_T_APPN */ );
			destroy_tlv(d.tlv);
			return;
		}
		r = &s->receipts[s->nreceipts];
		memset(r, 0, sizeof(*r));
		r->seq = seq;
		r->first_at = now_s();
		/* its SMS's ack: in the batch in flight or the next one */
		r->ack_gen = s->ack_sent_gen + 1;
		if (!ParseReceipt(&d, r))
			smpp_respond(&s->bind, DELIVER_SM_RESP, seq, ESME_ROK);
		else
			s->nreceipts++;
	}
	else
		Inbound(s, &d, seq);
	destroy_tlv(d.tlv);
}
