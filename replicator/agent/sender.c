/* Sender: the extents of a snapshot out to the receiver in order. Worker
 * threads read, hash and compress slots ahead; the event loop sends them
 * while the output buffer has room and the bandwidth allows. In a resync
 * the whole disk is compared with the base point's block hashes. */
#include "replicator/agent/sender.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/fileutil.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/testhook.h"
#include "proto/codec.h"
#include "proto/compress.h"
#include "proto/conn.h"
#include "replicator/agent/agent.h"
#include "replicator/agent/channel.h"
#include "replicator/agent/pace.h"
#include "replicator/agent/zadapt.h"
#include "snapshot/source.h"

#define OUT_HIGH_WATER   (2u << 20)

/* Sender pipeline: extents read, hashed and compressed ahead by worker
 * threads, sent in order by the event loop. A sent slot's payloads stay
 * referenced by the connection's output buffer (no copy) until written
 * out: up to OUT_HIGH_WATER plus one slot of them, so two more slots keep
 * the workers ahead. Memory: POOL_SLOTS x ~2 MiB. */
#define POOL_SLOTS       6
#define POOL_MAX_WORKERS 4

enum slot_state { SL_FREE, SL_QUEUED, SL_BUSY, SL_READY };

/* One frame in the send order: an extent (read and encoded by a worker when
 * it is DATA) or a DISK_DONE marker. */
/* A run of one slot's bytes that goes out as one EXTENT frame: the worker
 * splits a DATA extent at ZERO_BLOCK granularity so zero blocks inside
 * changed data (new RBD objects, fresh qcow2 clusters) cost no payload. */
struct run {
	uint64_t off, len, checksum;
	uint8_t kind; /* PROTO_KIND_* */
	uint8_t comp;
	const uint8_t *data;
	size_t data_len;
};

#define ZERO_BLOCK (64u * 1024)
#define SLOT_RUNS  (PROTO_MAX_EXTENT / ZERO_BLOCK + 1)

struct slot {
	enum slot_state state;
	struct pool *p;
	unsigned refs; /* payloads of its frames the connection still holds */
	bool disk_done;
	bool failed;
	uint16_t disk;
	uint8_t kind; /* source kind until encoded */
	int level;    /* zstd level to encode with, 0 = plain */
	uint64_t off, len;
	struct run runs[SLOT_RUNS];
	unsigned nruns;
	uint8_t *buf, *cbuf;
	/* resync: the base point's hashes of this slot's blocks (rcount of
	 * them; blocks past rcount do not exist in the base and read as zeros) */
	bool resync;
	const uint64_t *rhash;
	uint32_t rcount;
};

struct pool;

struct worker {
	struct pool *p;
	pthread_t th;
	bool started;
	struct zcomp *zc;
	/* Already-compressed data (media, encrypted volumes) costs zstd the
	 * same CPU for nothing: after a run that did not compress, the next
	 * zskip runs go out plain; the back-off doubles while runs keep
	 * failing (up to ZSKIP_MAX) and resets on the first success. */
	unsigned zskip, zbackoff;
};

#define ZSKIP_MAX 16

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot slots[POOL_SLOTS];
	uint64_t head;      /* next sequence number to send */
	uint64_t tail;      /* next sequence number to fill */
	uint64_t next_work; /* next sequence number a worker looks at */
	bool stop;
	struct snapshot *snap;
	size_t cbuf_cap;
	int efd;            /* eventfd: a slot became READY, or free again */
	/* Payloads the connection holds (loop thread only). Freed with a
	 * reference outstanding, the pool is orphaned: the last release frees
	 * its memory. */
	unsigned refs;
	bool orphan;
	struct event *ev;
	size_t nworkers;
	struct worker w[POOL_MAX_WORKERS];
};
struct sender {
	struct sender_cfg cfg;
	struct agent_cycle_stats *st;
	struct pool *pool;
	bool halted;       /* failed, or everything sent: the events stop pumping */
	bool produced_all; /* every extent and DISK_DONE is in the pool */
	uint64_t resume_off[PROTO_MAX_DISKS];
	size_t cur_disk;
	bool have_ext;
	struct snap_extent ext; /* remainder of the current source extent */
	bool src_done;          /* resync: the source listed every extent of the disk */
	uint64_t pos;           /* resync: next offset of cur_disk to produce */
	/* resync: the base point's block hashes, one window per buffer; a
	 * window's buffer is refilled only when no slot uses it any more */
	uint64_t *rh[2];
	uint32_t rh_count[2];
	uint64_t rh_win[2];     /* window index + 1 held, 0 = none */
	size_t rh_disk[2];
	bool rh_partial[2];     /* more of the window is still being asked for */
	bool rh_waiting;
	uint64_t rh_expect;     /* offset of the answer awaited */
	struct pace *bw;        /* NULL = unlimited */
	struct zadapt *za;      /* NULL: every slot at cfg.compress_level */
	int hook_disk;          /* test hook: stop once this DISK_DONE is out, -1 none */
};
/* ---- sender pipeline ---- */

static const uint8_t zero_block[ZERO_BLOCK];

/* Worker side: read one DATA extent, split it into zero and data runs,
 * checksum and compress each data run. In a resync, blocks whose hash
 * equals the base point's are dropped (a ZERO slot is not even read). */
static void
slot_encode(struct pool *p, struct worker *w, struct slot *sl)
{
	size_t cused = 0;
	bool have_data = sl->kind == SNAP_DATA;

	sl->nruns = 0;
	if (have_data &&
	    snapshot_read(p->snap, sl->disk, sl->off, sl->buf, (size_t)sl->len) < 0) {
		sl->failed = true;
		return;
	}
	for (uint64_t pos = 0, i = 0; pos < sl->len; i++) {
		uint64_t blk = sl->len - pos < ZERO_BLOCK ? sl->len - pos : ZERO_BLOCK;
		bool zero = !have_data || buf_is_zero(sl->buf + pos, (size_t)blk);
		struct run *r = sl->nruns ? &sl->runs[sl->nruns - 1] : NULL;

		if (sl->resync) {
			uint64_t local = zero ? hash64(zero_block, (size_t)blk)
					      : hash64(sl->buf + pos, (size_t)blk);
			uint64_t remote = i < sl->rcount ? sl->rhash[i]
							  : hash64(zero_block, (size_t)blk);
			if (local == remote) {
				pos += blk;
				continue; /* the base holds it already */
			}
		}
		if (r && r->off + r->len == sl->off + pos && (r->kind == PROTO_KIND_ZERO) == zero) {
			r->len += blk;
		} else {
			r = &sl->runs[sl->nruns++];
			*r = (struct run){ .off = sl->off + pos, .len = blk,
					   .kind = zero ? PROTO_KIND_ZERO : PROTO_KIND_DATA };
		}
		pos += blk;
	}
	for (unsigned i = 0; i < sl->nruns; i++) {
		struct run *r = &sl->runs[i];
		const uint8_t *src = sl->buf + (r->off - sl->off);
		size_t clen = 0;

		if (r->kind != PROTO_KIND_DATA)
			continue;
		r->checksum = hash64(src, (size_t)r->len);
		r->comp = PROTO_COMP_NONE;
		r->data = src;
		r->data_len = (size_t)r->len;
		if (!w->zc || sl->level == 0)
			continue;
		if (w->zskip > 0) {
			w->zskip--;
			continue;
		}
		if (zcomp_set_level(w->zc, sl->level) == 0 &&
		    zcomp_compress(w->zc, src, (size_t)r->len, sl->cbuf + cused,
				   p->cbuf_cap - cused, &clen) == 0) {
			r->comp = PROTO_COMP_ZSTD;
			r->data = sl->cbuf + cused;
			r->data_len = clen;
			cused += clen;
			w->zbackoff = 0;
		} else {
			w->zbackoff = w->zbackoff ? w->zbackoff * 2 : 1;
			if (w->zbackoff > ZSKIP_MAX)
				w->zbackoff = ZSKIP_MAX;
			w->zskip = w->zbackoff;
		}
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->p;
	uint64_t one = 1;

	(void)prctl(PR_SET_NAME, "nestor-encode"); /* what perf and top show */
	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct slot *sl;

		/* Slots the loop already sent (ZERO, DISK_DONE) may be reused. */
		if (p->next_work < p->head)
			p->next_work = p->head;
		while (p->next_work < p->tail &&
		       p->slots[p->next_work % POOL_SLOTS].state != SL_QUEUED)
			p->next_work++;
		if (p->stop)
			break;
		if (p->next_work == p->tail) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		sl = &p->slots[p->next_work++ % POOL_SLOTS];
		sl->state = SL_BUSY;
		pthread_mutex_unlock(&p->mu);
		slot_encode(p, w, sl);
		pthread_mutex_lock(&p->mu);
		sl->state = SL_READY;
		/* Wakes the event loop; a full counter only means it is awake. */
		if (write(p->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn("agent: eventfd write: %m");
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void
pool_mem_free(struct pool *p)
{
	for (size_t i = 0; i < POOL_SLOTS; i++) {
		free(p->slots[i].buf);
		free(p->slots[i].cbuf);
	}
	free(p);
}

/* The connection wrote out (or dropped) one payload of slot arg. Once a
 * slot's last one is released it may be filled again: the eventfd wakes
 * the pump (not called from here: libevent is inside the output buffer). */
static void
slot_release(void *arg)
{
	struct slot *sl = arg;
	struct pool *p = sl->p;
	uint64_t one = 1;

	sl->refs--;
	p->refs--;
	if (p->orphan) {
		if (p->refs == 0)
			pool_mem_free(p);
		return;
	}
	if (sl->refs == 0 && write(p->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("agent: eventfd write: %m");
}

static void
pool_free(struct pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < p->nworkers; i++) {
		if (p->w[i].started)
			pthread_join(p->w[i].th, NULL);
		zcomp_free(p->w[i].zc);
	}
	if (p->ev)
		event_free(p->ev);
	if (p->efd >= 0)
		close(p->efd);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	if (p->refs > 0)
		p->orphan = true; /* slot_release frees the rest */
	else
		pool_mem_free(p);
}


static void
on_pool_ready(evutil_socket_t fd, short what, void *arg)
{
	struct sender *s = arg;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("agent: eventfd read: %m");
	if (!s->halted)
		sender_pump(s);
}

/* Workers: one per online CPU (the event loop thread does TLS), 1..max. */
static size_t
pool_nworkers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > POOL_MAX_WORKERS ? POOL_MAX_WORKERS : (size_t)n;
}

static struct pool *
pool_new(struct sender *s)
{
	struct pool *p = calloc(1, sizeof(*p)), *ret = NULL;

	if (!p) {
		log_error("agent: out of memory");
		return NULL;
	}
	p->efd = -1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->snap = s->cfg.snap;
	p->cbuf_cap = PROTO_MAX_EXTENT + PROTO_MAX_EXTENT / 64 + 1024;
	for (size_t i = 0; i < POOL_SLOTS; i++) {
		p->slots[i].p = p;
		p->slots[i].buf = malloc(PROTO_MAX_EXTENT);
		p->slots[i].cbuf = s->cfg.compress_level != 0 ? malloc(p->cbuf_cap) : NULL;
		if (!p->slots[i].buf || (s->cfg.compress_level != 0 && !p->slots[i].cbuf)) {
			log_error("agent: out of memory");
			goto out;
		}
	}
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0) {
		log_error("agent: eventfd: %m");
		goto out;
	}
	p->ev = event_new(channel_base(s->cfg.ch), p->efd, EV_READ | EV_PERSIST, on_pool_ready, s);
	if (!p->ev || event_add(p->ev, NULL) < 0) {
		log_error("agent: cannot watch the worker eventfd");
		goto out;
	}
	p->nworkers = pool_nworkers();
	for (size_t i = 0; i < p->nworkers; i++) {
		struct worker *w = &p->w[i];
		int r;

		w->p = p;
		if (s->cfg.compress_level != 0) {
			w->zc = zcomp_new(s->cfg.compress_level);
			if (!w->zc)
				goto out;
		}
		r = pthread_create(&w->th, NULL, worker_main, w);
		if (r != 0) {
			errno = r;
			log_error("agent: cannot start a sender thread: %m");
			goto out;
		}
		w->started = true;
	}
	ret = p;
	p = NULL;
out:
	pool_free(p);
	return ret;
}

#define RESYNC_WINDOW ((uint64_t)PROTO_MAX_HASHES * ZERO_BLOCK)

/* Blocks of window win of disk the resync compares (fewer in the last). */
static uint32_t
window_blocks(struct sender *s, size_t disk, uint64_t win)
{
	uint64_t size = snapshot_disk_size(s->cfg.snap, disk);
	uint64_t left = (size - win * RESYNC_WINDOW + ZERO_BLOCK - 1) / ZERO_BLOCK;

	return left < PROTO_MAX_HASHES ? (uint32_t)left : PROTO_MAX_HASHES;
}

/* Ask the receiver for the base point's hashes of window win of a disk,
 * from its block `from` on (a receiver answers at most its per-query bound
 * of bytes hashed and flags the answer to be asked again). */
static int
request_hashes(struct sender *s, size_t disk, uint64_t win, uint32_t from)
{
	uint64_t off = win * RESYNC_WINDOW + (uint64_t)from * ZERO_BLOCK;

	s->rh_waiting = true;
	s->rh_expect = off;
	return channel_hash_query(s->cfg.ch, snapshot_disk_name(s->cfg.snap, disk),
				  s->st->base_id, off, ZERO_BLOCK,
				  window_blocks(s, disk, win) - from);
}

int
sender_on_hashes(struct sender *s, const struct proto_hash_answer *a)
{
	uint64_t win = a->offset / RESYNC_WINDOW;
	unsigned b = (unsigned)(win % 2);
	uint32_t from = (uint32_t)((a->offset - win * RESYNC_WINDOW) / ZERO_BLOCK);

	if (!s->rh_waiting || a->block_size != ZERO_BLOCK || a->offset != s->rh_expect ||
	    a->point_id != s->st->base_id || a->count > PROTO_MAX_HASHES - from) {
		log_error("group %s: unexpected hash answer from the receiver", s->cfg.group);
		return -1;
	}
	for (uint32_t i = 0; i < a->count; i++)
		s->rh[b][from + i] = channel_hash_at(a, i);
	s->rh_count[b] = from + a->count;
	s->rh_win[b] = win + 1;
	s->rh_disk[b] = s->cur_disk;
	s->rh_waiting = false;
	/* The rest of the window is asked for at once; the slots it already
	 * covers go on meanwhile. */
	s->rh_partial[b] = (a->flags & PROTO_FLAG_HASH_MORE) &&
			   s->rh_count[b] < window_blocks(s, s->cur_disk, win);
	if (s->rh_partial[b] && request_hashes(s, s->cur_disk, win, s->rh_count[b]) < 0)
		return -1;
	sender_pump(s);
	return 0;
}

/* Resync producer: walks the whole disk in aligned slots of up to
 * PROTO_MAX_EXTENT; a slot that no source data extent touches is known to
 * read as zeros and is compared without reading. 2 = waiting for hashes. */
static int
produce_resync(struct sender *s, struct slot *sl)
{
	struct pool *p = s->pool;

	for (;;) {
		uint64_t size, win, end, wend;
		unsigned b;
		bool data = false;

		if (s->cur_disk == snapshot_ndisks(s->cfg.snap))
			return 0;
		size = snapshot_disk_size(s->cfg.snap, s->cur_disk);
		if (s->pos < s->resume_off[s->cur_disk])
			s->pos = s->resume_off[s->cur_disk] / ZERO_BLOCK * ZERO_BLOCK;
		if (s->pos >= size) {
			/* The source must list every extent before its commit. */
			while (!s->src_done) {
				int r = snapshot_next_extent(s->cfg.snap, s->cur_disk, PROTO_MAX_ZERO, &s->ext);
				if (r < 0)
					return -1;
				s->src_done = r == 0;
			}
			sl->disk_done = true;
			sl->resync = false;
			sl->disk = (uint16_t)s->cur_disk;
			s->cur_disk++;
			s->pos = 0;
			s->have_ext = false;
			s->src_done = false;
			return 1;
		}
		win = s->pos / RESYNC_WINDOW;
		b = (unsigned)(win % 2);
		if (s->rh_win[b] != win + 1 || s->rh_disk[b] != s->cur_disk) {
			if (s->rh_waiting)
				return 2;
			/* The buffer may still back slots of an older window. */
			if (p->head != p->tail)
				return 2;
			if (request_hashes(s, s->cur_disk, win, 0) < 0)
				return -1;
			return 2;
		}
		wend = (win + 1) * RESYNC_WINDOW;
		/* Only as far as the hashes that arrived when more are coming. */
		if (s->rh_partial[b])
			wend = win * RESYNC_WINDOW + (uint64_t)s->rh_count[b] * ZERO_BLOCK;
		if (wend <= s->pos)
			return 2;
		end = s->pos + PROTO_MAX_EXTENT;
		if (end > wend)
			end = wend;
		if (end > size)
			end = size;
		/* Does any source data extent overlap [pos, end)? */
		for (;;) {
			if (!s->have_ext && !s->src_done) {
				int r = snapshot_next_extent(s->cfg.snap, s->cur_disk, PROTO_MAX_ZERO, &s->ext);
				if (r < 0)
					return -1;
				s->src_done = r == 0;
				s->have_ext = r == 1;
			}
			if (!s->have_ext)
				break;
			if (s->ext.offset + s->ext.length <= s->pos) {
				s->have_ext = false;
				continue;
			}
			if (s->ext.offset < end && s->ext.kind == SNAP_DATA)
				data = true;
			if (s->ext.offset + s->ext.length <= end && s->ext.kind != SNAP_DATA) {
				s->have_ext = false;
				continue;
			}
			break;
		}
		sl->disk_done = false;
		sl->failed = false;
		sl->disk = (uint16_t)s->cur_disk;
		sl->off = s->pos;
		sl->len = end - s->pos;
		sl->kind = data ? SNAP_DATA : SNAP_ZERO;
		sl->resync = true;
		sl->rhash = s->rh[b] + (s->pos - win * RESYNC_WINDOW) / ZERO_BLOCK;
		{
			uint64_t first = (s->pos - win * RESYNC_WINDOW) / ZERO_BLOCK;
			sl->rcount = s->rh_count[b] > first ? (uint32_t)(s->rh_count[b] - first) : 0;
		}
		sl->nruns = 0;
		s->pos = end;
		return 1;
	}
}

/* Next frame in send order into a free slot. 1 queued, 0 nothing left,
 * -1 error. Extents come disk by disk in increasing offsets. */
static int
produce(struct sender *s, struct slot *sl)
{
	if (s->st->resync)
		return produce_resync(s, sl);
	uint64_t chunk;

	for (;;) {
		if (s->cur_disk == snapshot_ndisks(s->cfg.snap))
			return 0;
		if (!s->have_ext) {
			int r = snapshot_next_extent(s->cfg.snap, s->cur_disk, PROTO_MAX_ZERO,
						     &s->ext);
			if (r < 0)
				return -1;
			if (r == 0) {
				sl->disk_done = true;
				sl->resync = false;
				sl->disk = (uint16_t)s->cur_disk;
				s->cur_disk++;
				return 1;
			}
			s->have_ext = true;
			/* Resume: the receiver holds everything below resume_off. */
			if (s->ext.offset < s->resume_off[s->cur_disk]) {
				uint64_t skip = s->resume_off[s->cur_disk] - s->ext.offset;

				if (skip > s->ext.length)
					skip = s->ext.length;
				s->ext.offset += skip;
				s->ext.length -= skip;
				s->st->bytes_skipped += skip;
				if (s->ext.length == 0) {
					s->have_ext = false;
					continue;
				}
			}
		}
		chunk = s->ext.length;
		if (s->ext.kind == SNAP_DATA && chunk > PROTO_MAX_EXTENT)
			chunk = PROTO_MAX_EXTENT;
		sl->disk_done = false;
		sl->failed = false;
		sl->resync = false;
		sl->disk = (uint16_t)s->cur_disk;
		sl->off = s->ext.offset;
		sl->len = chunk;
		sl->kind = (uint8_t)s->ext.kind;
		/* ZERO/DISCARD need no worker: one payload-free run. */
		sl->runs[0] = (struct run){ .off = sl->off, .len = chunk, .kind = sl->kind };
		sl->nruns = 1;
		s->ext.offset += chunk;
		s->ext.length -= chunk;
		if (s->ext.length == 0)
			s->have_ext = false;
		return 1;
	}
}

static int
send_slot(struct sender *s, struct slot *sl)
{
	struct proto_msg m = { .type = PROTO_EXTENT };
	struct proto_extent *e = &m.u.extent;

	if (sl->disk_done) {
		m.type = PROTO_DISK_DONE;
		m.u.done.disk = sl->disk;
		return conn_send(channel_conn(s->cfg.ch), &m);
	}
	if (sl->failed)
		return -1; /* logged by the source */
	for (unsigned i = 0; i < sl->nruns; i++) {
		const struct run *r = &sl->runs[i];

		e->disk = sl->disk;
		e->offset = r->off;
		e->length = r->len;
		e->kind = r->kind;
		e->comp = r->comp;
		e->checksum = r->checksum;
		e->data = r->data;
		e->data_len = r->data_len;
		if (e->kind == PROTO_KIND_DATA)
			s->st->bytes_data += r->len;
		else
			s->st->bytes_zero += r->len;
		s->st->extents++;
		s->st->bytes_wire += PROTO_HDR_SIZE + 28 + e->data_len;
		if (e->data_len == 0) {
			if (conn_send(channel_conn(s->cfg.ch), &m) < 0)
				return -1;
			continue;
		}
		/* counted first: the release may come before the call returns */
		sl->refs++;
		sl->p->refs++;
		if (conn_send_ref(channel_conn(s->cfg.ch), &m, slot_release, sl) < 0) {
			sl->refs--;
			sl->p->refs--;
			return -1;
		}
	}
	return 0;
}

static size_t
slot_wire_bytes(const struct slot *sl)
{
	size_t n = PROTO_HDR_SIZE + 2;

	for (unsigned i = 0; !sl->disk_done && i < sl->nruns; i++)
		n += PROTO_HDR_SIZE + 28 + sl->runs[i].data_len;
	return n;
}

static void
sender_fail(struct sender *s)
{
	s->halted = true;
	s->cfg.on_fail(s->cfg.arg);
}

/* The bandwidth allows more again. */
static void
on_bw_again(void *arg)
{
	struct sender *s = arg;

	if (!s->halted)
		sender_pump(s);
}

/* Test hook (NESTOR_TEST_PAUSE=disk-done:N): once DISK_DONE N was queued,
 * send nothing more; once it is out of our buffers, stop the process so a
 * test can kill it, or the receiver, exactly after that disk. true = wait. */
static bool
sender_hook_wait(struct sender *s)
{
	char point[32];

	if (s->hook_disk < 0)
		return false;
	if (conn_out_pending(channel_conn(s->cfg.ch)) > 0)
		return true; /* the drain callback pumps again */
	snprintf(point, sizeof(point), "disk-done:%d", s->hook_disk);
	s->hook_disk = -1;
	testhook_pause(point);
	return false;
}

/* A slot with data went out: its figure for the compression level. */
static void
sender_adapt(struct sender *s, const struct slot *sl)
{
	uint64_t bytes = 0;

	if (!s->za || sl->disk_done)
		return;
	for (unsigned i = 0; i < sl->nruns; i++)
		if (sl->runs[i].kind == PROTO_KIND_DATA)
			bytes += sl->runs[i].len;
	if (bytes > 0 && zadapt_sent(s->za, sl->level, bytes, clock_now_ns(), clock_cpu_ns()))
		log_debug("group %s: compression level now %d", s->cfg.group,
			  zadapt_level(s->za));
}

/* Send finished slots in order while the output buffer has room, refill
 * the pool, and hand over to the commit once everything is out. Called
 * from the event loop (drain, worker eventfd, bandwidth timer, hashes). */
void
sender_pump(struct sender *s)
{
	struct pool *p = s->pool;

	if (sender_hook_wait(s))
		return;
	while (!s->halted) {
		struct slot *sl;
		enum slot_state st = SL_FREE;

		if (p->head < p->tail) {
			pthread_mutex_lock(&p->mu);
			st = p->slots[p->head % POOL_SLOTS].state;
			pthread_mutex_unlock(&p->mu);
		}
		if (st == SL_READY && conn_out_pending(channel_conn(s->cfg.ch)) < OUT_HIGH_WATER) {
			sl = &p->slots[p->head % POOL_SLOTS];
			if (!pace_allow(s->bw, slot_wire_bytes(sl)))
				break; /* the bandwidth timer calls back */
			if (send_slot(s, sl) < 0) {
				sender_fail(s);
				return;
			}
			sender_adapt(s, sl);
			pthread_mutex_lock(&p->mu);
			sl->state = SL_FREE;
			p->head++;
			pthread_mutex_unlock(&p->mu);
			if (sl->disk_done && testhook_armed("disk-done:%u", sl->disk))
				s->hook_disk = sl->disk;
			if (sender_hook_wait(s))
				return;
			continue;
		}
		if (!s->produced_all && p->tail - p->head < POOL_SLOTS &&
		    p->slots[p->tail % POOL_SLOTS].refs == 0) {
			int r;

			sl = &p->slots[p->tail % POOL_SLOTS];
			r = produce(s, sl);
			if (r < 0) {
				sender_fail(s);
				return;
			}
			if (r == 0) {
				s->produced_all = true;
				continue;
			}
			if (r == 2)
				break; /* waiting for the base point's hashes */
			sl->level = s->za ? zadapt_level(s->za) : s->cfg.compress_level;
			pthread_mutex_lock(&p->mu);
			/* Only DATA and resync compares need a worker. */
			sl->state = !sl->disk_done && (sl->kind == SNAP_DATA || sl->resync)
					    ? SL_QUEUED : SL_READY;
			p->tail++;
			if (sl->state == SL_QUEUED)
				pthread_cond_signal(&p->cv);
			pthread_mutex_unlock(&p->mu);
			continue;
		}
		if (s->produced_all && p->head == p->tail) {
			s->halted = true;
			s->cfg.on_sent(s->cfg.arg);
		}
		/* Otherwise wait: for the output to drain or a worker to finish. */
		break;
	}
}

struct sender *
sender_new(const struct sender_cfg *cfg)
{
	struct sender *s = calloc(1, sizeof(*s)), *ret = NULL;

	if (!s) {
		log_error("agent: out of memory");
		return NULL;
	}
	s->cfg = *cfg;
	s->st = cfg->st;
	s->hook_disk = -1;
	for (size_t i = 0; i < snapshot_ndisks(cfg->snap); i++)
		s->resume_off[i] = cfg->resume_off[i];
	if (s->st->resync) {
		for (int b = 0; b < 2; b++) {
			s->rh[b] = calloc(PROTO_MAX_HASHES, sizeof(uint64_t));
			if (!s->rh[b]) {
				log_error("agent: out of memory");
				goto out;
			}
		}
	}
	if (cfg->compress_level != 0 && cfg->compress_adapt &&
	    !(s->za = zadapt_new(cfg->compress_level)))
		goto out;
	s->pool = pool_new(s);
	if (!s->pool)
		goto out;
	if (cfg->bandwidth) {
		s->bw = pace_new(channel_base(s->cfg.ch), cfg->bandwidth, on_bw_again, s);
		if (!s->bw)
			goto out;
	}
	ret = s;
	s = NULL;
out:
	sender_free(s);
	return ret;
}

void
sender_halt(struct sender *s)
{
	if (s)
		s->halted = true;
}

void
sender_position(const struct sender *s, size_t *disk, uint64_t *off)
{
	*disk = s ? s->cur_disk : 0;
	*off = s && s->have_ext ? s->ext.offset : 0;
}

void
sender_free(struct sender *s)
{
	if (!s)
		return;
	/* The workers first: they read the hash windows. */
	pool_free(s->pool);
	free(s->rh[0]);
	free(s->rh[1]);
	pace_free(s->bw);
	if (s->za) {
		char sum[160];

		zadapt_summary(s->za, sum, sizeof(sum));
		if (sum[0])
			log_info("group %s: data sent per compression level: %s", s->cfg.group, sum);
	}
	zadapt_free(s->za);
	free(s);
}
