/* `nestor failback start` and `status` (start.h): the agent's outbound
 * connection, REVERSE_BEGIN, X, then the receiver's session over the
 * target store on this side. */
#include "failback/start.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "common/testhook.h"
#include "failback/newdisks.h"
#include "failback/ondomains.h"
#include "failback/revstat.h"
#include "failback/target.h"
#include "proto/codec.h"
#include "proto/conn.h"
#include "replicator/agent/channel.h"
#include "replicator/receiver/session.h"
#include "replicator/receiver/store.h"
#include "snapshot/ranges.h"
#include "snapshot/source.h"

#define FB_MIN_INTERVAL_S 10

/* F_WAIT_DONE: a finish's final point is committed; REVERSE_DONE next. */
enum fb_state { F_HELLO, F_P, F_SESSION, F_WAIT_DONE, F_DONE, F_FAILED };

/* A finish waits for the DR side (its VMs' shutdown, then F) this much
 * longer than the shutdown timeout before it gives up. */
#define FB_FINISH_SLACK_S 600

struct fb {
	const struct agent_config *cfg;
	const struct agent_group_cfg *g;
	const struct failback_opts *o;
	struct channel *ch;
	enum fb_state state;
	struct store *store;            /* the target */
	struct receiver_config *rxcfg;  /* the session's, made for this peer */
	struct session_env *env;
	struct session *s;
	uint64_t failover_point;        /* P */
	uint64_t committed;
	uint64_t x_bytes;               /* what X covers */
	bool x_whole;                   /* X is a whole disk for one disk at least (no
					 * tracking since P) */
	bool new_disks;                 /* into new disks (newdisks.h): X is whole */
	uint64_t deadline_ns;           /* a finish: the DR side's answer by then */
};

static void
fb_end(struct fb *f, enum fb_state st)
{
	if (f->state != F_DONE)
		f->state = st;
	channel_end(f->ch);
}

/* ---- X: the on-prem disks' changes since P ---- */

/* Disk i's X into rs: the file source's extents since P when its tracking
 * was committed at P (tracked), else the changes the checkpoint bitmaps of
 * a domain's disk hold since P (a point taken live), else the whole disk
 * (*whole set). */
static int
x_of_disk(struct fb *f, struct snapshot *snap, size_t i, bool tracked, struct range_set *rs,
	  bool *whole)
{
	struct snap_extent e;
	int r;

	if (!tracked) {
		r = ondomains_x(f->g, f->cfg->state_dir, f->failover_point,
				snapshot_disk_name(snap, i), rs);
		if (r != 0)
			return r < 0 ? -1 : 0;
		*whole = true;
		return range_set_add(rs, 0, snapshot_disk_size(snap, i));
	}
	while ((r = snapshot_next_extent(snap, i, PROTO_MAX_ZERO, &e)) == 1)
		if (range_set_add(rs, e.offset, e.length) < 0)
			return -1;
	return r;
}

/* One disk's X as REVERSE_RANGES frames of at most PROTO_MAX_RANGES. */
static int
x_send(struct fb *f, const char *disk, struct range_set *rs)
{
	static uint8_t buf[PROTO_MAX_RANGES * PROTO_RANGE_SIZE];
	struct proto_msg m = { .type = PROTO_REVERSE_RANGES };
	size_t n = range_set_count(rs), i = 0;
	uint64_t off, len;

	snprintf(m.u.rranges.disk, sizeof(m.u.rranges.disk), "%s", disk);
	do {
		uint32_t k = 0;

		for (; i < n && k < PROTO_MAX_RANGES; i++, k++) {
			(void)range_set_range(rs, i, &off, &len);
			proto_range_put(buf + (size_t)k * PROTO_RANGE_SIZE, off, len);
		}
		m.u.rranges.count = k;
		m.u.rranges.ranges = k ? buf : NULL;
		m.u.rranges.flags = i < n ? PROTO_FLAG_RANGES_MORE : 0;
		if (conn_send(channel_conn(f->ch), &m) < 0)
			return -1;
	} while (i < n);
	f->x_bytes += range_set_bytes(rs);
	return 0;
}

/* The group's disk files (its image files, its domains' disk files) listed
 * read-only against P, in the forward file source's state
 * (<state_dir>/<group>/file, sources.c): the on-prem disks are never
 * written before cutover, not even a bitmap. */
static struct snapshot *
x_listing(struct fb *f)
{
	struct snap_file_disk fd[SNAP_MAX_DISKS];
	char *sdir = strfmt("%s/%s/file", f->cfg->state_dir, f->g->name);
	struct failback_disks d = { 0 };
	struct snapshot *snap = NULL;

	if (!sdir || failback_disks_of(f->g, &d) < 0 || d.n > SNAP_MAX_DISKS)
		goto out;
	for (size_t i = 0; i < d.n; i++)
		fd[i] = (struct snap_file_disk){ d.v[i].name, d.given[i], d.v[i].format,
						 SNAP_CLONE_NONE };
	snap = snapshot_file_changes(fd, d.n, sdir, f->failover_point);
out:
	failback_disks_clear(&d);
	free(sdir);
	return snap;
}

/* X's bare END: no disk continues. */
static int
x_end(struct fb *f)
{
	struct proto_msg end = { .type = PROTO_REVERSE_RANGES };

	end.u.rranges.flags = PROTO_FLAG_RANGES_END;
	return conn_send(channel_conn(f->ch), &end);
}

/* New disks hold nothing of the lost ones: X is every disk whole. A
 * REVERSE_BEGIN says so (REVERSE_FULL: the receiver knows the sizes); a
 * finish has no such flag, so it sends them as ranges, the sizes of the
 * target's newest point (a finish follows a first reverse point). */
static int
x_new_disks(struct fb *f)
{
	struct store_point_info *pts = NULL, *last = NULL;
	size_t n = 0;
	int ret = -1;

	if (!f->o->finish) {
		log_info("failback: group %s: new disks: X is every disk whole", f->g->name);
		return x_end(f);
	}
	if (store_list_points(f->store, f->g->name, &pts, &n) < 0)
		goto out;
	if (n == 0) {
		log_error("failback: group %s: no reverse point in the target yet", f->g->name);
		goto out;
	}
	last = &pts[n - 1]; /* oldest first */
	for (size_t i = 0; i < last->ndisks; i++) {
		struct range_set *rs = range_set_new(last->disks[i].name, 1);
		int r = rs ? range_set_add(rs, 0, last->disks[i].size) : -1;

		if (r == 0)
			r = x_send(f, last->disks[i].name, rs);
		range_set_free(rs);
		if (r < 0)
			goto out;
	}
	ret = x_end(f);
out:
	free(pts);
	return ret;
}

/* X of every disk, then the bare END. */
static int
x_all(struct fb *f)
{
	struct snapshot *snap = NULL;
	bool tracked;
	int ret = -1;

	if (f->new_disks)
		return x_new_disks(f);
	if (!(snap = x_listing(f)))
		goto out;
	tracked = snapshot_is_incremental(snap) != 0;
	for (size_t i = 0; i < snapshot_ndisks(snap); i++) {
		const char *name = snapshot_disk_name(snap, i);
		uint64_t size = snapshot_disk_size(snap, i);
		struct range_set *rs = range_set_new(name, range_set_max_for(size));
		bool whole = false;
		int r = rs ? x_of_disk(f, snap, i, tracked, rs, &whole) : -1;

		if (r == 0 && whole)
			log_warn("failback: group %s disk %s: the on-prem change tracking does not "
				 "start at the failover's point %llu: the whole disk is sent as X "
				 "(last resort; the hash-compare mode is a later step)", f->g->name,
				 name, (unsigned long long)f->failover_point);
		f->x_whole |= whole;
		if (r == 0)
			r = x_send(f, name, rs);
		range_set_free(rs);
		if (r < 0)
			goto out;
	}
	ret = x_end(f);
	log_info("failback: group %s: X since point %llu: %llu bytes%s", f->g->name,
		 (unsigned long long)f->failover_point, (unsigned long long)f->x_bytes,
		 f->x_whole ? " (whole disks among them)" : "");
out:
	snapshot_free(snap);
	return ret;
}

/* ---- the session over the target store ---- */

static int
io_send(void *arg, const struct proto_msg *m)
{
	struct fb *f = arg;

	if (conn_send(channel_conn(f->ch), m) < 0)
		return -1;
	if (m->type == PROTO_COMMITTED) { /* one point per connection */
		f->committed = m->u.committed.point_id;
		if (f->o->finish) { /* F follows: the promotion's time from now */
			f->state = F_WAIT_DONE;
			f->deadline_ns = clock_mono_ns() + FB_FINISH_SLACK_S * 1000000000ull;
		} else {
			fb_end(f, F_DONE);
		}
	}
	return 0;
}

static void
io_send_error(void *arg, uint32_t code, const char *text)
{
	struct fb *f = arg;

	log_error("failback: group %s: the target refused: %s", f->g->name, text);
	(void)conn_send_error(channel_conn(f->ch), code, "%s", text);
	f->state = F_FAILED;
}

static void
io_close(void *arg)
{
	fb_end(arg, F_FAILED);
}

static const char *
io_peer_name(void *arg)
{
	return conn_peer_name(channel_conn(((struct fb *)arg)->ch));
}

static const struct session_io fb_io = {
	.send = io_send, .send_error = io_send_error, .close = io_close,
	.peer_name = io_peer_name,
};

/* The session of the receiver's code over the target, authorising the
 * receiver's certificate (the one the TLS handshake checked) for group. */
static int
session_start(struct fb *f)
{
	const char *peer = conn_peer_name(channel_conn(f->ch));
	char *root = failback_root(f->cfg);
	char *conf = root ? strfmt("[receiver]\nlisten = 127.0.0.1:1\nca = %s\ncert = %s\n"
				   "key = %s\nstore = %s\n\n[client %s]\ngroups = %s\n",
				   f->cfg->ca, f->cfg->cert, f->cfg->key, root, peer, f->g->name)
			      : NULL;
	int ret = -1;

	if (!conf || receiver_config_load_string("failback", conf, &f->rxcfg) < 0)
		goto out;
	f->env = session_env_new(f->rxcfg, f->store, NULL);
	f->s = f->env ? session_new(f->env, &fb_io, f) : NULL;
	if (!f->s)
		goto out;
	session_on_ready(f->s); /* our HELLO: the roles invert here */
	ret = 0;
out:
	free(conf);
	free(root);
	return ret;
}

/* ---- the channel ---- */

/* A finish's first frame: REVERSE_FINISH, the release's or the finish's. */
static int
fb_send_finish(struct fb *f)
{
	struct proto_msg m = { .type = PROTO_REVERSE_FINISH };

	snprintf(m.u.rfinish.group, sizeof(m.u.rfinish.group), "%s", f->g->name);
	if (f->o->release) {
		m.u.rfinish.flags = PROTO_FLAG_FINISH_RELEASE;
		m.u.rfinish.point = f->o->release;
	} else {
		m.u.rfinish.shutdown_s = f->o->shutdown_s;
	}
	f->deadline_ns = clock_mono_ns() +
			 ((uint64_t)f->o->shutdown_s + FB_FINISH_SLACK_S) * 1000000000ull;
	f->state = F_P;
	return conn_send(channel_conn(f->ch), &m);
}

/* REVERSE_DONE: F (and the release) as asked. */
static int
fb_on_done(struct fb *f, const struct proto_reverse_done *d)
{
	if (strcmp(d->group, f->g->name) != 0 || (f->o->release && d->point != f->o->release) ||
	    !(d->flags & PROTO_FLAG_DONE_RELEASED) != !f->o->release) {
		log_error("failback: group %s: the receiver's answer (point %llu%s) is not the "
			  "one asked", f->g->name, (unsigned long long)d->point,
			  d->flags & PROTO_FLAG_DONE_RELEASED ? ", released" : "");
		return -1;
	}
	*f->o->done = (struct failback_done){ d->point, d->base, d->bytes,
					      (d->flags & PROTO_FLAG_DONE_RELEASED) != 0,
					      f->committed };
	fb_end(f, F_DONE);
	return 0;
}

static int
fb_on_msg(void *arg, const struct proto_msg *msg)
{
	struct fb *f = arg;
	struct proto_msg m = { .type = PROTO_REVERSE_BEGIN };
	int rc;

	if (f->state == F_SESSION) {
		/* Every extent and DISK_DONE is in: a kill here must converge. */
		if (msg->type == PROTO_POINT_COMMIT)
			testhook_at("failback-commit");
		if ((rc = session_on_msg(f->s, msg)) < 0 && f->state != F_DONE)
			f->state = F_FAILED;
		return rc < 0 ? -1 : 0;
	}
	if (channel_refused(f->ch, msg)) {
		fb_end(f, F_FAILED);
		return -1;
	}
	if (f->state == F_HELLO && msg->type == PROTO_HELLO && f->o->finish) {
		if (channel_hello_ok(msg) < 0 || fb_send_finish(f) < 0)
			goto fail;
		return 0;
	}
	if ((f->state == F_P || f->state == F_WAIT_DONE) && msg->type == PROTO_REVERSE_DONE &&
	    f->o->finish) {
		if (fb_on_done(f, &msg->u.rdone) < 0)
			goto fail;
		return 0;
	}
	if (f->state == F_P && msg->type == PROTO_PROGRESS && (f->o->release || f->o->no_point)) {
		log_error("failback: group %s: the receiver begins a reverse point, but the cutover "
			  "began here already: its point F is missing (see the receiver's log)",
			  f->g->name);
		goto fail;
	}
	if (f->state == F_HELLO && msg->type == PROTO_HELLO) {
		if (channel_hello_ok(msg) < 0)
			goto fail;
		m.u.rbegin.flags = f->new_disks ? PROTO_FLAG_REVERSE_FULL : PROTO_FLAG_REVERSE_RANGES;
		snprintf(m.u.rbegin.group, sizeof(m.u.rbegin.group), "%s", f->g->name);
		f->state = F_P;
		return conn_send(channel_conn(f->ch), &m) < 0 ? -1 : 0;
	}
	if (f->state == F_P && msg->type == PROTO_PROGRESS &&
	    strcmp(msg->u.progress.group, f->g->name) == 0 && msg->u.progress.last_point) {
		f->failover_point = msg->u.progress.last_point;
		if (x_all(f) < 0 || session_start(f) < 0)
			goto fail;
		f->state = F_SESSION;
		return 0;
	}
	f->state = F_FAILED;
	return channel_unexpected(f->ch, msg);
fail:
	fb_end(f, F_FAILED);
	return -1;
}

static void
fb_on_close(void *arg, const char *reason)
{
	struct fb *f = arg;

	if (f->state != F_DONE && f->state != F_FAILED)
		log_error("failback: group %s: connection to the receiver lost: %s", f->g->name,
			  reason);
	if (f->state != F_DONE)
		f->state = F_FAILED;
}

static void
fb_on_tick(void *arg)
{
	struct fb *f = arg;

	if (f->state == F_DONE || f->state == F_FAILED)
		return;
	/* The DR side shuts its VMs down, then makes F: silent that long. */
	if (f->o->finish && (f->state == F_P || f->state == F_WAIT_DONE)) {
		if (clock_mono_ns() > f->deadline_ns) {
			log_error("failback: group %s: no answer from the receiver within %u s: "
				  "run failback finish again", f->g->name,
				  f->o->shutdown_s + FB_FINISH_SLACK_S);
			fb_end(f, F_FAILED);
		}
		return;
	}
	if (f->o->stop && *f->o->stop) {
		log_info("failback: group %s: stopping: the reverse point stays resumable",
			 f->g->name);
		fb_end(f, F_FAILED);
	} else if (channel_idle(f->ch)) {
		fb_end(f, F_FAILED);
	}
}

static const struct channel_cbs fb_cbs = {
	.on_msg = fb_on_msg, .on_close = fb_on_close, .on_tick = fb_on_tick,
};

/* The target's point id in JSON / a line. */
static void
fb_report(const struct fb *f, double secs)
{
	struct store_point_info *pts = NULL;
	size_t n = 0;

	if (store_list_points(f->store, f->g->name, &pts, &n) < 0 || n == 0) {
		free(pts);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct store_point_info *p = &pts[i];

		if (p->id != f->committed)
			continue;
		log_info("failback: group %s: reverse point %llu committed (base %llu): %llu bytes "
			 "received, X %llu bytes%s, %.2f s", f->g->name, (unsigned long long)p->id,
			 (unsigned long long)p->base_id, (unsigned long long)p->bytes_received,
			 (unsigned long long)f->x_bytes, f->x_whole ? " (whole disks)" : "", secs);
		if (f->o->json)
			fprintf(f->o->json,
				"{\"group\":\"%s\",\"point\":%llu,\"base\":%llu,\"failover_point\":%llu,"
				"\"bytes\":%llu,\"x_bytes\":%llu,\"x_whole\":%s,\"new_disks\":%s,"
				"\"seconds\":%.3f}\n",
				f->g->name, (unsigned long long)p->id, (unsigned long long)p->base_id,
				(unsigned long long)f->failover_point,
				(unsigned long long)p->bytes_received, (unsigned long long)f->x_bytes,
				f->x_whole ? "true" : "false", f->new_disks ? "true" : "false", secs);
	}
	if (f->o->json)
		fflush(f->o->json);
	free(pts);
	if (f->committed) /* for status and /metrics; a release round commits none */
		(void)failback_revstat_agent(f->cfg, f->g->name, f->store);
}

/* Whether group g's failback goes to new disks (newdisks.h) into *yes.
 * 0 / -1 (logged). */
static int
fb_new_disks(const struct agent_config *cfg, const struct agent_group_cfg *g, bool *yes)
{
	struct failback_disks d = { 0 };
	char *root = failback_root(cfg);
	char *gdir = root ? strfmt("%s/%s", root, g->name) : NULL;
	int k = gdir ? failback_newdisks_load(g, gdir, &d) : -1;

	*yes = k == 1;
	failback_disks_clear(&d);
	free(gdir);
	free(root);
	return k < 0 ? -1 : 0;
}

/* One reverse point over one connection. 0 committed / -1. */
static int
fb_round(const struct agent_config *cfg, const struct agent_group_cfg *g,
	 const struct failback_opts *o)
{
	struct fb f = { .cfg = cfg, .g = g, .o = o };
	uint64_t t0 = clock_now_ns();
	int ret = -1;

	if (!o->finish && ondomains_off(g, "failback start") < 0)
		return -1;
	f.store = failback_target_open(cfg, g->name);
	f.ch = f.store && fb_new_disks(cfg, g, &f.new_disks) == 0
		       ? channel_new(cfg, g->name, &fb_cbs, &f) : NULL;
	if (f.ch && channel_run(f.ch) == 0 && f.state == F_DONE) {
		fb_report(&f, (double)(clock_now_ns() - t0) / 1e9);
		ret = 0;
	}
	if (f.s)
		session_on_close(f.s, f.state == F_DONE ? "point committed" : "failed");
	session_free(f.s); /* a point being received stays durable: resumable */
	session_env_free(f.env);
	receiver_config_free(f.rxcfg);
	channel_free(f.ch);
	store_free(f.store);
	return ret;
}

int
failback_finish_round(const struct agent_config *cfg, const struct failback_opts *o)
{
	const struct agent_group_cfg *g = failback_group_of(cfg, o->group);

	return g && o->finish && o->done ? fb_round(cfg, g, o) : -1;
}

int
failback_start(const struct agent_config *cfg, const struct failback_opts *o)
{
	const struct agent_group_cfg *g = failback_group_of(cfg, o->group);
	uint64_t wait = g && g->min_interval_s > FB_MIN_INTERVAL_S ? g->min_interval_s
								    : FB_MIN_INTERVAL_S;

	if (!g)
		return -1;
	if (o->new_disks) {
		char *gdir = failback_target_dir(cfg, g->name);
		int r = gdir ? failback_newdisks_record(g, gdir, o->new_disks) : -1;

		free(gdir);
		if (r < 0)
			return -1;
	}
	for (;;) {
		uint64_t t0 = clock_now_ns();

		if (fb_round(cfg, g, o) < 0)
			return -1;
		if (o->once)
			return 0;
		while (!(o->stop && *o->stop) && clock_now_ns() - t0 < wait * 1000000000ull)
			sleep(1);
		if (o->stop && *o->stop)
			return 0;
	}
}

int
failback_status(const struct agent_config *cfg, const char *group, bool json, FILE *out)
{
	struct store *st = failback_target_open(cfg, group); /* logs a group not found */
	struct store_point_info *pts = NULL;
	json_t *arr = json_array();
	uint64_t total;
	size_t n = 0;
	int ret = -1;

	if (!st || !arr || store_list_points(st, group, &pts, &n) < 0)
		goto out;
	total = store_points_bytes(pts, n);
	if (!json)
		fprintf(out, "%-8s %-8s %-25s %14s\n", "POINT", "BASE", "TIME", "BYTES");
	for (size_t i = 0; i < n; i++) {
		char when[CLOCK_ISO_LEN];

		clock_iso8601(pts[i].time_ns, when, sizeof(when));
		if (json)
			json_array_append_new(arr, json_pack("{s:I, s:I, s:s, s:I, s:I}", "point",
				(json_int_t)pts[i].id, "base", (json_int_t)pts[i].base_id, "time",
				when, "time_ns", (json_int_t)pts[i].time_ns, "bytes",
				(json_int_t)pts[i].bytes_received));
		else
			fprintf(out, "%-8llu %-8llu %-25s %14llu\n", (unsigned long long)pts[i].id,
				(unsigned long long)pts[i].base_id, when,
				(unsigned long long)pts[i].bytes_received);
	}
	if (json) {
		json_t *root = json_pack("{s:s, s:s, s:O, s:I}", "group", group, "direction",
					 "reverse", "points", arr, "bytes", (json_int_t)total);

		if (!root || json_dumpf(root, out, JSON_COMPACT) < 0)
			log_error("failback: group %s: cannot print its status", group);
		else
			fputc('\n', out);
		json_decref(root);
	} else {
		fprintf(out, "%zu reverse point(s), %llu bytes received\n", n,
			(unsigned long long)total);
	}
	ret = 0;
out:
	json_decref(arr);
	free(pts);
	store_free(st);
	return ret;
}
