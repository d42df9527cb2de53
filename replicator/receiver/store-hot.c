/* The disks each group's last point wrote (store-hot.h): a small set of
 * hashes of (group, disk). A collision or an entry pushed out only makes
 * the hint wrong, never the store. */
#include "replicator/receiver/store-hot.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"

/* Disks remembered, at most: beyond, the oldest entries go. */
#define STORE_HOT_MAX 1024

struct store_hot {
	pthread_mutex_t mu;
	uint64_t key[STORE_HOT_MAX]; /* 0: free */
	size_t next;                 /* the slot taken when none is free */
};

struct store_hot *
store_hot_new(void)
{
	struct store_hot *h = calloc(1, sizeof(*h));

	if (!h) {
		log_error("store: out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->mu, NULL);
	return h;
}

void
store_hot_free(struct store_hot *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->mu);
	free(h);
}

static uint64_t
hot_key(const char *group, const char *disk)
{
	uint64_t k = hash64(group, strlen(group)) ^
		     (hash64(disk, strlen(disk)) * 0x9e3779b97f4a7c15ull);

	return k ? k : 1;
}

/* The slot holding k, or STORE_HOT_MAX. Under mu. */
static size_t
hot_find(const struct store_hot *h, uint64_t k)
{
	for (size_t i = 0; i < STORE_HOT_MAX; i++)
		if (h->key[i] == k)
			return i;
	return STORE_HOT_MAX;
}

void
store_hot_set(struct store_hot *h, const char *group, const char *disk, bool written)
{
	uint64_t k;
	size_t i;

	if (!h)
		return;
	k = hot_key(group, disk);
	pthread_mutex_lock(&h->mu);
	i = hot_find(h, k);
	if (!written && i < STORE_HOT_MAX) {
		h->key[i] = 0;
	} else if (written && i == STORE_HOT_MAX) {
		i = hot_find(h, 0);
		if (i == STORE_HOT_MAX) {
			i = h->next;
			h->next = (h->next + 1) % STORE_HOT_MAX;
		}
		h->key[i] = k;
	}
	pthread_mutex_unlock(&h->mu);
}

bool
store_hot_get(struct store_hot *h, const char *group, const char *disk)
{
	uint64_t k;
	bool found;

	if (!h)
		return false;
	k = hot_key(group, disk);
	pthread_mutex_lock(&h->mu);
	found = hot_find(h, k) < STORE_HOT_MAX;
	pthread_mutex_unlock(&h->mu);
	return found;
}
