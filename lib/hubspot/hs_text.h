/* hs_text: the text rules of the mapping (docs/mapping.md): bodies cut to
 * fit HubSpot's 65,536-character property limit, HTML entities decoded in
 * plain text, addresses read from "Name <addr>" and address lists, and the
 * junk-sender rule for untracked replies. Pure functions, no I/O. */
#ifndef HS_TEXT_H
#define HS_TEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* HubSpot caps string property values at 65,536 characters. Whether it
 * counts bytes, code points or UTF-16 units is not documented; a UTF-8
 * byte count is never smaller than either, so leadsync budgets in bytes
 * and keeps room below the limit. */
#define HS_PROP_LIMIT 65536
#define HS_BODY_MAX_BYTES 64000

/* Cuts s (NUL-terminated UTF-8) to at most max bytes including the
 * marker. Keeps the newest part: for a reply, the text above the quoted
 * thread when the quote can be told apart (an "On ... wrote:" line, a
 * gmail_quote/blockquote, "-----Original Message-----", ">" lines),
 * else the head, cut at a UTF-8 boundary (and, for html, not inside a
 * tag). Returns a malloc'd string, or NULL when s already fits. */
char *hs_text_fit(const char *s, size_t max, bool html);

/* The marker hs_text_fit appends (tests look for it). */
#define HS_TRUNC_MARK_TEXT "[leadsync: message truncated to fit HubSpot]"

/* Decodes HTML character references (&amp; &lt; &gt; &quot; &apos;
 * &nbsp; &#NNN; &#xHH;) into UTF-8. Returns malloc'd text, or NULL when
 * there is nothing to decode. */
char *hs_text_decode_entities(const char *s);

/* Reads one address from "Name <addr>", "\"Name\" <addr>" or "addr":
 * the address trimmed and lower-cased into addr, the display name (quotes
 * stripped) into name. Returns false when there is no address with an @
 * (addr is then ""). Either output may be NULL. */
bool hs_text_address(const char *in, char *addr, size_t alen, char *name,
                     size_t nlen);

/* Splits "Jane Q. Doe" into first ("Jane") and last ("Q. Doe"). */
void hs_split_name(const char *full, char *first, size_t fl, char *last,
                   size_t ll);

/* The hs_email_headers person {"email","firstName"?,"lastName"?}: email
 * may be "Name <addr>" (its display name is used when name is empty);
 * names split at the first space. */
json_t *hs_text_person(const char *email, const char *name);

/* Splits a JSON string ("a@x.com, B <b@y.com>; c@z.com") or array of such
 * strings into a JSON array of {"email","firstName"?,"lastName"?}
 * objects (the hs_email_headers person shape); entries without an address
 * are left out. */
json_t *hs_text_address_list(const json_t *v);

/* The junk-sender rule for untracked replies. Returns the reason
 * ("sender_no_address", "sender_mailer_daemon", "sender_postmaster",
 * "sender_no_reply", "auto_submitted") or NULL when the sender is a
 * person. patterns: extra case-insensitive substrings of the address
 * (NULL-terminated; may be NULL). auto_submitted: the Auto-Submitted
 * header when the payload carries one (NULL otherwise). */
const char *hs_text_junk_sender(const char *sender_detail,
                                const char *auto_submitted,
                                const char *const *patterns);

/* The properties a HubSpot validation error rejects, from a 400 body or
 * one 207 errors[] entry: errors[].context.propertyName and the names in
 * the JSON list inside "Property values were not valid: [...]" (some
 * documented bodies carry only the latter). Returns a new array of
 * {"property", "code", "message"} (empty when none is named). */
json_t *hs_rejected_properties(const json_t *err);

#endif
