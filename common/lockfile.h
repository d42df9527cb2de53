/* Lock files: one open, flock and message for every place that keeps one
 * writer at a time (a group's store, its planned failover, a scrub, a
 * drill run...). The lock is the open file description's: held until the
 * fd is closed, and two opens in one process exclude each other too. */
#ifndef NESTOR_COMMON_LOCKFILE_H
#define NESTOR_COMMON_LOCKFILE_H

#include <stdbool.h>
#include <sys/types.h>

/* lockfile_take without waiting found the lock taken by someone else. */
#define LOCKFILE_HELD (-2)

/* Open path (created with mode if missing; mode 0: it must exist and is
 * opened read-only, which a directory can be) and take its exclusive
 * flock. blocking: wait for it (signals do not end the wait); otherwise a
 * lock held elsewhere is LOCKFILE_HELD with errno EWOULDBLOCK, not logged
 * (the caller says what holds it). The fd is the caller's, to close with
 * lockfile_release; -1 on any other failure, logged once as "CTX: open
 * PATH: ..." or "CTX: flock PATH: ...", CTX formatted from ctxfmt and
 * what follows it (the object: "group %s"). */
int lockfile_take(const char *path, mode_t mode, bool blocking, const char *ctxfmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Close fd, dropping its lock; -1 is a no-op. */
void lockfile_release(int fd);

/* Does anyone hold path's lock? Probed with a shared non-blocking flock,
 * released at once. 1 held, 0 free or path missing, -1 error (logged as
 * above). */
int lockfile_held(const char *path, const char *ctxfmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
