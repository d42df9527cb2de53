/* A disk image file's current contents as a one-disk struct snapshot
 * (snapshot/source.h) without change tracking: lists no extents, reads,
 * refuses a commit. What verify compares a point with. */
#ifndef NESTOR_AGENT_READONLY_H
#define NESTOR_AGENT_READONLY_H

struct snapshot;

/* Open path read-only (format "qcow2", "raw" or NULL = probe) as disk
 * `name`. Caller frees with snapshot_free. NULL on error (logged). */
struct snapshot *readonly_file_open(const char *name, const char *path, const char *format);

#endif
