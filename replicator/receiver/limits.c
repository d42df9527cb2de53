/* The receiver's limits (limits.h): per-group checks of a POINT_BEGIN and
 * of the quota, and the memory figures of a session, computed here only. */
#include "replicator/receiver/limits.h"

#include <inttypes.h>
#include <stdio.h>

#include "common/log.h"
#include "proto/codec.h"
#include "proto/conn.h"
#include "replicator/config.h"
#include "replicator/receiver/store.h"

/* TLS (OpenSSL's record buffers and state, about 40 KiB measured), the
 * bufferevents, struct session and struct store_point (64 disks), rounded
 * up. */
#define LIMITS_SESSION_STATE (128u << 10)
/* One extent on a worker: its payload as it came and its plaintext. */
#define LIMITS_EXTENT_JOB ((uint64_t)PROTO_MAX_PAYLOAD + PROTO_MAX_EXTENT)
/* A zstd decompression context (ZSTD_sizeof_DCtx, about 95 KiB, rounded
 * up): extents are decoded in one shot, into their own buffer. */
#define LIMITS_ZDECOMP (128u << 10)

int
limits_check_begin(const struct group_limits *lim, const struct store_begin *b, uint64_t used,
		   char *why, size_t cap)
{
	if (b->ndisks > lim->max_disks) {
		snprintf(why, cap, "point of %zu disks, the group's limit is %" PRIu64 " (max_disks)",
			 b->ndisks, lim->max_disks);
		return -1;
	}
	for (size_t i = 0; i < b->ndisks && i < STORE_MAX_DISKS; i++) {
		if (b->disks[i].size > lim->max_disk_size) {
			snprintf(why, cap, "disk %s of %" PRIu64 " bytes, the group's limit is %" PRIu64
				 " (max_disk_size)", b->disks[i].name, b->disks[i].size,
				 lim->max_disk_size);
			return -1;
		}
	}
	if (lim->quota && used >= lim->quota) {
		snprintf(why, cap, "the group's store holds %" PRIu64 " bytes, its quota is %" PRIu64,
			 used, lim->quota);
		return -1;
	}
	return 0;
}

bool
limits_quota_allows(const struct group_limits *lim, uint64_t used, uint64_t more)
{
	uint64_t total;

	if (!lim->quota)
		return true;
	return !__builtin_add_overflow(used, more, &total) && total <= lim->quota;
}

int
limits_begin(const struct receiver_config *cfg, struct store *st, const struct store_begin *b,
	     struct limits_point *lp, char *why, size_t cap, uint32_t *code)
{
	uint64_t used = 0;

	receiver_config_limits(cfg, b->group, &lp->lim);
	lp->used = 0;
	*code = PROTO_ERR_STORE;
	if (lp->lim.quota && store_group_usage(st, b->group, true, &used) < 0) {
		snprintf(why, cap, "cannot measure the store of group %s", b->group);
		return -1;
	}
	if (limits_check_begin(&lp->lim, b, used, why, cap) < 0) {
		*code = lp->lim.quota && used >= lp->lim.quota ? PROTO_ERR_STORE : PROTO_ERR_CONFLICT;
		log_error("group %s: point %" PRIu64 " refused: %s", b->group, b->point_id, why);
		return -1;
	}
	return 0;
}

int
limits_begun(struct store *st, const char *group, struct limits_point *lp)
{
	if (!lp->lim.quota)
		return 0;
	return store_group_usage(st, group, false, &lp->used);
}

bool
limits_point_grow(struct limits_point *lp, const char *group, uint64_t len)
{
	if (!limits_quota_allows(&lp->lim, lp->used, len)) {
		log_error("group %s: quota of %" PRIu64 " bytes reached (%" PRIu64
			  " used, %" PRIu64 " more arriving): point refused", group,
			  lp->lim.quota, lp->used, len);
		return false;
	}
	lp->used += len;
	return true;
}

uint64_t
limits_session_busy(uint64_t output_max)
{
	/* Input: the buffer up to its high-water mark, and the contiguous copy
	 * of one frame the decoder may pull up. Output: up to output_max, then
	 * the frame that crossed it. */
	return 2 * (uint64_t)CONN_INPUT_MAX + output_max + PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD +
	       STORE_QUEUE_BYTES + LIMITS_SESSION_STATE;
}

uint64_t
limits_session_idle(void)
{
	return LIMITS_SESSION_STATE;
}

uint64_t
limits_shared(unsigned workers)
{
	/* Decompression target; per worker a hash answer, a hash query's read
	 * buffer, a decompressor and the extent jobs (session_env_set_pool
	 * makes four per worker, shared by all sessions). */
	return PROTO_MAX_EXTENT +
	       (uint64_t)workers * ((uint64_t)PROTO_MAX_HASHES * 8 + STORE_HASH_CHUNK +
				    LIMITS_ZDECOMP + 4 * LIMITS_EXTENT_JOB);
}
