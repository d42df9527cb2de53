/* Strays of a group (files of points absent from its catalog, temp files
 * of interrupted atomic writes), and when a begin must look at every file
 * of the group for them (a full sweep: a read of every point's directory,
 * O(points)) and when it need not (issue 17: at 10,000 points the sweep
 * was most of an incremental's commit). The memory of swept groups is
 * this process's; thread-safe. Internal to the store. */
#ifndef NESTOR_RECEIVER_STORE_SWEEP_H
#define NESTOR_RECEIVER_STORE_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct catalog;
struct store;

/* Begins of a group without a full sweep, at most max(this, points / 4):
 * what a failure the store could not see (a removal's file left behind,
 * another process's crash) costs in space until it is swept, amortised
 * like the catalog's compaction (catlog.h). */
#define STORE_SWEEP_PERIOD_MIN 256

struct store_sweep;

/* NULL when out of memory (logged). */
struct store_sweep *store_sweep_new(void);
/* NULL ok. */
void store_sweep_free(struct store_sweep *s);
/* A begin of group that starts a point afresh: true when it must sweep in
 * full (the group's first in this process, a failure since, or the period
 * is over; also when out of memory). Counts the begin. */
bool store_sweep_due(struct store_sweep *s, const char *group, size_t npoints);
/* A full sweep of group succeeded. */
void store_sweep_done(struct store_sweep *s, const char *group);
/* Something may have left strays in group: its next begin sweeps in full. */
void store_sweep_dirty(struct store_sweep *s, const char *group);

/* Remove every stray of group (in gdir, listed in cat) but the files of
 * keep_id (a pending point being resumed; 0 none), under the chain lock.
 * The caller holds the group's lock. 0 / -1 (logged). */
int store_sweep_full(struct store *st, const char *group, const char *gdir,
		     const struct catalog *cat, uint64_t keep_id);
/* A point of group starts afresh: pending.json is removed, then the strays
 * in full when a pending point was left (its files are strays now) or the
 * sweep is due; otherwise none can be there. 0 / -1 (logged). */
int store_sweep_begin(struct store *st, const char *group, const char *gdir,
		      const struct catalog *cat);

#endif
