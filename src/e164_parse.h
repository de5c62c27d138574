/*
 * e164_parse.h
 *		The E.164 phone number parser, formatter and encoding, in plain C99.
 *
 * Nothing here depends on PostgreSQL: e164_parse.c and e164_country_codes.c
 * are linked alone into the libFuzzer harness (test/fuzz/), and into the
 * extension, where e164.c wraps them in fmgr functions.
 *
 * Encoding of a number in 8 bytes (proof of its order in e164_parse.c): the
 * n digits (7 <= n <= 15) left-aligned in the high 60 bits, one nibble each,
 * digit d stored as d + 1 (so 0 means "no more digits"), unused nibbles 0,
 * and n in the low 4 bits.  Unsigned comparison of two encoded values orders
 * them as their digit strings compare, character by character.
 */
#ifndef E164_PARSE_H
#define E164_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Fewest and most digits of an E.164 number (ITU-T E.164, clause 6). */
#define E164_MIN_DIGITS		7
#define E164_MAX_DIGITS		15

/* Room for "+", 15 digits and a NUL: the size of e164_format's buffer. */
#define E164_BUFSIZE		(1 + E164_MAX_DIGITS + 1)

/* Why a string or an encoded value is not an E.164 number (first rule broken). */
typedef enum E164Error
{
	E164_OK = 0,
	E164_ERR_EMPTY,				/* the string is empty */
	E164_ERR_NO_PLUS,			/* does not start with "+" */
	E164_ERR_INTL_PREFIX,		/* starts with "00" instead of "+" */
	E164_ERR_SEPARATOR,			/* space, tab, dash, dot or bracket */
	E164_ERR_NOT_ASCII,			/* a byte >= 0x80, e.g. a full-width digit */
	E164_ERR_NOT_DIGIT,			/* any other character after the "+" */
	E164_ERR_LEADING_ZERO,		/* "+0..." */
	E164_ERR_LENGTH,			/* fewer than 7 or more than 15 digits */
	E164_ERR_COUNTRY_CODE,		/* no country calling code assigned by ITU-T */
	E164_ERR_ENCODING			/* an 8-byte value that no number encodes to */
} E164Error;

/*
 * Parse s[0..len) strictly: "+", a digit 1-9, digits only, 7 to 15 digits,
 * an assigned country calling code.  s need not be NUL-terminated; a NUL byte
 * inside it is just an invalid character.  Returns 1 and sets *out on
 * success; returns 0 and sets *err otherwise.  If hint_buf is not NULL (and
 * hint_len >= E164_BUFSIZE), on failure it receives the number as it should
 * have been written when the input is a valid number dressed in spaces,
 * dashes, dots, brackets, a bracketed trunk prefix "(0)" or a leading "00",
 * else the empty string.
 */
extern int	e164_parse(const char *s, size_t len, uint64_t *out, E164Error *err,
					   char *hint_buf, size_t hint_len);

/* Write v as "+digits" and a NUL into buf (E164_BUFSIZE bytes); returns the length. */
extern size_t e164_format(uint64_t v, char *buf);

/* E164_OK if v is the encoding of a valid number, else the rule it breaks. */
extern E164Error e164_check(uint64_t v);

/* Number of digits of an encoded number. */
extern int	e164_ndigits(uint64_t v);

/* Country calling code of an encoded valid number (e.g. 213), 0 if none. */
extern int	e164_encoded_country_code(uint64_t v);

/*
 * Length (1, 2 or 3) of the ITU-T assigned country calling code that starts
 * the n digits (ASCII) at d, or 0 when none does.  Country calling codes form
 * a prefix code, so at most one of the first 1, 2 or 3 digits is assigned.
 */
extern int	e164_country_code_length(const char *d, size_t n);

/* Is code (1 to 999) a country calling code assigned by ITU-T? */
extern int	e164_country_code_assigned(int code);

#endif							/* E164_PARSE_H */
