/* ls_net: listen-address parsing shared by every server binary. */
#ifndef LS_NET_H
#define LS_NET_H

#include <stdbool.h>
#include <stddef.h>

/* "HOST:PORT" or "[v6]:PORT" into host and port strings; false when the
 * form is wrong or a part does not fit its buffer. */
bool ls_split_listen(const char *listen, char *host, size_t hostlen, char *port,
                     size_t portlen);

#endif
