/*
 * encode.c
 *		A body as SMPP carries it: GSM-7 or UCS-2, whole or in UDH parts.
 *
 * The choice and the split follow bar9's own count (src/segments.c) exactly,
 * so that an SMS goes out as the message's `segments` parts:
 *	- GSM-7 when every character is in the GSM 03.38 default alphabet or its
 *	  extension table (3GPP TS 23.038 6.2.1, 6.2.1.1: src/gsm7.h, the tables
 *	  segments.c counts with); data_coding 0, one septet per octet
 *	  (unpacked: what SMSCs expect in submit_sm); an extension character is
 *	  ESC (0x1B) + its code, 2 septets;
 *	- else UCS-2: data_coding 8, UTF-16 big-endian (characters beyond the
 *	  BMP as surrogate pairs);
 *	- whole when it fits (160 septets, 70 units), else parts of 153 septets
 *	  or 67 units behind a 6-octet UDH (IEI 0x00: 8-bit reference, count,
 *	  sequence), an escape or surrogate pair never split across parts.
 */
#include <stdlib.h>
#include <string.h>

#include "gsm7.h"
#include "utf8.h"
#include "sender.h"

/* The whole body as units: septets (gsm) or UTF-16 code units as bytes. */
typedef struct Units
{
	uint8_t    *b;				/* GSM-7: 1 byte a septet; UCS-2: 2 a unit */
	int		   *cost;			/* per character: units it takes */
	int			nchars;
	int			nbytes;
} Units;

/* Encode utf8 as GSM-7 (gsm) or UTF-16BE into u; false if not GSM-7. */
static bool
ToUnits(const char *utf8, bool gsm, Units *u)
{
	const unsigned char *s = (const unsigned char *) utf8;
	int			len = (int) strlen(utf8);

	u->b = malloc(len * 4 + 4);
	u->cost = malloc(sizeof(int) * (len + 1));
	u->nchars = u->nbytes = 0;
	for (int pos = 0; pos < len;)
	{
		uint32_t	cp;
		uint8_t		sept[2];
		int			k;

		pos += utf8_next_char(s + pos, len - pos, &cp);
		if (gsm)
		{
			if ((k = gsm7_septets(cp, sept)) == 0)
				return false;
			memcpy(u->b + u->nbytes, sept, k);
			u->nbytes += k;
			u->cost[u->nchars++] = k;
		}
		else if (cp >= 0x10000)
		{
			uint32_t	v = cp - 0x10000;
			uint16_t	hi = 0xD800 | (v >> 10),
						lo = 0xDC00 | (v & 0x3FF);

			u->b[u->nbytes++] = hi >> 8;
			u->b[u->nbytes++] = hi & 0xFF;
			u->b[u->nbytes++] = lo >> 8;
			u->b[u->nbytes++] = lo & 0xFF;
			u->cost[u->nchars++] = 4;
		}
		else
		{
			u->b[u->nbytes++] = cp >> 8;
			u->b[u->nbytes++] = cp & 0xFF;
			u->cost[u->nchars++] = 2;
		}
	}
	return true;
}

/*
 * Split u into parts of at most part_bytes (whole: one part, no UDH), a
 * character never split; each part behind a UDH with reference ref.
 */
static void
Split(const Units *u, int whole_bytes, int part_bytes, uint8_t ref,
	  Encoded *out)
{
	int			nparts = 0;
	int			used = 0;
	int			start = 0;

	if (u->nbytes <= whole_bytes)
	{
		out->nparts = 1;
		out->esm_class = 0;
		out->parts = calloc(1, sizeof(Part));
		memcpy(out->parts[0].data, u->b, u->nbytes);
		out->parts[0].len = u->nbytes;
		return;
	}
	/* count the parts as src/segments.c does: a character that does not fit starts the next */
	for (int i = 0; i < u->nchars; i++)
	{
		if (nparts == 0 || used + u->cost[i] > part_bytes)
			nparts++, used = u->cost[i];
		else
			used += u->cost[i];
	}
	out->nparts = nparts;
	out->esm_class = 0x40;
	out->parts = calloc(nparts, sizeof(Part));
	nparts = 0;
	used = 0;
	for (int i = 0, off = 0; i <= u->nchars; i++)
	{
		if (i == u->nchars || (used + u->cost[i] > part_bytes && used > 0))
		{
			Part	   *p = &out->parts[nparts];

			p->data[0] = 5;		/* UDH length */
			p->data[1] = 0x00;	/* IEI: concatenated SMS, 8-bit reference */
			p->data[2] = 3;
			p->data[3] = ref;
			p->data[4] = (uint8_t) out->nparts;
			p->data[5] = (uint8_t) (nparts + 1);
			memcpy(p->data + 6, u->b + start, off - start);
			p->len = 6 + off - start;
			nparts++;
			start = off;
			used = 0;
			if (i == u->nchars)
				break;
		}
		used += u->cost[i];
		off += u->cost[i];
	}
}

/* Encode utf8 for submit_sm into out (parts referenced ref); false if too long. */
bool
encode_body(const char *utf8, uint8_t ref, Encoded *out)
{
	Units		u;
	bool		gsm = ToUnits(utf8, true, &u);

	if (!gsm)
	{
		free(u.b);
		free(u.cost);
		ToUnits(utf8, false, &u);
	}
	out->data_coding = gsm ? 0 : 8;
	Split(&u, gsm ? 160 : 140, gsm ? 153 : 134, ref, out);
	free(u.b);
	free(u.cost);
	return out->nparts <= 255;
}

/* Free what encode_body allocated. */
void
encoded_free(Encoded *e)
{
	free(e->parts);
	e->parts = NULL;
	e->nparts = 0;
}

/* Append code point cp to buf as UTF-8. */
static void
PutUtf8(char *buf, int *o, uint32_t cp)
{
	if (cp < 0x80)
		buf[(*o)++] = (char) cp;
	else if (cp < 0x800)
	{
		buf[(*o)++] = (char) (0xC0 | (cp >> 6));
		buf[(*o)++] = (char) (0x80 | (cp & 0x3F));
	}
	else if (cp < 0x10000)
	{
		buf[(*o)++] = (char) (0xE0 | (cp >> 12));
		buf[(*o)++] = (char) (0x80 | ((cp >> 6) & 0x3F));
		buf[(*o)++] = (char) (0x80 | (cp & 0x3F));
	}
	else
	{
		buf[(*o)++] = (char) (0xF0 | (cp >> 18));
		buf[(*o)++] = (char) (0x80 | ((cp >> 12) & 0x3F));
		buf[(*o)++] = (char) (0x80 | ((cp >> 6) & 0x3F));
		buf[(*o)++] = (char) (0x80 | (cp & 0x3F));
	}
}

/*
 * The text of an inbound short message as UTF-8 (malloc'd): data_coding 0
 * GSM-7 unpacked septets, 8 UCS-2, 3 Latin-1, otherwise ASCII-ish bytes.
 */
char *
decode_text(uint8_t data_coding, const uint8_t *s, int len)
{
	char	   *buf = malloc(len * 4 + 1);
	int			o = 0;

	for (int i = 0; i < len; i++)
	{
		uint32_t	cp;

		if (data_coding == 8)
		{
			if (i + 1 >= len)
				break;
			cp = (s[i] << 8) | s[i + 1];
			i++;
			if (cp >= 0xD800 && cp < 0xDC00 && i + 2 < len)
			{
				uint32_t	lo = (s[i + 1] << 8) | s[i + 2];

				if (lo >= 0xDC00 && lo < 0xE000)
				{
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					i += 2;
				}
			}
		}
		else if (data_coding == 0)
		{
			if (s[i] == GSM7_ESC && i + 1 < len)
			{
				/* a code the extension table lacks reads as a space */
				if ((cp = gsm7_ext_code_point(s[i + 1])) == 0)
					cp = ' ';
				i++;
			}
			else
				cp = gsm7_basic[s[i] & 0x7F];
		}
		else
			cp = s[i];
		PutUtf8(buf, &o, cp);
	}
	buf[o] = '\0';
	return buf;
}
