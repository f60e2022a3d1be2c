/* ing_mask: secret_key masked in place in a body before it is stored. */
#ifndef ING_MASK_H
#define ING_MASK_H

#include <stdbool.h>
#include <stddef.h>

/* Overwrites, in place, the value of every "secret_key" member of a JSON
 * text (any depth; the key may be written with escapes): each byte between
 * the quotes of a string value becomes '*'; a number, true or false becomes
 * a string of '*' of the same length (a one-digit number becomes 0). The
 * length never changes, valid JSON stays valid, every other byte is left
 * as it was; malformed text is masked as far as it can be read. Returns the
 * number of values masked. */
size_t ing_mask_secret(char *p, size_t len);

/* The same masking from positions found by a parse of the text (the
 * ingress's scanner finds them in its one pass, ing_json.h): the byte
 * offsets [at, end) of every secret_key value that ing_mask_secret would
 * mask (strings, numbers, true, false), in text order. complete says the
 * list is all of them; when it is false (the text was not parsed, or had
 * more than ING_MASK_SPANS_MAX such values) ing_mask_apply falls back to
 * ing_mask_secret. */
#define ING_MASK_SPANS_MAX 8
typedef struct {
  bool complete;
  unsigned n;
  size_t at[ING_MASK_SPANS_MAX], end[ING_MASK_SPANS_MAX];
} ing_mask_spans;

/* Masks p as ing_mask_secret does, from sp when it is complete. Returns
 * the number of values masked. */
size_t ing_mask_apply(char *p, size_t len, const ing_mask_spans *sp);

/* True when the string content p[a..b) (between the quotes, escapes as
 * written) decodes to "secret_key". */
bool ing_mask_is_key(const char *p, size_t a, size_t b);

#endif
