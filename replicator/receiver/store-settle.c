/* The store's settle thread (issue 17, "Many points stay cheap"): after a
 * commit, the group's committed points up to the newest but
 * CHAIN_SETTLE_LAG are settled on the shallow layout (store-chain.h), in
 * the background, one group at a time and at a low CPU priority, so that
 * no commit ever waits for it. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "replicator/receiver/catalog.h"
#include "replicator/receiver/chain.h"
#include "replicator/receiver/store-backend.h"

#define SETTLE_MAX_GROUPS 4096 /* groups waiting; more kicks wait for the next commit */
#define SETTLE_NICE 10         /* the thread's and its qemu-img's */

/* How far a group is settled (the thread's own). */
struct settle_mark {
	char group[STORE_NAME_MAX + 1];
	uint64_t done; /* 0: none yet (after a start) */
};

struct store_settler {
	struct store *st;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_bool stop;
	char (*queue)[STORE_NAME_MAX + 1]; /* groups kicked, each once */
	size_t nq;
	bool warned;
	struct settle_mark *marks; /* thread only */
	size_t nmarks;
};

int
store_settle_group(struct store *st, const char *group, uint64_t *done, const _Atomic bool *stop)
{
	struct catalog cat = { 0 };
	struct store_where w = { group, NULL, 0 };
	char *gdir = store_group_dir(st, group);
	size_t i, last;
	int rc = -1;

	if (!gdir || catalog_load(gdir, &cat) < 0)
		goto out;
	rc = 0;
	w.gdir = gdir;
	if (!st->be->ops->settle || cat.n <= CHAIN_SETTLE_LAG)
		goto out;
	last = cat.n - 1 - CHAIN_SETTLE_LAG;
	/* After a start every point is looked at: a settled one costs the
	 * header reads of its chain, one a crash or an older receiver left
	 * deep is settled now. */
	for (i = 0; *done && i <= last && cat.pts[i].id <= *done; i++)
		;
	/* Oldest first: a point is settled over its base's chain, settled
	 * before it. */
	for (; i <= last && !(stop && atomic_load(stop)); i++) {
		w.point = cat.pts[i].id;
		if (st->be->ops->settle(st->be, &w, &cat, &cat.pts[i]) < 0)
			rc = -1; /* logged; the layout only stays deeper there */
		*done = cat.pts[i].id;
	}
out:
	catalog_free(&cat);
	free(gdir);
	return rc;
}

static struct settle_mark *
settle_mark(struct store_settler *s, const char *group)
{
	struct settle_mark *m;

	for (size_t i = 0; i < s->nmarks; i++)
		if (strcmp(s->marks[i].group, group) == 0)
			return &s->marks[i];
	m = realloc(s->marks, (s->nmarks + 1) * sizeof(*m));
	if (!m) {
		log_error("store: out of memory");
		return NULL;
	}
	s->marks = m;
	m = &s->marks[s->nmarks++];
	snprintf(m->group, sizeof(m->group), "%s", group);
	m->done = 0;
	return m;
}

static void *
settle_main(void *arg)
{
	struct store_settler *s = arg;
	char group[STORE_NAME_MAX + 1];

	/* Per thread on Linux; the qemu-img it runs inherit it. */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), SETTLE_NICE) < 0)
		log_warn("store: settle thread keeps its priority: %m");
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct settle_mark *m;

		while (!atomic_load(&s->stop) && s->nq == 0)
			pthread_cond_wait(&s->cv, &s->mu);
		if (atomic_load(&s->stop))
			break;
		memcpy(group, s->queue[0], sizeof(group));
		memmove(s->queue, s->queue + 1, --s->nq * sizeof(*s->queue));
		pthread_mutex_unlock(&s->mu);
		m = settle_mark(s, group);
		if (m)
			(void)store_settle_group(s->st, group, &m->done, &s->stop);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

void
store_settle_kick(struct store *st, const char *group)
{
	struct store_settler *s = st->settler;
	size_t i;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nq && strcmp(s->queue[i], group) != 0; i++)
		;
	if (i == s->nq && s->nq < SETTLE_MAX_GROUPS) {
		snprintf(s->queue[s->nq++], sizeof(*s->queue), "%s", group);
		pthread_cond_signal(&s->cv);
	} else if (i == s->nq && !s->warned) {
		s->warned = true;
		log_warn("store: %d groups wait to be settled: group %s waits for its next "
			 "point", SETTLE_MAX_GROUPS, group);
	}
	pthread_mutex_unlock(&s->mu);
}

int
store_settle_start(struct store *st)
{
	struct store_settler *s;
	int e;

	if (!st->be->ops->settle || st->settler)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->queue = calloc(SETTLE_MAX_GROUPS, sizeof(*s->queue)))) {
		log_error("store: out of memory");
		free(s);
		return -1;
	}
	s->st = st;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	e = pthread_create(&s->thread, NULL, settle_main, s);
	if (e) {
		log_error("store: settle thread: %s", strerror(e));
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		free(s->queue);
		free(s);
		return -1;
	}
	st->settler = s;
	return 0;
}

void
store_settle_stop(struct store *st)
{
	struct store_settler *s = st->settler;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	atomic_store(&s->stop, true);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	/* A settle that runs finishes its point: its file swap is atomic. */
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s->queue);
	free(s->marks);
	free(s);
	st->settler = NULL;
}
