/*
 * segments.h
 *		SMS encoding (GSM-7 or UCS-2) and exact segment count of a body.
 *
 * Plain C99, no PostgreSQL dependency: callers in the extension (e.g. the
 * broadcasts code when a message is created) use it directly, and
 * segments.c also wraps it as bar9.sms_encoding(), bar9.sms_segments() and
 * bar9.sms_measure().
 *
 * Rules (3GPP TS 23.038 section 6.2.1 and 23.040 section 9.2.3.24.1):
 *  - GSM-7 when every character is in the GSM 03.38 default alphabet or its
 *    extension table (^ { } \ [ ] ~ | EUR and form feed, 2 septets each:
 *    ESC + char); otherwise UCS-2 (UTF-16 code units, 2 for a character
 *    outside the BMP).
 *  - GSM-7: at most 160 septets is 1 segment, else parts of 153 septets,
 *    an escape pair never split across two parts.
 *  - UCS-2: at most 70 units is 1 segment, else parts of 67 units, a
 *    surrogate pair never split across two parts.
 *  - An empty body is 0 segments.
 *
 * Usage:
 *		SmsEncoding enc;
 *
 *		sms_measure(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), &enc);
 *		if (enc.nchars < 1 || enc.nchars > SMS_BODY_MAX_CHARS) ... 400 ...
 *		... sms_encoding_name(&enc) ... enc.segments ...
 *
 * The input must be UTF-8 (convert from the server encoding first if it may
 * be something else; bar9.sms_* do).  A byte sequence that is not valid
 * UTF-8 is not rejected: each bad byte counts as one character outside
 * GSM-7 of 1 UTF-16 unit (as U+FFFD would), so the result is always defined.
 */
#ifndef BAR9_SEGMENTS_H
#define BAR9_SEGMENTS_H

#include <stdbool.h>

/* docs/api.md: a message body has 1 to 1600 characters (Unicode code points). */
#define SMS_BODY_MAX_CHARS		1600

/* Capacities: one-part message and per part of a concatenated message. */
#define SMS_GSM7_SINGLE			160		/* septets */
#define SMS_GSM7_PART			153		/* septets (7 octets of UDH) */
#define SMS_UCS2_SINGLE			70		/* UTF-16 code units */
#define SMS_UCS2_PART			67		/* UTF-16 code units (6 octets UDH) */

/* What sms_measure finds out about a body. */
typedef struct SmsEncoding
{
	bool		gsm7;			/* true: GSM-7; false: UCS-2 */
	int			units;			/* septets if gsm7, else UTF-16 code units */
	int			segments;		/* SMS parts; 0 for an empty body */
	int			nchars;			/* Unicode code points (length() in SQL) */
} SmsEncoding;

/* Measure the UTF-8 string utf8[0..len) (need not be NUL-terminated). */
extern void sms_measure(const char *utf8, int len, SmsEncoding *out);

/* "GSM-7" or "UCS-2" (static strings), as docs/api.md spells them. */
extern const char *sms_encoding_name(const SmsEncoding *enc);

#endif							/* BAR9_SEGMENTS_H */
