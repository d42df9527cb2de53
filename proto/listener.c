/* TCP listener over libevent's evconnlistener, with a back-off when the
 * process runs out of descriptors instead of spinning on accept(). */
#include "proto/listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/listener.h>

#include "common/log.h"
#include "proto/addr.h"

#define LISTENER_BACKOFF_S 1
/* libevent's default is 128: a burst of connections (a flood, or many agents
 * after an outage) would overflow it while the loop is busy with handshakes,
 * and the kernel drops what does not fit. The kernel caps it at somaxconn. */
#define LISTENER_BACKLOG   4096

struct listener {
	struct evconnlistener *lev;
	struct event *backoff;
	void (*on_accept)(int fd, void *arg);
	void *arg;
	uint16_t port;
	char name[300];
};

static void
listener_accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
		   int salen, void *arg)
{
	struct listener *l = arg;

	(void)lev;
	(void)sa;
	(void)salen;
	l->on_accept(fd, l->arg);
}

static void
listener_error_cb(struct evconnlistener *lev, void *arg)
{
	static const struct timeval backoff = { LISTENER_BACKOFF_S, 0 };
	struct listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();

	log_warn("listener %s: accept: %s; pausing %d s", l->name, strerror(err),
		 LISTENER_BACKOFF_S);
	/* EMFILE and friends stay true until something closes: wait. */
	evconnlistener_disable(lev);
	evtimer_add(l->backoff, &backoff);
}

static void
listener_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(l->lev);
}

struct listener *
listener_new(struct event_base *base, const char *host, uint16_t port,
	     void (*on_accept)(int fd, void *arg), void *arg)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct listener *l = NULL;
	struct listener *ret = NULL;
	char what[sizeof(l->name) + 12];

	if (host && !host[0])
		host = NULL;
	l = calloc(1, sizeof(*l));
	if (!l) {
		log_error("listener: out of memory");
		goto out;
	}
	l->on_accept = on_accept;
	l->arg = arg;
	snprintf(l->name, sizeof(l->name), "%s:%u", host ? host : "*", port);
	snprintf(what, sizeof(what), "listener %s", l->name);
	if (addr_resolve(what, host, port, true, &ss, &sl) < 0)
		goto out;
	l->backoff = evtimer_new(base, listener_backoff_cb, l);
	if (!l->backoff) {
		log_error("listener %s: cannot create timer", l->name);
		goto out;
	}
	l->lev = evconnlistener_new_bind(base, listener_accept_cb, l,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
					 LEV_OPT_CLOSE_ON_EXEC, LISTENER_BACKLOG,
					 (struct sockaddr *)&ss,
					 (int)sl);
	if (!l->lev) {
		log_error("listener %s: cannot listen: %m", l->name);
		goto out;
	}
	evconnlistener_set_error_cb(l->lev, listener_error_cb);
	sl = sizeof(ss);
	if (getsockname(evconnlistener_get_fd(l->lev), (struct sockaddr *)&ss, &sl) < 0) {
		log_error("listener %s: getsockname: %m", l->name);
		goto out;
	}
	if (ss.ss_family == AF_INET)
		l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		l->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	log_debug("listener %s: listening on port %u", l->name, l->port);
	ret = l;
	l = NULL;
out:
	listener_free(l);
	return ret;
}

uint16_t
listener_port(const struct listener *l)
{
	return l->port;
}

void
listener_free(struct listener *l)
{
	if (!l)
		return;
	if (l->lev)
		evconnlistener_free(l->lev);
	if (l->backoff)
		event_free(l->backoff);
	free(l);
}
