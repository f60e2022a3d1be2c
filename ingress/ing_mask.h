/* ing_mask: secret_key masked in place in a body before it is stored. */
#ifndef ING_MASK_H
#define ING_MASK_H

#include <stddef.h>

/* Overwrites, in place, the value of every "secret_key" member of a JSON
 * text (any depth; the key may be written with escapes): each byte between
 * the quotes of a string value becomes '*'; a number, true or false becomes
 * a string of '*' of the same length (a one-digit number becomes 0). The
 * length never changes, valid JSON stays valid, every other byte is left
 * as it was; malformed text is masked as far as it can be read. Returns the
 * number of values masked. */
size_t ing_mask_secret(char *p, size_t len);

#endif
