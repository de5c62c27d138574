/*
 * db.c
 *		The sender's side of bar9's SQL contract (docs/api.md, "Senders"):
 *		claim_sms, ack_sms_batch, report_deliveries, receive_sms_at, and
 *		LISTEN bar9_sms to wake without polling.
 *
 * One libpq connection.  The calls of the sender's steady state (claims,
 * acks of SMS sent, receipts) are sent without waiting (db_send_*) and
 * their answer is taken when it came (db_result), so that the loop keeps
 * reading and writing the SMSC's socket while the database works; one
 * request is in flight at a time, so they run in the order sent.  The rare
 * ones (failed SMS, a batch refused whole, inbound SMS) are one blocking
 * round trip each.  When the database goes away the sender keeps what it
 * has not acknowledged and reconnects with back-off (db_ready).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sender.h"

/* Connected and listening, or try again once the back-off allows. */
bool
db_ready(Db *db, const Config *c)
{
	PGresult   *r;

	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
		return true;
	if (now_s() < db->retry_at)
		return false;
	if (db->conn)
		PQfinish(db->conn);
	db->conn = PQconnectdb(c->database_url);
	if (PQstatus(db->conn) != CONNECTION_OK)
	{
		db_lost(db, PQerrorMessage(db->conn));
		return false;
	}
	r = PQexec(db->conn, db->listen ?
			   "SET application_name = 'bar9-sender'; LISTEN bar9_sms" :
			   "SET application_name = 'bar9-sender'");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
	{
		PQclear(r);
		db_lost(db, PQerrorMessage(db->conn));
		return false;
	}
	PQclear(r);
	db->backoff = 0;
	logmsg("%s: connected", db->name);
	return true;
}

/* The connection failed: log it (one line) and back off. */
void
db_lost(Db *db, const char *what)
{
	char		line[256];

	snprintf(line, sizeof(line), "%s", what ? what : "");
	line[strcspn(line, "\n")] = '\0';
	logmsg("error: %s: %s", db->name, line);
	if (db->conn && PQstatus(db->conn) != CONNECTION_OK)
	{
		PQfinish(db->conn);
		db->conn = NULL;
	}
	db->backoff = db->backoff == 0 ? 0.5 : (db->backoff * 2 > 30 ? 30 : db->backoff * 2);
	db->retry_at = now_s() + db->backoff;
}

/* Is r a failure?  Logs it and tells the connection apart from the call. */
static bool
Failed(Db *db, PGresult *r, ExecStatusType want)
{
	if (PQresultStatus(r) == want)
		return false;
	if (PQstatus(db->conn) != CONNECTION_OK)
		db_lost(db, PQerrorMessage(db->conn));
	else
	{
		char		line[256];

		snprintf(line, sizeof(line), "%s", PQresultErrorMessage(r));
		line[strcspn(line, "\n")] = '\0';
		logmsg("error: %s: %s", db->name, line);
	}
	return true;
}

/* Copy a number's digits ("+213..." -> "213...") into to. */
static void
Digits(char *to, size_t cap, const char *e164)
{
	snprintf(to, cap, "%s", e164[0] == '+' ? e164 + 1 : e164);
}

/* Send claim_sms(max) without waiting; false when it could not be sent. */
bool
db_send_claim(Db *db, const Config *c, int max)
{
	char		smax[16],
				lease[32];
	const char *params[2] = {smax, lease};

	snprintf(smax, sizeof(smax), "%d", max);
	snprintf(lease, sizeof(lease), "%d seconds", c->lease_s);
	if (!PQsendQueryParams(db->conn,
						   "SELECT sms_id, to_number::text, body, from_address"
						   "  FROM bar9.claim_sms($1::int, $2::interval)",
						   2, NULL, params, NULL, NULL, 0))
	{
		db_lost(db, PQerrorMessage(db->conn));
		return false;
	}
	return true;
}

/*
 * Append the SMS of a claim_sms result r to the list at *tail (encoded,
 * their parts pending); returns how many.
 */
int
db_claimed(PGresult *r, Sms **tail, double now)
{
	static uint8_t ref;
	int			n = PQntuples(r);

	for (int i = 0; i < n; i++)
	{
		Sms		   *s = calloc(1, sizeof(Sms));

		s->sms_id = strdup(PQgetvalue(r, i, 0));
		Digits(s->to, sizeof(s->to), PQgetvalue(r, i, 1));
		s->from = PQgetisnull(r, i, 3) ? NULL : strdup(PQgetvalue(r, i, 3));
		encode_body(PQgetvalue(r, i, 2), ref++, &s->enc);
		s->state = calloc(s->enc.nparts, sizeof(PartState));
		s->part_refs = calloc(s->enc.nparts, sizeof(char *));
		s->claimed_at = now;
		*tail = s;
		tail = &s->next;
	}
	return n;
}

/*
 * The answer to the request in flight: RES_PENDING while it runs (wait:
 * block until it comes), RES_OK with *res (to PQclear) when it is of
 * status want, RES_FAILED when it failed (logged; db->conn is NULL when
 * the connection is gone).
 */
DbResult
db_result(Db *db, bool wait, ExecStatusType want, PGresult **res)
{
	PGresult   *r,
			   *more;

	*res = NULL;
	if (db->conn == NULL)
		return RES_FAILED;
	if (!wait)
	{
		if (!PQconsumeInput(db->conn))
		{
			db_lost(db, PQerrorMessage(db->conn));
			return RES_FAILED;
		}
		if (PQisBusy(db->conn))
			return RES_PENDING;
	}
	r = PQgetResult(db->conn);
	while ((more = PQgetResult(db->conn)) != NULL)
		PQclear(more);
	if (r == NULL || Failed(db, r, want))
	{
		if (r == NULL && PQstatus(db->conn) != CONNECTION_OK)
			db_lost(db, PQerrorMessage(db->conn));
		PQclear(r);
		return RES_FAILED;
	}
	*res = r;
	return RES_OK;
}

/* Build a text[] literal of items (quoted, escaped) into a malloc'd string. */
static char *
ArrayLiteral(char **items, int n)
{
	size_t		cap = 3;
	char	   *out,
			   *o;

	for (int i = 0; i < n; i++)
		cap += (items[i] ? 2 * strlen(items[i]) : 4) + 3;
	out = o = malloc(cap);
	*o++ = '{';
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			*o++ = ',';
		if (items[i] == NULL)
		{
			memcpy(o, "NULL", 4);
			o += 4;
			continue;
		}
		*o++ = '"';
		for (const char *p = items[i]; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				*o++ = '\\';
			*o++ = *p;
		}
		*o++ = '"';
	}
	*o++ = '}';
	*o = '\0';
	return out;
}

/* The ack_sms_batch statement. */
#define ACK_SQL "SELECT bar9.ack_sms_batch($1::text[], $2, $3::text[], $4)"

/*
 * ack_sms_batch(ids, outcome, refs, error).  wait: true when it committed.
 * Not wait: sent without waiting (its answer comes by db_result), true when
 * it could be sent.
 */
static bool
AckBatch(Db *db, char **ids, char **refs, int n, const char *outcome,
		 const char *error, bool wait)
{
	char	   *aids = ArrayLiteral(ids, n);
	char	   *arefs = refs ? ArrayLiteral(refs, n) : NULL;
	const char *params[4] = {aids, outcome, arefs, error};
	bool		ok;

	if (wait)
	{
		PGresult   *r = PQexecParams(db->conn, ACK_SQL, 4, NULL, params,
									 NULL, NULL, 0);

		ok = !Failed(db, r, PGRES_TUPLES_OK);
		PQclear(r);
	}
	else if (!(ok = PQsendQueryParams(db->conn, ACK_SQL, 4, NULL, params,
									  NULL, NULL, 0)))
		db_lost(db, PQerrorMessage(db->conn));
	free(aids);
	free(arefs);
	return ok;
}

/*
 * The sms_id and provider_ref of the SMS of done[0..n) that were sent (no
 * error) into ids and refs (room for n each); returns how many.
 */
static int
SentOf(Sms **done, int n, char **ids, char **refs)
{
	int			k = 0;

	for (int i = 0; i < n; i++)
		if (done[i]->error == NULL)
		{
			ids[k] = done[i]->sms_id;
			refs[k++] = done[i]->provider_ref;
		}
	return k;
}

/*
 * Send the acknowledgement 'sent' of done[0..n) (none failed), with their
 * provider refs, without waiting; false when it could not be sent.
 */
bool
db_send_ack(Db *db, Sms **done, int n)
{
	char	  **ids = malloc(sizeof(char *) * n);
	char	  **refs = malloc(sizeof(char *) * n);
	bool		ok;

	ok = AckBatch(db, ids, refs, SentOf(done, n, ids, refs), "sent", NULL,
				  false);
	free(ids);
	free(refs);
	return ok;
}

/*
 * Acknowledge the finished SMS done[0..n): the sent in one batch with their
 * provider refs, the failed one batch per error.  A batch refused whole (a
 * claim that went stale) is retried SMS by SMS, so one stale claim does not
 * hold back the rest.  False when the database is gone (nothing lost: the
 * caller keeps them and tries again).
 */
bool
db_ack(Db *db, Sms **done, int n, long *acked, long *failed)
{
	char	  **ids = malloc(sizeof(char *) * (n + 1));
	char	  **refs = malloc(sizeof(char *) * (n + 1));
	int			k = SentOf(done, n, ids, refs);
	bool		ok = true;

	if (k > 0 && !AckBatch(db, ids, refs, k, "sent", NULL, true))
	{
		if (db->conn == NULL)
			ok = false;
		else
			for (int i = 0; i < k; i++)
				(void) AckBatch(db, &ids[i], &refs[i], 1, "sent", NULL, true);
	}
	if (ok)
		*acked += k;
	for (int i = 0; ok && i < n; i++)
	{
		if (done[i]->error == NULL)
			continue;
		if (!AckBatch(db, &done[i]->sms_id, NULL, 1, "failed", done[i]->error,
					  true) &&
			db->conn == NULL)
			ok = false;
		else
			(*failed)++;
	}
	free(ids);
	free(refs);
	return ok;
}

/*
 * Send the receipts r[0..n) to report_deliveries in one statement, without
 * waiting; false when it could not be sent.  Its result (db_reported) is
 * one row, an array of one boolean per receipt, in order: whether it found
 * its SMS.  The broadcasts' counters move once per statement, at its end.
 */
bool
db_send_report(Db *db, Receipt *r, int n)
{
	char	  **refs = malloc(sizeof(char *) * n);
	char	  **outs = malloc(sizeof(char *) * n);
	char	  **errs = malloc(sizeof(char *) * n);
	char	   *a[3];
	bool		ok;

	for (int i = 0; i < n; i++)
	{
		refs[i] = r[i].ref;
		outs[i] = (char *) r[i].outcome;
		errs[i] = r[i].error[0] ? r[i].error : NULL;
	}
	a[0] = ArrayLiteral(refs, n);
	a[1] = ArrayLiteral(outs, n);
	a[2] = ArrayLiteral(errs, n);
	ok = PQsendQueryParams(db->conn,
						   "SELECT bar9.report_deliveries($1::text[], $2::text[], $3::text[])",
						   3, NULL, (const char *const *) a, NULL, NULL, 0);
	if (!ok)
		db_lost(db, PQerrorMessage(db->conn));
	for (int i = 0; i < 3; i++)
		free(a[i]);
	free(refs);
	free(outs);
	free(errs);
	return ok;
}

/*
 * matched[i]: did receipt i of a report's result res ("{t,f,...}") find its
 * SMS?  False: a bad result.
 */
bool
db_reported(PGresult *res, int n, bool *matched)
{
	const char *v;
	int			k = 0;

	if (PQntuples(res) != 1 || PQnfields(res) != 1 || PQgetisnull(res, 0, 0))
		return false;
	v = PQgetvalue(res, 0, 0);
	if (*v++ != '{')
		return false;
	for (; *v != '\0' && *v != '}'; v++)
	{
		if (*v == ',')
			continue;
		if (k == n || (*v != 't' && *v != 'f'))
			return false;
		matched[k++] = (*v == 't');
	}
	return *v == '}' && k == n;
}

/*
 * An inbound SMS to our address `to` from `from` (E.164 with +): the
 * account's keyword handling; *reply is the text to send back or NULL.
 * False when it could not be recorded (the database is gone).
 */
bool
db_inbound(Db *db, const char *to, const char *from, const char *body,
		   char **reply)
{
	const char *params[3] = {to, from, body};
	PGresult   *r;

	*reply = NULL;
	r = PQexecParams(db->conn,
					 "SELECT bar9.receive_sms_at($1, $2::bar9.e164, $3)",
					 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		bool		gone = PQstatus(db->conn) != CONNECTION_OK;

		(void) Failed(db, r, PGRES_TUPLES_OK);
		PQclear(r);
		return !gone;			/* an unknown address is logged, not retried */
	}
	if (!PQgetisnull(r, 0, 0))
		*reply = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return true;
}

/* Consume notifications; true when bar9_sms was raised. */
bool
db_wait(Db *db)
{
	PGnotify   *n;
	bool		woke = false;

	if (db->conn == NULL || !PQconsumeInput(db->conn))
		return false;
	while ((n = PQnotifies(db->conn)) != NULL)
	{
		woke = true;
		PQfreemem(n);
	}
	return woke;
}
