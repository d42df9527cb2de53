/* The webhook URL parser (common/httpurl.h): what the receiver will send
 * a request line and a Host header from, so nothing that could split
 * either gets through. */
#include "common/httpurl.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/parse.h"

static bool
path_char_ok(unsigned char c)
{
	/* printable ASCII but space; '#' starts a fragment, never sent */
	return c > 0x20 && c < 0x7f && c != '#';
}

static bool
host_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-';
}

/* The authority host[:port] of len bytes at a into out. */
static int
parse_authority(const char *a, size_t len, struct httpurl *out, const char **why)
{
	const char *colon = NULL, *h = a;
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a6;
	size_t hlen;

	if (len && a[0] == '[') {
		const char *close = memchr(a, ']', len);

		if (!close) {
			*why = "an IPv6 address needs its closing ']'";
			return -1;
		}
		h = a + 1;
		hlen = (size_t)(close - h);
		if (close + 1 < a + len) {
			if (close[1] != ':') {
				*why = "only ':port' may follow ']'";
				return -1;
			}
			colon = close + 1;
		}
		if (hlen == 0 || hlen >= INET6_ADDRSTRLEN) {
			*why = "an IPv6 address in brackets";
			return -1;
		}
		memcpy(buf, h, hlen);
		buf[hlen] = '\0';
		if (inet_pton(AF_INET6, buf, &a6) != 1) {
			*why = "an IPv6 address in brackets";
			return -1;
		}
		out->ipv6 = true;
	} else {
		colon = memchr(a, ':', len);
		hlen = colon ? (size_t)(colon - a) : len;
		for (size_t i = 0; i < hlen; i++)
			if (!host_char_ok((unsigned char)a[i])) {
				*why = "the host may hold letters, digits, '.' and '-' only";
				return -1;
			}
	}
	if (hlen == 0 || hlen > HTTPURL_HOST_MAX) {
		*why = "a host of 1 to 253 characters";
		return -1;
	}
	memcpy(out->host, h, hlen);
	out->host[hlen] = '\0';
	out->port = out->tls ? 443 : 80;
	if (colon) {
		char port[8];
		size_t plen = len - (size_t)(colon + 1 - a);
		uint64_t v;

		if (plen == 0 || plen >= sizeof(port)) {
			*why = "a port from 1 to 65535";
			return -1;
		}
		memcpy(port, colon + 1, plen);
		port[plen] = '\0';
		if (parse_u64(port, &v) < 0 || v < 1 || v > 65535) {
			*why = "a port from 1 to 65535";
			return -1;
		}
		out->port = (uint16_t)v;
	}
	return 0;
}

int
httpurl_parse(const char *s, struct httpurl *out, const char **why)
{
	struct httpurl u = { .port = 80 };
	const char *a, *slash;
	size_t alen, plen;

	if (strncmp(s, "http://", 7) == 0) {
		a = s + 7;
	} else if (strncmp(s, "https://", 8) == 0) {
		a = s + 8;
		u.tls = true;
	} else {
		*why = "a URL starting with http:// or https://";
		return -1;
	}
	for (const char *p = a; *p; p++)
		if (!path_char_ok((unsigned char)*p)) {
			*why = "no spaces, control characters, non-ASCII bytes or '#'";
			return -1;
		}
	slash = strchr(a, '/');
	alen = slash ? (size_t)(slash - a) : strlen(a);
	if (memchr(a, '@', alen)) {
		*why = "no user@ in the URL (put a token in the path)";
		return -1;
	}
	if (parse_authority(a, alen, &u, why) < 0)
		return -1;
	plen = slash ? strlen(slash) : 0;
	if (plen > HTTPURL_PATH_MAX) {
		*why = "a path of at most 2048 characters";
		return -1;
	}
	if (plen)
		memcpy(u.path, slash, plen + 1);
	else
		snprintf(u.path, sizeof(u.path), "/");
	*out = u;
	return 0;
}
