/*
 * gsm7.h
 *		The GSM 03.38 alphabet, one copy for the extension and the sender.
 *
 * Source: 3GPP TS 23.038 (GSM 03.38) section 6.2.1, "GSM 7 bit Default
 * Alphabet" (the 128-entry basic table), and section 6.2.1.1, "GSM 7 bit
 * default alphabet extension table" (reached with the escape 0x1B, so each
 * of its characters costs 2 septets: ESC + its code).  The national
 * language shift tables (section 6.2.1.2, Turkish, Spanish, Portuguese,
 * ...) are not used: docs/api.md defines GSM-7 as the default alphabet and
 * its extension table only.
 *
 * src/segments.c counts a body's septets with it and bar9-sender
 * (sender/encode.c, a libpq client built with -I../src) encodes and decodes
 * with it, so the count and the PDUs cannot disagree.  Hence plain C99 with
 * <stdint.h> and <stddef.h> only, no PostgreSQL header.
 *
 * Usage:
 *		uint8_t		sept[2];
 *		int			k = gsm7_septets(cp, sept);
 *
 *		k == 0: cp is not GSM-7 (the body goes as UCS-2);
 *		k == 1: sept[0] is its septet; k == 2: sept is ESC, extension code.
 */
#ifndef BAR9_GSM7_H
#define BAR9_GSM7_H

#include <stddef.h>
#include <stdint.h>

/* The escape septet: the septet after it is a code of the extension table. */
#define GSM7_ESC				0x1B

/*
 * The default alphabet: the Unicode code point of each septet.  Septet 0x1B
 * is the escape, not a character; 0xFFFF (a Unicode noncharacter) stands in
 * for it, and gsm7_septets never gives it.  Note '$' and '@' are here (at
 * 0x02 and 0x00) but '`' is not, and capital Ç (0x09) but not ç.
 */
static const uint16_t gsm7_basic[128] = {
	'@', 0xA3, '$', 0xA5, 0xE8, 0xE9, 0xF9, 0xEC,			/* 0x00 */
	0xF2, 0xC7, '\n', 0xD8, 0xF8, '\r', 0xC5, 0xE5,			/* 0x08 */
	0x394, '_', 0x3A6, 0x393, 0x39B, 0x3A9, 0x3A0, 0x3A8,	/* 0x10 */
	0x3A3, 0x398, 0x39E, 0xFFFF, 0xC6, 0xE6, 0xDF, 0xC9,	/* 0x18 */
	' ', '!', '"', '#', 0xA4, '%', '&', '\'',				/* 0x20 */
	'(', ')', '*', '+', ',', '-', '.', '/',					/* 0x28 */
	'0', '1', '2', '3', '4', '5', '6', '7',					/* 0x30 */
	'8', '9', ':', ';', '<', '=', '>', '?',					/* 0x38 */
	0xA1, 'A', 'B', 'C', 'D', 'E', 'F', 'G',				/* 0x40 */
	'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',					/* 0x48 */
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W',					/* 0x50 */
	'X', 'Y', 'Z', 0xC4, 0xD6, 0xD1, 0xDC, 0xA7,			/* 0x58 */
	0xBF, 'a', 'b', 'c', 'd', 'e', 'f', 'g',				/* 0x60 */
	'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',					/* 0x68 */
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w',					/* 0x70 */
	'x', 'y', 'z', 0xE4, 0xF6, 0xF1, 0xFC, 0xE0				/* 0x78 */
};

/* A character of the extension table: its code point, its code after ESC. */
typedef struct Gsm7Ext
{
	uint16_t	cp;
	uint8_t		code;
} Gsm7Ext;

/* The extension table: form feed ^ { } \ [ ~ ] | and the euro sign. */
static const Gsm7Ext gsm7_ext[] = {
	{'\f', 0x0A}, {'^', 0x14}, {'{', 0x28}, {'}', 0x29}, {'\\', 0x2F},
	{'[', 0x3C}, {'~', 0x3D}, {']', 0x3E}, {'|', 0x40}, {0x20AC, 0x65}
};

#define GSM7_NEXT				(sizeof(gsm7_ext) / sizeof(gsm7_ext[0]))

/* One past the highest code point of the basic table (U+03A9, Omega). */
#define GSM7_INDEX_END			0x3AA

/*
 * An index entry: the septets a character costs (0 not GSM-7, 1 basic, 2
 * ESC + extension) times 256, plus its septet or extension code.
 */
#define GSM7_ENTRY(cost, code)	((uint16_t) ((cost) << 8 | (code)))

/*
 * Both tables by code point below GSM7_INDEX_END, built on the first call.
 * Only the euro sign lies beyond (gsm7_lookup scans for it).  Not thread
 * safe: its users (a backend, bar9-sender) are single-threaded; a threaded
 * one would call it once before starting its threads.
 */
static inline const uint16_t *
gsm7_index(void)
{
	static uint16_t index[GSM7_INDEX_END];
	static int	built = 0;

	if (!built)
	{
		for (int i = 0; i < 128; i++)
			if (i != GSM7_ESC && gsm7_basic[i] < GSM7_INDEX_END)
				index[gsm7_basic[i]] = GSM7_ENTRY(1, i);
		for (size_t e = 0; e < GSM7_NEXT; e++)
			if (gsm7_ext[e].cp < GSM7_INDEX_END)
				index[gsm7_ext[e].cp] = GSM7_ENTRY(2, gsm7_ext[e].code);
		built = 1;
	}
	return index;
}

/* The index entry of code point cp (index from gsm7_index). */
static inline uint16_t
gsm7_lookup(const uint16_t *index, uint32_t cp)
{
	if (cp < GSM7_INDEX_END)
		return index[cp];
	for (size_t e = 0; e < GSM7_NEXT; e++)
		if (gsm7_ext[e].cp == cp)
			return GSM7_ENTRY(2, gsm7_ext[e].code);
	return 0;
}

/* Septets an index entry costs: 0 (not GSM-7), 1 or 2 (ESC + code). */
static inline int
gsm7_cost(uint16_t entry)
{
	return entry >> 8;
}

/* Septets of code point cp into out: 1, 2 (ESC + code), 0 if not GSM-7. */
static inline int
gsm7_septets(uint32_t cp, uint8_t out[2])
{
	uint16_t	v = gsm7_lookup(gsm7_index(), cp);

	if (gsm7_cost(v) == 1)
		out[0] = (uint8_t) (v & 0xFF);
	else if (gsm7_cost(v) == 2)
	{
		out[0] = GSM7_ESC;
		out[1] = (uint8_t) (v & 0xFF);
	}
	return gsm7_cost(v);
}

/* The code point that code stands for after ESC; 0 if the table lacks it. */
static inline uint32_t
gsm7_ext_code_point(uint8_t code)
{
	size_t		e;

	for (e = 0; e < GSM7_NEXT; e++)
	{
		if (gsm7_ext[e].code == code)
			return gsm7_ext[e].cp;
	}
	return 0;
}

#endif							/* BAR9_GSM7_H */
