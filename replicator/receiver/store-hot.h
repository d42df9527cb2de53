/* Which disks of a group the group's last point wrote, so the next
 * point's begin can start their writers early (issue 17: a qemu-nbd
 * started at the first write held that write ~0.1 s per point). The
 * memory is this process's and only a hint: a wrong answer costs a
 * process started for nothing, or one started late. Thread-safe.
 * Internal to the store. */
#ifndef NESTOR_RECEIVER_STORE_HOT_H
#define NESTOR_RECEIVER_STORE_HOT_H

#include <stdbool.h>

struct store_hot;

/* NULL when out of memory (logged). */
struct store_hot *store_hot_new(void);
/* NULL ok. */
void store_hot_free(struct store_hot *h);
/* Remember whether the last point of group wrote disk. */
void store_hot_set(struct store_hot *h, const char *group, const char *disk, bool written);
/* Whether it did, as far as this process knows (false when unknown). */
bool store_hot_get(struct store_hot *h, const char *group, const char *disk);

#endif
