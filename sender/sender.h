/*
 * sender.h
 *		bar9-sender: hands bar9's SMS queue to an SMSC over SMPP 3.4.
 *
 * One process, one transceiver bind, one thread: a poll() loop over the
 * SMSC socket and two database connections, claims and acks on one,
 * receipts and inbound SMS on the other (README, "Delivery").
 *
 *	config.c	BAR9_SMPP_URL / BAR9_DATABASE_URL and the flags
 *	encode.c	GSM-7 / UCS-2 encoding and the split into UDH parts
 *	smpp.c		the bind: connect, bind_transceiver, PDUs in and out
 *	db.c		claim_sms, ack_sms_batch, report_deliveries, receive_sms_at
 *	loop.c		the loop: the window of submit_sm, claims ahead, the rate
 *				cap, throttling, acks in batches, receipts, rebinds
 *	inbound.c	deliver_sm: delivery receipts and inbound SMS
 *	main.c		configuration, signals, logging, counters
 */
#ifndef BAR9_SENDER_H
#define BAR9_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>

#include <libpq-fe.h>

/* ---- config.c ---------------------------------------------------------- */

typedef struct Config
{
	char		host[256];
	int			port;
	char		system_id[16];	/* SMPP 3.4 sizes, NUL included */
	char		password[9];
	char		system_type[13];
	int			window;			/* outstanding submit_sm PDUs (default 10) */
	double		rate;			/* submit_sm per second, 0: no cap */
	int			lease_s;		/* claim lease */
	int			enquire_link_s; /* keepalive period */
	int			stats_s;		/* counters logged every stats_s */
	int			drain_s;		/* SIGTERM: longest wait for the window */
	int			receipt_wait_s; /* an unmatched receipt: tried again this long */
	const char *database_url;
} Config;

extern bool config_load(Config *c, int argc, char **argv);

/* ---- encode.c ---------------------------------------------------------- */

/* One SMS part as submit_sm carries it. */
typedef struct Part
{
	uint8_t		data[160];		/* UDH (when split) then the text */
	int			len;
} Part;

/* A body encoded for SMPP: data_coding and its parts. */
typedef struct Encoded
{
	uint8_t		data_coding;	/* 0 GSM-7 (unpacked septets), 8 UCS-2 */
	uint8_t		esm_class;		/* 0x40 (UDHI) when split */
	int			nparts;
	Part	   *parts;			/* malloc'd */
} Encoded;

extern bool encode_body(const char *utf8, uint8_t ref, Encoded *out);
extern void encoded_free(Encoded *e);
extern char *decode_text(uint8_t data_coding, const uint8_t *s, int len);

/* ---- the SMS in hand ----------------------------------------------------- */

typedef enum PartState
{
	PART_PENDING,				/* to submit */
	PART_OUT,					/* submit_sm sent, no response yet */
	PART_OK,					/* submit_sm_resp OK */
	PART_DROPPED				/* not sent: the SMS failed */
} PartState;

/* An SMS claimed from bar9 (or a reply to an inbound SMS: sms_id NULL). */
typedef struct Sms
{
	struct Sms *next;
	char	   *sms_id;			/* NULL for a reply: nothing to ack */
	char		to[24];			/* destination: digits of the E.164 number */
	char	   *from;			/* source address, NULL: the SMSC's default */
	Encoded		enc;
	PartState  *state;
	char	  **part_refs;		/* [nparts]: each part's message_id */
	char	   *provider_ref;	/* for the ack: the parts' message_ids */
	char	   *error;			/* a permanent error: the SMS failed */
	double		claimed_at;
	int			out;			/* parts PART_OUT */
	bool		started;		/* a part was submitted once: counts against
								 * the window until acked, even when a rebind
								 * put its parts back */
	bool		acking;			/* in the acknowledgement in flight */
	bool		acked;			/* acknowledged: to free */
} Sms;

/* ---- smpp.c ------------------------------------------------------------ */

typedef struct Bind
{
	int			fd;				/* -1 when unbound */
	bool		bound;
	uint32_t	seq;
	uint8_t		in[70000];		/* bytes read, not yet a whole PDU */
	int			inlen;
	double		last_rx;
	double		last_enquire;
	double		retry_at;		/* next bind attempt */
	double		backoff;
} Bind;

extern bool smpp_bind(Bind *b, const Config *c);
extern void smpp_close(Bind *b, const char *why);
extern bool smpp_send(Bind *b, uint32_t command_id, void *pdu, uint32_t *seq);
extern bool smpp_respond(Bind *b, uint32_t command_id, uint32_t seq,
						 uint32_t status);
extern int	smpp_read(Bind *b);
extern bool smpp_next_pdu(Bind *b, uint8_t **pdu, uint32_t *len);
extern void smpp_consume(Bind *b, uint32_t len);
extern bool smpp_submit(Bind *b, const Sms *s, int part, uint32_t *seq);
extern const char *smpp_status_name(uint32_t status);

/* ---- db.c -------------------------------------------------------------- */

typedef struct Db
{
	PGconn	   *conn;
	const char *name;			/* in log lines: "database" or "receipts" */
	bool		listen;			/* LISTEN bar9_sms on it */
	double		retry_at;
	double		backoff;
} Db;

/* The answer to the request in flight (db_result). */
typedef enum DbResult
{
	RES_PENDING,				/* not yet come */
	RES_OK,
	RES_FAILED					/* logged; db->conn NULL if the connection is gone */
} DbResult;

/* What the request in flight is (one at a time; Sender.db_req). */
typedef enum DbRequest
{
	REQ_NONE,
	REQ_CLAIM,
	REQ_ACK,
	REQ_REPORT
} DbRequest;

/* A delivery receipt waiting to be reported, or an inbound SMS. */
typedef struct Receipt
{
	char		ref[66];
	const char *outcome;		/* delivered | failed */
	char		error[64];
	uint32_t	seq;			/* the deliver_sm to answer */
	bool		answered;		/* deliver_sm_resp sent */
	double		first_at;		/* when it came */
	double		retry_at;		/* kept unmatched: reported again from then */
	long		ack_gen;		/* reported once this ack batch committed */
} Receipt;

extern bool db_ready(Db *db, const Config *c);
extern void db_lost(Db *db, const char *what);
extern bool db_send_claim(Db *db, const Config *c, int max);
extern int	db_claimed(PGresult *r, Sms **tail, double now);
extern bool db_send_ack(Db *db, Sms **done, int n);
extern bool db_ack(Db *db, Sms **done, int n, long *acked, long *failed);
extern bool db_send_report(Db *db, Receipt *r, int n);
extern bool db_reported(PGresult *res, int n, bool *matched);
extern DbResult db_result(Db *db, bool wait, ExecStatusType want,
						  PGresult **res);
extern bool db_inbound(Db *db, const char *to, const char *from,
					   const char *body, char **reply);
extern bool db_wait(Db *db);

/* ---- loop.c, inbound.c, main.c ----------------------------------------- */

#define BAR9_SENDER_VERSION	"1.0"

#define MAX_RECEIPTS	1024

/* A submit_sm waiting for its response. */
typedef struct Outstanding
{
	uint32_t	seq;
	Sms		   *sms;
	int			part;
	double		sent_at;
} Outstanding;

/* A submit_sm unanswered this long means the bind is broken: rebind. */
#define SUBMIT_RESP_TIMEOUT	30.0

/* Everything the loop works on. */
typedef struct Sender
{
	Config		cfg;
	Bind		bind;
	Db			db;				/* claims and acks (the window's path) */
	Db			rdb;			/* receipts and inbound SMS */
	Sms		   *queue;			/* claimed (and replies), in order */
	Outstanding *out;			/* [cfg.window] */
	int			nout;
	int			nstarted;		/* SMS with a part submitted, not acked */
	Receipt		receipts[MAX_RECEIPTS];
	int			nreceipts;
	DbRequest	db_req;			/* the request in flight on db */
	DbRequest	rdb_req;		/* the request in flight on rdb */
	Sms		  **acking;			/* REQ_ACK: the SMS it acknowledges */
	int			nacking;
	long		ack_sent_gen;	/* ack batches sent */
	long		ack_done_gen;	/* ack batches answered */
	int			nreporting;		/* REQ_REPORT: receipts[0..nreporting) */
	double		tokens;			/* rate cap: submit_sm allowed now */
	double		tokens_at;
	double		paused_until;	/* throttled by the SMSC */
	double		throttle_backoff;
	double		next_claim;
	double		next_stats;
	double		stop_by;		/* SIGTERM: leave at the latest then */
	bool		was_bound;		/* bound, and its loss not yet handled */
	/* counters (logged every cfg.stats_s, and at exit) */
	long		submitted,
				acked,
				failed,
				receipts_n,
				receipts_unmatched,	/* found no SMS: another part's, or unknown */
				inbound,
				throttled,
				binds;
} Sender;

extern volatile sig_atomic_t stopping;

extern int	sender_run(Sender *s);
extern void sender_deliver_sm(Sender *s, const uint8_t *pdu, uint32_t len);
extern void sender_flush(Sender *s);
extern void sender_db_collect(Sender *s, bool wait);
extern void sender_log_stats(Sender *s);
extern void sms_free(Sms *m);
extern bool sms_finished(const Sms *m);
extern bool sms_started(const Sms *m);

/* ---- logging, time ----------------------------------------------------- */

extern double now_s(void);
extern void logmsg(const char *fmt,...) __attribute__((format(printf, 1, 2)));

#endif							/* BAR9_SENDER_H */
