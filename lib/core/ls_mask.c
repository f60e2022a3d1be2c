/* ls_mask: masks e-mail addresses in text bound for log lines. */
#include "ls_mask.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "ls_hash.h"

static int local_char(unsigned char c) {
  return isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' ||
         c == '-' || c == '\'' || c >= 0x80;
}

static int domain_char(unsigned char c) {
  return isalnum(c) || c == '.' || c == '-' || c >= 0x80;
}

void ls_mask_pii(const char *in, char *out, size_t outlen) {
  if (!outlen)
    return;
  size_t o = 0, n = in ? strlen(in) : 0, i = 0;
  while (i < n && o + 1 < outlen) {
    if (in[i] == '@') {
      /* The local part is what was copied just before the '@'. */
      size_t start = o;
      while (start > 0 && local_char((unsigned char)out[start - 1]))
        start--;
      size_t end = i + 1;
      while (end < n && domain_char((unsigned char)in[end]))
        end++;
      if (start < o && end > i + 1) {
        size_t local_len = o - start, dom_len = end - i - 1;
        char addr[512];
        size_t k = 0;
        for (size_t j = 0; j < local_len && k + 1 < sizeof addr; j++)
          addr[k++] = (char)tolower((unsigned char)out[start + j]);
        if (k + 1 < sizeof addr)
          addr[k++] = '@';
        for (size_t j = 0; j < dom_len && k + 1 < sizeof addr; j++)
          addr[k++] = (char)tolower((unsigned char)in[i + 1 + j]);
        char hex[65];
        ls_sha256_hex(addr, k, hex);
        o = start;
        int w = snprintf(out + o, outlen - o, "<email:%.8s>", hex);
        o = w < 0 ? o : (size_t)w >= outlen - o ? outlen - 1 : o + (size_t)w;
        i = end;
        continue;
      }
    }
    out[o++] = in[i++];
  }
  out[o] = '\0';
}
