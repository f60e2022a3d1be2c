/* ls_net: listen-address parsing. */
#include "ls_net.h"

#include <stdio.h>
#include <string.h>

bool ls_split_listen(const char *listen, char *host, size_t hostlen, char *port,
                     size_t portlen) {
  const char *colon = strrchr(listen, ':');
  if (!colon || !colon[1])
    return false;
  size_t hl = (size_t)(colon - listen);
  const char *h = listen;
  if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
    h++;
    hl -= 2;
  }
  if (hl >= hostlen || strlen(colon + 1) >= portlen)
    return false;
  memcpy(host, h, hl);
  host[hl] = '\0';
  snprintf(port, portlen, "%s", colon + 1);
  return true;
}
