/*
 * e164.c
 *		The bar9.e164 type: an E.164 phone number in 8 bytes, by value.
 *
 * The parser, the formatter and the encoding live in e164_parse.c (plain C,
 * fuzzed on its own); this file holds the SQL-callable functions: I/O, binary
 * I/O, casts to and from text, comparison, sort support and hashing.
 *
 * The encoding orders as the digit strings do (proof in e164_parse.c), so
 * every comparison is an unsigned comparison of the two Datums.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/sortsupport.h"

#include "e164.h"

static void ReportInvalidE164(const char *str, E164Error err,
							  const char *hint) pg_attribute_noreturn();

PG_FUNCTION_INFO_V1(bar9_e164_in);
PG_FUNCTION_INFO_V1(bar9_e164_out);
PG_FUNCTION_INFO_V1(bar9_e164_recv);
PG_FUNCTION_INFO_V1(bar9_e164_send);
PG_FUNCTION_INFO_V1(bar9_e164_from_text);
PG_FUNCTION_INFO_V1(bar9_e164_to_text);
PG_FUNCTION_INFO_V1(bar9_e164_valid);
PG_FUNCTION_INFO_V1(bar9_e164_country_code);
PG_FUNCTION_INFO_V1(bar9_e164_eq);
PG_FUNCTION_INFO_V1(bar9_e164_ne);
PG_FUNCTION_INFO_V1(bar9_e164_lt);
PG_FUNCTION_INFO_V1(bar9_e164_le);
PG_FUNCTION_INFO_V1(bar9_e164_gt);
PG_FUNCTION_INFO_V1(bar9_e164_ge);
PG_FUNCTION_INFO_V1(bar9_e164_cmp);
PG_FUNCTION_INFO_V1(bar9_e164_smaller);
PG_FUNCTION_INFO_V1(bar9_e164_larger);
PG_FUNCTION_INFO_V1(bar9_e164_sortsupport);
PG_FUNCTION_INFO_V1(bar9_e164_hash);
PG_FUNCTION_INFO_V1(bar9_e164_hash_extended);

/* Raise 22P02 for str, with a detail naming the rule broken and a hint. */
static void
ReportInvalidE164(const char *str, E164Error err, const char *hint)
{
	bool		has_hint = (hint != NULL && hint[0] != '\0');

	switch (err)
	{
		case E164_ERR_EMPTY:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid E.164 phone number: \"%s\"", str),
					 errdetail("An empty string is not a phone number.")));
			break;
		case E164_ERR_NO_PLUS:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid E.164 phone number: \"%s\"", str),
					 errdetail("E.164 numbers start with \"+\"."),
					 has_hint ? errhint("Write it as %s.", hint) : 0));
			break;
		case E164_ERR_INTL_PREFIX:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid E.164 phone number: \"%s\"", str),
					 errdetail("E.164 numbers start with \"+\", not with an international call prefix such as \"00\"."),
					 has_hint ? errhint("Write it as %s.", hint) : 0));
			break;
		case E164_ERR_SEPARATOR:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid E.164 phone number: \"%s\"", str),
					 errdetail("E.164 numbers contain no spaces, dashes, dots or brackets."),
					 has_hint ? errhint("Write it as %s.", hint) : 0));
			break;
		case E164_ERR_NOT_ASCII:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid E.164 phone number: \"%s\"", str),
					 errdetail("E.164 numbers are written with the ASCII characters \"+\" and 0 to 9 only.")));
			break;
		case E164_ERR_NOT_DIGIT:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid E.164 phone number: \"%s\"", str),
					 errdetail("Only the digits 0 to 9 may follow the \"+\"."),
					 has_hint ? errhint("Write it as %s.", hint) : 0));
			break;
		case E164_ERR_LEADING_ZERO:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid E.164 phone number: \"%s\"", str),
					 errdetail("Country calling codes do not start with 0.")));
			break;
		case E164_ERR_LENGTH:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid E.164 phone number: \"%s\"", str),
					 errdetail("E.164 numbers have 7 to 15 digits.")));
			break;
		case E164_ERR_COUNTRY_CODE:
			/* the strict grammar held, so str is "+" and 7 or more digits */
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid E.164 phone number: \"%s\"", str),
					 errdetail("%.4s is not a country calling code assigned by ITU-T.",
							   str)));
			break;
		case E164_OK:
		case E164_ERR_ENCODING:
			break;
	}
	elog(ERROR, "unexpected E.164 parse result %d for \"%s\"", (int) err, str);
}

/* Parse s[0..len) as an E.164 number or raise 22P02; for the rest of bar9. */
uint64
E164FromString(const char *s, size_t len)
{
	uint64_t	v;
	E164Error	err;
	char		hint[E164_BUFSIZE];

	if (!e164_parse(s, len, &v, &err, hint, sizeof(hint)))
		ReportInvalidE164(pnstrdup(s, len), err, hint);
	return (uint64) v;
}

/* Type input: "+213555123456" -> e164. */
Datum
bar9_e164_in(PG_FUNCTION_ARGS)
{
	const char *str = PG_GETARG_CSTRING(0);

	PG_RETURN_E164(E164FromString(str, strlen(str)));
}

/* Type output: e164 -> "+213555123456". */
Datum
bar9_e164_out(PG_FUNCTION_ARGS)
{
	uint64		v = PG_GETARG_E164(0);
	char	   *buf = palloc(E164_BUFSIZE);

	e164_format(v, buf);
	PG_RETURN_CSTRING(buf);
}

/* Binary input: the 8-byte encoding, network order, checked before use. */
Datum
bar9_e164_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	uint64		v = (uint64) pq_getmsgint64(buf);

	if (e164_check(v) != E164_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid E.164 phone number in binary input"),
				 errdetail("The 8 bytes 0x%016llx do not encode an E.164 number.",
						   (unsigned long long) v)));
	PG_RETURN_E164(v);
}

/* Binary output: the 8-byte encoding, network order. */
Datum
bar9_e164_send(PG_FUNCTION_ARGS)
{
	uint64		v = PG_GETARG_E164(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, (int64) v);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Cast text -> e164, parsing the text in place (no cstring copy). */
Datum
bar9_e164_from_text(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_E164(E164FromString(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
}

/* Cast e164 -> text. */
Datum
bar9_e164_to_text(PG_FUNCTION_ARGS)
{
	uint64		v = PG_GETARG_E164(0);
	char		buf[E164_BUFSIZE];
	size_t		len;

	len = e164_format(v, buf);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf, (int) len));
}

/* Is the text a valid E.164 number?  Never raises: for filtering imports. */
Datum
bar9_e164_valid(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	uint64_t	v;
	E164Error	err;

	PG_RETURN_BOOL(e164_parse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t),
							  &v, &err, NULL, 0));
}

/* The country calling code of a number, e.g. 213 for +213555123456. */
Datum
bar9_e164_country_code(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(e164_encoded_country_code(PG_GETARG_E164(0)));
}

/* Operator =. */
Datum
bar9_e164_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_E164(0) == PG_GETARG_E164(1));
}

/* Operator <>. */
Datum
bar9_e164_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_E164(0) != PG_GETARG_E164(1));
}

/* Operator <: digit strings compared character by character. */
Datum
bar9_e164_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_E164(0) < PG_GETARG_E164(1));
}

/* Operator <=. */
Datum
bar9_e164_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_E164(0) <= PG_GETARG_E164(1));
}

/* Operator >. */
Datum
bar9_e164_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_E164(0) > PG_GETARG_E164(1));
}

/* Operator >=. */
Datum
bar9_e164_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_E164(0) >= PG_GETARG_E164(1));
}

/* Btree support function 1: -1, 0 or 1. */
Datum
bar9_e164_cmp(PG_FUNCTION_ARGS)
{
	uint64		a = PG_GETARG_E164(0);
	uint64		b = PG_GETARG_E164(1);

	PG_RETURN_INT32(a < b ? -1 : (a > b ? 1 : 0));
}

/* Transition function of min(e164): the lesser of two numbers. */
Datum
bar9_e164_smaller(PG_FUNCTION_ARGS)
{
	uint64		a = PG_GETARG_E164(0);
	uint64		b = PG_GETARG_E164(1);

	PG_RETURN_E164(a < b ? a : b);
}

/* Transition function of max(e164): the greater of two numbers. */
Datum
bar9_e164_larger(PG_FUNCTION_ARGS)
{
	uint64		a = PG_GETARG_E164(0);
	uint64		b = PG_GETARG_E164(1);

	PG_RETURN_E164(a > b ? a : b);
}

/*
 * Btree support function 2: sorts compare the Datums as unsigned integers;
 * this comparator also lets tuplesort pick its qsort specialised for it.
 */
Datum
bar9_e164_sortsupport(PG_FUNCTION_ARGS)
{
	SortSupport ssup = (SortSupport) PG_GETARG_POINTER(0);

	ssup->comparator = ssup_datum_unsigned_cmp;
	PG_RETURN_VOID();
}

/* Hash support function 1: the 32-bit halves folded, as hashint8 does. */
Datum
bar9_e164_hash(PG_FUNCTION_ARGS)
{
	uint64		v = PG_GETARG_E164(0);

	return hash_uint32((uint32) v ^ (uint32) (v >> 32));
}

/* Hash support function 2: seeded; with seed 0 its low half is e164_hash. */
Datum
bar9_e164_hash_extended(PG_FUNCTION_ARGS)
{
	uint64		v = PG_GETARG_E164(0);
	uint64		seed = (uint64) PG_GETARG_INT64(1);

	return hash_uint32_extended((uint32) v ^ (uint32) (v >> 32), seed);
}

/* A number as a text Datum, for a $n::bar9.e164 parameter of an SPI query. */
Datum
E164TextDatum(uint64 number)
{
	char		buf[E164_BUFSIZE];

	e164_format(number, buf);
	return CStringGetTextDatum(buf);
}
