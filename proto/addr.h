/* Name resolution for the protocol's sockets: one getaddrinfo call with the
 * options both the listener and the client need, its error logged once. */
#ifndef NESTOR_PROTO_ADDR_H
#define NESTOR_PROTO_ADDR_H

#include <stdbool.h>
#include <stdint.h>

struct addrinfo;

/* Resolve host:port for a TCP stream socket (any address family; the port
 * is numeric). passive: an address to bind (host NULL = every address).
 * what names the socket in the error message ("conn 10.0.0.1:7420").
 * *res is freed by the caller with freeaddrinfo. 0 / -1 (logged). */
int addr_resolve(const char *what, const char *host, uint16_t port, bool passive,
		 struct addrinfo **res);

#endif
