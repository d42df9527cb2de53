/* A point's extents, disks done and checkpoints as a session receives them
 * (session-int.h): every extent is checked (range, quota, checksum) before
 * a byte of it is written. */
#include <errno.h>
#include <stdio.h>

#include "common/hash.h"
#include "common/log.h"
#include "proto/compress.h"
#include "replicator/config.h"
#include "replicator/receiver/session-int.h"
#include "replicator/receiver/spacemsg.h"
#include "replicator/receiver/store.h"

int
session_on_extent(struct session *s, const struct proto_extent *e)
{
	struct session_env *env = s->env;
	const void *plain = e->data;
	char full[512];
	int err = STORE_ERR_INTERNAL;
	int r;

	if (e->disk >= s->ndisks || s->disk_done[e->disk]) {
		session_error(s, PROTO_ERR_PROTOCOL, "extent for disk %u not open",
				e->disk);
		return -1;
	}
	if (proto_extent_check(e, s->disk_size[e->disk]) != PROTO_OK) {
		log_error("group %s point %llu: extent %llu+%llu past end of disk %u",
			  s->group, (unsigned long long)s->point_id,
			  (unsigned long long)e->offset, (unsigned long long)e->length,
			  e->disk);
		session_error(s, PROTO_ERR_PROTOCOL, "extent past end of disk");
		return -1;
	}
	if (e->kind == PROTO_KIND_DATA) {
		if (!limits_point_grow(&s->limits, s->group, e->length)) {
			session_error(s, PROTO_ERR_STORE, "group %s is over its quota of %llu bytes",
				      s->group, (unsigned long long)s->limits.lim.quota);
			return -1;
		}
		if (e->comp == PROTO_COMP_ZSTD) {
			if (zdecomp_decompress(env->zd, e->data, e->data_len, env->plain,
					       (size_t)e->length) < 0) {
				log_error("group %s point %llu: undecodable extent at %llu",
					  s->group, (unsigned long long)s->point_id,
					  (unsigned long long)e->offset);
				session_error(s, PROTO_ERR_CHECKSUM,
						"extent at %llu does not decompress",
						(unsigned long long)e->offset);
				return -1;
			}
			plain = env->plain;
		}
		if (hash64(plain, (size_t)e->length) != e->checksum) {
			log_error("group %s point %llu disk %u: checksum mismatch at %llu+%llu, nothing written",
				  s->group, (unsigned long long)s->point_id, e->disk,
				  (unsigned long long)e->offset,
				  (unsigned long long)e->length);
			session_error(s, PROTO_ERR_CHECKSUM,
					"checksum mismatch at offset %llu",
					(unsigned long long)e->offset);
			return -1;
		}
		r = store_point_write_sum(s->point, e->disk, e->offset, plain,
					  (size_t)e->length, e->checksum, &err);
	} else {
		r = store_point_zero(s->point, e->disk, e->offset, e->length, &err);
	}
	if (r < 0) {
		session_error(s, session_store_err(err), "write at offset %llu of disk %u failed%s",
				(unsigned long long)e->offset, e->disk,
				errno == EMFILE ? ": too many qemu-nbd processes (max_nbd_total)" :
				errno == E2BIG ? ": too many extents for this disk" :
				spacemsg_full(env->cfg, env->store, s->group, errno, s->disk_size,
					      s->ndisks, full, sizeof(full)));
		return -1;
	}
	store_point_add_bytes(s->point, e->data_len);
	s->bytes += e->data_len;
	s->since_checkpoint += e->kind == PROTO_KIND_DATA ? e->length : 0;
	if (s->since_checkpoint >= env->cfg->checkpoint_bytes) {
		if (store_point_checkpoint(s->point, &err) < 0) {
			session_error(s, session_store_err(err), "cannot persist progress%s",
				      spacemsg_full(env->cfg, env->store, s->group, errno,
						    s->disk_size, s->ndisks, full, sizeof(full)));
			return -1;
		}
		s->since_checkpoint = 0;
	}
	return 0;
}

int
session_on_disk_done(struct session *s, const struct proto_disk_done *d)
{
	char full[512];
	int err = STORE_ERR_INTERNAL;

	if (d->disk < s->ndisks && s->disk_done[d->disk] == DISK_DONE_BEFORE) {
		/* Resumed: the disk was flushed to its end before pending.json
		 * said done, so there is nothing to flush; the agent lists every
		 * disk to its end and says so (issue 13, item 1). */
		s->disk_done[d->disk] = DISK_DONE_HERE;
		return 0;
	}
	if (d->disk >= s->ndisks || s->disk_done[d->disk]) {
		session_error(s, PROTO_ERR_PROTOCOL, "disk %u not open", d->disk);
		return -1;
	}
	if (store_point_disk_done(s->point, d->disk, &err) < 0) {
		session_error(s, session_store_err(err), "cannot flush disk %u%s", d->disk,
			      spacemsg_full(s->env->cfg, s->env->store, s->group, errno,
					    s->disk_size, s->ndisks, full, sizeof(full)));
		return -1;
	}
	s->disk_done[d->disk] = DISK_DONE_HERE;
	return 0;
}
