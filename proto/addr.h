/* Addresses of the protocol's sockets: one getaddrinfo call with the
 * options both the listener and the client need (its error logged once),
 * the printable form of a peer address for logs, and the options every
 * connected socket gets. */
#ifndef NESTOR_PROTO_ADDR_H
#define NESTOR_PROTO_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

/* Resolve host:port for a TCP stream socket (any address family; the port
 * is numeric). passive: an address to bind (host NULL = every address).
 * what names the socket in the error message ("conn 10.0.0.1:7420").
 * The first address found is copied to *ss, its length to *len.
 * 0 / -1 (logged). */
int addr_resolve(const char *what, const char *host, uint16_t port, bool passive,
		 struct sockaddr_storage *ss, socklen_t *len);
/* "1.2.3.4:port", "[v6]:port", or "fd" for another family, into buf[cap]. */
void addr_format(const struct sockaddr *sa, char *buf, size_t cap);

/* TCP_NODELAY, FD_CLOEXEC and tight TCP keepalive (idle 15 s, then 3
 * probes 5 s apart): a cut link with nothing in flight is noticed by the
 * kernel within about 30 s even when neither side has anything to send.
 * Failures are logged (name: the peer, for logs), not fatal. */
void addr_sock_opts(const char *name, int fd);

#endif
