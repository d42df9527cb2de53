/* Strays of a group and the store's memory of which groups were swept
 * clean of them (store-sweep.h). */
#include "replicator/receiver/store-sweep.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/strfmt.h"
#include "replicator/receiver/catalog.h"
#include "replicator/receiver/store-backend.h"
#include "replicator/receiver/store-chain.h"
#include "replicator/receiver/store-sums.h"

struct sweep_group {
	struct sweep_group *next;
	bool clean; /* swept in full, no failure since */
	size_t since; /* begins since that sweep */
	char name[STORE_NAME_MAX + 1];
};

struct store_sweep {
	pthread_mutex_t mu;
	struct sweep_group *groups;
};

struct store_sweep *
store_sweep_new(void)
{
	struct store_sweep *s = calloc(1, sizeof(*s));

	if (!s) {
		log_error("store: out of memory");
		return NULL;
	}
	pthread_mutex_init(&s->mu, NULL);
	return s;
}

void
store_sweep_free(struct store_sweep *s)
{
	if (!s)
		return;
	for (struct sweep_group *g = s->groups, *next; g; g = next) {
		next = g->next;
		free(g);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Under mu. NULL when absent and not made (create false, or no memory:
 * callers then sweep, which is always safe). */
static struct sweep_group *
find(struct store_sweep *s, const char *group, bool create)
{
	struct sweep_group *g;

	for (g = s->groups; g; g = g->next)
		if (strcmp(g->name, group) == 0)
			return g;
	if (!create || (g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	snprintf(g->name, sizeof(g->name), "%s", group);
	g->next = s->groups;
	s->groups = g;
	return g;
}

bool
store_sweep_due(struct store_sweep *s, const char *group, size_t npoints)
{
	size_t period = npoints / 4 > STORE_SWEEP_PERIOD_MIN ? npoints / 4
							     : STORE_SWEEP_PERIOD_MIN;
	struct sweep_group *g;
	bool due;

	pthread_mutex_lock(&s->mu);
	g = find(s, group, false);
	due = !g || !g->clean || ++g->since >= period;
	pthread_mutex_unlock(&s->mu);
	return due;
}

void
store_sweep_done(struct store_sweep *s, const char *group)
{
	struct sweep_group *g;

	pthread_mutex_lock(&s->mu);
	g = find(s, group, true);
	if (g) {
		g->clean = true;
		g->since = 0;
	}
	pthread_mutex_unlock(&s->mu);
}

void
store_sweep_dirty(struct store_sweep *s, const char *group)
{
	struct sweep_group *g;

	pthread_mutex_lock(&s->mu);
	g = find(s, group, false);
	if (g)
		g->clean = false;
	pthread_mutex_unlock(&s->mu);
}

/* Under the chain lock: the settle thread does not hold the group's, and a
 * temp file of its checksum merge or of its rebuilt file is not a crash's
 * leftover while it runs (store-chain.h). */
int
store_sweep_full(struct store *st, const char *group, const char *gdir,
		 const struct catalog *cat, uint64_t keep_id)
{
	static const char *const tmps[] = { "catalog.json.tmp", "pending.json.tmp" };
	struct store_where w = { group, gdir, 0 };
	int lock = store_chain_lock(gdir), rc = -1;

	if (lock < 0 || st->be->ops->prune(st->be, &w, cat, keep_id) < 0)
		goto out;
	for (size_t i = 0; i < sizeof(tmps) / sizeof(tmps[0]); i++) {
		char *path = strfmt("%s/%s", gdir, tmps[i]);
		int r = path ? store_unlink(path) : -1;

		free(path);
		if (r < 0)
			goto out;
	}
	if (store_sums_prune(gdir, cat, keep_id) < 0)
		goto out;
	rc = store_remove_stray_meta(gdir, cat, keep_id);
	if (rc == 0)
		store_sweep_done(st->sweep, group);
out:
	store_chain_unlock(lock);
	return rc;
}

int
store_sweep_begin(struct store *st, const char *group, const char *gdir,
		  const struct catalog *cat)
{
	char *path = strfmt("%s/pending.json", gdir);
	bool left = !path || access(path, F_OK) == 0 || errno != ENOENT;

	free(path);
	/* pending.json goes first so it never names files that are gone. */
	if (pending_remove(gdir) < 0)
		return -1;
	if (!left && !store_sweep_due(st->sweep, group, cat->n))
		return 0;
	return store_sweep_full(st, group, gdir, cat, 0);
}
