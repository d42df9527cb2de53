/* Connection admission for the receiver: counts live connections in total,
 * per source address and per client certificate CN, and says whether one
 * more may come in. Pure bookkeeping (no I/O, no clock, no logging): the
 * receiver asks at accept and after the handshake, and gives back at close. */
#ifndef NESTOR_RECEIVER_ADMISSION_H
#define NESTOR_RECEIVER_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

struct admission_limits {
	unsigned max_conns;   /* every connection, handshaking or not */
	unsigned per_address; /* per source address key (admission_addr_key) */
	unsigned per_client;  /* per certificate CN, once authenticated */
};

enum admission_verdict {
	ADMIT_OK = 0,
	ADMIT_FULL,    /* max_conns reached */
	ADMIT_ADDRESS, /* per_address reached */
	ADMIT_CLIENT,  /* per_client reached */
	ADMIT_NOMEM,
};

struct admission;
struct admission_slot; /* one connection's share of the counts */

/* NULL when out of memory. */
struct admission *admission_new(const struct admission_limits *lim);
/* Release every slot first: a slot still held would point into freed
 * counters. NULL ok. */
void admission_free(struct admission *a);

/* A connection from address key addr: its slot (owned by the admission;
 * hand it back with admission_release), or NULL and *why says which cap
 * refused it. */
struct admission_slot *admission_enter(struct admission *a, const char *addr,
				       enum admission_verdict *why);
/* The slot's connection authenticated as cn (once per slot): ADMIT_OK and
 * counted, or ADMIT_CLIENT / ADMIT_NOMEM and not counted. */
enum admission_verdict admission_authenticate(struct admission *a, struct admission_slot *s,
					      const char *cn);
/* The connection is gone: its counts are given back and the slot freed.
 * NULL ok. */
void admission_release(struct admission *a, struct admission_slot *s);

/* Live connections: all, from address key addr, authenticated as cn. */
unsigned admission_count(const struct admission *a);
unsigned admission_count_address(const struct admission *a, const char *addr);
unsigned admission_count_client(const struct admission *a, const char *cn);
/* "connection limit", "per-address limit", ... for logs. */
const char *admission_verdict_str(enum admission_verdict v);

/* The key a peer address is counted under: the numeric IPv4 address
 * (IPv4-mapped IPv6 too), or an IPv6 address's /64 prefix ("2001:db8::/64"):
 * one host owns a whole /64. 0, or -1 for another family or a short buf. */
#define ADMISSION_ADDR_KEY_MAX 64
int admission_addr_key(const struct sockaddr *sa, char *buf, size_t len);

/* The most connections a descriptor limit of nofile leaves room for, after
 * a reserve (64 + nofile / 4) for the store's files, qemu-nbd sockets,
 * child pipes, the listeners and the log: 0 if none. */
unsigned admission_fd_cap(uint64_t nofile);
/* The descriptor limit that admission_fd_cap turns into max_conns. */
uint64_t admission_fd_need(unsigned max_conns);

#endif
