/*
 * keywords.h
 *		Inbound SMS keywords: STOP / START / HELP and their French and Arabic
 *		forms, and the replies bar9.receive_sms sends back.
 *
 * Matching rule (the one place it is written down; docs/reference-consent.md
 * repeats it for users): the body is converted to UTF-8 and
 *	1. trimmed at both ends of Unicode White_Space and of the invisible format
 *	   characters phones and copy-paste add (zero-width space and joiners,
 *	   LRM/RLM/ALM, bidi embeddings and isolates, byte order mark);
 *	2. put in Unicode normalization form C (so "E" + U+0302 is "Ê", "ا" +
 *	   U+0655 is "إ");
 *	3. case-folded by a fixed rule, independent of any collation or locale:
 *	   ASCII a-z to A-Z, and "ê" (U+00EA) to "Ê" (U+00CA); nothing else;
 *	4. compared, whole, with the keyword lists of docs/api.md.
 * Anything else around the keyword ("STOP.", "stop by our shop", "توقف الآن")
 * is not a keyword.  Bodies longer than KEYWORD_MAX_TRIMMED code points
 * after step 1 never match and are not normalized.
 */
#ifndef BAR9_KEYWORDS_H
#define BAR9_KEYWORDS_H

/* What an inbound body asks for. */
typedef enum KeywordKind
{
	KEYWORD_NONE = 0,			/* not a keyword: no reply, no change */
	KEYWORD_OPT_OUT,			/* STOP and friends */
	KEYWORD_OPT_IN,				/* START, UNSTOP, YES, ابدأ */
	KEYWORD_HELP				/* HELP, INFO, AIDE, مساعدة */
} KeywordKind;

/* Trimmed bodies longer than this (in code points) are never keywords. */
#define KEYWORD_MAX_TRIMMED		64

/* A keyword reply (set_keyword_replies) has 1 to this many characters. */
#define KEYWORD_REPLY_MAX_CHARS	1600

/* Default replies, used while an account has not set its own. */
#define KEYWORD_DEFAULT_OPT_OUT_REPLY \
	"You have been unsubscribed and will receive no more messages. " \
	"Reply START to resubscribe."
#define KEYWORD_DEFAULT_OPT_IN_REPLY \
	"You have been resubscribed and will receive messages again. " \
	"Reply STOP to unsubscribe."
#define KEYWORD_DEFAULT_HELP_REPLY \
	"Reply STOP to unsubscribe or START to resubscribe."

/* Classify body[0..len) (server encoding) by the rule above. */
extern KeywordKind bar9_match_keyword(const char *body, int len);

/* 'opt_out', 'opt_in', 'help' or NULL for KEYWORD_NONE. */
extern const char *bar9_keyword_kind_name(KeywordKind kind);

#endif							/* BAR9_KEYWORDS_H */
