/*
 * smpp.c
 *		The bind to the SMSC: TCP, bind_transceiver, PDUs in and out.
 *
 * PDUs are packed and unpacked by libsmpp34 (Debian's libsmpp34-dev, the
 * Osmocom-maintained SMPP 3.4 PDU library; README, "Delivery"): this file
 * frames them on the socket (4-byte command_length first), numbers them and
 * fills the fields bar9 decides (addresses, TON/NPI, data_coding, UDH).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <stdint.h>

#include <smpp34.h>
#include <smpp34_structs.h>
#include <smpp34_params.h>

#include "sender.h"

/* Connect to host:port with a timeout of a few seconds; -1 on failure. */
static int
Connect(const Config *c)
{
	struct addrinfo hints = {0},
			   *res,
			   *ai;
	char		port[8];
	int			fd = -1;
	struct timeval tv = {5, 0};
	int			one = 1;

	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", c->port);
	if (getaddrinfo(c->host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next)
	{
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		/*
		 * No Nagle: a submit_sm (or a deliver_sm_resp) goes out when it is
		 * written, not once the previous segment is acknowledged; with the
		 * peer's delayed ACK that wait is up to 40 ms per small window.
		 */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Write all of buf; false when the connection broke. */
static bool
WriteAll(int fd, const uint8_t *buf, int len)
{
	while (len > 0)
	{
		ssize_t		n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= n;
	}
	return true;
}

/* Pack pdu (command command_id, a libsmpp34 struct) with a new number and send it. */
bool
smpp_send(Bind *b, uint32_t command_id, void *pdu, uint32_t *seq)
{
	uint8_t		buf[2048];
	int			len = 0;
	uint32_t   *hdr = pdu;		/* every struct starts with the 4 header words */

	if (b->fd < 0)
		return false;
	b->seq = b->seq >= 0x7FFFFFFF ? 1 : b->seq + 1;
	hdr[0] = 0;
	hdr[1] = command_id;
	hdr[2] = 0;
	hdr[3] = b->seq;
	if (smpp34_pack(command_id, buf, sizeof(buf), &len, pdu) != 0)
	{
		logmsg("error: could not pack a PDU 0x%08x: %s", command_id,
			   smpp34_strerror);
		return false;
	}
	if (seq)
		*seq = b->seq;
	if (!WriteAll(b->fd, buf, len))
	{
		smpp_close(b, "write failed");
		return false;
	}
	return true;
}

/* Answer the PDU numbered seq with an empty-bodied response of command_id. */
bool
smpp_respond(Bind *b, uint32_t command_id, uint32_t seq, uint32_t status)
{
	uint8_t		buf[17];
	int			len = 16;

	if (b->fd < 0)
		return false;
	/* deliver_sm_resp carries an empty message_id: one NUL */
	if (command_id == DELIVER_SM_RESP)
		buf[len++] = 0;
	buf[0] = 0, buf[1] = 0, buf[2] = 0, buf[3] = (uint8_t) len;
	for (int i = 0; i < 4; i++)
	{
		buf[4 + i] = (uint8_t) (command_id >> (24 - 8 * i));
		buf[8 + i] = (uint8_t) (status >> (24 - 8 * i));
		buf[12 + i] = (uint8_t) (seq >> (24 - 8 * i));
	}
	if (!WriteAll(b->fd, buf, len))
	{
		smpp_close(b, "write failed");
		return false;
	}
	return true;
}

/* The 32-bit big-endian word at p. */
static uint32_t
Word(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
		((uint32_t) p[2] << 8) | p[3];
}

/* Read what the socket has into b->in; -1 when the connection is gone. */
int
smpp_read(Bind *b)
{
	ssize_t		n;

	if (b->fd < 0)
		return -1;
	if (b->inlen >= (int) sizeof(b->in))
		return 0;
	n = recv(b->fd, b->in + b->inlen, sizeof(b->in) - b->inlen, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
				   errno != EINTR))
		return -1;
	if (n > 0)
	{
		b->inlen += (int) n;
		b->last_rx = now_s();
	}
	return n > 0 ? (int) n : 0;
}

/* Is a whole PDU at the head of b->in?  Sets *pdu and *len. */
bool
smpp_next_pdu(Bind *b, uint8_t **pdu, uint32_t *len)
{
	uint32_t	l;

	if (b->inlen < 16)
		return false;
	l = Word(b->in);
	if (l < 16 || l > sizeof(b->in))
	{
		smpp_close(b, "a PDU with a bad command_length");
		return false;
	}
	if ((uint32_t) b->inlen < l)
		return false;
	*pdu = b->in;
	*len = l;
	return true;
}

/* Drop the PDU of len bytes at the head of b->in. */
void
smpp_consume(Bind *b, uint32_t len)
{
	memmove(b->in, b->in + len, b->inlen - len);
	b->inlen -= (int) len;
}

/* Close the connection (if open), logging why once. */
void
smpp_close(Bind *b, const char *why)
{
	if (b->fd >= 0)
	{
		close(b->fd);
		logmsg("bind: %s; unbound", why);
	}
	b->fd = -1;
	b->bound = false;
	b->inlen = 0;
}

/* Wait for the bind_transceiver_resp numbered seq; its status, or -1. */
static int64_t
AwaitBindResp(Bind *b, uint32_t seq)
{
	double		until = now_s() + 10;

	while (now_s() < until)
	{
		struct pollfd p = {b->fd, POLLIN, 0};
		uint8_t    *pdu;
		uint32_t	len;

		if (poll(&p, 1, 500) < 0 && errno != EINTR)
			return -1;
		if (smpp_read(b) < 0)
			return -1;
		while (smpp_next_pdu(b, &pdu, &len))
		{
			uint32_t	id = Word(pdu + 4),
						st = Word(pdu + 8),
						sq = Word(pdu + 12);

			smpp_consume(b, len);
			if ((id == BIND_TRANSCEIVER_RESP || id == GENERIC_NACK) && sq == seq)
				return st;
		}
		if (b->fd < 0)
			return -1;
	}
	return -1;
}

/*
 * Connect and bind as a transceiver; false (logged, back-off doubled) if
 * it failed.
 */
bool
smpp_bind(Bind *b, const Config *c)
{
	bind_transceiver_t req;
	uint32_t	seq;
	int64_t		st;

	b->fd = Connect(c);
	b->inlen = 0;
	if (b->fd < 0)
	{
		logmsg("bind: cannot connect to %s:%d: %s", c->host, c->port,
			   strerror(errno));
		return false;
	}
	memset(&req, 0, sizeof(req));
	snprintf((char *) req.system_id, sizeof(req.system_id), "%s", c->system_id);
	snprintf((char *) req.password, sizeof(req.password), "%s", c->password);
	snprintf((char *) req.system_type, sizeof(req.system_type), "%s",
			 c->system_type);
	req.interface_version = 0x34;
	if (!smpp_send(b, BIND_TRANSCEIVER, &req, &seq))
		return false;
	st = AwaitBindResp(b, seq);
	if (st != 0)
	{
		if (st > 0)
			logmsg("bind: %s:%d refused the bind_transceiver of \"%s\": %s (0x%08x)",
				   c->host, c->port, c->system_id,
				   smpp_status_name((uint32_t) st), (unsigned) st);
		smpp_close(b, st > 0 ? "bind refused" : "no bind_transceiver_resp");
		return false;
	}
	b->bound = true;
	b->last_rx = b->last_enquire = now_s();
	logmsg("bind: bound as transceiver to %s:%d as \"%s\"", c->host, c->port,
		   c->system_id);
	return true;
}

/* Source TON/NPI and address digits of a sender address (README, "Delivery"). */
static void
SourceAddress(const char *from, submit_sm_t *req)
{
	size_t		n = from ? strlen(from) : 0;
	bool		digits = n > 0;

	for (size_t i = (from && from[0] == '+') ? 1 : 0; i < n; i++)
		digits = digits && from[i] >= '0' && from[i] <= '9';
	if (n == 0)
	{
		req->source_addr_ton = 0;	/* unknown: the SMSC's default */
		req->source_addr_npi = 0;
	}
	else if (from[0] == '+' && digits)
	{
		req->source_addr_ton = 1;	/* international */
		req->source_addr_npi = 1;	/* E.164 */
		from++;
	}
	else if (digits)
	{
		req->source_addr_ton = 3;	/* network specific: a short code */
		req->source_addr_npi = 0;
	}
	else
	{
		req->source_addr_ton = 5;	/* alphanumeric */
		req->source_addr_npi = 0;
	}
	snprintf((char *) req->source_addr, sizeof(req->source_addr), "%s",
			 n ? from : "");
}

/* Submit part `part` of s; *seq is its sequence number. */
bool
smpp_submit(Bind *b, const Sms *s, int part, uint32_t *seq)
{
	submit_sm_t req;
	const Part *p = &s->enc.parts[part];

	memset(&req, 0, sizeof(req));
	SourceAddress(s->from, &req);
	req.dest_addr_ton = 1;
	req.dest_addr_npi = 1;
	snprintf((char *) req.destination_addr, sizeof(req.destination_addr),
			 "%.20s", s->to);
	req.esm_class = s->enc.esm_class;
	/* a receipt for the SMS we hand over: success or failure */
	req.registered_delivery = s->sms_id ? 1 : 0;
	req.data_coding = s->enc.data_coding;
	req.sm_length = (uint8_t) p->len;
	memcpy(req.short_message, p->data, p->len);
	return smpp_send(b, SUBMIT_SM, &req, seq);
}

/* The name of an SMPP command_status (ESME_R...). */
const char *
smpp_status_name(uint32_t status)
{
	static char buf[128];

	buf[0] = '\0';
	str_command_status(status, buf);
	if (buf[0] == '\0')
		return "unknown status";
	return buf;
}
