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

/*
 * Largest answer kept for replay, in bytes of body.  A larger answer (a
 * bulk add reporting thousands of invalid entries) is not kept: its key is
 * stored without it, and a retry is 409 idempotency_answer_not_stored rather
 * than a second run.  This bounds what one key costs the table.
 */
#define IDEMPOTENCY_ANSWER_MAX_BYTES	(64 * 1024)

/* What idempotency_begin found out, for idempotency_finish. */
typedef struct IdempotencyState
{
	bool		active;			/* a new key: store the response at the end */
	int32		account_no;		/* the account's shard */
	uint8		body_sha256[PG_SHA256_DIGEST_LENGTH];
} IdempotencyState;

/*
 * Before the handler of a POST carrying req->idempotency_key: validate the
 * key (400), take a transaction-level advisory lock on (account, key) without
 * waiting, on the node of the account's shard (409 idempotency_key_in_use
 * when another transaction holds it, through whichever node),
 * and look for a stored response of the last 24 hours: the same method, path
 * and body replay it (header Idempotent-Replayed: true), or are 409
 * idempotency_answer_not_stored when the answer was too large to keep;
 * anything else is 422 idempotency_key_reused.  Returns true when the handler should run.
 */
extern bool idempotency_begin(ApiRequest *req, ApiResponse *resp,
							  const char *body, int body_len,
							  IdempotencyState *st);

/*
 * After the handler, in the same transaction as its work: store the
 * response unless it is a 5xx (its body only up to
 * IDEMPOTENCY_ANSWER_MAX_BYTES).
 */
extern void idempotency_finish(ApiRequest *req, ApiResponse *resp,
							   IdempotencyState *st);

#endif							/* BAR9_IDEMPOTENCY_H */
