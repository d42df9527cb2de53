/* A guest's address on a drill's isolated network from the network's own
 * records (failover/checkaddr.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "failover/checkaddr.h"

#define TOK_MAX 8

/* Split the line [p, end) at blanks into tok (each NUL-terminated in
 * buf); the number of tokens, at most TOK_MAX. */
static size_t
line_tokens(const char *p, const char *end, char *buf, size_t len, char *tok[TOK_MAX])
{
	size_t n = 0, l = (size_t)(end - p);
	char *save = NULL, *t;

	if (l >= len)
		return 0;
	memcpy(buf, p, l);
	buf[l] = '\0';
	for (t = strtok_r(buf, " \t\r", &save); t && n < TOK_MAX; t = strtok_r(NULL, " \t\r", &save))
		tok[n++] = t;
	return n;
}

static bool
ipv4_into(const char *s, char out[16])
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return false;
	return inet_ntop(AF_INET, &a, out, 16) != NULL;
}

bool
checkaddr_lease(const char *leases, const char *mac, char out[16])
{
	char buf[512], *tok[TOK_MAX], ip[16];
	bool found = false;

	for (const char *p = leases; p && *p;) {
		const char *end = p + strcspn(p, "\n");

		if (line_tokens(p, end, buf, sizeof(buf), tok) >= 3 && !strcasecmp(tok[1], mac) &&
		    ipv4_into(tok[2], ip)) {
			memcpy(out, ip, sizeof(ip));
			found = true;
		}
		p = *end ? end + 1 : end;
	}
	return found;
}

bool
checkaddr_neigh(const char *neigh, const char *mac, char out[16])
{
	char buf[512], *tok[TOK_MAX];

	for (const char *p = neigh; p && *p;) {
		const char *end = p + strcspn(p, "\n");
		size_t n = line_tokens(p, end, buf, sizeof(buf), tok);

		for (size_t k = 1; k + 1 < n; k++) {
			if (strcmp(tok[k], "lladdr") || strcasecmp(tok[k + 1], mac))
				continue;
			if (strcmp(tok[n - 1], "FAILED") && strcmp(tok[n - 1], "INCOMPLETE") &&
			    ipv4_into(tok[0], out))
				return true;
		}
		p = *end ? end + 1 : end;
	}
	return false;
}
