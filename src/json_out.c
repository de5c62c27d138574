/*
 * json_out.c
 *		Writing JSON text for bar9.api responses (see json_out.h).
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "json_out.h"

static void JsonOutEscape(StringInfo buf, const char *s);

/* Point jo at buf, at nesting level 0. */
void
json_out_init(JsonOut *jo, StringInfo buf)
{
	jo->buf = buf;
	jo->depth = 0;
	jo->need_comma[0] = false;
	jo->after_key = false;
}

/* Before any value or key: the comma separating it from its predecessor. */
static void
JsonOutSeparate(JsonOut *jo)
{
	if (jo->after_key)
	{
		jo->after_key = false;
		return;
	}
	if (jo->need_comma[jo->depth])
		appendStringInfoChar(jo->buf, ',');
	jo->need_comma[jo->depth] = true;
}

/* Open a container (c is '{' or '['). */
static void
JsonOutOpen(JsonOut *jo, char c)
{
	JsonOutSeparate(jo);
	if (jo->depth >= JSON_OUT_MAX_DEPTH)
		elog(ERROR, "JSON output nested too deeply");
	appendStringInfoChar(jo->buf, c);
	jo->depth++;
	jo->need_comma[jo->depth] = false;
}

/* Close a container (c is '}' or ']'). */
static void
JsonOutClose(JsonOut *jo, char c)
{
	if (jo->depth <= 0)
		elog(ERROR, "JSON output closed more than opened");
	appendStringInfoChar(jo->buf, c);
	jo->depth--;
}

/* Start an object. */
void
json_out_begin_object(JsonOut *jo)
{
	JsonOutOpen(jo, '{');
}

/* End an object. */
void
json_out_end_object(JsonOut *jo)
{
	JsonOutClose(jo, '}');
}

/* Start an array. */
void
json_out_begin_array(JsonOut *jo)
{
	JsonOutOpen(jo, '[');
}

/* End an array. */
void
json_out_end_array(JsonOut *jo)
{
	JsonOutClose(jo, ']');
}

/* Write "key": — the next value written belongs to it. */
void
json_out_key(JsonOut *jo, const char *key)
{
	JsonOutSeparate(jo);
	JsonOutEscape(jo->buf, key);
	appendStringInfoChar(jo->buf, ':');
	jo->after_key = true;
}

/*
 * Append s as a JSON string literal, escaping exactly as escape_json does,
 * but copying runs of plain characters at once (escape_json appends byte
 * by byte, which showed up first in profiles of list responses).
 */
static void
JsonOutEscape(StringInfo buf, const char *s)
{
	const char *run = s;
	const char *p;

	appendStringInfoChar(buf, '"');
	for (p = s; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (p > run)
			appendBinaryStringInfo(buf, run, p - run);
		switch (c)
		{
			case '\b':
				appendStringInfoString(buf, "\\b");
				break;
			case '\f':
				appendStringInfoString(buf, "\\f");
				break;
			case '\n':
				appendStringInfoString(buf, "\\n");
				break;
			case '\r':
				appendStringInfoString(buf, "\\r");
				break;
			case '\t':
				appendStringInfoString(buf, "\\t");
				break;
			case '"':
				appendStringInfoString(buf, "\\\"");
				break;
			case '\\':
				appendStringInfoString(buf, "\\\\");
				break;
			default:
				appendStringInfo(buf, "\\u%04x", c);
				break;
		}
		run = p + 1;
	}
	if (p > run)
		appendBinaryStringInfo(buf, run, p - run);
	appendStringInfoChar(buf, '"');
}

/* Write a string value (escaped), or null for NULL. */
void
json_out_string(JsonOut *jo, const char *s)
{
	JsonOutSeparate(jo);
	if (s == NULL)
		appendStringInfoString(jo->buf, "null");
	else
		JsonOutEscape(jo->buf, s);
}

/* Write a string value of len bytes (need not be NUL-terminated). */
void
json_out_string_len(JsonOut *jo, const char *s, int len)
{
	char	   *copy = pnstrdup(s, len);

	json_out_string(jo, copy);
	pfree(copy);
}

/* Write an integer value. */
void
json_out_int64(JsonOut *jo, int64 v)
{
	JsonOutSeparate(jo);
	appendStringInfo(jo->buf, INT64_FORMAT, v);
}

/* Write true or false. */
void
json_out_bool(JsonOut *jo, bool v)
{
	JsonOutSeparate(jo);
	appendStringInfoString(jo->buf, v ? "true" : "false");
}

/* Write null. */
void
json_out_null(JsonOut *jo)
{
	JsonOutSeparate(jo);
	appendStringInfoString(jo->buf, "null");
}

/* Write JSON text the caller vouches for, as one value. */
void
json_out_raw(JsonOut *jo, const char *json)
{
	JsonOutSeparate(jo);
	appendStringInfoString(jo->buf, json);
}

/* Format t as RFC 3339 in UTC, whole seconds: "2026-11-26T13:22:55Z". */
void
json_format_timestamptz(TimestampTz t, char *buf)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(t) ||
		timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
	{
		/* infinite or out of range: bar9 never stores such times */
		strlcpy(buf, TIMESTAMP_IS_NOBEGIN(t) ? "-infinity" : "infinity", 32);
		return;
	}
	if (tm.tm_year < 1 || tm.tm_year > 9999)
	{
		snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ",
				 tm.tm_year, tm.tm_mon, tm.tm_mday,
				 tm.tm_hour, tm.tm_min, tm.tm_sec);
		return;
	}
	/* by hand: snprintf was a tenth of the time of a list response */
	buf[0] = '0' + tm.tm_year / 1000;
	buf[1] = '0' + tm.tm_year / 100 % 10;
	buf[2] = '0' + tm.tm_year / 10 % 10;
	buf[3] = '0' + tm.tm_year % 10;
	buf[4] = '-';
	buf[5] = '0' + tm.tm_mon / 10;
	buf[6] = '0' + tm.tm_mon % 10;
	buf[7] = '-';
	buf[8] = '0' + tm.tm_mday / 10;
	buf[9] = '0' + tm.tm_mday % 10;
	buf[10] = 'T';
	buf[11] = '0' + tm.tm_hour / 10;
	buf[12] = '0' + tm.tm_hour % 10;
	buf[13] = ':';
	buf[14] = '0' + tm.tm_min / 10;
	buf[15] = '0' + tm.tm_min % 10;
	buf[16] = ':';
	buf[17] = '0' + tm.tm_sec / 10;
	buf[18] = '0' + tm.tm_sec % 10;
	buf[19] = 'Z';
	buf[20] = '\0';
}

/* Write a timestamp value as an RFC 3339 UTC string. */
void
json_out_timestamptz(JsonOut *jo, TimestampTz t)
{
	char		buf[33];

	buf[0] = '"';
	json_format_timestamptz(t, buf + 1);
	JsonOutSeparate(jo);
	appendStringInfoString(jo->buf, buf);
	appendStringInfoChar(jo->buf, '"');
}

/* "key": "string" (or null). */
void
json_out_kv_string(JsonOut *jo, const char *key, const char *s)
{
	json_out_key(jo, key);
	json_out_string(jo, s);
}

/* "key": integer. */
void
json_out_kv_int64(JsonOut *jo, const char *key, int64 v)
{
	json_out_key(jo, key);
	json_out_int64(jo, v);
}

/* "key": true/false. */
void
json_out_kv_bool(JsonOut *jo, const char *key, bool v)
{
	json_out_key(jo, key);
	json_out_bool(jo, v);
}

/* "key": null. */
void
json_out_kv_null(JsonOut *jo, const char *key)
{
	json_out_key(jo, key);
	json_out_null(jo);
}

/* "key": "2026-11-26T13:22:55Z". */
void
json_out_kv_timestamptz(JsonOut *jo, const char *key, TimestampTz t)
{
	json_out_key(jo, key);
	json_out_timestamptz(jo, t);
}

/* "key": timestamp, or null when isnull. */
void
json_out_kv_timestamptz_null(JsonOut *jo, const char *key, TimestampTz t,
							 bool isnull)
{
	json_out_key(jo, key);
	if (isnull)
		json_out_null(jo);
	else
		json_out_timestamptz(jo, t);
}
