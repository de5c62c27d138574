/*
 * ids.c
 *		Unguessable public identifiers for bar9 objects.
 *
 * An id is a type prefix ("acct_", "mkt_", "msg_", "key_") followed by
 * BAR9_ID_RANDOM_CHARS characters of base 62 drawn from pg_strong_random, so
 * ids are neither sequential nor guessable (22 characters ≈ 131 bits).
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "ids.h"

static const char base62_alphabet[] =
"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Fill dst with nchars uniformly random base-62 characters (no NUL added). */
void
bar9_random_base62(char *dst, int nchars)
{
	int			filled = 0;

	while (filled < nchars)
	{
		uint8		buf[64];
		int			i;

		if (!pg_strong_random(buf, sizeof(buf)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random bytes")));

		/* rejection sampling keeps the distribution uniform: 248 = 4 * 62 */
		for (i = 0; i < (int) sizeof(buf) && filled < nchars; i++)
		{
			if (buf[i] < 248)
				dst[filled++] = base62_alphabet[buf[i] % 62];
		}
	}
}

/* Return a new palloc'd id: prefix followed by random base-62 characters. */
char *
bar9_new_id(const char *prefix)
{
	size_t		plen = strlen(prefix);
	char	   *id = palloc(plen + BAR9_ID_RANDOM_CHARS + 1);

	memcpy(id, prefix, plen);
	bar9_random_base62(id + plen, BAR9_ID_RANDOM_CHARS);
	id[plen + BAR9_ID_RANDOM_CHARS] = '\0';
	return id;
}

PG_FUNCTION_INFO_V1(bar9_new_id_sql);

/* SQL: bar9.new_id(prefix text) -> text, used by DEFAULTs of id columns. */
Datum
bar9_new_id_sql(PG_FUNCTION_ARGS)
{
	char	   *prefix = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(bar9_new_id(prefix)));
}
