/*
 * e164_country_codes.c
 *		The country calling codes that ITU-T has assigned, for E.164 input.
 *
 * Source: "List of ITU-T Recommendation E.164 assigned country codes",
 * Complement to ITU-T Recommendation E.164 (11/2010), published as an annex
 * to the ITU Operational Bulletin (position as amended by the Bulletins up to
 * No. 1283, 2023), https://www.itu.int/pub/T-SP-E.164D.
 *
 * Kept: every code listed there as assigned to a country, a geographic area
 * or a group of countries, and the non-geographic codes of global services:
 *	800 International Freephone Service (UIFN)
 *	808 International Shared Cost Service (ISCS)
 *	870 Inmarsat Single Network Access Code (SNAC)
 *	878 Universal Personal Telecommunication Service (UPT)
 *	881 Global Mobile Satellite System (GMSS)
 *	882, 883 International Networks
 *	888 Telecommunications for Disaster Relief by OCHA
 *	979 International Premium Rate Service (IPRS)
 *	991 Trial of a proposed new international public correspondence service
 *	388 Group of countries, shared code (E.164.3)
 * The list marks three codes "reserved" that are nonetheless in worldwide
 * service and so are kept: 379 (Vatican City State), 886 (Taiwan) and 970
 * (Palestinian Authority).
 *
 * Left out, as spare or reserved for future use: 0, 210, 214, 215, 217, 219,
 * 259, 280-289, 292-296, 384, 422, 424-429, 671, 684, 693-699, 801-807, 809,
 * 830-839, 851, 854, 857-859, 871-877 (871-874 withdrawn Inmarsat ocean
 * codes), 879 (reserved for national non-commercial purposes), 884, 885,
 * 887, 889, 890-899, 969, 978, 990, 997, 999.
 *
 * Country calling codes form a prefix code (no assigned code is the prefix of
 * another), which e164_country_code_length relies on; test/fuzz checks it.
 *
 * Plain C99, no PostgreSQL headers: the fuzzer links this file alone.
 */
#include "e164_parse.h"

/* Assigned country calling codes, ascending: 1-digit, then 2-, then 3-digit. */
static const uint16_t assigned_codes[] = {
	/* zone 1: North American Numbering Plan; zone 7: Russia, Kazakhstan */
	1, 7,

	/* 2-digit codes */
	20, 27,
	30, 31, 32, 33, 34, 36, 39,
	40, 41, 43, 44, 45, 46, 47, 48, 49,
	51, 52, 53, 54, 55, 56, 57, 58,
	60, 61, 62, 63, 64, 65, 66,
	81, 82, 84, 86,
	90, 91, 92, 93, 94, 95, 98,

	/* zone 2: Africa and the North Atlantic */
	211, 212, 213, 216, 218,
	220, 221, 222, 223, 224, 225, 226, 227, 228, 229,
	230, 231, 232, 233, 234, 235, 236, 237, 238, 239,
	240, 241, 242, 243, 244, 245, 246, 247, 248, 249,
	250, 251, 252, 253, 254, 255, 256, 257, 258,
	260, 261, 262, 263, 264, 265, 266, 267, 268, 269,
	290, 291, 297, 298, 299,

	/* zones 3 and 4: Europe */
	350, 351, 352, 353, 354, 355, 356, 357, 358, 359,
	370, 371, 372, 373, 374, 375, 376, 377, 378, 379,
	380, 381, 382, 383, 385, 386, 387, 388, 389,
	420, 421, 423,

	/* zone 5: South and Central America */
	500, 501, 502, 503, 504, 505, 506, 507, 508, 509,
	590, 591, 592, 593, 594, 595, 596, 597, 598, 599,

	/* zone 6: South Pacific and Oceania */
	670, 672, 673, 674, 675, 676, 677, 678, 679,
	680, 681, 682, 683, 685, 686, 687, 688, 689,
	690, 691, 692,

	/* zone 8: East Asia and global services */
	800, 808,
	850, 852, 853, 855, 856,
	870, 878,
	880, 881, 882, 883, 886, 888,

	/* zone 9: West, Central and South Asia, Middle East, global services */
	960, 961, 962, 963, 964, 965, 966, 967, 968,
	970, 971, 972, 973, 974, 975, 976, 977, 979,
	991, 992, 993, 994, 995, 996, 998
};

#define N_ASSIGNED_CODES (sizeof(assigned_codes) / sizeof(assigned_codes[0]))

/* Is code (1 to 999) a country calling code assigned by ITU-T? Binary search. */
int
e164_country_code_assigned(int code)
{
	size_t		lo = 0;
	size_t		hi = N_ASSIGNED_CODES;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (assigned_codes[mid] == code)
			return 1;
		if (assigned_codes[mid] < code)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Length of the assigned country calling code that starts d[0..n), or 0. */
int
e164_country_code_length(const char *d, size_t n)
{
	int			code = 0;
	size_t		i;

	for (i = 0; i < 3 && i < n; i++)
	{
		if (d[i] < '0' || d[i] > '9')
			return 0;
		code = code * 10 + (d[i] - '0');
		if (code == 0)
			return 0;			/* "0..." is no code, nor "00", "000" */
		if (e164_country_code_assigned(code))
			return (int) i + 1;
	}
	return 0;
}
