/* Strict parsers for configuration values: whole string or nothing.
 * All return 0 on success, -1 on any malformed or out-of-range input, never
 * log, and leave the output untouched on failure. */
#ifndef NESTOR_COMMON_PARSE_H
#define NESTOR_COMMON_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decimal digits only: no sign, no spaces, no 0x, no trailing text. */
int parse_u64(const char *s, uint64_t *out);
/* Decimal with optional binary suffix K, M, G or T (either case): "64M". */
int parse_size(const char *s, uint64_t *out);
/* yes/no, true/false, on/off, 1/0 (letters in any case). */
int parse_bool(const char *s, bool *out);
/* Seconds, with optional suffix s, m, h or d: "90s", "5m", "2h", "1d". */
int parse_duration(const char *s, uint64_t *out_seconds);
/* "host:port", "[v6addr]:port"; port 1..65535. *host is malloc'd (caller
 * frees), without brackets. Hosts are IPv4/names of [A-Za-z0-9._-] or a
 * bracketed IPv6 address. */
int parse_host_port(const char *s, char **host, uint16_t *port);
/* The len bytes of s as a dotted-quad IPv4 address "a.b.c.d" (no leading
 * zeros, no short forms), in host byte order. */
int parse_ipv4(const char *s, size_t len, uint32_t *out);

#endif
