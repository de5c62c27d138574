/*
 * idempotency.h
 *		Idempotency-Key for POST routes (docs/api.md, "Idempotency").
 */
#ifndef BAR9_IDEMPOTENCY_H
#define BAR9_IDEMPOTENCY_H

#include "common/sha2.h"

#include "api.h"

/* Longest Idempotency-Key accepted, in characters. */
#define IDEMPOTENCY_KEY_MAX_CHARS	255

/* What idempotency_begin found out, for idempotency_finish. */
typedef struct IdempotencyState
{
	bool		active;			/* a new key: store the response at the end */
	uint8		body_sha256[PG_SHA256_DIGEST_LENGTH];
} IdempotencyState;

/*
 * Before the handler of a POST carrying req->idempotency_key: validate the
 * key (400), take a transaction-level advisory lock on (account, key) without
 * waiting (409 idempotency_key_in_use when another transaction holds it),
 * and look for a stored response of the last 24 hours: the same method, path
 * and body replay it (header Idempotent-Replayed: true), anything else is 422
 * idempotency_key_reused.  Returns true when the handler should run.
 */
extern bool idempotency_begin(ApiRequest *req, ApiResponse *resp,
							  const char *body, int body_len,
							  IdempotencyState *st);

/*
 * After the handler, in the same transaction as its work: store the
 * response unless it is a 5xx.
 */
extern void idempotency_finish(ApiRequest *req, ApiResponse *resp,
							   IdempotencyState *st);

#endif							/* BAR9_IDEMPOTENCY_H */
