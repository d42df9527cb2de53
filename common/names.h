/* Validation of group/disk/VM/peer names that end up as path components. */
#ifndef NESTOR_COMMON_NAMES_H
#define NESTOR_COMMON_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define NAME_MAX_LEN 64

/* True if s[0..len) is 1..NAME_MAX_LEN bytes of [A-Za-z0-9._-], not starting
 * with '.' or '-'. The explicit length lets an embedded NUL be refused. */
bool name_valid(const char *s, size_t len);

#endif
