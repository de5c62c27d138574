/*
 * headers.c
 *		The request's headers as the JSON object bar9.api expects:
 *		lower-case names, duplicates joined with ", ", text repaired to
 *		valid UTF-8 and escaped.
 *
 * Clients may send any bytes in a header.  JSON (and PostgreSQL's jsonb)
 * needs valid UTF-8, so every byte that does not start or continue a
 * well-formed UTF-8 sequence becomes U+FFFD, written raw (EF BF BD) rather
 * than as a \u escape so that a database in any encoding accepts it.
 * Control characters are escaped as \u00XX, as JSON requires.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy.h"
#include "utf8.h"

/* One header: a lower-cased name and its (joined) value. */
typedef struct Header
{
	char	   *name;
	size_t		name_len;
	Buf			value;
} Header;

struct HeaderSet
{
	Header	   *items;
	int			n;
	int			cap;
};

/* Makes room for extra more bytes (plus a terminating NUL). */
bool
BufReserve(Buf *b, size_t extra)
{
	size_t		need = b->len + extra + 1;
	size_t		cap;
	char	   *p;

	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		return false;
	b->data = p;
	b->cap = cap;
	return true;
}

/* Appends len bytes, keeping the buffer NUL-terminated. */
bool
BufAppend(Buf *b, const void *data, size_t len)
{
	if (!BufReserve(b, len))
		return false;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return true;
}

/* Releases a buffer's memory. */
void
BufFree(Buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Appends s as a JSON string body (no quotes), repairing bad UTF-8. */
bool
JsonAppendEscaped(Buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;

	/* worst case: every byte becomes a 6-byte escape */
	if (!BufReserve(out, len * 6))
		return false;
	while (i < len)
	{
		unsigned char c = p[i];
		char	   *d = out->data + out->len;
		size_t		n;
		uint32_t	cp;

		if (c == '"' || c == '\\')
		{
			d[0] = '\\';
			d[1] = (char) c;
			out->len += 2;
			i++;
		}
		else if (c < 0x20)
		{
			memcpy(d, "\\u00", 4);
			d[4] = hex[c >> 4];
			d[5] = hex[c & 0xF];
			out->len += 6;
			i++;
		}
		else if (c < 0x80)
		{
			d[0] = (char) c;
			out->len++;
			i++;
		}
		else if ((n = utf8_next_char(p + i, (int) (len - i < 4 ? len - i : 4), &cp)) > 1)
		{
			/* well-formed (a byte of 0x80 or more alone never is) */
			memcpy(d, p + i, n);
			out->len += n;
			i += n;
		}
		else
		{
			/* not UTF-8: U+FFFD REPLACEMENT CHARACTER, one per bad byte */
			memcpy(d, "\xEF\xBF\xBD", 3);
			out->len += 3;
			i++;
		}
	}
	out->data[out->len] = '\0';
	return true;
}

/* A new, empty header collector. */
HeaderSet *
HeaderSetNew(void)
{
	return calloc(1, sizeof(HeaderSet));
}

/* Adds one header; a repeated name gets ", " and the new value appended. */
bool
HeaderSetAdd(HeaderSet *hs, const char *name, size_t name_len,
			 const char *value, size_t value_len)
{
	char	   *lower;
	Header	   *h;

	lower = malloc(name_len + 1);
	if (lower == NULL)
		return false;
	for (size_t i = 0; i < name_len; i++)
	{
		char		c = name[i];

		lower[i] = (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
	}
	lower[name_len] = '\0';

	for (int i = 0; i < hs->n; i++)
	{
		h = &hs->items[i];
		if (h->name_len == name_len && memcmp(h->name, lower, name_len) == 0)
		{
			free(lower);
			return BufAppend(&h->value, ", ", 2) &&
				BufAppend(&h->value, value, value_len);
		}
	}

	if (hs->n == hs->cap)
	{
		int			cap = hs->cap ? hs->cap * 2 : 16;
		Header	   *items = realloc(hs->items, cap * sizeof(Header));

		if (items == NULL)
		{
			free(lower);
			return false;
		}
		hs->items = items;
		hs->cap = cap;
	}
	h = &hs->items[hs->n++];
	h->name = lower;
	h->name_len = name_len;
	memset(&h->value, 0, sizeof(Buf));
	return BufAppend(&h->value, value, value_len);
}

/* Writes the headers as one JSON object of strings. */
bool
HeaderSetToJson(const HeaderSet *hs, Buf *out)
{
	if (!BufAppend(out, "{", 1))
		return false;
	for (int i = 0; i < hs->n; i++)
	{
		const Header *h = &hs->items[i];

		if ((i > 0 && !BufAppend(out, ",", 1)) ||
			!BufAppend(out, "\"", 1) ||
			!JsonAppendEscaped(out, h->name, h->name_len) ||
			!BufAppend(out, "\":\"", 3) ||
			!JsonAppendEscaped(out, h->value.data, h->value.len) ||
			!BufAppend(out, "\"", 1))
			return false;
	}
	return BufAppend(out, "}", 1);
}

/* Releases a header collector. */
void
HeaderSetFree(HeaderSet *hs)
{
	if (hs == NULL)
		return;
	for (int i = 0; i < hs->n; i++)
	{
		free(hs->items[i].name);
		BufFree(&hs->items[i].value);
	}
	free(hs->items);
	free(hs);
}

/*
 * Copies s, replacing every byte outside printable ASCII (and '%' stays as
 * it is) by %XX.  A request target may only hold ASCII (RFC 3986), so this
 * changes nothing in a valid one; it keeps invalid bytes from breaking the
 * text parameter and keeps log lines on one line.
 */
char *
PercentEncodeUnsafe(const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char	   *out = malloc(len * 3 + 1);
	char	   *d = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c > 0x20 && c < 0x7F)
			*d++ = (char) c;
		else
		{
			*d++ = '%';
			*d++ = hex[c >> 4];
			*d++ = hex[c & 0xF];
		}
	}
	*d = '\0';
	return out;
}
