/*
 * e164_parse.c
 *		Strict E.164 parsing, formatting and the 8-byte encoding.
 *
 * Plain C99 and <stdint.h>, no PostgreSQL headers, so that libFuzzer can link
 * it alone (test/fuzz/run).  Every input is taken with an explicit length.
 *
 * The encoding
 * ------------
 * A number of n digits d[1..n] (7 <= n <= 15, d[1] != 0) is stored as
 *
 *		v = SUM(i = 1..n) (d[i] + 1) << (64 - 4 * i)   |   n
 *
 * that is, nibble i counted from the top (bits 67-4i .. 64-4i) holds d[i] + 1,
 * a value from 1 to 10; nibbles n+1 .. 15 hold 0; the low nibble holds n.
 *
 * Claim: for numbers a and b, a's digit string sorts before b's, character by
 * character (a proper prefix sorting first), if and only if v(a) < v(b) as
 * unsigned 64-bit integers; and v(a) = v(b) if and only if a = b.
 *
 * Proof.  Read a digit string as the 15 symbols s[1..15] where s[i] is d[i]
 * for i <= n and a symbol END, less than every digit, for i > n; comparing
 * these padded sequences symbol by symbol is exactly the character-by-
 * character order (a proper prefix meets END where the longer string has a
 * digit).  Nibble i of v is f(s[i]) with f(END) = 0 and f(d) = d + 1: f is
 * strictly increasing and fits in 4 bits, so nibble i orders as s[i].  If
 * a = b, all their nibbles, and so n and v, are equal.  Otherwise let k be the
 * first position where the padded sequences differ; k <= 15, since both have
 * at most 15 digits and they differ.  Nibbles 1 .. k-1 are equal; nibble k of
 * v(a) is less than that of v(b) exactly when s_a[k] < s_b[k]; nibble k
 * weighs more than all lower bits together (the later nibbles and the length
 * nibble), so it alone decides the unsigned comparison, and v(a) != v(b).
 * The length nibble is a function of the digit nibbles (the number of
 * non-zero ones), so it never changes an order; it is kept to make the
 * digit count free and to give e164_check a redundancy to verify.  QED.
 *
 * So btree order, sort order and equality are plain unsigned comparisons of
 * the Datum, and hashing the 8 bytes is consistent with equality.
 */
#include <string.h>

#include "e164_parse.h"

/* Shift of the nibble that holds digit i (0-based) of a number. */
#define DIGIT_SHIFT(i)	(60 - 4 * (i))

static int	is_separator(unsigned char c);
static int	normalise_for_hint(const char *s, size_t len, char *buf,
							   size_t buflen);
static int	parse_strict(const char *s, size_t len, uint64_t *out,
						 E164Error *err);

/* Characters people put between the digits of a phone number. */
static int
is_separator(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
		c == '\f' || c == '-' || c == '.' || c == '(' || c == ')';
}

/*
 * The strict parser: the grammar is  "+" [1-9] [0-9]{6,14}  plus an assigned
 * country calling code.  On failure *err names the first rule broken, tried
 * in order: characters, then first digit, then length, then country code.
 */
static int
parse_strict(const char *s, size_t len, uint64_t *out, E164Error *err)
{
	const unsigned char *u = (const unsigned char *) s;
	uint64_t	v = 0;
	size_t		i;
	size_t		n;

	if (len == 0)
	{
		*err = E164_ERR_EMPTY;
		return 0;
	}
	if (u[0] != '+')
	{
		if (u[0] >= 0x80)
			*err = E164_ERR_NOT_ASCII;
		else if (is_separator(u[0]))
			*err = E164_ERR_SEPARATOR;
		else if (len >= 2 && u[0] == '0' && u[1] == '0')
			*err = E164_ERR_INTL_PREFIX;
		else
			*err = E164_ERR_NO_PLUS;
		return 0;
	}

	/* every character after the "+" must be an ASCII digit */
	for (i = 1; i < len; i++)
	{
		if (u[i] >= '0' && u[i] <= '9')
			continue;
		if (u[i] >= 0x80)
			*err = E164_ERR_NOT_ASCII;
		else if (is_separator(u[i]))
			*err = E164_ERR_SEPARATOR;
		else
			*err = E164_ERR_NOT_DIGIT;
		return 0;
	}

	n = len - 1;
	if (n >= 1 && u[1] == '0')
	{
		*err = E164_ERR_LEADING_ZERO;
		return 0;
	}
	if (n < E164_MIN_DIGITS || n > E164_MAX_DIGITS)
	{
		*err = E164_ERR_LENGTH;
		return 0;
	}
	if (e164_country_code_length(s + 1, n) == 0)
	{
		*err = E164_ERR_COUNTRY_CODE;
		return 0;
	}

	for (i = 0; i < n; i++)
		v |= (uint64_t) (u[i + 1] - '0' + 1) << DIGIT_SHIFT(i);
	v |= (uint64_t) n;

	*out = v;
	*err = E164_OK;
	return 1;
}

/*
 * The form a hint would suggest: s without separators (white space, dashes,
 * dots, brackets) or a bracketed trunk prefix "(0)", and with a leading "00"
 * turned into "+".  Returns 1 and fills buf (buflen >= E164_BUFSIZE) if that
 * form is a valid number, else 0.
 */
static int
normalise_for_hint(const char *s, size_t len, char *buf, size_t buflen)
{
	const unsigned char *u = (const unsigned char *) s;
	size_t		out = 0;
	size_t		i;
	uint64_t	v;
	E164Error	err;

	if (buflen < E164_BUFSIZE)
		return 0;

	for (i = 0; i < len; i++)
	{
		unsigned char c = u[i];

		/*
		 * "+44 (0)20 ...": a national trunk prefix in brackets after the
		 * country code, by convention not dialled from abroad (E.123).
		 */
		if (c == '(' && out > 1 && i + 2 < len && u[i + 1] == '0' &&
			u[i + 2] == ')')
		{
			i += 2;
			continue;
		}
		if (is_separator(c))
			continue;
		if (c == '+')
		{
			if (out != 0)
				return 0;		/* a "+" only in front */
		}
		else if (c < '0' || c > '9')
			return 0;
		if (out >= E164_BUFSIZE - 1)
			return 0;			/* too long to be a number */
		buf[out++] = (char) c;
	}

	/* "00" is the international call prefix of most countries */
	if (out >= 2 && buf[0] == '0' && buf[1] == '0')
	{
		memmove(buf + 1, buf + 2, out - 2);
		buf[0] = '+';
		out--;
	}
	buf[out] = '\0';

	if (out == 0 || buf[0] != '+')
		return 0;
	return parse_strict(buf, out, &v, &err);
}

/* Parse s[0..len) strictly; see e164_parse.h. */
int
e164_parse(const char *s, size_t len, uint64_t *out, E164Error *err,
		   char *hint_buf, size_t hint_len)
{
	if (hint_buf != NULL && hint_len > 0)
		hint_buf[0] = '\0';

	if (parse_strict(s, len, out, err))
		return 1;

	/* normalise_for_hint may leave a partial string behind when it fails */
	if (hint_buf != NULL && hint_len > 0 &&
		!normalise_for_hint(s, len, hint_buf, hint_len))
		hint_buf[0] = '\0';
	return 0;
}

/* Number of digits of an encoded number: its low nibble. */
int
e164_ndigits(uint64_t v)
{
	return (int) (v & 0xF);
}

/* Write "+digits" and a NUL into buf; returns the length without the NUL. */
size_t
e164_format(uint64_t v, char *buf)
{
	size_t		len = 0;
	int			i;

	buf[len++] = '+';
	for (i = 0; i < E164_MAX_DIGITS; i++)
	{
		unsigned	nib = (unsigned) (v >> DIGIT_SHIFT(i)) & 0xF;

		if (nib == 0 || nib > 10)
			break;
		buf[len++] = (char) ('0' + nib - 1);
	}
	buf[len] = '\0';
	return len;
}

/* Is v the encoding of a valid number?  Rebuilds it and compares. */
E164Error
e164_check(uint64_t v)
{
	char		buf[E164_BUFSIZE];
	size_t		len;
	uint64_t	again = 0;
	E164Error	err;

	len = e164_format(v, buf);
	if (!parse_strict(buf, len, &again, &err))
		return err;
	if (again != v)
		return E164_ERR_ENCODING;	/* bad length nibble or trailing junk */
	return E164_OK;
}

/* Country calling code of an encoded number, 0 if it has none. */
int
e164_encoded_country_code(uint64_t v)
{
	char		buf[E164_BUFSIZE];
	size_t		len;
	int			cclen;
	int			code = 0;
	int			i;

	len = e164_format(v, buf);
	cclen = e164_country_code_length(buf + 1, len - 1);
	for (i = 0; i < cclen; i++)
		code = code * 10 + (buf[1 + i] - '0');
	return code;
}
