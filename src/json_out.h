/*
 * json_out.h
 *		Writing JSON text into a StringInfo, for the responses of bar9.api.
 *
 * A JsonOut remembers, per nesting level, whether a comma is due, so callers
 * just emit keys and values in order:
 *
 *		JsonOut    *jo = &resp->json;		(or json_out_init(&jo, &buf))
 *
 *		json_out_begin_object(jo);
 *		json_out_kv_string(jo, "id", id);
 *		json_out_kv_string(jo, "object", "marketing_channel");
 *		json_out_kv_int64(jo, "subscriber_count", n);
 *		json_out_kv_timestamptz(jo, "created_at", created_at);
 *		json_out_key(jo, "counts");
 *		json_out_begin_object(jo);
 *		...
 *		json_out_end_object(jo);
 *		json_out_end_object(jo);
 *
 * Strings are escaped as escape_json does (so any Unicode is kept as is);
 * a NULL char * is written as JSON null.  Timestamps are RFC 3339 in UTC
 * without fractional seconds: "2026-11-26T13:22:55Z".
 */
#ifndef BAR9_JSON_OUT_H
#define BAR9_JSON_OUT_H

#include "lib/stringinfo.h"
#include "utils/timestamp.h"

/* Deepest nesting of objects and arrays a JsonOut can write. */
#define JSON_OUT_MAX_DEPTH	16

typedef struct JsonOut
{
	StringInfo	buf;			/* where the text goes */
	int			depth;			/* open objects/arrays */
	bool		need_comma[JSON_OUT_MAX_DEPTH + 1];
	bool		after_key;		/* a key was written, its value is next */
} JsonOut;

extern void json_out_init(JsonOut *jo, StringInfo buf);

/* structure */
extern void json_out_begin_object(JsonOut *jo);
extern void json_out_end_object(JsonOut *jo);
extern void json_out_begin_array(JsonOut *jo);
extern void json_out_end_array(JsonOut *jo);
extern void json_out_key(JsonOut *jo, const char *key);

/* values (an array element, or the value after json_out_key) */
extern void json_out_string(JsonOut *jo, const char *s);	/* NULL: null */
extern void json_out_string_len(JsonOut *jo, const char *s, int len);
extern void json_out_int64(JsonOut *jo, int64 v);
extern void json_out_bool(JsonOut *jo, bool v);
extern void json_out_null(JsonOut *jo);
extern void json_out_timestamptz(JsonOut *jo, TimestampTz t);
extern void json_out_raw(JsonOut *jo, const char *json);	/* trusted JSON text */

/* key + value in one call */
extern void json_out_kv_string(JsonOut *jo, const char *key, const char *s);
extern void json_out_kv_int64(JsonOut *jo, const char *key, int64 v);
extern void json_out_kv_bool(JsonOut *jo, const char *key, bool v);
extern void json_out_kv_null(JsonOut *jo, const char *key);
extern void json_out_kv_timestamptz(JsonOut *jo, const char *key,
									TimestampTz t);
/* a nullable timestamp: isnull writes JSON null */
extern void json_out_kv_timestamptz_null(JsonOut *jo, const char *key,
										 TimestampTz t, bool isnull);

/* RFC 3339 UTC text of t ("2026-11-26T13:22:55Z") into buf (>= 32 bytes) */
extern void json_format_timestamptz(TimestampTz t, char *buf);

#endif							/* BAR9_JSON_OUT_H */
