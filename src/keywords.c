/*
 * keywords.c
 *		Inbound SMS keywords: bar9.receive_sms, bar9.match_keyword and the
 *		per-account replies (bar9.set_keyword_replies, bar9.keyword_replies).
 *
 * The matching rule is in keywords.h.  It is deliberately a fixed rule, not
 * lower() or upper() under the database's collation: the answer to "did this
 * person say STOP?" must not depend on how the cluster was initdb'ed.
 *
 * Whole body only: "STOP." and "stop by our shop" are not keywords.  That is
 * what docs/api.md says ("the whole body, trimmed and case-folded") and what US
 * carriers (CTIA) and the large SMS APIs do; a body that merely contains a
 * keyword gets no reply and changes nothing.
 *
 * An opt-out keyword goes through bar9_opt_out_add (optouts.c), so it cancels
 * the number's queued SMS exactly as the API route does.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/unicode_norm.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "auth.h"
#include "e164.h"
#include "keywords.h"
#include "optouts.h"
#include "sql_helpers.h"

PG_FUNCTION_INFO_V1(bar9_match_keyword_sql);
PG_FUNCTION_INFO_V1(bar9_receive_sms);
PG_FUNCTION_INFO_V1(bar9_set_keyword_replies);
PG_FUNCTION_INFO_V1(bar9_keyword_replies);

/*
 * The keyword lists of docs/api.md, each already in folded form (NFC, ASCII upper
 * case, Ê).  Non-ASCII letters are written as universal character names
 * (the compiler stores them as UTF-8), so the code points compared are plain
 * to see and never depend on an editor; the comment shows each word.
 */
typedef struct Keyword
{
	const char *word;			/* UTF-8 */
	KeywordKind kind;
} Keyword;

static const Keyword keywords[] = {
	{"STOP", KEYWORD_OPT_OUT},
	{"STOPALL", KEYWORD_OPT_OUT},
	{"UNSUBSCRIBE", KEYWORD_OPT_OUT},
	{"CANCEL", KEYWORD_OPT_OUT},
	{"END", KEYWORD_OPT_OUT},
	{"QUIT", KEYWORD_OPT_OUT},
	{"OPTOUT", KEYWORD_OPT_OUT},
	{"REVOKE", KEYWORD_OPT_OUT},
	{"ARRET", KEYWORD_OPT_OUT},
	{"ARR\u00CAT", KEYWORD_OPT_OUT},	/* ARRÊT */
	{"\u062A\u0648\u0642\u0641", KEYWORD_OPT_OUT},	/* توقف */
	{"\u0625\u0644\u063A\u0627\u0621", KEYWORD_OPT_OUT},	/* إلغاء */
	{"\u0627\u0644\u063A\u0627\u0621", KEYWORD_OPT_OUT},	/* الغاء */
	{"START", KEYWORD_OPT_IN},
	{"UNSTOP", KEYWORD_OPT_IN},
	{"YES", KEYWORD_OPT_IN},
	{"\u0627\u0628\u062F\u0623", KEYWORD_OPT_IN},	/* ابدأ */
	{"HELP", KEYWORD_HELP},
	{"INFO", KEYWORD_HELP},
	{"AIDE", KEYWORD_HELP},
	{"\u0645\u0633\u0627\u0639\u062F\u0629", KEYWORD_HELP}	/* مساعدة */
};

/*
 * Is c trimmed from the ends of a body?  Unicode White_Space (PropList.txt),
 * plus the invisible format characters that keyboards, bidi-aware phones and
 * copy-paste leave around a word.
 */
static bool
IsTrimmable(pg_wchar c)
{
	if ((c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0)
		return true;
	if (c < 0x061C)
		return false;
	return c == 0x061C ||		/* ARABIC LETTER MARK */
		c == 0x1680 ||			/* OGHAM SPACE MARK */
		c == 0x180E ||			/* MONGOLIAN VOWEL SEPARATOR */
		(c >= 0x2000 && c <= 0x200A) || /* EN QUAD .. HAIR SPACE */
		(c >= 0x200B && c <= 0x200F) || /* ZWSP, ZWNJ, ZWJ, LRM, RLM */
		c == 0x2028 || c == 0x2029 ||	/* LINE / PARAGRAPH SEPARATOR */
		(c >= 0x202A && c <= 0x202E) || /* bidi embeddings, overrides */
		c == 0x202F ||			/* NARROW NO-BREAK SPACE */
		c == 0x205F ||			/* MEDIUM MATHEMATICAL SPACE */
		c == 0x2060 ||			/* WORD JOINER */
		(c >= 0x2066 && c <= 0x2069) || /* bidi isolates */
		c == 0x3000 ||			/* IDEOGRAPHIC SPACE */
		c == 0xFEFF;			/* BYTE ORDER MARK / ZWNBSP */
}

/* The fixed case fold: ASCII a-z to A-Z, ê to Ê, every other code point kept. */
static inline pg_wchar
FoldCodePoint(pg_wchar c)
{
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 'A';
	if (c == 0x00EA)
		return 0x00CA;
	return c;
}

/* Length in bytes of the valid UTF-8 character at s (n bytes left), else 0. */
static int
Utf8CharLength(const unsigned char *s, int n)
{
	int			l = pg_utf_mblen(s);

	if (l > n || !pg_utf8_islegal(s, l))
		return 0;
	return l;
}

/*
 * body[0..*len) as UTF-8 (*len updated).  A SQL_ASCII database stores bytes
 * unchecked: they are taken as they are, and bytes that are not UTF-8 then
 * simply match no keyword.
 */
static const unsigned char *
BodyAsUtf8(const char *body, int *len)
{
	const char *s;

	if (GetDatabaseEncoding() == PG_SQL_ASCII)
		return (const unsigned char *) body;
	s = pg_server_to_any(body, *len, PG_UTF8);
	if (s != body)
		*len = strlen(s);
	return (const unsigned char *) s;
}

/* Classify body[0..len) (server encoding) by the rule of keywords.h. */
KeywordKind
bar9_match_keyword(const char *body, int len)
{
	const unsigned char *s;
	int			start;
	int			end;
	int			i;
	int			n;
	pg_wchar	middle[KEYWORD_MAX_TRIMMED + 1];
	pg_wchar   *nfc;
	StringInfoData folded;
	KeywordKind result = KEYWORD_NONE;

	s = BodyAsUtf8(body, &len);

	/* 1. trim from the front */
	start = 0;
	while (start < len)
	{
		int			l = Utf8CharLength(s + start, len - start);

		if (l == 0)
			return KEYWORD_NONE;	/* not UTF-8: not a keyword */
		if (!IsTrimmable(utf8_to_unicode(s + start)))
			break;
		start += l;
	}

	/* ... and from the back (continuation bytes are 10xxxxxx) */
	end = len;
	while (end > start)
	{
		int			b = end - 1;
		int			l;

		while (b > start && (s[b] & 0xC0) == 0x80)
			b--;
		l = Utf8CharLength(s + b, end - b);
		if (l != end - b)
			return KEYWORD_NONE;
		if (!IsTrimmable(utf8_to_unicode(s + b)))
			break;
		end = b;
	}
	if (start == end)
		return KEYWORD_NONE;

	/* decode what is left, giving up as soon as it is too long */
	n = 0;
	for (i = start; i < end;)
	{
		int			l = Utf8CharLength(s + i, end - i);

		if (l == 0 || n == KEYWORD_MAX_TRIMMED)
			return KEYWORD_NONE;
		middle[n++] = utf8_to_unicode(s + i);
		i += l;
	}
	middle[n] = 0;

	/* 2. NFC; 3. fold; back to UTF-8 */
	nfc = unicode_normalize(UNICODE_NFC, middle);
	initStringInfo(&folded);
	for (i = 0; nfc[i] != 0; i++)
	{
		unsigned char u[8];

		unicode_to_utf8(FoldCodePoint(nfc[i]), u);
		appendBinaryStringInfo(&folded, (char *) u, pg_utf_mblen(u));
	}

	/* 4. the whole of it against the lists */
	for (i = 0; i < lengthof(keywords); i++)
	{
		if (strcmp(folded.data, keywords[i].word) == 0)
		{
			result = keywords[i].kind;
			break;
		}
	}

	pfree(nfc);
	pfree(folded.data);
	return result;
}

/* 'opt_out', 'opt_in', 'help' or NULL for KEYWORD_NONE. */
const char *
bar9_keyword_kind_name(KeywordKind kind)
{
	switch (kind)
	{
		case KEYWORD_OPT_OUT:
			return "opt_out";
		case KEYWORD_OPT_IN:
			return "opt_in";
		case KEYWORD_HELP:
			return "help";
		case KEYWORD_NONE:
			break;
	}
	return NULL;
}

/*
 * SQL: bar9.match_keyword(body text) -> text: 'opt_out', 'opt_in', 'help' or
 * NULL.  Changes nothing; for tests and for programs that want to know.
 */
Datum
bar9_match_keyword_sql(PG_FUNCTION_ARGS)
{
	text	   *body = PG_GETARG_TEXT_PP(0);
	const char *name;

	name = bar9_keyword_kind_name(bar9_match_keyword(VARDATA_ANY(body),
													 VARSIZE_ANY_EXHDR(body)));
	if (name == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

/*
 * The account's three replies (opt-out, opt-in, help) into out[], as text
 * allocated in the caller's memory context: its own texts where it set them,
 * the defaults elsewhere.
 */
static void
AccountReplies(const char *account_id, text *out[3])
{
	static SPIPlanPtr plan = NULL;
	static const char *const defaults[3] = {
		KEYWORD_DEFAULT_OPT_OUT_REPLY,
		KEYWORD_DEFAULT_OPT_IN_REPLY,
		KEYWORD_DEFAULT_HELP_REPLY
	};
	Datum		args[2];
	int			rc;
	int			i;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	bar9_plan(&plan, "SELECT opt_out_reply, opt_in_reply, help_reply"
			  "  FROM bar9.keyword_replies"
			  " WHERE account_id = $1 AND account_no = $2",
			  2, (Oid[]) {TEXTOID, INT4OID});

	args[0] = CStringGetTextDatum(account_id);
	args[1] = Int32GetDatum(bar9_account_no(account_id, true));
	rc = SPI_execute_plan(plan, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "keyword reply query failed: %s",
			 SPI_result_code_string(rc));

	for (i = 0; i < 3; i++)
	{
		bool		isnull = true;
		Datum		d = (Datum) 0;

		if (SPI_processed == 1)
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
							  i + 1, &isnull);
		if (isnull)
		{
			size_t		len = strlen(defaults[i]);

			out[i] = (text *) SPI_palloc(VARHDRSZ + len);
			SET_VARSIZE(out[i], VARHDRSZ + len);
			memcpy(VARDATA(out[i]), defaults[i], len);
		}
		else
			out[i] = (text *) SPI_datumTransfer(d, false, -1);
	}
	SPI_finish();
}

/* Index into AccountReplies' out[] of the reply due for kind. */
static int
ReplyIndex(KeywordKind kind)
{
	switch (kind)
	{
		case KEYWORD_OPT_OUT:
			return 0;
		case KEYWORD_OPT_IN:
			return 1;
		case KEYWORD_HELP:
			return 2;
		case KEYWORD_NONE:
			break;
	}
	elog(ERROR, "no reply for keyword kind %d", (int) kind);
	return -1;					/* keep compiler quiet */
}

/*
 * SQL: bar9.receive_sms(account_id text, from_number bar9.e164, body text)
 * -> text: act on an inbound SMS and return the reply to send back, or NULL
 * when the body is not a keyword (then nothing changes).
 *
 * Opt-out keyword: from_number goes on the account's opt-out list with source
 * 'keyword' (an existing entry is kept as it is) and its queued SMS are
 * canceled; the confirmation is returned every time.  Opt-in keyword: the
 * number leaves the list, if it was on it.  Help: the help text.
 * An unknown account is an error (22023), whatever the body.
 */
Datum
bar9_receive_sms(PG_FUNCTION_ARGS)
{
	char	   *account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	uint64		from_number = PG_GETARG_E164(1);
	text	   *body = PG_GETARG_TEXT_PP(2);
	KeywordKind kind;
	text	   *replies[3];

	bar9_consent_require_account(account_id);

	kind = bar9_match_keyword(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body));
	if (kind == KEYWORD_NONE)
		PG_RETURN_NULL();

	if (kind == KEYWORD_OPT_OUT)
		bar9_opt_out_add(account_id, from_number, "keyword", NULL, NULL);
	else if (kind == KEYWORD_OPT_IN)
		(void) bar9_opt_out_remove(account_id, from_number, true);

	AccountReplies(account_id, replies);
	PG_RETURN_TEXT_P(replies[ReplyIndex(kind)]);
}

/* Is body[0..len) (server encoding) empty or only what matching trims? */
static bool
OnlyTrimmable(const char *body, int len)
{
	const unsigned char *s;
	int			i;

	s = BodyAsUtf8(body, &len);
	for (i = 0; i < len;)
	{
		int			l = Utf8CharLength(s + i, len - i);

		if (l == 0 || !IsTrimmable(utf8_to_unicode(s + i)))
			return false;
		i += l;
	}
	return true;
}

/*
 * Check one reply argument of set_keyword_replies: 1 to
 * KEYWORD_REPLY_MAX_CHARS characters, not only white space.
 */
static void
CheckReply(const char *param, text *reply)
{
	const char *s = VARDATA_ANY(reply);
	int			len = VARSIZE_ANY_EXHDR(reply);
	int			nchars = pg_mbstrlen_with_len(s, len);

	if (nchars > KEYWORD_REPLY_MAX_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s reply is too long", param),
				 errdetail("A reply has at most %d characters; this one has %d.",
						   KEYWORD_REPLY_MAX_CHARS, nchars)));
	if (OnlyTrimmable(s, len))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s reply must not be empty", param),
				 errhint("Pass NULL to use the default reply.")));
}

/*
 * SQL: bar9.set_keyword_replies(account_id text, opt_out text, opt_in text,
 * help text) -> void: set the account's three replies at once.  A NULL text
 * means the default reply (so NULL, NULL, NULL returns to all defaults).
 */
Datum
bar9_set_keyword_replies(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	static const char *const params[3] = {"opt_out", "opt_in", "help"};
	char	   *account_id;
	Datum		args[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	int			i;
	int			rc;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("account_id must not be null")));
	account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	args[0] = PG_GETARG_DATUM(0);

	for (i = 0; i < 3; i++)
	{
		if (PG_ARGISNULL(i + 1))
		{
			args[i + 1] = (Datum) 0;
			nulls[i + 1] = 'n';
		}
		else
		{
			CheckReply(params[i], PG_GETARG_TEXT_PP(i + 1));
			args[i + 1] = PG_GETARG_DATUM(i + 1);
		}
	}

	bar9_consent_require_account(account_id);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* no function in the distributed write: its values come as parameters */
	args[4] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	args[5] = Int32GetDatum(bar9_account_no(account_id, false));
	bar9_plan(&plan, "INSERT INTO bar9.keyword_replies AS r"
			  "       (account_id, opt_out_reply, opt_in_reply,"
			  "        help_reply, updated_at, account_no)"
			  " VALUES ($1, $2, $3, $4, $5, $6)"
			  " ON CONFLICT (account_id, account_no) DO UPDATE"
			  "   SET opt_out_reply = EXCLUDED.opt_out_reply,"
			  "       opt_in_reply = EXCLUDED.opt_in_reply,"
			  "       help_reply = EXCLUDED.help_reply,"
			  "       updated_at = EXCLUDED.updated_at",
			  6, (Oid[]) {TEXTOID, TEXTOID, TEXTOID, TEXTOID,
			  TIMESTAMPTZOID, INT4OID});
	rc = SPI_execute_plan(plan, args, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "keyword reply update failed: %s",
			 SPI_result_code_string(rc));
	SPI_finish();

	PG_RETURN_VOID();
}

/*
 * SQL: bar9.keyword_replies(account_id text, OUT opt_out text, OUT opt_in
 * text, OUT help text): the replies receive_sms sends for this account now
 * (its own texts where set, else the defaults).
 */
Datum
bar9_keyword_replies(PG_FUNCTION_ARGS)
{
	char	   *account_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TupleDesc	tupdesc;
	text	   *replies[3];
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	bar9_consent_require_account(account_id);
	AccountReplies(account_id, replies);
	for (i = 0; i < 3; i++)
		values[i] = PointerGetDatum(replies[i]);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values,
													  nulls)));
}
