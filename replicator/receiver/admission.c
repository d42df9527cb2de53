/* Connection counts per address and per client CN in two small hash tables
 * (replicator/receiver/admission.h). A key lives while a connection holds
 * it, so the tables never hold more keys than there are connections. */
#include "replicator/receiver/admission.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define ADM_BUCKETS 256u

struct counter {
	struct counter *next;
	unsigned n;
	char key[]; /* NUL-terminated */
};

struct table {
	struct counter *b[ADM_BUCKETS];
};

struct admission_slot {
	struct counter *addr;
	struct counter *client; /* NULL until authenticated */
};

struct admission {
	struct admission_limits lim;
	unsigned live;
	struct table addrs, clients;
};

static unsigned
tbl_hash(const char *key)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *key; key++)
		h = (h ^ (uint8_t)*key) * 16777619u;
	return h % ADM_BUCKETS;
}

static struct counter *
tbl_find(const struct table *t, const char *key)
{
	struct counter *c;

	for (c = t->b[tbl_hash(key)]; c; c = c->next)
		if (strcmp(c->key, key) == 0)
			return c;
	return NULL;
}

/* The counter of key, created at 0 if missing; NULL when out of memory. */
static struct counter *
tbl_get(struct table *t, const char *key)
{
	struct counter *c = tbl_find(t, key);
	size_t len = strlen(key);
	unsigned h;

	if (c)
		return c;
	c = calloc(1, sizeof(*c) + len + 1);
	if (!c)
		return NULL;
	memcpy(c->key, key, len + 1);
	h = tbl_hash(key);
	c->next = t->b[h];
	t->b[h] = c;
	return c;
}

/* One less on c; the key goes when nobody holds it. */
static void
tbl_put(struct table *t, struct counter *c)
{
	struct counter **pp;

	if (!c || --c->n > 0)
		return;
	for (pp = &t->b[tbl_hash(c->key)]; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			free(c);
			return;
		}
	}
}

static void
tbl_clear(struct table *t)
{
	for (unsigned i = 0; i < ADM_BUCKETS; i++) {
		while (t->b[i]) {
			struct counter *c = t->b[i];

			t->b[i] = c->next;
			free(c);
		}
	}
}

struct admission *
admission_new(const struct admission_limits *lim)
{
	struct admission *a = calloc(1, sizeof(*a));

	if (a)
		a->lim = *lim;
	return a;
}

void
admission_free(struct admission *a)
{
	if (!a)
		return;
	tbl_clear(&a->addrs);
	tbl_clear(&a->clients);
	free(a);
}

struct admission_slot *
admission_enter(struct admission *a, const char *addr, enum admission_verdict *why)
{
	struct admission_slot *s;
	struct counter *c;

	if (a->live >= a->lim.max_conns) {
		*why = ADMIT_FULL;
		return NULL;
	}
	c = tbl_find(&a->addrs, addr);
	if (c && c->n >= a->lim.per_address) {
		*why = ADMIT_ADDRESS;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	c = s ? tbl_get(&a->addrs, addr) : NULL;
	if (!c) {
		free(s);
		*why = ADMIT_NOMEM;
		return NULL;
	}
	c->n++;
	s->addr = c;
	a->live++;
	*why = ADMIT_OK;
	return s;
}

enum admission_verdict
admission_authenticate(struct admission *a, struct admission_slot *s, const char *cn)
{
	struct counter *c;

	if (s->client)
		return ADMIT_OK;
	c = tbl_find(&a->clients, cn);
	if (c && c->n >= a->lim.per_client)
		return ADMIT_CLIENT;
	c = tbl_get(&a->clients, cn);
	if (!c)
		return ADMIT_NOMEM;
	c->n++;
	s->client = c;
	return ADMIT_OK;
}

void
admission_release(struct admission *a, struct admission_slot *s)
{
	if (!s)
		return;
	tbl_put(&a->clients, s->client);
	tbl_put(&a->addrs, s->addr);
	a->live--;
	free(s);
}

unsigned
admission_count(const struct admission *a)
{
	return a->live;
}

unsigned
admission_count_address(const struct admission *a, const char *addr)
{
	const struct counter *c = tbl_find(&a->addrs, addr);

	return c ? c->n : 0;
}

unsigned
admission_count_client(const struct admission *a, const char *cn)
{
	const struct counter *c = tbl_find(&a->clients, cn);

	return c ? c->n : 0;
}

const char *
admission_verdict_str(enum admission_verdict v)
{
	switch (v) {
	case ADMIT_OK: return "admitted";
	case ADMIT_FULL: return "connection limit (max_conns) reached";
	case ADMIT_ADDRESS: return "per-address limit (max_conns_per_address) reached";
	case ADMIT_CLIENT: return "per-client limit (max_conns_per_client) reached";
	case ADMIT_NOMEM: return "out of memory";
	}
	return "refused";
}

int
admission_addr_key(const struct sockaddr *sa, char *buf, size_t len)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
	struct in6_addr prefix;
	char txt[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		if (!inet_ntop(AF_INET, &s4->sin_addr, txt, sizeof(txt)))
			return -1;
	} else if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		if (!inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], txt, sizeof(txt)))
			return -1;
	} else if (sa->sa_family == AF_INET6) {
		prefix = s6->sin6_addr;
		memset(&prefix.s6_addr[8], 0, 8);
		if (!inet_ntop(AF_INET6, &prefix, txt, sizeof(txt)))
			return -1;
		return (size_t)snprintf(buf, len, "%s/64", txt) < len ? 0 : -1;
	} else {
		return -1;
	}
	return (size_t)snprintf(buf, len, "%s", txt) < len ? 0 : -1;
}

unsigned
admission_fd_cap(uint64_t nofile)
{
	uint64_t reserve = 64 + nofile / 4;

	if (nofile <= reserve)
		return 0;
	return nofile - reserve > UINT32_MAX ? UINT32_MAX : (unsigned)(nofile - reserve);
}

uint64_t
admission_fd_need(unsigned max_conns)
{
	uint64_t n = ((uint64_t)max_conns + 64) * 4 / 3;

	while (admission_fd_cap(n) < max_conns)
		n++;
	return n;
}
