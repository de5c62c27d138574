/*
 * utf8.h
 *		UTF-8 decoding, one copy for the extension, the sender and the proxy.
 *
 * src/segments.c counts a body's characters with it and bar9-sender
 * (sender/encode.c) cuts the same body into PDUs with it, so that both see
 * the same characters, invalid bytes included; bar9-proxy (proxy/headers.c)
 * repairs header values with it.  Plain C99 with <stdint.h> only, no
 * PostgreSQL header, as for gsm7.h.
 */
#ifndef BAR9_UTF8_H
#define BAR9_UTF8_H

#include <stdint.h>

/*
 * Decode one UTF-8 character at s[0..len) (len >= 1) into *cp; returns the
 * number of bytes used.  Invalid sequences (bad lead or continuation byte,
 * overlong form, surrogate, beyond U+10FFFF, truncated) use one byte and
 * give U+FFFD.
 */
static inline int
utf8_next_char(const unsigned char *s, int len, uint32_t *cp)
{
	unsigned char c = s[0];
	uint32_t	v;
	int			n;
	int			i;

	if (c < 0x80)
	{
		*cp = c;
		return 1;
	}
	else if (c >= 0xC2 && c <= 0xDF)
	{
		n = 2;
		v = c & 0x1F;
	}
	else if (c >= 0xE0 && c <= 0xEF)
	{
		n = 3;
		v = c & 0x0F;
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		n = 4;
		v = c & 0x07;
	}
	else
		goto bad;

	if (len < n)
		goto bad;
	for (i = 1; i < n; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
			goto bad;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) ||
		(v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF)
		goto bad;
	*cp = v;
	return n;

bad:
	*cp = 0xFFFD;
	return 1;
}

#endif							/* BAR9_UTF8_H */
