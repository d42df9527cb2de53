/* Receiver: one session per agent connection, a small state machine over the
 * protocol (hello -> query/begin -> extents -> disk done -> commit), writing
 * into the replica store. Every extent is checked (range, checksum) before a
 * byte of it is written. */
#include "replicator/receiver/receiver.h"

#include <errno.h>
#include <stdbool.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/names.h"
#include "replicator/receiver/marker.h"
#include "proto/codec.h"
#include "proto/compress.h"
#include "proto/conn.h"
#include "proto/listener.h"
#include "replicator/config.h"
#include "replicator/receiver/limits.h"
#include "replicator/receiver/retention.h"
#include "replicator/receiver/rxmetrics.h"
#include "replicator/receiver/store.h"

/* The store speaks its own limits; they must be the wire's. */
_Static_assert(STORE_NAME_MAX == PROTO_NAME_MAX, "store and wire name limits differ");
_Static_assert(STORE_MAX_DISKS == PROTO_MAX_DISKS, "store and wire disk counts differ");
_Static_assert(STORE_MAX_DISK_SIZE == PROTO_MAX_DISK_SIZE, "store and wire disk sizes differ");
_Static_assert(STORE_MAX_META == PROTO_MAX_META, "store and wire metadata sizes differ");
_Static_assert(STORE_MAX_HASHES == PROTO_MAX_HASHES, "store and wire hash counts differ");
_Static_assert(STORE_MAX_WRITE == PROTO_MAX_EXTENT, "store queue and wire extents differ");

enum sess_state { S_HELLO, S_READY, S_POINT, S_COMMITTED };

struct receiver;

struct session {
	struct receiver *rx;
	struct conn *conn;
	struct session *next;
	enum sess_state state;
	char group[PROTO_NAME_MAX + 1];
	struct store_point *point;
	uint64_t point_id;
	uint16_t ndisks;
	uint64_t disk_size[PROTO_MAX_DISKS];
	uint8_t disk_done[PROTO_MAX_DISKS];
	uint64_t since_checkpoint;
	uint64_t bytes;       /* payload of the point in this session (metrics) */
	struct timespec begun; /* point begin, for metrics' cycle seconds */
	struct limits_point limits; /* the point against its group's limits */
	bool out_paused;      /* not read until the peer takes our output */
	bool yielding;        /* not read until the loop served the others */
	struct event *yield;  /* zero timer that ends yielding */
};

struct receiver {
	const struct receiver_config *cfg;
	struct event_base *base;
	SSL_CTX *ctx;
	struct store *store;
	struct zdecomp *zd;
	uint8_t *plain; /* PROTO_MAX_EXTENT bytes, decompression target */
	struct session *sessions;
	uint64_t *hashes; /* PROTO_MAX_HASHES */
	struct rxmetrics *metrics; /* NULL = off */
};

static void
session_unlink(struct session *s)
{
	struct session **pp;

	for (pp = &s->rx->sessions; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
}

static void
session_free(struct session *s)
{
	int err = 0;

	if (!s)
		return;
	if (s->point) {
		/* Keep whatever arrived durable, so the agent resumes from here. */
		if (s->state == S_POINT)
			(void)store_point_checkpoint(s->point, &err);
		store_point_free(s->point);
	}
	session_unlink(s);
	conn_free(s->conn);
	if (s->yield)
		event_free(s->yield);
	free(s);
}

static int
group_busy(const struct session *self, const char *group)
{
	const struct session *s;

	for (s = self->rx->sessions; s; s = s->next) {
		if (s != self && s->state == S_POINT && strcmp(s->group, group) == 0)
			return 1;
	}
	return 0;
}

/* Validates a group name from the network and the peer's right to write it. */
static int
check_group(struct session *s, const char *group)
{
	const char *peer = conn_peer_name(s->conn);

	if (!name_valid(group, strlen(group))) {
		log_error("peer %s: invalid group name refused", peer);
		conn_send_error(s->conn, PROTO_ERR_PROTOCOL, "invalid group name");
		return -1;
	}
	if (!receiver_config_allows(s->rx->cfg, peer, group)) {
		log_error("peer %s: not authorised for group %s", peer, group);
		conn_send_error(s->conn, PROTO_ERR_AUTH,
				"not authorised for group %s", group);
		return -1;
	}
	return 0;
}

static int
on_hello(struct session *s, const struct proto_hello *h)
{
	if (h->version_min > PROTO_VERSION || h->version_max < PROTO_VERSION) {
		conn_send_error(s->conn, PROTO_ERR_PROTOCOL,
				"protocol versions %u..%u not supported (need %u)",
				h->version_min, h->version_max, PROTO_VERSION);
		return -1;
	}
	log_info("agent %s connected (%s)", conn_peer_name(s->conn), h->peer);
	s->state = S_READY;
	return 0;
}

/* The wire code of a store error (enum store_err). */
static uint32_t
store_err_wire(int err)
{
	switch (err) {
	case STORE_ERR_INVALID: return PROTO_ERR_PROTOCOL;
	case STORE_ERR_IO: return PROTO_ERR_STORE;
	case STORE_ERR_CONFLICT: return PROTO_ERR_CONFLICT;
	case STORE_ERR_NOTFOUND: return PROTO_ERR_NOTFOUND;
	default: return PROTO_ERR_INTERNAL;
	}
}

static int
send_progress(struct session *s, const char *group)
{
	struct proto_msg m = { .type = PROTO_PROGRESS };
	struct proto_progress *p = &m.u.progress;
	struct store_progress *sp = malloc(sizeof(*sp));

	if (!sp || store_progress(s->rx->store, group, sp) < 0) {
		free(sp);
		conn_send_error(s->conn, PROTO_ERR_STORE, "cannot read catalog of %s",
				group);
		return -1;
	}
	snprintf(p->group, sizeof(p->group), "%s", sp->group);
	p->last_point = sp->last_point;
	p->pending_point = sp->pending_point;
	p->pending_base = sp->pending_base;
	p->ndisks = (uint16_t)sp->ndisks;
	for (size_t i = 0; i < sp->ndisks; i++) {
		snprintf(p->disks[i].name, sizeof(p->disks[i].name), "%s", sp->disks[i].name);
		p->disks[i].durable_offset = sp->disks[i].durable_offset;
		p->disks[i].done = sp->disks[i].done;
	}
	free(sp);
	return conn_send(s->conn, &m);
}

/* A POINT_BEGIN as the store's request. */
static void
store_begin_of(const struct proto_point_begin *b, struct store_begin *sb)
{
	memset(sb, 0, sizeof(*sb));
	snprintf(sb->group, sizeof(sb->group), "%s", b->group);
	sb->point_id = b->point_id;
	sb->base_id = b->base_id;
	sb->time_ns = b->time_ns;
	sb->ndisks = b->ndisks;
	for (size_t i = 0; i < b->ndisks && i < STORE_MAX_DISKS; i++) {
		snprintf(sb->disks[i].name, sizeof(sb->disks[i].name), "%s", b->disks[i].name);
		sb->disks[i].size = b->disks[i].size;
	}
}

static int
on_progress_query(struct session *s, const struct proto_progress_query *q)
{
	if (check_group(s, q->group) < 0)
		return -1;
	return send_progress(s, q->group);
}

static int
on_point_begin(struct session *s, const struct proto_point_begin *b)
{
	struct store_begin *sb;
	int err = STORE_ERR_INTERNAL;
	char why[256];
	uint32_t code;

	if (check_group(s, b->group) < 0)
		return -1;
	for (uint16_t i = 0; i < b->ndisks; i++) {
		if (!name_valid(b->disks[i].name, strlen(b->disks[i].name))) {
			log_error("group %s: invalid disk name refused", b->group);
			conn_send_error(s->conn, PROTO_ERR_PROTOCOL, "invalid disk name");
			return -1;
		}
	}
	if (group_busy(s, b->group)) {
		conn_send_error(s->conn, PROTO_ERR_CONFLICT,
				"group %s is being written by another session", b->group);
		return -1;
	}
	if (failover_group_is_failed_over(s->rx->cfg->store_dir, b->group)) {
		log_warn("group %s is failed over: point refused", b->group);
		conn_send_error(s->conn, PROTO_ERR_CONFLICT, "group %s is failed over", b->group);
		return -1;
	}
	sb = malloc(sizeof(*sb));
	if (sb)
		store_begin_of(b, sb);
	if (sb && limits_begin(s->rx->cfg, s->rx->store, sb, &s->limits, why, sizeof(why),
			       &code) < 0) {
		free(sb);
		conn_send_error(s->conn, code, "point %llu of group %s refused: %s",
				(unsigned long long)b->point_id, b->group, why);
		return -1;
	}
	s->point = sb ? store_point_begin(s->rx->store, sb, &err) : NULL;
	free(sb);
	if (s->point && limits_begun(s->rx->store, b->group, &s->limits) < 0) {
		store_point_free(s->point);
		s->point = NULL;
	}
	if (!s->point) {
		conn_send_error(s->conn, store_err_wire(err),
				"cannot begin point %llu of group %s",
				(unsigned long long)b->point_id, b->group);
		return -1;
	}
	snprintf(s->group, sizeof(s->group), "%s", b->group);
	s->point_id = b->point_id;
	s->ndisks = b->ndisks;
	for (uint16_t i = 0; i < b->ndisks; i++) {
		s->disk_size[i] = b->disks[i].size;
		s->disk_done[i] = 0;
	}
	s->since_checkpoint = 0;
	s->bytes = 0;
	clock_gettime(CLOCK_MONOTONIC, &s->begun);
	s->state = S_POINT;
	log_info("group %s: receiving point %llu (base %llu, %u disks)", b->group,
		 (unsigned long long)b->point_id, (unsigned long long)b->base_id,
		 b->ndisks);
	/* Tell the agent what is really durable now: the store may have had to
	 * start the point over, and the agent must not skip anything then. */
	return send_progress(s, b->group);
}

static int
on_extent(struct session *s, const struct proto_extent *e)
{
	struct receiver *rx = s->rx;
	const void *plain = e->data;
	int err = STORE_ERR_INTERNAL;
	int r;

	if (e->disk >= s->ndisks || s->disk_done[e->disk]) {
		conn_send_error(s->conn, PROTO_ERR_PROTOCOL, "extent for disk %u not open",
				e->disk);
		return -1;
	}
	if (proto_extent_check(e, s->disk_size[e->disk]) != PROTO_OK) {
		log_error("group %s point %llu: extent %llu+%llu past end of disk %u",
			  s->group, (unsigned long long)s->point_id,
			  (unsigned long long)e->offset, (unsigned long long)e->length,
			  e->disk);
		conn_send_error(s->conn, PROTO_ERR_PROTOCOL, "extent past end of disk");
		return -1;
	}
	if (e->kind == PROTO_KIND_DATA) {
		if (!limits_point_grow(&s->limits, s->group, e->length)) {
			conn_send_error(s->conn, PROTO_ERR_STORE,
					"group %s is over its quota of %llu bytes", s->group,
					(unsigned long long)s->limits.lim.quota);
			return -1;
		}
		if (e->comp == PROTO_COMP_ZSTD) {
			if (zdecomp_decompress(rx->zd, e->data, e->data_len, rx->plain,
					       (size_t)e->length) < 0) {
				log_error("group %s point %llu: undecodable extent at %llu",
					  s->group, (unsigned long long)s->point_id,
					  (unsigned long long)e->offset);
				conn_send_error(s->conn, PROTO_ERR_CHECKSUM,
						"extent at %llu does not decompress",
						(unsigned long long)e->offset);
				return -1;
			}
			plain = rx->plain;
		}
		if (hash64(plain, (size_t)e->length) != e->checksum) {
			log_error("group %s point %llu disk %u: checksum mismatch at %llu+%llu, nothing written",
				  s->group, (unsigned long long)s->point_id, e->disk,
				  (unsigned long long)e->offset,
				  (unsigned long long)e->length);
			conn_send_error(s->conn, PROTO_ERR_CHECKSUM,
					"checksum mismatch at offset %llu",
					(unsigned long long)e->offset);
			return -1;
		}
		r = store_point_write(s->point, e->disk, e->offset, plain,
				      (size_t)e->length, &err);
	} else {
		r = store_point_zero(s->point, e->disk, e->offset, e->length, &err);
	}
	if (r < 0) {
		conn_send_error(s->conn, store_err_wire(err), "write at offset %llu of disk %u failed%s",
				(unsigned long long)e->offset, e->disk,
				errno == ENOSPC ? ": the replica store is full" :
				errno == EMFILE ? ": too many qemu-nbd processes (max_nbd_total)" : "");
		return -1;
	}
	store_point_add_bytes(s->point, e->data_len);
	s->bytes += e->data_len;
	s->since_checkpoint += e->kind == PROTO_KIND_DATA ? e->length : 0;
	if (s->since_checkpoint >= rx->cfg->checkpoint_bytes) {
		if (store_point_checkpoint(s->point, &err) < 0) {
			conn_send_error(s->conn, store_err_wire(err), "cannot persist progress");
			return -1;
		}
		s->since_checkpoint = 0;
	}
	return 0;
}

static int
on_disk_done(struct session *s, const struct proto_disk_done *d)
{
	int err = STORE_ERR_INTERNAL;

	if (d->disk >= s->ndisks || s->disk_done[d->disk]) {
		conn_send_error(s->conn, PROTO_ERR_PROTOCOL, "disk %u not open", d->disk);
		return -1;
	}
	if (store_point_disk_done(s->point, d->disk, &err) < 0) {
		conn_send_error(s->conn, store_err_wire(err), "cannot flush disk %u", d->disk);
		return -1;
	}
	s->disk_done[d->disk] = 1;
	return 0;
}

static int
on_commit(struct session *s, const struct proto_point_commit *c)
{
	struct proto_msg m = { .type = PROTO_COMMITTED };
	int err = STORE_ERR_INTERNAL;

	if (c->point_id != s->point_id) {
		conn_send_error(s->conn, PROTO_ERR_PROTOCOL, "commit of point %llu, expected %llu",
				(unsigned long long)c->point_id,
				(unsigned long long)s->point_id);
		return -1;
	}
	if (store_point_commit(s->point, c->meta, c->meta_len, &err) < 0) {
		conn_send_error(s->conn, store_err_wire(err), "commit of point %llu failed",
				(unsigned long long)c->point_id);
		return -1;
	}
	store_point_free(s->point);
	s->point = NULL;
	s->state = S_COMMITTED;
	if (s->rx->metrics) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		rxmetrics_point_committed(s->rx->metrics, s->group, s->bytes,
					(double)(now.tv_sec - s->begun.tv_sec) +
					(double)(now.tv_nsec - s->begun.tv_nsec) / 1e9);
	}
	/* After the group lock is released: retention takes it itself. */
	retention_after_commit(s->rx->cfg, s->rx->store, s->group);
	log_info("group %s: point %llu committed", s->group,
		 (unsigned long long)c->point_id);
	m.u.committed.point_id = c->point_id;
	return conn_send(s->conn, &m);
}

static int
on_hash_query(struct session *s, const struct proto_hash_query *q)
{
	struct proto_msg m = { .type = PROTO_HASH_ANSWER };
	struct store_hash_req req = { q->group, q->disk, q->point_id, q->offset, q->block_size,
				      q->count, s->rx->cfg->max_hash_bytes };
	struct store_hash_res res;
	int err = STORE_ERR_INTERNAL;
	uint8_t *be;

	if (check_group(s, q->group) < 0)
		return -1;
	if (!name_valid(q->disk, strlen(q->disk))) {
		conn_send_error(s->conn, PROTO_ERR_PROTOCOL, "invalid disk name");
		return -1;
	}
	/* A point that is not committed (never was, or retention removed it)
	 * has no hashes: an empty answer would read as "all zeros" and make a
	 * resync send everything against data that is not there. A disk the
	 * point lacks has none either (it reads as zeros). The work is bounded
	 * by max_hash_bytes_per_query; a longer query gets a partial answer. */
	if (store_hash_query(s->rx->store, &req, s->rx->hashes, &res, &err) < 0) {
		conn_send_error(s->conn, store_err_wire(err),
				err == STORE_ERR_NOTFOUND ? "no point %llu in group %s"
							  : "no hashes of point %llu of group %s",
				(unsigned long long)q->point_id, q->group);
		return -1;
	}
	/* Big-endian on the wire; convert in place. */
	be = (uint8_t *)s->rx->hashes;
	for (uint32_t i = 0; i < res.got; i++) {
		uint64_t v = s->rx->hashes[i];
		for (int b = 7; b >= 0; b--) {
			be[i * 8 + (unsigned)b] = (uint8_t)v;
			v >>= 8;
		}
	}
	m.u.hanswer.point_id = res.point;
	m.u.hanswer.offset = q->offset;
	m.u.hanswer.block_size = q->block_size;
	m.u.hanswer.count = res.got;
	m.u.hanswer.flags = res.more ? PROTO_FLAG_HASH_MORE : 0;
	m.u.hanswer.hashes = be;
	return conn_send(s->conn, &m);
}

static int
session_on_msg(struct conn *c, const struct proto_msg *msg, void *arg)
{
	struct session *s = arg;

	(void)c;
	if (msg->type == PROTO_ERROR) {
		log_error("agent %s reported error %u: %s", conn_peer_name(s->conn),
			  msg->u.error.code, msg->u.error.text);
		conn_close(s->conn);
		return -1;
	}
	if (s->state == S_HELLO) {
		if (msg->type != PROTO_HELLO)
			goto bad;
		return on_hello(s, &msg->u.hello);
	}
	switch (msg->type) {
	case PROTO_PROGRESS_QUERY:
		if (s->state == S_POINT)
			goto bad;
		return on_progress_query(s, &msg->u.pquery);
	case PROTO_POINT_BEGIN:
		if (s->state == S_POINT)
			goto bad;
		return on_point_begin(s, &msg->u.begin);
	case PROTO_EXTENT:
		if (s->state != S_POINT)
			goto bad;
		return on_extent(s, &msg->u.extent);
	case PROTO_DISK_DONE:
		if (s->state != S_POINT)
			goto bad;
		return on_disk_done(s, &msg->u.done);
	case PROTO_POINT_COMMIT:
		if (s->state != S_POINT)
			goto bad;
		return on_commit(s, &msg->u.commit);
	case PROTO_HASH_QUERY:
		/* Also during a point: a resync compares with its base. */
		return on_hash_query(s, &msg->u.hquery);
	default:
		break;
	}
bad:
	log_error("agent %s: unexpected message type %u", conn_peer_name(s->conn),
		  msg->type);
	conn_send_error(s->conn, PROTO_ERR_PROTOCOL, "unexpected message type %u",
			msg->type);
	return -1;
}

static void
session_read_again(struct session *s)
{
	if (!s->out_paused && !s->yielding)
		conn_resume_read(s->conn);
}

static void
session_on_yield(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)what;
	s->yielding = false;
	session_read_again(s);
}

/* Back-pressure: a peer that does not read what we answer is not read
 * either, so it can make us hold session_output_max (and one frame), no
 * more; reading resumes once the output drained to the low-water mark.
 * Fairness: after a hash query (the one request that reads a lot) the
 * session waits for the next turn of the loop, so the frames of other
 * sessions that arrived meanwhile go first. */
static int
session_on_frame(struct conn *c, const struct proto_msg *msg, void *arg)
{
	static const struct timeval now = { 0, 0 };
	struct session *s = arg;
	int r = session_on_msg(c, msg, arg);

	if (r < 0)
		return r;
	if (!s->out_paused && conn_out_pending(c) > s->rx->cfg->session_output_max) {
		log_debug("agent %s: not reading our answers; pausing", conn_peer_name(c));
		s->out_paused = true;
		conn_pause_read(c);
	}
	if (msg->type == PROTO_HASH_QUERY && !s->yielding && evtimer_add(s->yield, &now) == 0) {
		s->yielding = true;
		conn_pause_read(c);
	}
	return 0;
}

static void
session_on_drain(struct conn *c, void *arg)
{
	struct session *s = arg;

	(void)c;
	if (s->out_paused) {
		s->out_paused = false;
		session_read_again(s);
	}
}

static void
session_on_ready(struct conn *c, void *arg)
{
	struct proto_msg m = { .type = PROTO_HELLO };

	(void)arg;
	m.u.hello.version_min = PROTO_VERSION;
	m.u.hello.version_max = PROTO_VERSION;
	m.u.hello.caps = PROTO_CAP_ZSTD;
	snprintf(m.u.hello.peer, sizeof(m.u.hello.peer), "nestor-receiver");
	(void)conn_send(c, &m);
}

static void
session_on_close(struct conn *c, const char *reason, void *arg)
{
	struct session *s = arg;

	if (s->state == S_POINT)
		rxmetrics_session_failed(s->rx->metrics, s->group, s->bytes);
	if (s->state != S_COMMITTED && s->state != S_READY)
		log_warn("agent %s: connection closed: %s", conn_peer_name(c), reason);
	else
		log_debug("agent %s: connection closed: %s", conn_peer_name(c), reason);
	session_free(s);
}

static const struct conn_cbs session_cbs = {
	.on_ready = session_on_ready,
	.on_msg = session_on_frame,
	.on_drain = session_on_drain,
	.on_close = session_on_close,
};

static void
on_accept(int fd, void *arg)
{
	struct receiver *rx = arg;
	struct session *s = calloc(1, sizeof(*s));

	if (!s) {
		log_error("out of memory accepting a connection");
		close(fd);
		return;
	}
	s->rx = rx;
	s->yield = evtimer_new(rx->base, session_on_yield, s);
	s->conn = s->yield ? conn_accept(rx->base, rx->ctx, fd, &session_cbs, s) : NULL;
	if (!s->conn) {
		if (s->yield)
			event_free(s->yield);
		else
			close(fd);
		free(s);
		return;
	}
	conn_set_low_water(s->conn, rx->cfg->session_output_max / 2);
	s->next = rx->sessions;
	rx->sessions = s;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct receiver *rx = arg;

	(void)what;
	log_info("signal %d: stopping", (int)sig);
	event_base_loopbreak(rx->base);
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

struct store *
receiver_store_open(const struct receiver_config *cfg)
{
	struct store_ceph_opts o = { cfg->ceph_conf, cfg->ceph_client, cfg->ceph_pool };

	struct store *st = store_open(cfg->store_dir, cfg->store_ceph ? &o : NULL);

	if (st)
		store_set_limits(st, (unsigned)cfg->max_nbd_total, (unsigned)cfg->max_nbd_per_session);
	return st;
}

int
receiver_run(const struct receiver_config *cfg)
{
	struct receiver rx = { .cfg = cfg };
	struct tls_files tf = { cfg->ca, cfg->cert, cfg->key };
	struct listener *ln = NULL;
	struct event *sigint = NULL, *sigterm = NULL;
	int ret = -1;

	malloc_keep_buffers();
	signal(SIGPIPE, SIG_IGN);
	rx.base = event_base_new();
	rx.plain = malloc(PROTO_MAX_EXTENT);
	rx.hashes = calloc(PROTO_MAX_HASHES, sizeof(uint64_t));
	rx.zd = zdecomp_new();
	if (!rx.base || !rx.plain || !rx.hashes || !rx.zd) {
		log_error("receiver: out of memory");
		goto out;
	}
	rx.ctx = tls_server_ctx_new(&tf);
	if (!rx.ctx)
		goto out;
	rx.store = receiver_store_open(cfg);
	if (!rx.store)
		goto out;
	ln = listener_new(rx.base, cfg->listen_host, cfg->listen_port, on_accept, &rx);
	if (!ln)
		goto out;
	if (cfg->metrics_host) {
		rx.metrics = rxmetrics_new(rx.base, cfg->metrics_host, cfg->metrics_port,
					   rx.store, cfg->store_dir);
		if (!rx.metrics)
			goto out;
	}
	sigint = evsignal_new(rx.base, SIGINT, on_signal, &rx);
	sigterm = evsignal_new(rx.base, SIGTERM, on_signal, &rx);
	if (!sigint || !sigterm || evsignal_add(sigint, NULL) < 0 ||
	    evsignal_add(sigterm, NULL) < 0) {
		log_error("receiver: cannot install signal handlers");
		goto out;
	}
	log_info("receiver listening on %s:%u, store %s", cfg->listen_host,
		 listener_port(ln), cfg->store_dir);
	log_info("receiver memory: %llu KiB per idle session, at most %llu KiB per busy one, "
		 "%llu KiB shared", (unsigned long long)limits_session_idle() >> 10,
		 (unsigned long long)limits_session_busy(cfg->session_output_max) >> 10,
		 (unsigned long long)limits_shared() >> 10);
	if (event_base_dispatch(rx.base) < 0) {
		log_error("receiver: event loop failed");
		goto out;
	}
	ret = 0;
out:
	while (rx.sessions)
		session_free(rx.sessions);
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	listener_free(ln);
	rxmetrics_free(rx.metrics);
	store_free(rx.store);
	if (rx.ctx)
		SSL_CTX_free(rx.ctx);
	zdecomp_free(rx.zd);
	free(rx.hashes);
	free(rx.plain);
	if (rx.base)
		event_base_free(rx.base);
	return ret;
}
