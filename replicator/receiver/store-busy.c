/* The store's background work per group, and begins waiting for it
 * (store-busy.h). */
#include "replicator/receiver/store-busy.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "replicator/receiver/store-backend.h"

struct busy_group {
	struct busy_group *next;
	unsigned count; /* works running for it */
	char name[STORE_NAME_MAX + 1];
};

struct store_busy {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a group's count dropped to zero */
	struct busy_group *groups;
};

struct store_busy *
store_busy_new(void)
{
	struct store_busy *b = calloc(1, sizeof(*b));
	pthread_condattr_t ca;

	if (!b) {
		log_error("store: out of memory");
		return NULL;
	}
	pthread_mutex_init(&b->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cv, &ca);
	pthread_condattr_destroy(&ca);
	return b;
}

void
store_busy_free(struct store_busy *b)
{
	if (!b)
		return;
	for (struct busy_group *g = b->groups, *next; g; g = next) {
		next = g->next;
		free(g);
	}
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

static struct busy_group *
find(struct store_busy *b, const char *group)
{
	for (struct busy_group *g = b->groups; g; g = g->next)
		if (strcmp(g->name, group) == 0)
			return g;
	return NULL;
}

int
store_busy_enter(struct store_busy *b, const char *group)
{
	struct busy_group *g;
	int rc = 0;

	pthread_mutex_lock(&b->mu);
	g = find(b, group);
	if (!g && (g = calloc(1, sizeof(*g))) != NULL) {
		snprintf(g->name, sizeof(g->name), "%s", group);
		g->next = b->groups;
		b->groups = g;
	}
	if (g)
		g->count++;
	else
		rc = -1;
	pthread_mutex_unlock(&b->mu);
	if (rc < 0)
		log_error("store: out of memory");
	return rc;
}

void
store_busy_leave(struct store_busy *b, const char *group)
{
	struct busy_group **pp, *g;

	pthread_mutex_lock(&b->mu);
	for (pp = &b->groups; (g = *pp) != NULL; pp = &g->next) {
		if (strcmp(g->name, group) != 0)
			continue;
		if (--g->count == 0) {
			*pp = g->next;
			free(g);
			pthread_cond_broadcast(&b->cv);
		}
		break;
	}
	pthread_mutex_unlock(&b->mu);
}

int
store_busy_wait(struct store_busy *b, const char *group, uint64_t timeout_ns)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(timeout_ns / 1000000000u);
	until.tv_nsec += (long)(timeout_ns % 1000000000u);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&b->mu);
	while (find(b, group)) {
		if (pthread_cond_timedwait(&b->cv, &b->mu, &until) == ETIMEDOUT) {
			rc = find(b, group) ? -1 : 0;
			break;
		}
	}
	pthread_mutex_unlock(&b->mu);
	return rc;
}

/* ---- the store's side (store.h) ------------------------------------------- */

int
store_background_enter(struct store *st, const char *group)
{
	return store_busy_enter(st->busy, group);
}

void
store_background_leave(struct store *st, const char *group)
{
	store_busy_leave(st->busy, group);
}
