/* A catalog's memory: the disk lists' arena and the shared bodies
 * (catmem.h). */
#include "replicator/receiver/catmem.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* A chunk holds the first list exactly (most groups never change their
 * disks); later ones grow, up to this many entries. */
#define CHUNK_MAX (4 * STORE_MAX_DISKS)

struct chunk {
	struct chunk *next;
	size_t used, cap;
	struct store_disk_info d[];
};

struct catdisks {
	atomic_size_t refs; /* first: obj_ref */
	pthread_mutex_t lock; /* chunks and bytes: adds from several holders */
	struct chunk *chunks; /* newest first; only the newest takes adds */
	size_t bytes;
};

struct catbody {
	atomic_size_t refs; /* first: obj_ref */
	struct store_point_info *pts;
	struct catdisks *dl;
};

/* Both objects start with their count of references (refs first). */
static void *
obj_ref(void *obj)
{
	if (obj)
		atomic_fetch_add((atomic_size_t *)obj, 1);
	return obj;
}

/* Drop one reference: true when it was the last (free obj). */
static bool
obj_unref_last(void *obj)
{
	return obj && atomic_fetch_sub((atomic_size_t *)obj, 1) == 1;
}

struct catdisks *
catdisks_new(void)
{
	struct catdisks *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	atomic_init(&a->refs, 1);
	pthread_mutex_init(&a->lock, NULL);
	return a;
}

struct catdisks *
catdisks_ref(struct catdisks *a)
{
	return obj_ref(a);
}

void
catdisks_unref(struct catdisks *a)
{
	if (!obj_unref_last(a))
		return;
	for (struct chunk *c = a->chunks, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	pthread_mutex_destroy(&a->lock);
	free(a);
}

const struct store_disk_info *
catdisks_add(struct catdisks *a, const struct store_disk_info *disks, size_t n)
{
	struct store_disk_info *at = NULL;
	struct chunk *c;

	if (n == 0 || n > STORE_MAX_DISKS)
		return NULL;
	pthread_mutex_lock(&a->lock);
	c = a->chunks;
	if (!c || c->cap - c->used < n) {
		size_t cap = c ? 2 * c->cap : n;

		cap = cap > CHUNK_MAX ? CHUNK_MAX : cap;
		cap = cap < n ? n : cap;

		c = malloc(sizeof(*c) + cap * sizeof(c->d[0]));
		if (!c)
			goto out;
		c->used = 0;
		c->cap = cap;
		c->next = a->chunks;
		a->chunks = c;
		a->bytes += sizeof(*c) + cap * sizeof(c->d[0]);
	}
	at = &c->d[c->used];
	memcpy(at, disks, n * sizeof(*at));
	c->used += n;
out:
	pthread_mutex_unlock(&a->lock);
	return at;
}

size_t
catdisks_bytes(const struct catdisks *a)
{
	size_t b;

	if (!a)
		return 0;
	pthread_mutex_lock((pthread_mutex_t *)&a->lock);
	b = a->bytes;
	pthread_mutex_unlock((pthread_mutex_t *)&a->lock);
	return b;
}

struct catbody *
catbody_new(struct store_point_info *pts, struct catdisks *dl)
{
	struct catbody *b = malloc(sizeof(*b));

	if (!b)
		return NULL;
	atomic_init(&b->refs, 1);
	b->pts = pts;
	b->dl = catdisks_ref(dl);
	return b;
}

struct catbody *
catbody_ref(struct catbody *b)
{
	return obj_ref(b);
}

void
catbody_unref(struct catbody *b)
{
	if (!obj_unref_last(b))
		return;
	free(b->pts);
	catdisks_unref(b->dl);
	free(b);
}

struct store_point_info *
catbody_points(const struct catbody *b)
{
	return b->pts;
}
