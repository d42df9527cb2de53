/* The local backend's physical chains (issue 17): which file a point's
 * qcow2 file backs on, read from its header (the only truth: nothing is
 * cached), the settling of a committed point onto its skip ancestor
 * (chain.h) and the children a removal must rebase. Internal to the store;
 * docs/architecture.md, "Chain layout". */
#ifndef NESTOR_RECEIVER_STORE_CHAIN_H
#define NESTOR_RECEIVER_STORE_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "replicator/receiver/store-backend.h"

/* The backing file name a qcow2 file's header holds, into name (cap bytes,
 * NUL-terminated): 1 it has one, 0 none, -1 unreadable or not a qcow2 file
 * (logged). */
int store_chain_backing(const char *path, char *name, size_t cap);

/* The point a backing name names ("<id>.qcow2" beside it), 0 for anything
 * else (the root of a target store's chain). */
uint64_t store_chain_name_id(const char *name);

/* The physical chain of point id in directory dir (disks/<disk>): id
 * itself, the point its file backs on, and so on; at most cap ids into
 * out. *ext: the last file backs on something that is not a point. 0 / -1
 * (logged; a chain longer than cap is an error). */
int store_chain_walk(const char *dir, uint64_t id, uint64_t *out, size_t cap, size_t *n,
		     bool *ext);

/* Blocking flock of <gdir>/chain.lock: a settle's swap and a removal's
 * rebases exclude each other, also across processes. fd or -1 (logged);
 * store_chain_unlock(-1) is a no-op. */
int store_chain_lock(const char *gdir);
void store_chain_unlock(int fd);

/* The local backend's unchain (store-backend.h): per disk, the points
 * whose files back on victim are rebased in qemu-img's safe mode (content
 * unchanged) onto what chain_adopt says; the ones other than child into
 * kids. */
int store_chain_unchain(struct store_backend *be, const struct store_where *w,
			const struct catalog *cat, const struct store_point_info *victim,
			const struct store_point_info *child, uint64_t *kids, size_t *nkids);

/* The local backend's kids (store-backend.h): the points other than child
 * whose files back on victim, from the headers, nothing changed. */
int store_chain_kids(struct store_backend *be, const struct store_where *w,
		     const struct catalog *cat, const struct store_point_info *victim,
		     const struct store_point_info *child, uint64_t *kids, size_t *nkids);

/* Settle committed point pi of the catalog cat: each disk's file rebuilt
 * over its skip ancestor (copy, safe rebase, fsync, rename, fsync dir),
 * its checksums merged with those of the points it absorbed. Content never
 * changes. 1 settled (or nothing to do), 0 left as it is (in use, a bad
 * scrub verdict on the way, changed meanwhile: logged), -1 (logged). */
int store_chain_settle(struct store_backend *be, const struct store_where *w,
		       const struct catalog *cat, const struct store_point_info *pi);

/* Points of cat newer than victim whose file of disk backs on victim (ids
 * increasing) into kids (at most cap). 0 / -1 (logged). */
int store_chain_children(const struct store_where *w, const struct catalog *cat,
			 const char *disk, uint64_t victim, uint64_t *kids, size_t cap,
			 size_t *n);

#endif
