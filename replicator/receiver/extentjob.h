/* An EXTENT of a point as a job for a worker thread (issue 17): the frame's
 * payload is copied in on the loop, decompressed and its checksum verified
 * on a worker, and the loop writes the plaintext to the store in arrival
 * order (reorder.h). The jobs and their buffers come from one cache of
 * the receiver, bounded, so no extent allocates a MiB in steady state.
 * A compressed extent is decompressed straight into a write buffer of the
 * store's budget when it has room (store_wbuf_try), which the loop hands
 * to the store as it is (store_point_write_owned): no copy of the
 * plaintext on the loop. */
#ifndef NESTOR_RECEIVER_EXTENTJOB_H
#define NESTOR_RECEIVER_EXTENTJOB_H

#include <stddef.h>
#include <stdint.h>

struct extentjob;
struct store;
struct proto_extent;
struct zdecomp;

/* What the worker found. */
enum extentjob_verdict {
	EXTENTJOB_OK = 0,
	EXTENTJOB_UNDECODABLE = 1, /* the zstd frame did not give length bytes */
	EXTENTJOB_MISMATCH = 2,    /* the plaintext's XXH3-64 is not the checksum */
};

/* Decompress (into buf, e->length bytes, when e is ZSTD) and verify the
 * checksum of a DATA extent: *plain is e's plaintext (e->data or buf).
 * Any thread; zd is the caller's. A zero or discard extent is OK. */
enum extentjob_verdict extentjob_verify(const struct proto_extent *e, struct zdecomp *zd,
					uint8_t *buf, const void **plain);

/* Make j the job of e (its payload copied: e may go once this returns),
 * numbered seq, for owner (the caller's, handed back by extentjob_owner).
 * A ZSTD extent's plaintext goes to a write buffer of st (borrowed, must
 * outlive the job; NULL = none) when its budget has room, else to the
 * job's own. Buffers are kept between loads and grow as needed. 0 / -1
 * (out of memory, logged). */
int extentjob_load(struct extentjob *j, const struct proto_extent *e, uint64_t seq,
		   void *owner, struct store *st);
/* Run it (a workpool_fn): the worker thread's own decompressor, created
 * on its first job and freed when the thread ends. */
void extentjob_run(void *job);
/* Run it on the calling thread with zd (no pool, or its queue full). */
void extentjob_run_with(struct extentjob *j, struct zdecomp *zd);
/* After a run: the verdict, the extent (its data the job's copy) and its
 * plaintext (length bytes; valid while the job is). */
enum extentjob_verdict extentjob_verdict(const struct extentjob *j);
const struct proto_extent *extentjob_extent(const struct extentjob *j);
const void *extentjob_plain(const struct extentjob *j);
uint64_t extentjob_seq(const struct extentjob *j);
/* After a run: the plaintext's write buffer (store_wbuf_try of the st
 * given to extentjob_load, extentjob_extent(j)->length bytes), now the
 * caller's; NULL when the plaintext is in a buffer of the job (then
 * extentjob_plain). extentjob_plain is NULL once it was taken. */
void *extentjob_take_wbuf(struct extentjob *j);
/* The owner given to extentjob_load, NULL once disowned (its session went
 * away while the job ran: the done callback frees it). */
void *extentjob_owner(const struct extentjob *j);
void extentjob_disown(struct extentjob *j);
/* Back to the cache it came from, for the next extent (a write buffer not
 * taken goes back to its store's budget). */
void extentjob_release(struct extentjob *j);

/* The receiver's extent jobs: at most max of them exist, made on first
 * use and kept with their buffers for reuse (loop thread only). This bounds
 * the memory of the extents in flight over all sessions together. */
struct extentcache;
/* NULL when out of memory (logged). */
struct extentcache *extentcache_new(unsigned max);
/* A spare job, or a new one while fewer than max exist; NULL when max are
 * out (or out of memory, logged). */
struct extentjob *extentcache_get(struct extentcache *c);
/* Frees the cache and its jobs; every job must have been released. NULL
 * ok. */
void extentcache_free(struct extentcache *c);

#endif
