/*
 * numbers.h
 *		The phone numbers of an audience: typed SQL functions and routes.
 */
#ifndef BAR9_NUMBERS_H
#define BAR9_NUMBERS_H

#include "api.h"
#include "e164_parse.h"

/* Most numbers in one bulk add (docs/api.md). */
#define NUMBERS_BULK_MAX	10000

/* What is wrong with a number, in words for a client ("it must have ..."). */
extern const char *numbers_phone_problem(E164Error err);

/*
 * Parse a phone number taken from a request (a path segment, a query value
 * or a JSON string: s is NUL-terminated).  True with *out set (the 8-byte
 * encoding, see e164.h); false after setting 400 invalid_phone_number on
 * resp, "<param> must be in E.164 format, e.g. +213555123456 (<why>)".
 * Shared with the opt-out routes.
 */
extern bool numbers_parse_phone(ApiResponse *resp, const char *s,
								const char *param, uint64 *out);

/* Route handlers (routes.c) */
extern void numbers_add_handler(ApiRequest *req, ApiResponse *resp);
extern void numbers_list_handler(ApiRequest *req, ApiResponse *resp);
extern void numbers_get_handler(ApiRequest *req, ApiResponse *resp);
extern void numbers_remove_handler(ApiRequest *req, ApiResponse *resp);

#endif							/* BAR9_NUMBERS_H */
