/*
 * e164_fuzz.c
 *		libFuzzer harness for the pure E.164 parser (src/e164_parse.c).
 *
 * Built and run by test/fuzz/run.  Besides memory errors (ASan) and undefined
 * behaviour (UBSan), it checks the parser's contract and aborts on a breach:
 *	- an accepted string is canonical: formatting its value gives it back;
 *	- acceptance agrees with a slow reference validator written apart;
 *	- a hint is always a valid number, never the input itself;
 *	- any 8 bytes that e164_check accepts survive format -> parse;
 *	- for two valid numbers (input split at '|'), unsigned order and
 *	  equality of the encodings agree with strcmp of their texts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e164_parse.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with a message: libFuzzer reports it as a crash and saves the input. */
static void
fail(const char *what)
{
	fprintf(stderr, "e164_fuzz: %s\n", what);
	abort();
}

/* Reference validator: the grammar, spelled out as plainly as possible. */
static int
reference_valid(const uint8_t *s, size_t len)
{
	size_t		i;
	int			code = 0;
	int			found = 0;

	if (len < 1 + E164_MIN_DIGITS || len > 1 + E164_MAX_DIGITS)
		return 0;
	if (s[0] != '+' || s[1] < '1' || s[1] > '9')
		return 0;
	for (i = 1; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	for (i = 1; i <= 3; i++)
	{
		code = code * 10 + (s[i] - '0');
		if (e164_country_code_assigned(code))
			found++;
	}
	if (found > 1)
		fail("country codes are not prefix-free");
	return found == 1;
}

/* Parse one string and check every property that holds for it alone. */
static int
check_one(const uint8_t *data, size_t size, uint64_t *value, char *text)
{
	char	   *copy;
	char	   *hint;
	char	   *buf;
	uint64_t	v = 0;
	uint64_t	again = 0;
	E164Error	err = E164_OK;
	int			ok;

	/* exact-size heap copies, so that ASan sees any overrun */
	copy = malloc(size ? size : 1);
	hint = malloc(E164_BUFSIZE);
	buf = malloc(E164_BUFSIZE);
	if (!copy || !hint || !buf)
		fail("out of memory");
	if (size)
		memcpy(copy, data, size);

	ok = e164_parse(copy, size, &v, &err, hint, E164_BUFSIZE);
	if (ok != reference_valid(data, size))
		fail("parser and reference validator disagree");
	if (ok)
	{
		if (err != E164_OK)
			fail("accepted with an error code");
		if (e164_check(v) != E164_OK)
			fail("accepted value fails e164_check");
		if (e164_format(v, buf) != size || memcmp(buf, data, size) != 0)
			fail("accepted string is not what its value formats to");
		if ((size_t) e164_ndigits(v) != size - 1)
			fail("digit count");
		if (e164_encoded_country_code(v) <= 0)
			fail("valid number without a country code");
		if (hint[0] != '\0')
			fail("hint for a valid number");
		memcpy(text, buf, size + 1);
		*value = v;
	}
	else
	{
		size_t		hlen = strnlen(hint, E164_BUFSIZE);

		if (err == E164_OK)
			fail("rejected without an error code");
		if (hlen == E164_BUFSIZE)
			fail("hint not terminated");
		if (hlen > 0)
		{
			if (!e164_parse(hint, hlen, &again, &err, NULL, 0))
				fail("hint is not a valid number");
			if (hlen == size && memcmp(hint, data, size) == 0)
				fail("hint repeats the input");
		}
	}

	/* also without a hint buffer, the verdict must be the same */
	if (e164_parse(copy, size, &again, &err, NULL, 0) != ok)
		fail("verdict depends on the hint buffer");

	free(copy);
	free(hint);
	free(buf);
	return ok;
}

/* Check once that no assigned country code is a prefix of another. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int			c;

	(void) argc;
	(void) argv;
	for (c = 10; c <= 999; c++)
	{
		if (!e164_country_code_assigned(c))
			continue;
		if (e164_country_code_assigned(c / 10) ||
			(c >= 100 && e164_country_code_assigned(c / 100)))
			fail("country code table is not prefix-free");
	}
	if (e164_country_code_assigned(0) || e164_country_code_assigned(1000))
		fail("country code table out of range");
	return 0;
}

/* One fuzz input: the whole of it, its two halves around '|', its 8 bytes. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		t1[E164_BUFSIZE];
	char		t2[E164_BUFSIZE];
	char		buf[E164_BUFSIZE];
	uint64_t	v1 = 0;
	uint64_t	v2 = 0;
	const uint8_t *bar;

	check_one(data, size, &v1, t1);

	bar = memchr(data, '|', size);
	if (bar != NULL)
	{
		size_t		left = (size_t) (bar - data);

		if (check_one(data, left, &v1, t1) &
			check_one(bar + 1, size - left - 1, &v2, t2))
		{
			int			bytext = strcmp(t1, t2);
			int			byvalue = (v1 > v2) - (v1 < v2);

			if ((bytext > 0) - (bytext < 0) != byvalue)
				fail("order of encodings differs from order of texts");
		}
	}

	if (size >= 8)
	{
		uint64_t	raw;
		uint64_t	back = 0;
		E164Error	err;
		size_t		len;

		memcpy(&raw, data, 8);
		len = e164_format(raw, buf);
		if (len >= E164_BUFSIZE || buf[len] != '\0')
			fail("format overran");
		if (e164_check(raw) == E164_OK)
		{
			if (!e164_parse(buf, len, &back, &err, NULL, 0) || back != raw)
				fail("checked value does not survive format and parse");
		}
		else if (e164_parse(buf, len, &back, &err, NULL, 0) && back == raw)
			fail("e164_check rejected a value that round-trips");
	}
	return 0;
}
