/*
 * segments.c
 *		SMS encoding (GSM-7 or UCS-2) and exact segment count of a body.
 *
 * The alphabets, in gsm7.h (shared with bar9-sender): 3GPP TS 23.038
 * (GSM 03.38) section 6.2.1, "GSM 7 bit Default Alphabet" (the 128-entry
 * basic table) and section 6.2.1.1, "GSM 7 bit default alphabet extension
 * table" (reached with escape 0x1B, so each of its characters costs 2
 * septets).  Segment sizes: 3GPP TS 23.040 section 9.2.3.24.1 (concatenated
 * SMS): a 6-octet user data header leaves 153 septets or 134 octets (67
 * UCS-2 units) per part, against 160 septets or 70 units for a message sent
 * whole.
 *
 * Counting walks the characters and fills parts one by one, rather than
 * dividing, so that an escape pair (ESC + extension char) or a UTF-16
 * surrogate pair is never split across two parts: a character that does not
 * fit whole into what is left of a part starts the next part.
 *
 * The national language shift tables (TS 23.038 section 6.2.1.2) are not
 * used (gsm7.h says why).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "gsm7.h"
#include "segments.h"
#include "utf8.h"

/*
 * Add a character of the given cost to a concatenated message being filled
 * in parts of part_size: it goes whole into the current part or starts the
 * next one.
 */
static inline void
FillPart(int cost, int part_size, int *parts, int *used)
{
	if (*parts == 0 || *used + cost > part_size)
	{
		(*parts)++;
		*used = cost;
	}
	else
		*used += cost;
}

/* Measure the UTF-8 string utf8[0..len): encoding, units, segments, chars. */
void
sms_measure(const char *utf8, int len, SmsEncoding *out)
{
	const unsigned char *s = (const unsigned char *) utf8;
	const uint16 *alphabet = gsm7_index();
	bool		gsm7 = true;
	int			septets = 0;
	int			gsm_parts = 0;
	int			gsm_used = 0;
	int			units = 0;
	int			ucs_parts = 0;
	int			ucs_used = 0;
	int			nchars = 0;
	int			pos = 0;

	while (pos < len)
	{
		uint32		cp;
		int			ucost;

		if (s[pos] < 0x80)
			cp = s[pos++];		/* ASCII, most bodies: no decoding */
		else
			pos += utf8_next_char(s + pos, len - pos, &cp);
		nchars++;

		/* UCS-2 side, always counted: the first non-GSM char may come late */
		ucost = (cp > 0xFFFF) ? 2 : 1;
		units += ucost;
		FillPart(ucost, SMS_UCS2_PART, &ucs_parts, &ucs_used);

		/* GSM-7 side, until a character outside it is seen */
		if (gsm7)
		{
			int			gcost = gsm7_cost(gsm7_lookup(alphabet, cp));

			if (gcost == 0)
				gsm7 = false;
			else
			{
				septets += gcost;
				FillPart(gcost, SMS_GSM7_PART, &gsm_parts, &gsm_used);
			}
		}
	}

	out->gsm7 = gsm7;
	out->nchars = nchars;
	if (gsm7)
	{
		out->units = septets;
		out->segments = (septets == 0) ? 0 :
			(septets <= SMS_GSM7_SINGLE) ? 1 : gsm_parts;
	}
	else
	{
		out->units = units;
		out->segments = (units <= SMS_UCS2_SINGLE) ? 1 : ucs_parts;
	}
}

/* "GSM-7" or "UCS-2", as docs/api.md spells the message's encoding. */
const char *
sms_encoding_name(const SmsEncoding *enc)
{
	return enc->gsm7 ? "GSM-7" : "UCS-2";
}

/* Measure a text datum, converting it to UTF-8 first if need be. */
static void
MeasureText(text *body, SmsEncoding *enc)
{
	char	   *str = VARDATA_ANY(body);
	int			len = VARSIZE_ANY_EXHDR(body);

	if (GetDatabaseEncoding() != PG_UTF8)
	{
		char	   *conv = pg_server_to_any(str, len, PG_UTF8);

		if (conv != str)
		{
			str = conv;
			len = strlen(conv);
		}
	}
	sms_measure(str, len, enc);
}

PG_FUNCTION_INFO_V1(bar9_sms_encoding);
PG_FUNCTION_INFO_V1(bar9_sms_segments);
PG_FUNCTION_INFO_V1(bar9_sms_measure_row);

/* SQL bar9.sms_encoding(body text) -> 'GSM-7' or 'UCS-2'. */
Datum
bar9_sms_encoding(PG_FUNCTION_ARGS)
{
	SmsEncoding enc;

	MeasureText(PG_GETARG_TEXT_PP(0), &enc);
	PG_RETURN_TEXT_P(cstring_to_text(sms_encoding_name(&enc)));
}

/* SQL bar9.sms_segments(body text) -> number of SMS parts. */
Datum
bar9_sms_segments(PG_FUNCTION_ARGS)
{
	SmsEncoding enc;

	MeasureText(PG_GETARG_TEXT_PP(0), &enc);
	PG_RETURN_INT32(enc.segments);
}

/*
 * SQL bar9.sms_measure(body, OUT encoding, OUT segments, OUT units); the C
 * name differs from the SQL one because sms_measure is the C API.
 */
Datum
bar9_sms_measure_row(PG_FUNCTION_ARGS)
{
	SmsEncoding enc;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	MeasureText(PG_GETARG_TEXT_PP(0), &enc);
	values[0] = PointerGetDatum(cstring_to_text(sms_encoding_name(&enc)));
	values[1] = Int32GetDatum(enc.segments);
	values[2] = Int32GetDatum(enc.units);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
