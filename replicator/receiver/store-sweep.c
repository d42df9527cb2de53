/* The store's memory of which groups were swept clean of strays
 * (store-sweep.h). */
#include "replicator/receiver/store-sweep.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "replicator/receiver/store-backend.h"

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
