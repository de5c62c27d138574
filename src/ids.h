/*
 * ids.h
 *		Random public identifiers: acct_…, mkt_…, msg_…, key_….
 */
#ifndef BAR9_IDS_H
#define BAR9_IDS_H

/* Number of random base-62 characters after the prefix (~131 bits). */
#define BAR9_ID_RANDOM_CHARS 22

extern char *bar9_new_id(const char *prefix);
extern void bar9_random_base62(char *dst, int nchars);

#endif							/* BAR9_IDS_H */
