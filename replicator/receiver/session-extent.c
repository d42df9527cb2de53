/* A point's extents, disks done and checkpoints as a session receives them
 * (session-int.h): every extent is checked (range, quota, checksum) before
 * a byte of it is written. With a pool, the checksum and decompression run
 * on workers, at most extents_in_flight per session, and the store gets the
 * extents in arrival order (reorder.h); any other message waits until every
 * earlier extent is written. */
#include <errno.h>
#include <stdio.h>

#include "common/log.h"
#include "common/workpool.h"
#include "replicator/config.h"
#include "replicator/receiver/extentjob.h"
#include "replicator/receiver/session-int.h"
#include "replicator/receiver/spacemsg.h"
#include "replicator/receiver/store.h"

/* What arrived is checked before anything is decoded: the disk is open,
 * the range inside it, the data within the group's quota. */
static int
extent_check(struct session *s, const struct proto_extent *e)
{
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
	if (e->kind == PROTO_KIND_DATA && !limits_point_grow(&s->limits, s->group, e->length)) {
		session_error(s, PROTO_ERR_STORE, "group %s is over its quota of %llu bytes",
			      s->group, (unsigned long long)s->limits.lim.quota);
		return -1;
	}
	return 0;
}

/* A verdict other than OK: nothing of e is written, the session ends. */
static int
extent_refuse(struct session *s, const struct proto_extent *e, enum extentjob_verdict v)
{
	if (v == EXTENTJOB_UNDECODABLE) {
		log_error("group %s point %llu: undecodable extent at %llu",
			  s->group, (unsigned long long)s->point_id,
			  (unsigned long long)e->offset);
		session_error(s, PROTO_ERR_CHECKSUM, "extent at %llu does not decompress",
			      (unsigned long long)e->offset);
	} else {
		log_error("group %s point %llu disk %u: checksum mismatch at %llu+%llu, nothing written",
			  s->group, (unsigned long long)s->point_id, e->disk,
			  (unsigned long long)e->offset, (unsigned long long)e->length);
		session_error(s, PROTO_ERR_CHECKSUM, "checksum mismatch at offset %llu",
			      (unsigned long long)e->offset);
	}
	return -1;
}

/* Write a verified extent (plain: its plaintext, or wbuf: a write buffer
 * of the store holding it, the store's from here on) and checkpoint every
 * checkpoint_interval bytes: the store sees the extents in arrival order. */
static int
extent_apply(struct session *s, const struct proto_extent *e, const void *plain, void *wbuf)
{
	struct session_env *env = s->env;
	char full[512];
	int err = STORE_ERR_INTERNAL;
	int r;

	if (wbuf)
		r = store_point_write_owned(s->point, e->disk, e->offset, wbuf,
					    (size_t)e->length, e->checksum, &err);
	else if (e->kind == PROTO_KIND_DATA)
		r = store_point_write_sum(s->point, e->disk, e->offset, plain,
					  (size_t)e->length, e->checksum, &err);
	else
		r = store_point_zero(s->point, e->disk, e->offset, e->length, &err);
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


/* Verified on a worker: the verdict, then the write. The job goes back to
 * the cache either way. */
static int
extent_apply_job(void *arg, void *item)
{
	struct session *s = arg;
	struct extentjob *j = item;
	enum extentjob_verdict v = extentjob_verdict(j);
	int rc = v == EXTENTJOB_OK ? extent_apply(s, extentjob_extent(j), extentjob_plain(j),
						  extentjob_take_wbuf(j))
				   : extent_refuse(s, extentjob_extent(j), v);

	extentjob_release(j);
	return rc;
}

static void
extent_drop(void *arg, void *item, bool finished)
{
	(void)arg;
	if (finished)
		extentjob_release(item);
	else
		extentjob_disown(item); /* its done callback releases it */
}

/* After a failure or when the session goes: the extents not written are
 * dropped, those still on a worker disowned. */
void
session_extents_abort(struct session *s)
{
	reorder_clear(&s->xring, extent_drop, NULL);
	s->xwait = XWAIT_NONE;
}

/* Write every verified extent at the head of the ring. -1: the session
 * failed (told), the rest dropped. */
static int
extent_flush(struct session *s)
{
	if (reorder_apply(&s->xring, extent_apply_job, s) >= 0)
		return 0;
	s->xfailed = true;
	session_extents_abort(s);
	return -1;
}

/* On the loop thread, once a worker verified an extent. */
static void
extent_done(void *arg, int cancelled)
{
	struct extentjob *j = arg;
	struct session *s = extentjob_owner(j);

	if (!s) {
		extentjob_release(j);
		return;
	}
	(void)reorder_finish(&s->xring, extentjob_seq(j));
	if (cancelled) {
		s->xfailed = true;
		session_extents_abort(s);
		session_error(s, PROTO_ERR_INTERNAL, "the receiver is stopping");
		return;
	}
	if (extent_flush(s) < 0)
		return;
	/* A session paused for a slot, or for every extent before a message
	 * that waits for them, is read again. */
	if ((s->xwait == XWAIT_SLOT && !reorder_full(&s->xring)) ||
	    (s->xwait == XWAIT_DRAIN && reorder_count(&s->xring) == 0)) {
		s->xwait = XWAIT_NONE;
		s->io->resume(s->io_arg);
	}
}

/* The extent to a worker in job j; with the pool's queue full it is
 * verified here rather than refused (its order is the ring's either way). */
static int
extent_submit(struct session *s, const struct proto_extent *e, struct extentjob *j)
{
	struct session_env *env = s->env;
	uint64_t seq = s->xring.tail;

	if (extentjob_load(j, e, seq, s, env->store) < 0) {
		extentjob_release(j);
		session_error(s, PROTO_ERR_INTERNAL, "out of memory");
		return -1;
	}
	(void)reorder_push(&s->xring, j);
	if (e->kind != PROTO_KIND_DATA) {
		extentjob_run_with(j, NULL);
		(void)reorder_finish(&s->xring, seq);
	} else if (workpool_submit(env->pool, extentjob_run, extent_done, j) < 0) {
		extentjob_run_with(j, env->zd);
		(void)reorder_finish(&s->xring, seq);
	}
	if (extent_flush(s) < 0)
		return -1;
	if (reorder_full(&s->xring)) {
		s->xwait = XWAIT_SLOT;
		return 1;
	}
	return 0;
}

/* With a pool, the extent's job, or NULL: every job of the receiver is out
 * (their number bounds the memory of all sessions' extents in flight). */
static struct extentjob *
extent_job(struct session *s)
{
	if (!s->env->pool)
		return NULL;
	if (s->xring.cap == 0)
		reorder_init(&s->xring, (unsigned)s->env->cfg->extents_in_flight);
	return extentcache_get(s->env->xcache);
}

/* With nothing of ours in flight, an extent is verified here, on the loop,
 * when that costs less than its copy and hand-off to a worker (no zstd: a
 * hash of about 0.1 ms a MiB, or no data at all), or when the workers are
 * taken and as many jobs wait (a flood of hash queries): it must not queue
 * behind them. */
static bool
extent_here(struct session *s, const struct proto_extent *e)
{
	struct workpool *wp = s->env->pool;

	if (!wp || reorder_count(&s->xring) > 0)
		return !wp;
	return e->comp != PROTO_COMP_ZSTD || workpool_busy(wp) >= 2 * (size_t)workpool_workers(wp);
}

int
session_on_extent(struct session *s, const struct proto_extent *e)
{
	struct extentjob *j;
	const void *plain;
	void *wbuf;
	enum extentjob_verdict v;

	if (s->xfailed)
		return -1;
	j = extent_here(s, e) ? NULL : extent_job(s);
	if (!j && reorder_count(&s->xring) > 0) {
		/* No job left and extents of ours in flight: this one waits
		 * for them (not taken yet, so checked once, when it is). */
		s->xwait = XWAIT_DRAIN;
		return 2;
	}
	if (extent_check(s, e) < 0) {
		if (j)
			extentjob_release(j);
		return -1;
	}
	if (j)
		return extent_submit(s, e, j);
	/* No pool, a plain extent, or none of the jobs free and nothing of
	 * ours in flight: here, on the loop, as without a pool; a compressed
	 * one into a write buffer of the store when its budget has room. */
	wbuf = e->kind == PROTO_KIND_DATA && e->comp == PROTO_COMP_ZSTD ?
		       store_wbuf_try(s->env->store, (size_t)e->length) : NULL;
	v = extentjob_verify(e, s->env->zd, wbuf ? wbuf : s->env->plain, &plain);
	if (v == EXTENTJOB_OK)
		return extent_apply(s, e, plain, wbuf);
	store_wbuf_put(s->env->store, wbuf, (size_t)e->length);
	return extent_refuse(s, e, v);
}

int
session_extents_wait(struct session *s, const struct proto_msg *msg)
{
	if (msg->type == PROTO_EXTENT || reorder_count(&s->xring) == 0)
		return 0;
	s->xwait = XWAIT_DRAIN;
	return 2;
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
