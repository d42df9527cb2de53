/* Agent: one replication cycle per group over one TLS connection.
 * Sequence: HELLO, PROGRESS_QUERY -> snapshot against the receiver's newest
 * point -> POINT_BEGIN -> extents (disk by disk, increasing offsets, pumped
 * whenever the output buffer drains) -> DISK_DONE each -> POINT_COMMIT ->
 * COMMITTED -> the source commits its new base. An interrupted cycle is
 * resumed from the receiver's durable progress by the next one. */
#include "replicator/agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
#include "snapshot/image.h"
#include "snapshot/source.h"

#define OUT_HIGH_WATER   (4u << 20)
#define IDLE_TIMEOUT_S   120
#define VERIFY_BLOCK     (64u * 1024)
#define AGENT_MAX_XML    (256u * 1024)

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
	struct zcomp *zc;
	uint8_t *buf, *cbuf;
	size_t cbuf_cap;
	uint64_t resume_off[PROTO_MAX_DISKS];
	size_t cur_disk;
	bool have_ext;
	struct snap_extent ext; /* remainder of the current source extent */
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
	for (size_t i = 0; i < c->g->ndisks; i++) {
		const struct agent_disk_cfg *d = &c->g->disks[i];
		json_array_append_new(disks, json_pack("{s:s, s:s, s:s?, s:I}", "name", d->name,
						       "path", d->path, "format", d->format,
						       "size", (json_int_t)snapshot_disk_size(c->snap, i)));
	}
	json_object_set(root, "disks", disks);
	if (c->g->domain_xml && add_domain_xml(c, root) < 0)
		goto out;
	s = json_dumps(root, JSON_COMPACT);
	if (s)
		*len = strlen(s);
out:
	json_decref(disks);
	json_decref(root);
	return s;
}

static int
send_extent(struct cycle *c, uint64_t off, uint64_t len, int kind)
{
	struct proto_msg m = { .type = PROTO_EXTENT };
	struct proto_extent *e = &m.u.extent;
	size_t clen = 0;

	e->disk = (uint16_t)c->cur_disk;
	e->offset = off;
	e->length = len;
	e->kind = (uint8_t)kind;
	e->comp = PROTO_COMP_NONE;
	if (kind == SNAP_DATA) {
		if (snapshot_read(c->snap, c->cur_disk, off, c->buf, (size_t)len) < 0)
			return -1;
		if (buf_is_zero(c->buf, (size_t)len)) {
			e->kind = PROTO_KIND_ZERO;
		} else {
			e->checksum = hash64(c->buf, (size_t)len);
			e->data = c->buf;
			e->data_len = (size_t)len;
			if (c->zc && zcomp_compress(c->zc, c->buf, (size_t)len, c->cbuf,
						    c->cbuf_cap, &clen) == 0) {
				e->comp = PROTO_COMP_ZSTD;
				e->data = c->cbuf;
				e->data_len = clen;
			}
		}
	}
	if (e->kind == PROTO_KIND_DATA)
		c->st.bytes_data += len;
	else
		c->st.bytes_zero += len;
	c->st.extents++;
	c->st.bytes_wire += PROTO_HDR_SIZE + 28 + e->data_len;
	return conn_send(c->conn, &m);
}

/* Queue extents until the output buffer is full or the point is sent. */
static void
pump(struct cycle *c)
{
	while (c->state == C_SENDING && conn_out_pending(c->conn) < OUT_HIGH_WATER) {
		struct proto_msg m = { 0 };
		uint64_t chunk;

		if (c->cur_disk == snapshot_ndisks(c->snap)) {
			size_t mlen = 0;
			char *meta = point_meta(c, &mlen);

			if (!meta) {
				log_error("group %s: cannot build point metadata", c->g->name);
				cycle_fail(c);
				return;
			}
			m.type = PROTO_POINT_COMMIT;
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
			return;
		}
		if (!c->have_ext) {
			int r = snapshot_next_extent(c->snap, c->cur_disk, PROTO_MAX_ZERO,
						     &c->ext);
			if (r < 0) {
				cycle_fail(c);
				return;
			}
			if (r == 0) {
				m.type = PROTO_DISK_DONE;
				m.u.done.disk = (uint16_t)c->cur_disk;
				if (conn_send(c->conn, &m) < 0) {
					cycle_fail(c);
					return;
				}
				c->cur_disk++;
				continue;
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
		if (send_extent(c, c->ext.offset, chunk, c->ext.kind) < 0) {
			cycle_fail(c);
			return;
		}
		c->ext.offset += chunk;
		c->ext.length -= chunk;
		if (c->ext.length == 0)
			c->have_ext = false;
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
	struct snap_file_disk fd[PROTO_MAX_DISKS];
	struct proto_msg m = { .type = PROTO_POINT_BEGIN };
	struct proto_point_begin *b = &m.u.begin;
	char sdir[4096];
	size_t n = c->g->ndisks;

	if (strcmp(p->group, c->g->name) != 0) {
		log_error("group %s: receiver answered for group %s", c->g->name, p->group);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		fd[i].name = c->g->disks[i].name;
		fd[i].path = c->g->disks[i].path;
		fd[i].format = c->g->disks[i].format;
	}
	if ((size_t)snprintf(sdir, sizeof(sdir), "%s/%s", c->cfg->state_dir, c->g->name) >=
	    sizeof(sdir)) {
		log_error("group %s: state directory path too long", c->g->name);
		return -1;
	}
	c->snap = snapshot_file_begin(fd, n, sdir, p->last_point);
	if (!c->snap)
		return -1;
	c->st.point_id = p->last_point + 1;
	c->st.incremental = snapshot_is_incremental(c->snap);
	c->st.base_id = c->st.incremental ? p->last_point : 0;
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
		 c->st.incremental ? "incremental" : "full",
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
		printf("differs: disk %s offset %llu length %llu\n", disk,
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
	c->cbuf_cap = PROTO_MAX_EXTENT + PROTO_MAX_EXTENT / 64 + 1024;
	c->cbuf = malloc(c->cbuf_cap);
	if (!c->base || !c->buf || !c->cbuf) {
		log_error("agent: out of memory");
		goto out;
	}
	if (c->cfg->compress_level > 0) {
		c->zc = zcomp_new(c->cfg->compress_level);
		if (!c->zc)
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
	conn_free(c->conn);
	c->conn = NULL;
	if (c->tick)
		event_free(c->tick);
	if (ctx)
		SSL_CTX_free(ctx);
	zcomp_free(c->zc);
	free(c->buf);
	free(c->cbuf);
	if (c->base)
		event_base_free(c->base);
	return ret;
}

static void
print_stats(const struct cycle *c, int ok)
{
	const struct agent_cycle_stats *s = &c->st;

	if (c->o->json) {
		json_t *j = json_pack("{s:s, s:b, s:I, s:I, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:f}",
				      "group", c->g->name, "ok", ok,
				      "point", (json_int_t)s->point_id,
				      "base", (json_int_t)s->base_id,
				      "incremental", s->incremental, "resumed", s->resumed,
				      "extents", (json_int_t)s->extents,
				      "bytes_data", (json_int_t)s->bytes_data,
				      "bytes_zero", (json_int_t)s->bytes_zero,
				      "bytes_skipped", (json_int_t)s->bytes_skipped,
				      "bytes_wire", (json_int_t)s->bytes_wire,
				      "seconds", s->seconds);
		char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
		if (txt)
			printf("%s\n", txt);
		free(txt);
		json_decref(j);
		fflush(stdout);
	}
	if (ok)
		log_info("group %s: point %llu committed: %llu bytes data, %llu zero, %llu skipped, %llu on the wire, %.2f s",
			 c->g->name, (unsigned long long)s->point_id,
			 (unsigned long long)s->bytes_data, (unsigned long long)s->bytes_zero,
			 (unsigned long long)s->bytes_skipped,
			 (unsigned long long)s->bytes_wire, s->seconds);
}

int
agent_run_once(const struct agent_config *cfg, const struct agent_opts *o)
{
	int ret = 0, found = 0;

	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < cfg->ngroups; i++) {
		struct cycle c = { .cfg = cfg, .g = &cfg->groups[i], .o = o };
		uint64_t t0 = now_ns();
		int r;

		if (o->group && strcmp(o->group, cfg->groups[i].name) != 0)
			continue;
		found = 1;
		c.show_progress = o->progress && isatty(STDERR_FILENO);
		r = cycle_run(&c);
		c.st.seconds = (double)(now_ns() - t0) / 1e9;
		print_stats(&c, r == 0);
		snapshot_free(c.snap);
		if (r < 0)
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
	     bool json)
{
	struct cycle c = { .cfg = cfg, .vpoint = point, .vjson = json };
	int r;

	for (size_t i = 0; i < cfg->ngroups; i++)
		if (strcmp(cfg->groups[i].name, group) == 0)
			c.g = &cfg->groups[i];
	if (!c.g) {
		log_error("group %s is not in the configuration", group);
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
			printf("%s\n", txt);
		free(txt);
		json_decref(j);
	} else if (r == 0) {
		printf("group %s point %llu: %s\n", group, (unsigned long long)c.vpoint,
		       c.vdiffers ? "DIFFERS from the source" : "identical to the source");
	}
	json_decref(c.vranges);
	if (r < 0)
		return -1;
	return c.vdiffers ? 1 : 0;
}
