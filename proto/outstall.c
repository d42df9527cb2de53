/* Output-stall watchdog (proto/outstall.h). Writes only stamp the time; a
 * timer, when it fires, either reports the stall or re-arms for what is
 * left, so a busy connection costs one callback per buffer change. */
#include "proto/outstall.h"

#include <stdint.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "common/clock.h"
#include "common/log.h"

struct outstall {
	struct event *timer;
	struct evbuffer *out;
	struct evbuffer_cb_entry *cb;
	uint64_t limit_ns;
	uint64_t last_ns; /* monotonic: output became pending, or some was written */
	void (*on_stall)(void *arg, size_t pending);
	void *arg;
};

static void
outstall_arm(struct outstall *w, uint64_t after_ns)
{
	struct timeval tv = { (time_t)(after_ns / 1000000000u),
			      (suseconds_t)(after_ns % 1000000000u / 1000u) };

	evtimer_add(w->timer, &tv);
}

static void
outstall_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct outstall *w = arg;

	(void)buf;
	/* Progress, or the start of a new wait: either restarts the clock. */
	if (info->n_deleted > 0 || info->orig_size == 0)
		w->last_ns = clock_mono_ns();
}

static void
outstall_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct outstall *w = arg;
	size_t pending = evbuffer_get_length(w->out);
	uint64_t quiet = clock_mono_ns() - w->last_ns;

	(void)fd;
	(void)what;
	if (pending == 0 || quiet < w->limit_ns) {
		outstall_arm(w, pending ? w->limit_ns - quiet : w->limit_ns);
		return;
	}
	w->on_stall(w->arg, pending);
}

struct outstall *
outstall_new(struct event_base *base, struct bufferevent *bev, unsigned secs,
	     void (*on_stall)(void *arg, size_t pending), void *arg)
{
	struct outstall *w = calloc(1, sizeof(*w));

	if (!w) {
		log_error("conn: out of memory for the output-stall watchdog");
		return NULL;
	}
	w->out = bufferevent_get_output(bev);
	w->limit_ns = (uint64_t)secs * 1000000000u;
	w->last_ns = clock_mono_ns();
	w->on_stall = on_stall;
	w->arg = arg;
	w->timer = evtimer_new(base, outstall_timer_cb, w);
	w->cb = w->timer ? evbuffer_add_cb(w->out, outstall_out_cb, w) : NULL;
	if (!w->cb) {
		log_error("conn: cannot set up the output-stall watchdog");
		outstall_free(w);
		return NULL;
	}
	outstall_arm(w, w->limit_ns);
	return w;
}

void
outstall_free(struct outstall *w)
{
	if (!w)
		return;
	if (w->cb)
		evbuffer_remove_cb_entry(w->out, w->cb);
	if (w->timer)
		event_free(w->timer);
	free(w);
}
