/* The receiver's door: connection caps at accept (before TLS) and after
 * the handshake (per client CN), certificates without a [client] section,
 * the handshake and idle deadlines, max_conns fitted to RLIMIT_NOFILE, and
 * rate-limited logs of everything it turns away (docs/security.md). */
#ifndef NESTOR_RECEIVER_GATE_H
#define NESTOR_RECEIVER_GATE_H

#include <stdbool.h>

struct conn;
struct event_base;
struct receiver_config;
struct gate;
struct gate_ticket; /* one connection's pass; owned by the gate */

/* Limits from cfg (borrowed, must outlive the gate); max_conns lowered to
 * what the descriptor limit leaves room for, after raising the soft limit
 * toward the hard one if needed. base runs the summary of held-back log
 * lines. NULL on error (logged). */
struct gate *gate_new(const struct receiver_config *cfg, struct event_base *base);
/* Every ticket must have been given back first. NULL ok. */
void gate_free(struct gate *g);

/* A socket was accepted: its ticket, or NULL when a cap refuses it (logged,
 * rate-limited) or the peer is already gone; fd is closed then. */
struct gate_ticket *gate_accept(struct gate *g, int fd);
/* Start c's handshake deadline (call right after conn_accept). */
void gate_conn_start(struct gate *g, struct conn *c);
/* c finished its handshake: 0 = a session may start (the idle timeout is
 * set), -1 = close it now, before any session work: its CN has no [client]
 * section (closed without a word) or its client is at its cap (an ERROR
 * frame says so). Logged, rate-limited. */
int gate_ready(struct gate *g, struct gate_ticket *t, struct conn *c);
/* The connection closed with reason. True if the gate logged it (it never
 * became a session): the caller logs nothing more. */
bool gate_closed(struct gate *g, struct gate_ticket *t, const char *reason);
/* Give the ticket's counts back and free it. NULL ok. */
void gate_release(struct gate *g, struct gate_ticket *t);

#endif
