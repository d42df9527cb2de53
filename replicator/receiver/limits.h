/* The receiver's limits on what one session may make it do (issue 12,
 * section 3): a POINT_BEGIN checked against its group's limits before any
 * file or process exists, the group's quota while extents arrive, and the
 * memory one session may hold. Pure: no I/O, no allocation. */
#ifndef NESTOR_RECEIVER_LIMITS_H
#define NESTOR_RECEIVER_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replicator/config.h"

struct store;
struct store_begin;

/* Whether begin fits lim, the group's committed data taking `used` bytes.
 * 0, or -1 with the reason in why[cap] (for the ERROR frame and the log). */
int limits_check_begin(const struct group_limits *lim, const struct store_begin *begin,
		       uint64_t used, char *why, size_t cap);
/* Whether `more` bytes may be written on top of `used` (the group's data,
 * the point's so far included) without passing the quota (0 = none). */
bool limits_quota_allows(const struct group_limits *lim, uint64_t used, uint64_t more);

/* A point against its group's limits while it is received (plain data,
 * kept by the session). */
struct limits_point {
	struct group_limits lim;
	uint64_t used; /* the group's bytes: at begin, then counting what arrives */
};

/* At POINT_BEGIN, before anything of the point is created: the group's
 * limits from cfg, its committed bytes from the store. 0, or -1 with the
 * reason logged and in why[cap] and the wire code in *code. */
int limits_begin(const struct receiver_config *cfg, struct store *st,
		 const struct store_begin *begin, struct limits_point *lp, char *why,
		 size_t cap, uint32_t *code);
/* After the store began the point: the group's bytes now, a resumed
 * point's files included. 0 / -1 (logged). */
int limits_begun(struct store *st, const char *group, struct limits_point *lp);
/* len more bytes of data arrive for the point: true and counted, or false
 * (logged) when they would pass the quota. */
bool limits_point_grow(struct limits_point *lp, const char *group, uint64_t len);

/* What one session may hold in memory, in bytes. Busy: a maximal frame
 * being read, output up to output_max plus the frame that crossed it, the
 * store's write queue of a point, the TLS and session state. Idle: the
 * TLS and session state, empty buffers. */
uint64_t limits_session_busy(uint64_t output_max);
uint64_t limits_session_idle(void);
/* Memory of the receiver outside its sessions at its busiest: the
 * decompression target, and per worker thread a hash answer, one hash
 * query's read buffer, its decompressor and four extent jobs (each a copy
 * of a frame's payload and its plaintext; issue 17). */
uint64_t limits_shared(unsigned workers);

#endif
