/*
 * e164.h
 *		The bar9.e164 type, for the other parts of bar9 written in C.
 *
 * A value is 8 bytes, passed by value; its encoding is described and proven
 * order-preserving in e164_parse.c.  Compare values as uint64.
 */
#ifndef BAR9_E164_H
#define BAR9_E164_H

#include "fmgr.h"

#include "e164_parse.h"

#define DatumGetE164(X)		DatumGetUInt64(X)
#define E164GetDatum(X)		UInt64GetDatum(X)
#define PG_GETARG_E164(n)	DatumGetE164(PG_GETARG_DATUM(n))
#define PG_RETURN_E164(x)	return E164GetDatum(x)

/*
 * Parse s[0..len) as an E.164 number, or raise the error bar9.e164's input
 * function raises (22P02, with a detail and, when it can, a hint).
 */
extern uint64 E164FromString(const char *s, size_t len);
extern Datum E164TextDatum(uint64 number);

#endif							/* BAR9_E164_H */
