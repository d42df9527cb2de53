/* A webhook's URL, parsed strictly: http[s]://host[:port][/path]. Plain
 * data, no allocation. */
#ifndef NESTOR_COMMON_HTTPURL_H
#define NESTOR_COMMON_HTTPURL_H

#include <stdbool.h>
#include <stdint.h>

#define HTTPURL_HOST_MAX 253
#define HTTPURL_PATH_MAX 2048

struct httpurl {
	char host[HTTPURL_HOST_MAX + 1]; /* name, IPv4, or IPv6 without brackets */
	bool ipv6;                       /* the Host header needs brackets */
	bool tls;                        /* https:// */
	uint16_t port;                   /* default 80, https 443 */
	char path[HTTPURL_PATH_MAX + 1]; /* starts with '/', default "/" */
};

/* Parse s into *out. -1 with *why saying what is wrong (a static string)
 * on any malformed URL, another scheme, credentials (user@), a fragment,
 * a control character, space or non-ASCII byte anywhere. */
int httpurl_parse(const char *s, struct httpurl *out, const char **why);

#endif
