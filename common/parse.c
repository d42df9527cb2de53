/* Value parsers for config files. Nothing here trusts strtol's leniency
 * (leading spaces, signs, partial parses), so digits are handled by hand. */
#include "common/parse.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Parse the leading run of digits; *end points after it. */
static int
parse_digits(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
			return -1;
	}
	*out = v;
	*end = p;
	return 0;
}

int
parse_u64(const char *s, uint64_t *out)
{
	const char *end;
	uint64_t v;

	if (s == NULL || parse_digits(s, &v, &end) < 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* Digits followed by at most one suffix letter from table[].c. */
struct unit {
	char c;
	uint64_t mul;
};

static int
parse_with_unit(const char *s, const struct unit *table, size_t n, uint64_t *out)
{
	const char *end;
	uint64_t v, mul = 1;

	if (s == NULL || parse_digits(s, &v, &end) < 0)
		return -1;
	if (*end != '\0') {
		size_t i;

		for (i = 0; i < n; i++)
			if (*end == table[i].c)
				break;
		if (i == n || end[1] != '\0')
			return -1;
		mul = table[i].mul;
	}
	if (__builtin_mul_overflow(v, mul, &v))
		return -1;
	*out = v;
	return 0;
}

int
parse_size(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
		{ 'K', 1ULL << 10 }, { 'k', 1ULL << 10 },
		{ 'M', 1ULL << 20 }, { 'm', 1ULL << 20 },
		{ 'G', 1ULL << 30 }, { 'g', 1ULL << 30 },
		{ 'T', 1ULL << 40 }, { 't', 1ULL << 40 },
	};

	return parse_with_unit(s, units, sizeof(units) / sizeof(units[0]), out);
}

int
parse_duration(const char *s, uint64_t *out_seconds)
{
	static const struct unit units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};

	return parse_with_unit(s, units, sizeof(units) / sizeof(units[0]),
			       out_seconds);
}

int
parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	if (s == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int
hostname_ok(const char *s, size_t len)
{
	/* 253 is the DNS limit for a full name. */
	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
			return 0;
	}
	return s[0] != '-' && s[0] != '.';
}

int
parse_host_port(const char *s, char **host, uint16_t *port)
{
	unsigned char addr[sizeof(struct in6_addr)];
	const char *colon;
	char *h = NULL;
	uint64_t p;
	int rc = -1;

	if (s == NULL)
		goto out;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':' ||
		    (size_t)(close - s - 1) >= INET6_ADDRSTRLEN)
			goto out;
		h = strndup(s + 1, (size_t)(close - s - 1));
		if (h == NULL || inet_pton(AF_INET6, h, addr) != 1)
			goto out;
		colon = close + 1;
	} else {
		colon = strchr(s, ':');
		/* A second colon means an unbracketed IPv6 address: ambiguous. */
		if (colon == NULL || strchr(colon + 1, ':') != NULL ||
		    !hostname_ok(s, (size_t)(colon - s)))
			goto out;
		h = strndup(s, (size_t)(colon - s));
		if (h == NULL)
			goto out;
	}
	if (parse_u64(colon + 1, &p) < 0 || p == 0 || p > 65535)
		goto out;
	*host = h;
	h = NULL;
	*port = (uint16_t)p;
	rc = 0;
out:
	free(h);
	return rc;
}

int
parse_ipv4(const char *s, size_t len, uint32_t *out)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	*out = ntohl(a.s_addr);
	return 0;
}
