/* The parsed-catalog cache (catcache.h). */
#include "replicator/receiver/catcache.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


struct entry {
	char *gdir;          /* NULL = free slot */
	struct file_id snap; /* catalog.json */
	struct file_id log;  /* catalog.log */
	struct catalog cat;  /* frozen: a hit shares its points (catmem.h) */
	size_t bytes;        /* catalog_bytes(&cat) when stored */
	uint64_t used;       /* LRU clock */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry cache[CATCACHE_MAX_ENTRIES];
static size_t cache_bytes;
static uint64_t cache_clock;
static uint64_t n_exact, n_tail, n_miss;

static void
entry_drop(struct entry *e)
{
	cache_bytes -= e->bytes;
	free(e->gdir);
	catalog_free(&e->cat);
	memset(e, 0, sizeof(*e));
}

static struct entry *
entry_find(const char *gdir)
{
	for (size_t i = 0; i < CATCACHE_MAX_ENTRIES; i++)
		if (cache[i].gdir && strcmp(cache[i].gdir, gdir) == 0)
			return &cache[i];
	return NULL;
}

/* The journal grew by appends only since e was stored: same file, longer,
 * and e's copy ends at a whole record (a torn tail may be cut and
 * rewritten by the next writer). */
static bool
log_grew(const struct entry *e, const struct file_id *log)
{
	return e->log.dev == log->dev && e->log.ino == log->ino && e->log.ino != 0 &&
	       log->size > e->log.size && e->cat.log_end == e->cat.log_size &&
	       (uint64_t)e->log.size == e->cat.log_size;
}

enum catcache_hit
catcache_get(const char *gdir, const struct file_id *snap, const struct file_id *log,
	     struct catalog *cat)
{
	enum catcache_hit hit = CATCACHE_MISS;
	struct entry *e;

	memset(cat, 0, sizeof(*cat));
	pthread_mutex_lock(&cache_lock);
	e = entry_find(gdir);
	if (e && file_id_same(&e->snap, snap)) {
		if (file_id_same(&e->log, log))
			hit = CATCACHE_EXACT;
		else if (log_grew(e, log))
			hit = CATCACHE_TAIL;
	}
	if (hit != CATCACHE_MISS) {
		if (catalog_share(cat, &e->cat) < 0)
			hit = CATCACHE_MISS;
		e->used = ++cache_clock;
	}
	n_exact += hit == CATCACHE_EXACT;
	n_tail += hit == CATCACHE_TAIL;
	n_miss += hit == CATCACHE_MISS;
	pthread_mutex_unlock(&cache_lock);
	return hit;
}

/* A slot for gdir: its own, a free one, or the least recently used. */
static struct entry *
entry_slot(const char *gdir)
{
	struct entry *e = entry_find(gdir), *lru = NULL;

	if (e)
		return e;
	for (size_t i = 0; i < CATCACHE_MAX_ENTRIES; i++) {
		if (!cache[i].gdir)
			return &cache[i];
		if (!lru || cache[i].used < lru->used)
			lru = &cache[i];
	}
	return lru;
}

/* Evict least recently used entries other than keep until need more
 * bytes fit. */
static bool
make_room(size_t need, const struct entry *keep)
{
	while (cache_bytes + need > CATCACHE_MAX_BYTES) {
		struct entry *lru = NULL;

		for (size_t i = 0; i < CATCACHE_MAX_ENTRIES; i++)
			if (cache[i].gdir && &cache[i] != keep &&
			    (!lru || cache[i].used < lru->used))
				lru = &cache[i];
		if (!lru)
			return false;
		entry_drop(lru);
	}
	return true;
}

void
catcache_put(const char *gdir, const struct file_id *snap, const struct file_id *log,
	     const struct catalog *cat)
{
	struct catalog copy;
	struct entry *e;
	size_t bytes = catalog_bytes(cat);
	char *name;

	if (bytes > CATCACHE_MAX_BYTES || strlen(gdir) >= PATH_MAX)
		return;
	if (catalog_share(&copy, cat) < 0)
		return;
	name = strdup(gdir);
	if (!name) {
		catalog_free(&copy);
		return;
	}
	pthread_mutex_lock(&cache_lock);
	e = entry_slot(gdir);
	if (e->gdir)
		entry_drop(e);
	if (!make_room(bytes, e)) {
		pthread_mutex_unlock(&cache_lock);
		free(name);
		catalog_free(&copy);
		return;
	}
	e->gdir = name;
	e->snap = *snap;
	e->log = *log;
	e->cat = copy;
	e->bytes = bytes;
	e->used = ++cache_clock;
	cache_bytes += bytes;
	pthread_mutex_unlock(&cache_lock);
}

void
catcache_stats(struct catcache_stats *out)
{
	pthread_mutex_lock(&cache_lock);
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < CATCACHE_MAX_ENTRIES; i++)
		out->entries += cache[i].gdir != NULL;
	out->bytes = cache_bytes;
	out->exact = n_exact;
	out->tail = n_tail;
	out->miss = n_miss;
	pthread_mutex_unlock(&cache_lock);
}

void
catcache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < CATCACHE_MAX_ENTRIES; i++)
		if (cache[i].gdir)
			entry_drop(&cache[i]);
	n_exact = n_tail = n_miss = 0;
	pthread_mutex_unlock(&cache_lock);
}
