/* Agent: one replication cycle per group over one TLS connection.
 * Sequence: HELLO, PROGRESS_QUERY -> snapshot against the receiver's newest
 * point -> POINT_BEGIN -> extents (disk by disk, increasing offsets, pumped
 * whenever the output buffer drains) -> DISK_DONE each -> POINT_COMMIT ->
 * COMMITTED -> the source commits its new base. An interrupted cycle is
 * resumed from the receiver's durable progress by the next one. */
#include "replicator/agent/agent.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/fileutil.h"
#include "common/hash.h"
#include "common/log.h"
#include "proto/codec.h"
#include "proto/compress.h"
#include "proto/conn.h"
#include "replicator/config.h"
#include "replicator/agent/sources.h"
#include "snapshot/image.h"
#include "snapshot/source.h"

#define OUT_HIGH_WATER   (2u << 20)
#define IDLE_TIMEOUT_S   120
#define VERIFY_BLOCK     (64u * 1024)
#define AGENT_MAX_XML    (256u * 1024)
/* Sender pipeline: extents read, hashed and compressed ahead by worker
 * threads, sent in order by the event loop. Memory: POOL_SLOTS x ~2 MiB. */
#define POOL_SLOTS       4
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
	bool disk_done;
	bool failed;
	uint16_t disk;
	uint8_t kind; /* source kind until encoded */
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
	int efd;            /* eventfd: a slot became READY */
	struct event *ev;
	size_t nworkers;
	struct worker w[POOL_MAX_WORKERS];
};

enum cycle_state { C_HELLO, C_QUERY, C_BEGIN, C_SENDING, C_WAIT_COMMIT, C_VERIFY, C_DONE, C_FAILED };

struct cycle {
	const struct agent_config *cfg;
	const struct agent_group_cfg *g;
	const struct agent_opts *o;
	struct event_base *base;
	struct conn *conn;
	struct event *tick;
	enum cycle_state state;
	bool closed;
	time_t last_activity;

	/* replication */
	struct snapshot *snap;
	json_t *vm_meta;        /* VMs of the point (domains groups), or NULL */
	struct pool *pool;
	uint8_t *buf;
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
	bool rh_waiting;
	/* bandwidth limit: a token bucket refilled at bw bytes/s */
	uint64_t bw;
	double tokens;
	uint64_t tokens_ns;
	struct event *bw_timer;
	struct agent_cycle_stats st;
	uint64_t t0_ns;
	bool show_progress;
	bool progress_shown;

	/* verify */
	struct image *img;
	size_t vdisk;
	uint64_t voffset;
	uint64_t vpoint;
	int vdiffers;
	uint64_t vdiff_start, vdiff_len; /* current coalesced differing range */
	json_t *vranges;
	bool vjson;
	FILE *vout;               /* verify: where the result goes */
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
cycle_fail(struct cycle *c)
{
	if (c->state != C_DONE)
		c->state = C_FAILED;
	if (c->conn && !c->closed)
		conn_close(c->conn);
	else
		event_base_loopbreak(c->base);
}

static void
cycle_done(struct cycle *c)
{
	c->state = C_DONE;
	if (c->conn && !c->closed)
		conn_close(c->conn);
	else
		event_base_loopbreak(c->base);
}

static void
progress_line(struct cycle *c, bool final)
{
	uint64_t size, off;
	double secs;

	if (!c->show_progress || !c->snap)
		return;
	secs = (double)(now_ns() - c->t0_ns) / 1e9;
	if (c->cur_disk < snapshot_ndisks(c->snap)) {
		size = snapshot_disk_size(c->snap, c->cur_disk);
		off = c->have_ext ? c->ext.offset : 0;
		fprintf(stderr, "\r%s: disk %s %5.1f%%  %llu MiB data  %.1f MiB/s   ",
			c->g->name, snapshot_disk_name(c->snap, c->cur_disk),
			size ? 100.0 * (double)off / (double)size : 100.0,
			(unsigned long long)(c->st.bytes_data >> 20),
			secs > 0 ? (double)c->st.bytes_data / 1048576.0 / secs : 0.0);
	}
	if (final)
		fprintf(stderr, "\n");
	c->progress_shown = true;
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct cycle *c = arg;

	(void)fd;
	(void)what;
	if (c->o && c->o->stop && *c->o->stop && c->state != C_DONE && c->state != C_FAILED) {
		log_info("group %s: stopping: cycle abandoned, the point stays resumable",
			 c->g->name);
		cycle_fail(c);
		return;
	}
	if (c->state == C_SENDING)
		progress_line(c, false);
	if (time(NULL) - c->last_activity > IDLE_TIMEOUT_S) {
		log_error("group %s: receiver silent for %d s, giving up", c->g->name,
			  IDLE_TIMEOUT_S);
		cycle_fail(c);
	}
}

static void
send_hello(struct cycle *c)
{
	struct proto_msg m = { .type = PROTO_HELLO };

	m.u.hello.version_min = PROTO_VERSION;
	m.u.hello.version_max = PROTO_VERSION;
	m.u.hello.caps = PROTO_CAP_ZSTD;
	snprintf(m.u.hello.peer, sizeof(m.u.hello.peer), "%s", c->cfg->name);
	(void)conn_send(c->conn, &m);
}

/* The VMs' domain XML travels with every point: drills and failover boot
 * from it. Files are read at point time so an edited definition is seen. */
static int
add_domain_xml(const struct cycle *c, json_t *root)
{
	json_t *vms = json_array();
	char *list = strdup(c->g->domain_xml), *save = NULL, *path;
	int ret = -1;

	if (!vms || !list) {
		log_error("group %s: out of memory", c->g->name);
		goto out;
	}
	for (path = strtok_r(list, " \t", &save); path; path = strtok_r(NULL, " \t", &save)) {
		void *xml = NULL;
		size_t len = 0;

		if (file_read_all(path, AGENT_MAX_XML, &xml, &len) < 0)
			goto out;
		json_array_append_new(vms, json_pack("{s:s, s:s#}", "xml_path", path, "xml",
						     (const char *)xml, len));
		free(xml);
	}
	json_object_set(root, "vms", vms);
	ret = 0;
out:
	json_decref(vms);
	free(list);
	return ret;
}

static char *
point_meta(const struct cycle *c, size_t *len)
{
	json_t *root = json_object(), *disks = json_array();
	char *s = NULL;

	if (!root || !disks)
		goto out;
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "source", json_string("file"));
	json_object_set_new(root, "agent", json_string(c->cfg->name));
	json_object_set_new(root, "group", json_string(c->g->name));
	/* In point order; configured disks add where they come from. */
	for (size_t i = 0; i < snapshot_ndisks(c->snap); i++) {
		const char *name = snapshot_disk_name(c->snap, i);
		const struct agent_disk_cfg *d = NULL;

		for (size_t k = 0; k < c->g->ndisks; k++)
			if (strcmp(c->g->disks[k].name, name) == 0)
				d = &c->g->disks[k];
		json_array_append_new(disks, json_pack("{s:s, s:s?, s:s?, s:s?, s:I}", "name", name,
						       "path", d ? d->path : NULL,
						       "format", d ? d->format : NULL,
						       "rbd", d ? d->rbd : NULL,
						       "size", (json_int_t)snapshot_disk_size(c->snap, i)));
	}
	json_object_set(root, "disks", disks);
	if (c->g->domain_xml && add_domain_xml(c, root) < 0)
		goto out;
	if (c->vm_meta && json_object_update(root, c->vm_meta) < 0)
		goto out;
	s = json_dumps(root, JSON_COMPACT);
	if (s)
		*len = strlen(s);
out:
	json_decref(disks);
	json_decref(root);
	return s;
}

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
		if (!w->zc)
			continue;
		if (w->zskip > 0) {
			w->zskip--;
			continue;
		}
		if (zcomp_compress(w->zc, src, (size_t)r->len, sl->cbuf + cused,
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
	for (size_t i = 0; i < POOL_SLOTS; i++) {
		free(p->slots[i].buf);
		free(p->slots[i].cbuf);
	}
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static void pump(struct cycle *c);

static void
on_pool_ready(evutil_socket_t fd, short what, void *arg)
{
	struct cycle *c = arg;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("agent: eventfd read: %m");
	if (c->state == C_SENDING)
		pump(c);
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
pool_new(struct cycle *c)
{
	struct pool *p = calloc(1, sizeof(*p)), *ret = NULL;

	if (!p) {
		log_error("agent: out of memory");
		return NULL;
	}
	p->efd = -1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->snap = c->snap;
	p->cbuf_cap = PROTO_MAX_EXTENT + PROTO_MAX_EXTENT / 64 + 1024;
	for (size_t i = 0; i < POOL_SLOTS; i++) {
		p->slots[i].buf = malloc(PROTO_MAX_EXTENT);
		p->slots[i].cbuf = c->cfg->compress_level != 0 ? malloc(p->cbuf_cap) : NULL;
		if (!p->slots[i].buf || (c->cfg->compress_level != 0 && !p->slots[i].cbuf)) {
			log_error("agent: out of memory");
			goto out;
		}
	}
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0) {
		log_error("agent: eventfd: %m");
		goto out;
	}
	p->ev = event_new(c->base, p->efd, EV_READ | EV_PERSIST, on_pool_ready, c);
	if (!p->ev || event_add(p->ev, NULL) < 0) {
		log_error("agent: cannot watch the worker eventfd");
		goto out;
	}
	p->nworkers = pool_nworkers();
	for (size_t i = 0; i < p->nworkers; i++) {
		struct worker *w = &p->w[i];
		int r;

		w->p = p;
		if (c->cfg->compress_level != 0) {
			w->zc = zcomp_new(c->cfg->compress_level);
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

/* Ask the receiver for the base point's hashes of one window of a disk. */
static int
request_hashes(struct cycle *c, size_t disk, uint64_t win)
{
	struct proto_msg m = { .type = PROTO_HASH_QUERY };
	uint64_t size = snapshot_disk_size(c->snap, disk);
	uint64_t off = win * RESYNC_WINDOW;
	uint64_t left = (size - off + ZERO_BLOCK - 1) / ZERO_BLOCK;

	snprintf(m.u.hquery.group, sizeof(m.u.hquery.group), "%s", c->g->name);
	snprintf(m.u.hquery.disk, sizeof(m.u.hquery.disk), "%s", snapshot_disk_name(c->snap, disk));
	m.u.hquery.point_id = c->st.base_id;
	m.u.hquery.offset = off;
	m.u.hquery.block_size = ZERO_BLOCK;
	m.u.hquery.count = left < PROTO_MAX_HASHES ? (uint32_t)left : PROTO_MAX_HASHES;
	c->rh_waiting = true;
	return conn_send(c->conn, &m);
}

static int
on_resync_hashes(struct cycle *c, const struct proto_hash_answer *a)
{
	uint64_t win = a->offset / RESYNC_WINDOW;
	unsigned b = (unsigned)(win % 2);

	if (!c->rh_waiting || a->block_size != ZERO_BLOCK || a->offset % RESYNC_WINDOW ||
	    a->point_id != c->st.base_id) {
		log_error("group %s: unexpected hash answer from the receiver", c->g->name);
		return -1;
	}
	for (uint32_t i = 0; i < a->count; i++) {
		uint64_t v = 0;

		for (int k = 0; k < 8; k++)
			v = v << 8 | a->hashes[i * 8 + (unsigned)k];
		c->rh[b][i] = v;
	}
	c->rh_count[b] = a->count;
	c->rh_win[b] = win + 1;
	c->rh_disk[b] = c->cur_disk;
	c->rh_waiting = false;
	pump(c);
	return 0;
}

/* Resync producer: walks the whole disk in aligned slots of up to
 * PROTO_MAX_EXTENT; a slot that no source data extent touches is known to
 * read as zeros and is compared without reading. 2 = waiting for hashes. */
static int
produce_resync(struct cycle *c, struct slot *sl)
{
	struct pool *p = c->pool;

	for (;;) {
		uint64_t size, win, end, wend;
		unsigned b;
		bool data = false;

		if (c->cur_disk == snapshot_ndisks(c->snap))
			return 0;
		size = snapshot_disk_size(c->snap, c->cur_disk);
		if (c->pos < c->resume_off[c->cur_disk])
			c->pos = c->resume_off[c->cur_disk] / ZERO_BLOCK * ZERO_BLOCK;
		if (c->pos >= size) {
			/* The source must list every extent before its commit. */
			while (!c->src_done) {
				int r = snapshot_next_extent(c->snap, c->cur_disk, PROTO_MAX_ZERO, &c->ext);
				if (r < 0)
					return -1;
				c->src_done = r == 0;
			}
			sl->disk_done = true;
			sl->resync = false;
			sl->disk = (uint16_t)c->cur_disk;
			c->cur_disk++;
			c->pos = 0;
			c->have_ext = false;
			c->src_done = false;
			return 1;
		}
		win = c->pos / RESYNC_WINDOW;
		b = (unsigned)(win % 2);
		if (c->rh_win[b] != win + 1 || c->rh_disk[b] != c->cur_disk) {
			if (c->rh_waiting)
				return 2;
			/* The buffer may still back slots of an older window. */
			if (p->head != p->tail)
				return 2;
			if (request_hashes(c, c->cur_disk, win) < 0)
				return -1;
			return 2;
		}
		wend = (win + 1) * RESYNC_WINDOW;
		end = c->pos + PROTO_MAX_EXTENT;
		if (end > wend)
			end = wend;
		if (end > size)
			end = size;
		/* Does any source data extent overlap [pos, end)? */
		for (;;) {
			if (!c->have_ext && !c->src_done) {
				int r = snapshot_next_extent(c->snap, c->cur_disk, PROTO_MAX_ZERO, &c->ext);
				if (r < 0)
					return -1;
				c->src_done = r == 0;
				c->have_ext = r == 1;
			}
			if (!c->have_ext)
				break;
			if (c->ext.offset + c->ext.length <= c->pos) {
				c->have_ext = false;
				continue;
			}
			if (c->ext.offset < end && c->ext.kind == SNAP_DATA)
				data = true;
			if (c->ext.offset + c->ext.length <= end && c->ext.kind != SNAP_DATA) {
				c->have_ext = false;
				continue;
			}
			break;
		}
		sl->disk_done = false;
		sl->failed = false;
		sl->disk = (uint16_t)c->cur_disk;
		sl->off = c->pos;
		sl->len = end - c->pos;
		sl->kind = data ? SNAP_DATA : SNAP_ZERO;
		sl->resync = true;
		sl->rhash = c->rh[b] + (c->pos - win * RESYNC_WINDOW) / ZERO_BLOCK;
		{
			uint64_t first = (c->pos - win * RESYNC_WINDOW) / ZERO_BLOCK;
			sl->rcount = c->rh_count[b] > first ? (uint32_t)(c->rh_count[b] - first) : 0;
		}
		sl->nruns = 0;
		c->pos = end;
		return 1;
	}
}

/* Next frame in send order into a free slot. 1 queued, 0 nothing left,
 * -1 error. Extents come disk by disk in increasing offsets. */
static int
produce(struct cycle *c, struct slot *sl)
{
	if (c->st.resync)
		return produce_resync(c, sl);
	uint64_t chunk;

	for (;;) {
		if (c->cur_disk == snapshot_ndisks(c->snap))
			return 0;
		if (!c->have_ext) {
			int r = snapshot_next_extent(c->snap, c->cur_disk, PROTO_MAX_ZERO,
						     &c->ext);
			if (r < 0)
				return -1;
			if (r == 0) {
				sl->disk_done = true;
				sl->resync = false;
				sl->disk = (uint16_t)c->cur_disk;
				c->cur_disk++;
				return 1;
			}
			c->have_ext = true;
			/* Resume: the receiver holds everything below resume_off. */
			if (c->ext.offset < c->resume_off[c->cur_disk]) {
				uint64_t skip = c->resume_off[c->cur_disk] - c->ext.offset;

				if (skip > c->ext.length)
					skip = c->ext.length;
				c->ext.offset += skip;
				c->ext.length -= skip;
				c->st.bytes_skipped += skip;
				if (c->ext.length == 0) {
					c->have_ext = false;
					continue;
				}
			}
		}
		chunk = c->ext.length;
		if (c->ext.kind == SNAP_DATA && chunk > PROTO_MAX_EXTENT)
			chunk = PROTO_MAX_EXTENT;
		sl->disk_done = false;
		sl->failed = false;
		sl->resync = false;
		sl->disk = (uint16_t)c->cur_disk;
		sl->off = c->ext.offset;
		sl->len = chunk;
		sl->kind = (uint8_t)c->ext.kind;
		/* ZERO/DISCARD need no worker: one payload-free run. */
		sl->runs[0] = (struct run){ .off = sl->off, .len = chunk, .kind = sl->kind };
		sl->nruns = 1;
		c->ext.offset += chunk;
		c->ext.length -= chunk;
		if (c->ext.length == 0)
			c->have_ext = false;
		return 1;
	}
}

static int
send_slot(struct cycle *c, const struct slot *sl)
{
	struct proto_msg m = { .type = PROTO_EXTENT };
	struct proto_extent *e = &m.u.extent;

	if (sl->disk_done) {
		m.type = PROTO_DISK_DONE;
		m.u.done.disk = sl->disk;
		return conn_send(c->conn, &m);
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
			c->st.bytes_data += r->len;
		else
			c->st.bytes_zero += r->len;
		c->st.extents++;
		c->st.bytes_wire += PROTO_HDR_SIZE + 28 + e->data_len;
		if (conn_send(c->conn, &m) < 0)
			return -1;
	}
	return 0;
}

static void
send_commit(struct cycle *c)
{
	struct proto_msg m = { .type = PROTO_POINT_COMMIT };
	size_t mlen = 0;
	char *meta = point_meta(c, &mlen);

	if (!meta) {
		log_error("group %s: cannot build point metadata", c->g->name);
		cycle_fail(c);
		return;
	}
	m.u.commit.point_id = c->st.point_id;
	m.u.commit.meta = (const uint8_t *)meta;
	m.u.commit.meta_len = mlen;
	if (conn_send(c->conn, &m) < 0) {
		free(meta);
		cycle_fail(c);
		return;
	}
	free(meta);
	c->state = C_WAIT_COMMIT;
	progress_line(c, true);
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
on_bw_timer(evutil_socket_t fd, short what, void *arg)
{
	struct cycle *c = arg;

	(void)fd;
	(void)what;
	if (c->state == C_SENDING)
		pump(c);
}

/* Token bucket: may `cost` bytes go now? If not, pump runs again when they
 * may. The bucket holds at most 100 ms of traffic (at least one slot), so
 * the rate holds over any second. */
static bool
bw_allow(struct cycle *c, size_t cost)
{
	double burst = (double)c->bw / 10.0;
	uint64_t now = now_ns();
	struct timeval tv;
	double wait_s;

	if (!c->bw)
		return true;
	if (burst < 2.0 * PROTO_MAX_EXTENT)
		burst = 2.0 * PROTO_MAX_EXTENT;
	if (!c->tokens_ns)
		c->tokens_ns = now;
	c->tokens += (double)(now - c->tokens_ns) / 1e9 * (double)c->bw;
	if (c->tokens > burst)
		c->tokens = burst;
	c->tokens_ns = now;
	if (c->tokens >= (double)cost) {
		c->tokens -= (double)cost;
		return true;
	}
	wait_s = ((double)cost - c->tokens) / (double)c->bw;
	tv.tv_sec = (time_t)wait_s;
	tv.tv_usec = (suseconds_t)((wait_s - (double)tv.tv_sec) * 1e6) + 1000;
	if (!c->bw_timer)
		c->bw_timer = evtimer_new(c->base, on_bw_timer, c);
	if (c->bw_timer && !evtimer_pending(c->bw_timer, NULL))
		evtimer_add(c->bw_timer, &tv);
	return false;
}

/* Send finished slots in order while the output buffer has room, refill
 * the pool, and commit once everything is out. Called from the event loop
 * (drain, worker eventfd, begin ack). */
static void
pump(struct cycle *c)
{
	struct pool *p = c->pool;

	while (c->state == C_SENDING) {
		struct slot *sl;
		enum slot_state st = SL_FREE;

		if (p->head < p->tail) {
			pthread_mutex_lock(&p->mu);
			st = p->slots[p->head % POOL_SLOTS].state;
			pthread_mutex_unlock(&p->mu);
		}
		if (st == SL_READY && conn_out_pending(c->conn) < OUT_HIGH_WATER) {
			sl = &p->slots[p->head % POOL_SLOTS];
			if (!bw_allow(c, slot_wire_bytes(sl)))
				break; /* the bandwidth timer calls back */
			if (send_slot(c, sl) < 0) {
				cycle_fail(c);
				return;
			}
			pthread_mutex_lock(&p->mu);
			sl->state = SL_FREE;
			p->head++;
			pthread_mutex_unlock(&p->mu);
			continue;
		}
		if (!c->produced_all && p->tail - p->head < POOL_SLOTS) {
			int r;

			sl = &p->slots[p->tail % POOL_SLOTS];
			r = produce(c, sl);
			if (r < 0) {
				cycle_fail(c);
				return;
			}
			if (r == 0) {
				c->produced_all = true;
				continue;
			}
			if (r == 2)
				break; /* waiting for the base point's hashes */
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
		if (c->produced_all && p->head == p->tail)
			send_commit(c);
		/* Otherwise wait: for the output to drain or a worker to finish. */
		break;
	}
}

static int
disks_match(const struct cycle *c, const struct proto_progress *p)
{
	if (p->ndisks != snapshot_ndisks(c->snap))
		return 0;
	for (size_t i = 0; i < p->ndisks; i++) {
		if (strcmp(p->disks[i].name, snapshot_disk_name(c->snap, i)) != 0)
			return 0;
	}
	return 1;
}

static int
on_progress(struct cycle *c, const struct proto_progress *p)
{
	struct proto_msg m = { .type = PROTO_POINT_BEGIN };
	struct proto_point_begin *b = &m.u.begin;
	char sdir[4096];
	size_t n;

	if (strcmp(p->group, c->g->name) != 0) {
		log_error("group %s: receiver answered for group %s", c->g->name, p->group);
		return -1;
	}
	if ((size_t)snprintf(sdir, sizeof(sdir), "%s/%s", c->cfg->state_dir, c->g->name) >=
	    sizeof(sdir)) {
		log_error("group %s: state directory path too long", c->g->name);
		return -1;
	}
	c->snap = sources_begin(c->g, sdir, p->last_point, &c->vm_meta);
	if (!c->snap)
		return -1;
	n = snapshot_ndisks(c->snap);
	c->st.point_id = p->last_point + 1;
	c->st.incremental = snapshot_is_incremental(c->snap);
	/* Change tracking lost but the receiver has a point: compare block
	 * hashes with it and send only what differs, on top of it. */
	c->st.resync = !c->st.incremental && p->last_point != 0;
	c->st.base_id = c->st.incremental || c->st.resync ? p->last_point : 0;
	if (p->pending_point != 0 && !snapshot_resumable(c->snap)) {
		/* The pending data may be stale: a new id makes the receiver
		 * discard it instead of resuming it. */
		if (p->pending_point >= c->st.point_id)
			c->st.point_id = p->pending_point + 1;
	}
	snprintf(b->group, sizeof(b->group), "%s", c->g->name);
	b->point_id = c->st.point_id;
	b->base_id = c->st.base_id;
	b->time_ns = snapshot_time_ns(c->snap);
	b->ndisks = (uint16_t)n;
	for (size_t i = 0; i < n; i++) {
		snprintf(b->disks[i].name, sizeof(b->disks[i].name), "%s",
			 snapshot_disk_name(c->snap, i));
		b->disks[i].size = snapshot_disk_size(c->snap, i);
	}
	if (conn_send(c->conn, &m) < 0)
		return -1;
	log_info("group %s: point %llu (%s, base %llu)", c->g->name,
		 (unsigned long long)c->st.point_id,
		 c->st.incremental ? "incremental" : c->st.resync ? "resync by block hashes" : "full",
		 (unsigned long long)c->st.base_id);
	c->t0_ns = now_ns();
	c->state = C_BEGIN;
	return 0;
}

/* The receiver's answer to POINT_BEGIN: what of this point is durable. */
static int
on_begin_ack(struct cycle *c, const struct proto_progress *p)
{
	if (strcmp(p->group, c->g->name) != 0 || p->pending_point != c->st.point_id ||
	    p->pending_base != c->st.base_id || !disks_match(c, p)) {
		log_error("group %s: receiver did not open point %llu as asked",
			  c->g->name, (unsigned long long)c->st.point_id);
		return -1;
	}
	for (size_t i = 0; i < p->ndisks; i++) {
		c->resume_off[i] = p->disks[i].done ? UINT64_MAX : p->disks[i].durable_offset;
		if (c->resume_off[i])
			c->st.resumed = 1;
	}
	if (c->st.resumed)
		log_info("group %s: resuming point %llu from the receiver's progress",
			 c->g->name, (unsigned long long)c->st.point_id);
	if (c->st.resync) {
		for (int b = 0; b < 2; b++) {
			c->rh[b] = calloc(PROTO_MAX_HASHES, sizeof(uint64_t));
			if (!c->rh[b]) {
				log_error("agent: out of memory");
				return -1;
			}
		}
	}
	c->pool = pool_new(c);
	if (!c->pool)
		return -1;
	c->bw = c->g->bandwidth ? c->g->bandwidth : c->cfg->bandwidth;
	c->state = C_SENDING;
	pump(c);
	return 0;
}

/* ---- verify ---- */

static int
verify_next_query(struct cycle *c)
{
	struct proto_msg m = { .type = PROTO_HASH_QUERY };
	uint64_t size;

	while (c->vdisk < c->g->ndisks) {
		if (!c->img) {
			const struct agent_disk_cfg *d = &c->g->disks[c->vdisk];

			if (!d->path) {
				log_error("group %s disk %s: verify reads image files only",
					  c->g->name, d->name);
				return -1;
			}
			c->img = image_open(d->path, d->format);
			if (!c->img)
				return -1;
			c->voffset = 0;
		}
		size = image_size(c->img);
		if (c->voffset < size)
			break;
		image_free(c->img);
		c->img = NULL;
		c->vdisk++;
	}
	if (c->vdisk == c->g->ndisks) {
		cycle_done(c);
		return 0;
	}
	snprintf(m.u.hquery.group, sizeof(m.u.hquery.group), "%s", c->g->name);
	snprintf(m.u.hquery.disk, sizeof(m.u.hquery.disk), "%s", c->g->disks[c->vdisk].name);
	m.u.hquery.point_id = c->vpoint;
	m.u.hquery.offset = c->voffset;
	m.u.hquery.block_size = VERIFY_BLOCK;
	m.u.hquery.count = PROTO_MAX_HASHES;
	return conn_send(c->conn, &m);
}

static void
verify_flush_range(struct cycle *c)
{
	const char *disk = c->g->disks[c->vdisk].name;

	if (!c->vdiff_len)
		return;
	if (c->vjson)
		json_array_append_new(c->vranges, json_pack("{s:s, s:I, s:I}", "disk", disk,
							    "offset", (json_int_t)c->vdiff_start,
							    "length", (json_int_t)c->vdiff_len));
	else
		fprintf(c->vout, "differs: disk %s offset %llu length %llu\n", disk,
		       (unsigned long long)c->vdiff_start,
		       (unsigned long long)c->vdiff_len);
	c->vdiff_len = 0;
}

static void
verify_mark(struct cycle *c, uint64_t off, uint64_t len)
{
	c->vdiffers = 1;
	if (c->vdiff_len && c->vdiff_start + c->vdiff_len == off) {
		c->vdiff_len += len;
		return;
	}
	verify_flush_range(c);
	c->vdiff_start = off;
	c->vdiff_len = len;
}

static int
on_hash_answer(struct cycle *c, const struct proto_hash_answer *a)
{
	uint64_t size = image_size(c->img);
	uint64_t want = (size - c->voffset + VERIFY_BLOCK - 1) / VERIFY_BLOCK;

	if (want > PROTO_MAX_HASHES)
		want = PROTO_MAX_HASHES;
	if (a->offset != c->voffset || a->block_size != VERIFY_BLOCK) {
		log_error("group %s: unexpected hash answer", c->g->name);
		return -1;
	}
	c->vpoint = a->point_id;
	for (uint32_t i = 0; i < want; i++) {
		uint64_t off = c->voffset + (uint64_t)i * VERIFY_BLOCK;
		uint64_t len = size - off < VERIFY_BLOCK ? size - off : VERIFY_BLOCK;
		uint64_t remote = 0;

		if (image_pread(c->img, c->buf, (size_t)len, off) < 0)
			return -1;
		if (i >= a->count) {
			verify_mark(c, off, len); /* replica is shorter */
			continue;
		}
		for (int b = 0; b < 8; b++)
			remote = remote << 8 | a->hashes[i * 8 + (unsigned)b];
		if (remote != hash64(c->buf, (size_t)len))
			verify_mark(c, off, len);
	}
	if (a->count > want) {
		log_warn("group %s disk %s: replica is larger than the source",
			 c->g->name, c->g->disks[c->vdisk].name);
		c->vdiffers = 1;
	}
	c->voffset += want * VERIFY_BLOCK;
	if (c->voffset >= size)
		verify_flush_range(c);
	return verify_next_query(c);
}

/* ---- connection callbacks ---- */

static void
cyc_on_ready(struct conn *conn, void *arg)
{
	struct cycle *c = arg;

	(void)conn;
	c->last_activity = time(NULL);
	send_hello(c);
}

static int
cyc_on_msg(struct conn *conn, const struct proto_msg *msg, void *arg)
{
	struct cycle *c = arg;
	struct proto_msg q = { .type = PROTO_PROGRESS_QUERY };

	(void)conn;
	c->last_activity = time(NULL);
	if (msg->type == PROTO_ERROR) {
		log_error("group %s: receiver refused: %s (%s)", c->g->name,
			  msg->u.error.text, proto_error_code_name(msg->u.error.code));
		cycle_fail(c);
		return -1;
	}
	switch (c->state) {
	case C_HELLO:
		if (msg->type != PROTO_HELLO)
			break;
		if (msg->u.hello.version_min > PROTO_VERSION ||
		    msg->u.hello.version_max < PROTO_VERSION) {
			log_error("receiver speaks protocol %u..%u, need %u",
				  msg->u.hello.version_min, msg->u.hello.version_max,
				  PROTO_VERSION);
			cycle_fail(c);
			return -1;
		}
		if (c->o == NULL) { /* verify */
			c->state = C_VERIFY;
			if (verify_next_query(c) < 0) {
				cycle_fail(c);
				return -1;
			}
			return 0;
		}
		snprintf(q.u.pquery.group, sizeof(q.u.pquery.group), "%s", c->g->name);
		c->state = C_QUERY;
		return conn_send(c->conn, &q);
	case C_QUERY:
		if (msg->type != PROTO_PROGRESS)
			break;
		if (on_progress(c, &msg->u.progress) < 0) {
			cycle_fail(c);
			return -1;
		}
		return 0;
	case C_SENDING:
		if (msg->type != PROTO_HASH_ANSWER || !c->st.resync)
			break;
		if (on_resync_hashes(c, &msg->u.hanswer) < 0) {
			cycle_fail(c);
			return -1;
		}
		return 0;
	case C_BEGIN:
		if (msg->type != PROTO_PROGRESS)
			break;
		if (on_begin_ack(c, &msg->u.progress) < 0) {
			cycle_fail(c);
			return -1;
		}
		return 0;
	case C_WAIT_COMMIT:
		if (msg->type != PROTO_COMMITTED || msg->u.committed.point_id != c->st.point_id)
			break;
		if (snapshot_commit(c->snap, c->st.point_id) < 0) {
			cycle_fail(c);
			return -1;
		}
		cycle_done(c);
		return 0;
	case C_VERIFY:
		if (msg->type != PROTO_HASH_ANSWER)
			break;
		if (on_hash_answer(c, &msg->u.hanswer) < 0) {
			cycle_fail(c);
			return -1;
		}
		return 0;
	default:
		break;
	}
	log_error("group %s: unexpected message type %u from the receiver", c->g->name,
		  msg->type);
	conn_send_error(c->conn, PROTO_ERR_PROTOCOL, "unexpected message type %u",
			msg->type);
	c->state = C_FAILED;
	return -1;
}

static void
cyc_on_drain(struct conn *conn, void *arg)
{
	struct cycle *c = arg;

	(void)conn;
	/* The receiver reads what we send: it is alive even if it says nothing. */
	c->last_activity = time(NULL);
	if (c->state == C_SENDING)
		pump(c);
}

static void
cyc_on_close(struct conn *conn, const char *reason, void *arg)
{
	struct cycle *c = arg;

	(void)conn;
	c->closed = true;
	if (c->state != C_DONE) {
		if (c->state != C_FAILED)
			log_error("group %s: connection to the receiver lost: %s",
				  c->g->name, reason);
		c->state = C_FAILED;
	}
	event_base_loopbreak(c->base);
}

static const struct conn_cbs cyc_cbs = {
	.on_ready = cyc_on_ready,
	.on_msg = cyc_on_msg,
	.on_drain = cyc_on_drain,
	.on_close = cyc_on_close,
};

/* Connect and run the loop until the cycle (or verify) ends. */
static int
cycle_run(struct cycle *c)
{
	struct tls_files tf = { c->cfg->ca, c->cfg->cert, c->cfg->key };
	struct timeval one = { 1, 0 };
	SSL_CTX *ctx = NULL;
	int ret = -1;

	c->base = event_base_new();
	c->buf = malloc(PROTO_MAX_EXTENT);
	if (!c->base || !c->buf) {
		log_error("agent: out of memory");
		goto out;
	}
	ctx = tls_client_ctx_new(&tf);
	if (!ctx)
		goto out;
	c->tick = event_new(c->base, -1, EV_PERSIST, on_tick, c);
	if (!c->tick || event_add(c->tick, &one) < 0)
		goto out;
	c->last_activity = time(NULL);
	c->conn = conn_connect(c->base, ctx, c->cfg->receiver_host, c->cfg->receiver_port,
			       c->cfg->server_name, &cyc_cbs, c);
	if (!c->conn)
		goto out;
	event_base_dispatch(c->base);
	if (c->progress_shown && c->state != C_DONE)
		fprintf(stderr, "\n");
	ret = c->state == C_DONE ? 0 : -1;
out:
	pool_free(c->pool);
	c->pool = NULL;
	if (c->bw_timer)
		event_free(c->bw_timer);
	c->bw_timer = NULL;
	conn_free(c->conn);
	c->conn = NULL;
	if (c->tick)
		event_free(c->tick);
	if (ctx)
		SSL_CTX_free(ctx);
	free(c->buf);
	free(c->rh[0]);
	free(c->rh[1]);
	if (c->base)
		event_base_free(c->base);
	return ret;
}

static void
print_stats(const struct cycle *c, int ok)
{
	const struct agent_cycle_stats *s = &c->st;

	if (c->o->json) {
		json_t *j = json_pack("{s:s, s:b, s:I, s:I, s:b, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:f}",
				      "group", c->g->name, "ok", ok,
				      "point", (json_int_t)s->point_id,
				      "base", (json_int_t)s->base_id,
				      "incremental", s->incremental, "resumed", s->resumed, "resync", s->resync,
				      "extents", (json_int_t)s->extents,
				      "bytes_data", (json_int_t)s->bytes_data,
				      "bytes_zero", (json_int_t)s->bytes_zero,
				      "bytes_skipped", (json_int_t)s->bytes_skipped,
				      "bytes_wire", (json_int_t)s->bytes_wire,
				      "seconds", s->seconds);
		char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
		if (txt)
			fprintf(c->o->json, "%s\n", txt);
		free(txt);
		json_decref(j);
		fflush(c->o->json);
	}
	if (ok)
		log_info("group %s: point %llu committed: %llu bytes data, %llu zero, %llu skipped, %llu on the wire, %.2f s",
			 c->g->name, (unsigned long long)s->point_id,
			 (unsigned long long)s->bytes_data, (unsigned long long)s->bytes_zero,
			 (unsigned long long)s->bytes_skipped,
			 (unsigned long long)s->bytes_wire, s->seconds);
}

/* Frames of up to 1 MiB are allocated and freed all the time (libevent
 * buffer chains, zstd). Above glibc's default threshold each one would be a
 * fresh mmap, paid again in page faults and TLB flushes; reused heap memory
 * costs nothing, and the peak stays bounded by the same frames in flight. */
static void
malloc_keep_buffers(void)
{
	if (mallopt(M_MMAP_THRESHOLD, 4 << 20) != 1 || mallopt(M_TRIM_THRESHOLD, 8 << 20) != 1)
		log_warn("mallopt failed; large buffers stay mmap'd");
}

int
agent_cycle(const struct agent_config *cfg, const struct agent_group_cfg *g,
	    const struct agent_opts *o, struct agent_cycle_stats *st)
{
	struct cycle c = { .cfg = cfg, .g = g, .o = o };
	uint64_t t0 = now_ns();
	int r;

	c.show_progress = o->progress && isatty(STDERR_FILENO);
	r = cycle_run(&c);
	c.st.seconds = (double)(now_ns() - t0) / 1e9;
	print_stats(&c, r == 0);
	snapshot_free(c.snap);
	json_decref(c.vm_meta);
	*st = c.st;
	return r;
}

int
agent_run_once(const struct agent_config *cfg, const struct agent_opts *o)
{
	int ret = 0, found = 0;

	malloc_keep_buffers();
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < cfg->ngroups; i++) {
		struct agent_cycle_stats st;

		if (o->group && strcmp(o->group, cfg->groups[i].name) != 0)
			continue;
		found = 1;
		if (agent_cycle(cfg, &cfg->groups[i], o, &st) < 0)
			ret = -1;
	}
	if (!found) {
		log_error("group %s is not in the configuration", o->group);
		return -1;
	}
	return ret;
}

int
agent_verify(const struct agent_config *cfg, const char *group, uint64_t point,
	     bool json, FILE *out)
{
	struct cycle c = { .cfg = cfg, .vpoint = point, .vjson = json, .vout = out };
	int r;

	for (size_t i = 0; i < cfg->ngroups; i++)
		if (strcmp(cfg->groups[i].name, group) == 0)
			c.g = &cfg->groups[i];
	if (!c.g) {
		log_error("group %s is not in the configuration", group);
		return -1;
	}
	if (c.g->ndisks == 0) {
		log_error("group %s: verify compares image-file disks; this group has none",
			  group);
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	c.vranges = json_array();
	r = cycle_run(&c);
	image_free(c.img);
	if (r == 0 && json) {
		json_t *j = json_pack("{s:s, s:I, s:b, s:O}", "group", group, "point",
				      (json_int_t)c.vpoint, "identical", !c.vdiffers,
				      "differences", c.vranges);
		char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
		if (txt)
			fprintf(out, "%s\n", txt);
		free(txt);
		json_decref(j);
	} else if (r == 0) {
		fprintf(out, "group %s point %llu: %s\n", group, (unsigned long long)c.vpoint,
		       c.vdiffers ? "DIFFERS from the source" : "identical to the source");
	}
	json_decref(c.vranges);
	if (r < 0)
		return -1;
	return c.vdiffers ? 1 : 0;
}
