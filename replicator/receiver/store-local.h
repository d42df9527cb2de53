/* The local backend (store-local.c) as a base for variants: the target
 * backend (store-target.c) is the same qcow2 chains with another root.
 * Internal to the store. */
#ifndef NESTOR_RECEIVER_STORE_LOCAL_H
#define NESTOR_RECEIVER_STORE_LOCAL_H

#include "replicator/receiver/store-backend.h"

/* The backing file of a disk created with no base point (the root of its
 * chain); strings borrowed from the backend. */
struct store_local_root {
	const char *path;   /* absolute */
	const char *format; /* "raw" or "qcow2" */
};

/* A local backend or a variant of it: embedded first in the variant's
 * struct, whose be.ops is store_local_ops() with its own name and free. */
struct store_local {
	struct store_backend be;
	/* The root of disk's chains: 1 with *out set, 0 none (a point with
	 * no base is an empty image), -1 refused (logged with ctx). NULL:
	 * always none (the plain local backend). */
	int (*root)(const struct store_local *l, const char *disk, const char *ctx,
		    struct store_local_root *out);
};

/* The local backend's ops table (static, never freed); its free() calls
 * free() on the backend. */
const struct store_backend_ops *store_local_ops(void);

#endif
