/* Bandwidth pacing of an agent connection (pace.h). */
#include "replicator/agent/pace.h"

#include <stdlib.h>
#include <sys/time.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/throttle.h"
#include "proto/codec.h"

struct pace {
	struct throttle *t;
	struct event *timer;
	void (*again)(void *arg);
	void *arg;
};

static void
pace_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct pace *p = arg;

	(void)fd;
	(void)what;
	p->again(p->arg);
}

struct pace *
pace_new(struct event_base *base, uint64_t rate, void (*again)(void *arg), void *arg)
{
	struct pace *p = calloc(1, sizeof(*p));

	if (!p)
		goto fail;
	p->again = again;
	p->arg = arg;
	/* The largest frame fits a burst, so the rate holds over any second. */
	p->t = throttle_new(rate, 2 * PROTO_MAX_EXTENT);
	p->timer = evtimer_new(base, pace_on_timer, p);
	if (p->t && p->timer)
		return p;
fail:
	log_error("agent: out of memory");
	pace_free(p);
	return NULL;
}

bool
pace_allow(struct pace *p, size_t cost)
{
	struct timeval tv;
	double wait_s;

	if (!p)
		return true;
	wait_s = throttle_take(p->t, cost, clock_now_ns());
	if (wait_s <= 0)
		return true;
	tv.tv_sec = (time_t)wait_s;
	tv.tv_usec = (suseconds_t)((wait_s - (double)tv.tv_sec) * 1e6) + 1000;
	if (!evtimer_pending(p->timer, NULL))
		evtimer_add(p->timer, &tv);
	return false;
}

void
pace_free(struct pace *p)
{
	if (!p)
		return;
	throttle_free(p->t);
	if (p->timer)
		event_free(p->timer);
	free(p);
}
