/* TCP listening socket on the event loop: hands each accepted socket
 * (non-blocking, close-on-exec) to a callback. */
#ifndef NESTOR_PROTO_LISTENER_H
#define NESTOR_PROTO_LISTENER_H

#include <stdint.h>

#include <event2/event.h>

struct listener;

/* Listen on host:port (host numeric or a name, NULL or "" = every address;
 * port 0 = ephemeral, see listener_port). on_accept owns the fd it gets.
 * NULL on error (logged). */
struct listener *listener_new(struct event_base *base, const char *host, uint16_t port,
			      void (*on_accept)(int fd, void *arg), void *arg);
/* The bound port (useful after port 0). */
uint16_t listener_port(const struct listener *l);
/* Stop listening and close the socket. NULL ok. */
void listener_free(struct listener *l);

#endif
