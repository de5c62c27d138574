/*
 * auth.h
 *		Accounts, API keys and scopes.
 *
 * A key reads  bar9_<key_id>_<secret>  where key_id is "key_" and 22 base-62
 * characters (public, shown in listings) and secret is 32 base-62 characters
 * (~190 bits from pg_strong_random).  Only the SHA-256 of the secret is
 * stored; it is compared in constant time.
 */
#ifndef BAR9_AUTH_H
#define BAR9_AUTH_H

/* Scope bits; a route row names the one it needs. */
#define BAR9_SCOPE_READ		0x01	/* marketing:channels:read */
#define BAR9_SCOPE_WRITE	0x02	/* marketing:channels:write */
#define BAR9_SCOPE_SEND		0x04	/* marketing:channels:send */

/* Characters of the secret part of a key. */
#define BAR9_KEY_SECRET_CHARS	32

/* The result of checking a presented key. */
typedef struct AuthResult
{
	char	   *account_id;		/* palloc'd */
	char	   *key_id;			/* palloc'd */
	int			scopes;			/* BAR9_SCOPE_* bits */
} AuthResult;

/*
 * Check a presented key (SPI must be connected).  True and *out filled when
 * it is well formed, known, not revoked and its secret matches; false
 * otherwise, without saying which.  Touches last_used_at at most once a
 * minute.
 */
extern bool auth_check_key(const char *key, size_t len, AuthResult *out);

/* The scope name of one BAR9_SCOPE_* bit ("marketing:channels:read"). */
extern const char *auth_scope_name(int scope);

/* Constant-time equality of two buffers of n bytes. */
extern bool auth_equal_ct(const void *a, const void *b, size_t n);

extern int32 bar9_account_no(const char *account_id, bool missing_ok);

#endif							/* BAR9_AUTH_H */
