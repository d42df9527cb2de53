/* The shared budget of write-queue buffers (wbudget.h). */
#include "replicator/receiver/wbudget.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/ratelimit.h"

struct wbudget {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* bytes were given back */
	uint64_t total, used;
	uint64_t waits;
	struct ratelimit rl; /* "budget spent" lines */
};

struct wbudget *
wbudget_new(uint64_t total)
{
	struct wbudget *b = calloc(1, sizeof(*b));

	if (!b) {
		log_error("receiver: out of memory");
		return NULL;
	}
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	b->total = total;
	b->rl.interval_ns = 60ull * 1000000000ull;
	return b;
}

void
wbudget_free(struct wbudget *b)
{
	if (!b)
		return;
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

/* Called with b->mu held, the budget spent: one line a minute says so. */
static void
wbudget_note_wait(struct wbudget *b)
{
	unsigned held;

	b->waits++;
	if (ratelimit_pass(&b->rl, clock_mono_ns(), &held))
		log_info("receiver: all %llu MiB of write buffers in use (write_buffer_total): "
			 "reading waits for the store (%u more waits since the last line)",
			 (unsigned long long)(b->total >> 20), held);
}

/* Called with b->mu not held. */
static void
wbudget_give_back(struct wbudget *b, size_t len)
{
	pthread_mutex_lock(&b->mu);
	b->used -= len;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

/* The buffer of len bytes already counted in b (NULL: no budget); on
 * failure (logged) the count is given back. */
static void *
wbudget_alloc(struct wbudget *b, size_t len)
{
	void *buf = malloc(len ? len : 1);

	if (!buf) {
		log_error("receiver: out of memory for a write buffer of %zu bytes", len);
		if (b)
			wbudget_give_back(b, len);
	}
	return buf;
}

void *
wbudget_get(struct wbudget *b, size_t len)
{
	if (b) {
		if (len > b->total) {
			log_error("receiver: a write of %zu bytes exceeds write_buffer_total", len);
			return NULL;
		}
		pthread_mutex_lock(&b->mu);
		if (b->used + len > b->total)
			wbudget_note_wait(b);
		while (b->used + len > b->total)
			pthread_cond_wait(&b->cv, &b->mu);
		b->used += len;
		pthread_mutex_unlock(&b->mu);
	}
	return wbudget_alloc(b, len);
}

void *
wbudget_tryget(struct wbudget *b, size_t len)
{
	if (b) {
		bool room;

		pthread_mutex_lock(&b->mu);
		room = len <= b->total && b->used + len <= b->total;
		if (room)
			b->used += len;
		pthread_mutex_unlock(&b->mu);
		if (!room)
			return NULL;
	}
	return wbudget_alloc(b, len);
}

void
wbudget_put(struct wbudget *b, void *buf, size_t len)
{
	if (!buf)
		return;
	free(buf);
	if (b)
		wbudget_give_back(b, len);
}

void
wbudget_stats(struct wbudget *b, uint64_t *used, uint64_t *waits)
{
	pthread_mutex_lock(&b->mu);
	*used = b->used;
	*waits = b->waits;
	pthread_mutex_unlock(&b->mu);
}
