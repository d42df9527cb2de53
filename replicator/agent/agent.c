/* Agent: one replication cycle per group over one TLS connection.
 * Sequence: HELLO, PROGRESS_QUERY -> snapshot against the receiver's newest
 * point -> POINT_BEGIN -> extents (the sender: disk by disk, increasing
 * offsets) -> DISK_DONE each -> POINT_COMMIT -> COMMITTED -> the source
 * commits its new base. An interrupted cycle is resumed from the receiver's
 * durable progress by the next one. */
#include "replicator/agent/agent.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/child.h"
#include "common/clock.h"
#include "common/consistency.h"
#include "common/fileutil.h"
#include "common/heap.h"
#include "common/log.h"
#include "common/testhook.h"
#include "proto/codec.h"
#include "proto/conn.h"
#include "replicator/config.h"
#include "replicator/agent/attempt.h"
#include "replicator/agent/channel.h"
#include "replicator/agent/sender.h"
#include "replicator/agent/shutdown.h"
#include "replicator/agent/sources.h"
#include "replicator/agent/verify.h"
#include "snapshot/libvirt.h"
#include "snapshot/source.h"

#define AGENT_MAX_XML    (256u * 1024)

enum cycle_state { C_HELLO, C_QUERY, C_BEGIN, C_SENDING, C_WAIT_COMMIT, C_DONE, C_FAILED };

/* What a connection is for (a planned failover: issue 14, item 5). */
enum cycle_mode {
	M_POINT,  /* a point; the receiver's PLANNED flag ends it before the snapshot */
	M_FINAL,  /* the final point, source shut down: POINT_BEGIN with FINAL */
	M_REFUSE, /* the shutdown failed: the receiver gets the reason as ERROR */
	M_POLL,   /* the daemon's control poll: only the flag of the answer */
};

/* A cycle's mode in, what the receiver's answer said out. */
struct cycle_ask {
	enum cycle_mode mode;   /* M_FINAL turns M_POINT when the request is gone */
	const char *refusal;    /* M_REFUSE: why */
	json_t *final_meta;     /* M_FINAL: "planned_failover" of the point's metadata */
	bool planned;           /* out: the answer carried the PLANNED flag */
	bool failed_over;       /* out: it carried FAILED_OVER: the cycle ended, no point */
	bool abandoned;         /* out: it carried ABANDONED: no final point is booted */
	bool handled;           /* out: the cycle ended on it, no point taken */
};

struct cycle {
	const struct agent_config *cfg;
	const struct agent_group_cfg *g;
	const struct agent_opts *o;
	struct channel *ch;
	enum cycle_state state;
	struct snapshot *snap;
	json_t *vm_meta;        /* VMs of the point (domains groups), or NULL */
	struct sender *snd;     /* from the begin ack on */
	struct agent_cycle_stats st;
	uint64_t t0_ns;
	uint64_t step_ns;       /* clock at the last cycle_time (debug timing) */
	bool show_progress;
	bool progress_shown;
	bool keep;              /* a committed point pauses the channel for the next cycle */
	bool reused;            /* the channel came from the previous cycle */
	bool answered;          /* the receiver answered on it */
	struct cycle_ask *ask;
};

/* Leave the cycle (DONE or FAILED; a done cycle stays done) and stop the
 * connection; the sender's events stop pumping. */
static void
cycle_end(struct cycle *c, enum cycle_state st)
{
	if (c->state != C_DONE)
		c->state = st;
	sender_halt(c->snd);
	if (c->state == C_DONE && c->keep && channel_keepable(c->ch))
		channel_pause(c->ch);
	else
		channel_end(c->ch);
}

/* What took how long since the previous step: added to *phase (NULL:
 * none) and logged at debug level (bench/README.md, where a cycle's time
 * goes). */
static void
cycle_time(struct cycle *c, const char *what, double *phase)
{
	uint64_t now = clock_now_ns();
	double ms = (double)(now - c->step_ns) / 1e6;

	log_debug("group %s: %s: %.1f ms", c->g->name, what, ms);
	if (phase)
		*phase += ms / 1e3;
	c->step_ns = now;
}

static void
cycle_fail(struct cycle *c)
{
	cycle_end(c, C_FAILED);
}

static void
progress_line(struct cycle *c, bool final)
{
	uint64_t size, off;
	size_t disk;
	double secs;

	if (!c->show_progress || !c->snap)
		return;
	secs = (double)(clock_now_ns() - c->t0_ns) / 1e9;
	sender_position(c->snd, &disk, &off);
	if (disk < snapshot_ndisks(c->snap)) {
		size = snapshot_disk_size(c->snap, disk);
		fprintf(stderr, "\r%s: disk %s %5.1f%%  %llu MiB data  %.1f MiB/s   ",
			c->g->name, snapshot_disk_name(c->snap, disk),
			size ? 100.0 * (double)off / (double)size : 100.0,
			(unsigned long long)(c->st.bytes_data >> 20),
			secs > 0 ? (double)c->st.bytes_data / 1048576.0 / secs : 0.0);
	}
	if (final)
		fprintf(stderr, "\n");
	c->progress_shown = true;
}

static void
cycle_on_tick(void *arg)
{
	struct cycle *c = arg;

	if (c->o->stop && *c->o->stop && c->state != C_DONE && c->state != C_FAILED) {
		log_info("group %s: stopping: cycle abandoned, the point stays resumable",
			 c->g->name);
		cycle_fail(c);
		return;
	}
	if (c->state == C_SENDING)
		progress_line(c, false);
	if (channel_idle(c->ch))
		cycle_fail(c);
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
	if (c->ask->mode == M_FINAL && c->ask->final_meta)
		json_object_set(root, "planned_failover", c->ask->final_meta);
	json_object_set_new(root, "consistency", json_string(consistency_name(c->st.consistency)));
	s = json_dumps(root, JSON_COMPACT);
	if (s)
		*len = strlen(s);
out:
	json_decref(disks);
	json_decref(root);
	return s;
}

/* The sender has everything out: commit the point. */
static void
send_commit(void *arg)
{
	struct cycle *c = arg;
	struct proto_msg m = { .type = PROTO_POINT_COMMIT };
	size_t mlen = 0;
	char *meta;

	/* Every extent was read: the sources can tell whether the disks
	 * changed meanwhile. */
	c->st.consistency = snapshot_consistency(c->snap);
	cycle_time(c, "extents sent", &c->st.phases.send);
	meta = point_meta(c, &mlen);

	if (!meta) {
		log_error("group %s: cannot build point metadata", c->g->name);
		cycle_fail(c);
		return;
	}
	m.u.commit.point_id = c->st.point_id;
	m.u.commit.meta = (const uint8_t *)meta;
	m.u.commit.meta_len = mlen;
	if (conn_send(channel_conn(c->ch), &m) < 0) {
		free(meta);
		cycle_fail(c);
		return;
	}
	free(meta);
	c->state = C_WAIT_COMMIT;
	/* Told once the commit is out (cycle_on_drain). */
	conn_set_low_water(channel_conn(c->ch), 0);
	progress_line(c, true);
}

static void
cycle_send_failed(void *arg)
{
	cycle_fail(arg);
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

/* The receiver's FAILED_OVER flag: 1 the cycle ends here (in any mode),
 * 0 go on. Nothing on-prem has been opened yet, and nothing is: no
 * snapshot (a qcow2 bitmap rotation, a libvirt checkpoint), no attempt
 * record, so the disks and their tracking stay as of the failover's point
 * for the failback's X. */
static int
on_failed_over_flag(struct cycle *c, const struct proto_progress *p)
{
	if (!(p->flags & PROTO_FLAG_PROGRESS_FAILED_OVER))
		return 0;
	c->ask->failed_over = true;
	cycle_end(c, C_DONE);
	return 1;
}

/* The receiver's PLANNED flag, by mode: 1 the cycle ends here, 0 go on
 * with a point, -1 failed. */
static int
on_planned_flag(struct cycle *c, const struct proto_progress *p)
{
	struct proto_msg e = { .type = PROTO_ERROR };
	struct cycle_ask *a = c->ask;

	a->planned = (p->flags & PROTO_FLAG_PROGRESS_PLANNED) != 0;
	a->abandoned = (p->flags & PROTO_FLAG_PROGRESS_ABANDONED) != 0;
	if (a->mode == M_POINT && !a->planned)
		return 0;
	if (a->mode == M_FINAL) {
		if (!a->planned) {
			log_warn("group %s: the planned failover was %s: this point is an "
				 "ordinary one; the source VMs stay shut down", c->g->name,
				 a->abandoned ? "abandoned at the DR site (timed out or cancelled)"
					      : "withdrawn (cancelled or past its deadline)");
			a->mode = M_POINT;
		}
		return 0;
	}
	if (a->mode == M_POINT)
		log_info("group %s: the receiver asks for a planned failover: the source is "
			 "shut down for a final point", c->g->name);
	if (a->mode == M_REFUSE && a->planned) {
		e.u.error.code = PROTO_ERR_CONFLICT;
		snprintf(e.u.error.text, sizeof(e.u.error.text), "%s", a->refusal);
		if (conn_send(channel_conn(c->ch), &e) < 0)
			return -1;
	}
	a->handled = true;
	cycle_end(c, C_DONE);
	return 1;
}

static int
on_progress(struct cycle *c, const struct proto_progress *p)
{
	struct proto_msg m = { .type = PROTO_POINT_BEGIN };
	struct proto_point_begin *b = &m.u.begin;
	struct attempt_point last;
	char sdir[4096];
	bool resume;
	size_t n;
	int r;

	if (strcmp(p->group, c->g->name) != 0) {
		log_error("group %s: receiver answered for group %s", c->g->name, p->group);
		return -1;
	}
	if (on_failed_over_flag(c, p))
		return 0;
	if ((r = on_planned_flag(c, p)) != 0)
		return r < 0 ? -1 : 0;
	if ((size_t)snprintf(sdir, sizeof(sdir), "%s/%s", c->cfg->state_dir, c->g->name) >=
	    sizeof(sdir)) {
		log_error("group %s: state directory path too long", c->g->name);
		return -1;
	}
	cycle_time(c, "receiver's progress", &c->st.phases.progress);
	if (attempt_take(sdir, &last) < 0)
		return -1;
	c->snap = sources_begin_kept(c->g, sdir, p->last_point, &c->vm_meta, c->o->lvkeep);
	if (!c->snap)
		return -1;
	cycle_time(c, "snapshot begun", &c->st.phases.snapshot);
	n = snapshot_ndisks(c->snap);
	c->st.incremental = snapshot_is_incremental(c->snap);
	/* Change tracking lost but the receiver has a point: compare block
	 * hashes with it and send only what differs, on top of it. */
	c->st.resync = !c->st.incremental && p->last_point != 0;
	c->st.base_id = c->st.incremental || c->st.resync ? p->last_point : 0;
	/* Only our last attempt's point, on an unchanged source, is resumed;
	 * any other pending data may be stale: a new id discards it. */
	c->st.point_id = attempt_point_id(p->last_point, p->pending_point, p->pending_base,
					  c->st.base_id, snapshot_resumable(c->snap), &last,
					  &resume);
	if (p->pending_point != 0 && !resume)
		log_info("group %s: pending point %llu at the receiver is not resumed",
			 c->g->name, (unsigned long long)p->pending_point);
	if (mkdir_p(sdir, 0700) < 0 || attempt_record(sdir, c->st.point_id, c->st.base_id) < 0)
		return -1;
	snprintf(b->group, sizeof(b->group), "%s", c->g->name);
	b->flags = c->ask->mode == M_FINAL ? PROTO_FLAG_BEGIN_FINAL : 0;
	b->point_id = c->st.point_id;
	b->base_id = c->st.base_id;
	b->time_ns = snapshot_time_ns(c->snap);
	b->ndisks = (uint16_t)n;
	for (size_t i = 0; i < n; i++) {
		snprintf(b->disks[i].name, sizeof(b->disks[i].name), "%s",
			 snapshot_disk_name(c->snap, i));
		b->disks[i].size = snapshot_disk_size(c->snap, i);
	}
	if (testhook_armed("begin"))
		testhook_pause("begin");
	if (conn_send(channel_conn(c->ch), &m) < 0)
		return -1;
	log_info("group %s: point %llu (%s, base %llu)", c->g->name,
		 (unsigned long long)c->st.point_id,
		 c->st.incremental ? "incremental" : c->st.resync ? "resync by block hashes" : "full",
		 (unsigned long long)c->st.base_id);
	c->t0_ns = clock_now_ns();
	c->state = C_BEGIN;
	return 0;
}

/* The receiver's answer to POINT_BEGIN: what of this point is durable. */
static int
on_begin_ack(struct cycle *c, const struct proto_progress *p)
{
	uint64_t resume_off[PROTO_MAX_DISKS] = { 0 };
	struct sender_cfg sc = {
		.group = c->g->name, .ch = c->ch, .snap = c->snap,
		.compress_level = c->cfg->compress_level,
		.compress_adapt = c->cfg->compress_adapt,
		.bandwidth = c->g->bandwidth ? c->g->bandwidth : c->cfg->bandwidth,
		.resume_off = resume_off, .st = &c->st,
		.on_sent = send_commit, .on_fail = cycle_send_failed, .arg = c,
	};

	if (strcmp(p->group, c->g->name) != 0 || p->pending_point != c->st.point_id ||
	    p->pending_base != c->st.base_id || !disks_match(c, p)) {
		log_error("group %s: receiver did not open point %llu as asked",
			  c->g->name, (unsigned long long)c->st.point_id);
		return -1;
	}
	for (size_t i = 0; i < p->ndisks; i++) {
		resume_off[i] = p->disks[i].done ? UINT64_MAX : p->disks[i].durable_offset;
		if (resume_off[i])
			c->st.resumed = 1;
	}
	if (c->st.resumed)
		log_info("group %s: resuming point %llu from the receiver's progress",
			 c->g->name, (unsigned long long)c->st.point_id);
	cycle_time(c, "receiver began the point", &c->st.phases.begin);
	c->snd = sender_new(&sc);
	if (!c->snd)
		return -1;
	c->state = C_SENDING;
	sender_pump(c->snd);
	return 0;
}

/* ---- connection callbacks ---- */

/* The one message type each waiting state accepts. */
static const uint8_t cycle_expects[] = {
	[C_HELLO] = PROTO_HELLO,
	[C_QUERY] = PROTO_PROGRESS,
	[C_BEGIN] = PROTO_PROGRESS,
	[C_SENDING] = PROTO_HASH_ANSWER, /* resync only */
	[C_WAIT_COMMIT] = PROTO_COMMITTED,
};

/* The cycle's first question: what does the receiver hold of the group. */
static int
cycle_query(struct cycle *c)
{
	struct proto_msg q = { .type = PROTO_PROGRESS_QUERY };

	snprintf(q.u.pquery.group, sizeof(q.u.pquery.group), "%s", c->g->name);
	c->state = C_QUERY;
	return conn_send(channel_conn(c->ch), &q);
}

/* The message the state expects: 0 handled, -1 failed (the cycle ended),
 * -2 the send failed (the connection reports it), 1 not expected here. */
static int
cycle_step(struct cycle *c, const struct proto_msg *msg)
{
	int r = -1;

	if (c->state >= C_DONE || msg->type != cycle_expects[c->state])
		return 1;
	switch (c->state) {
	case C_HELLO:
		if (channel_hello_ok(msg) < 0)
			break;
		cycle_time(c, "connected (TLS, HELLO)", &c->st.phases.connect);
		return cycle_query(c) < 0 ? -2 : 0;
	case C_QUERY:
		r = on_progress(c, &msg->u.progress);
		break;
	case C_BEGIN:
		r = on_begin_ack(c, &msg->u.progress);
		break;
	case C_SENDING:
		if (!c->st.resync)
			return 1;
		r = sender_on_hashes(c->snd, &msg->u.hanswer);
		break;
	case C_WAIT_COMMIT:
		if (msg->u.committed.point_id != c->st.point_id)
			return 1;
		cycle_time(c, "receiver committed", &c->st.phases.commit);
		r = snapshot_commit(c->snap, c->st.point_id);
		cycle_time(c, "source committed", &c->st.phases.source_commit);
		if (r == 0)
			cycle_end(c, C_DONE);
		break;
	default:
		return 1;
	}
	if (r < 0)
		cycle_fail(c);
	return r < 0 ? -1 : 0;
}

static int
cycle_on_msg(void *arg, const struct proto_msg *msg)
{
	struct cycle *c = arg;
	int r;

	c->answered = true;
	if (channel_refused(c->ch, msg)) {
		cycle_fail(c);
		return -1;
	}
	r = cycle_step(c, msg);
	if (r == -2)
		return -1;
	if (r <= 0)
		return r;
	c->state = C_FAILED;
	sender_halt(c->snd);
	return channel_unexpected(c->ch, msg);
}

static void
cycle_on_drain(void *arg)
{
	struct cycle *c = arg;

	if (c->state == C_SENDING)
		sender_pump(c->snd);
	/* The commit is on its way and nothing more is read: the source lets
	 * go of its reading now, while the receiver commits (issue 17, RPO;
	 * a no-op once done or committed). */
	if (c->state == C_WAIT_COMMIT && conn_out_pending(channel_conn(c->ch)) == 0)
		snapshot_reads_done(c->snap, c->st.point_id);
}

static void
cycle_on_close(void *arg, const char *reason)
{
	struct cycle *c = arg;

	sender_halt(c->snd);
	if (c->state == C_DONE)
		return;
	if (c->reused && !c->answered)
		log_info("group %s: the kept connection to the receiver is gone (%s); "
			 "connecting again", c->g->name, reason);
	else if (c->state != C_FAILED)
		log_error("group %s: connection to the receiver lost: %s", c->g->name, reason);
	c->state = C_FAILED;
}

static const struct channel_cbs cycle_cbs = {
	.on_msg = cycle_on_msg,
	.on_drain = cycle_on_drain,
	.on_close = cycle_on_close,
	.on_tick = cycle_on_tick,
};

/* On the connection the previous cycle kept (*keep, taken), else a new
 * one: run the loop until the cycle ends. A committed point leaves the
 * connection in *keep when c->keep. */
static int
cycle_run(struct cycle *c, struct channel **keep)
{
	int ret = -1, r;

	if (keep && *keep && channel_resume(*keep, &cycle_cbs, c) == 0) {
		c->ch = *keep;
		c->reused = true;
		testhook_at("kept-conn"); /* test-keepconn.sh: the receiver restarts here */
		r = cycle_query(c) < 0 ? -1 : channel_dispatch(c->ch);
	} else {
		c->ch = channel_new(c->cfg, c->g->name, &cycle_cbs, c);
		r = c->ch ? channel_run(c->ch) : -1;
	}
	if (keep && *keep && *keep != c->ch)
		channel_free(*keep); /* closed while kept */
	if (keep)
		*keep = NULL;
	if (r == 0) {
		if (c->progress_shown && c->state != C_DONE)
			fprintf(stderr, "\n");
		ret = c->state == C_DONE ? 0 : -1;
	}
	sender_free(c->snd);
	c->snd = NULL;
	if (ret == 0 && c->keep && keep && channel_keepable(c->ch))
		*keep = c->ch;
	else
		channel_free(c->ch);
	c->ch = NULL;
	return ret;
}


static void
print_stats(const struct cycle *c, int ok)
{
	const struct agent_cycle_stats *s = &c->st;

	if (c->o->json) {
		const struct agent_cycle_phases *ph = &s->phases;
		json_t *j = json_pack("{s:s, s:b, s:b, s:I, s:I, s:b, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:f, s:s,"
				      " s:{s:f, s:f, s:f, s:f, s:f, s:f, s:f}}",
				      "group", c->g->name, "ok", ok,
				      "failed_over", c->ask->failed_over,
				      "point", (json_int_t)s->point_id,
				      "base", (json_int_t)s->base_id,
				      "incremental", s->incremental, "resumed", s->resumed, "resync", s->resync,
				      "extents", (json_int_t)s->extents,
				      "bytes_data", (json_int_t)s->bytes_data,
				      "bytes_zero", (json_int_t)s->bytes_zero,
				      "bytes_skipped", (json_int_t)s->bytes_skipped,
				      "bytes_wire", (json_int_t)s->bytes_wire,
				      "seconds", s->seconds,
				      "consistency", consistency_name(s->consistency),
				      "phases", "connect", ph->connect, "progress", ph->progress,
				      "snapshot", ph->snapshot, "begin", ph->begin, "send", ph->send,
				      "commit", ph->commit, "source_commit", ph->source_commit);
		char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
		if (txt)
			fprintf(c->o->json, "%s\n", txt);
		free(txt);
		json_decref(j);
		fflush(c->o->json);
	}
	if (ok)
		log_info("group %s: point %llu committed (%s): %llu bytes data, %llu zero, %llu skipped, %llu on the wire, %.2f s",
			 c->g->name, (unsigned long long)s->point_id, consistency_name(s->consistency),
			 (unsigned long long)s->bytes_data, (unsigned long long)s->bytes_zero,
			 (unsigned long long)s->bytes_skipped,
			 (unsigned long long)s->bytes_wire, s->seconds);
}

static int
cycle_once(const struct agent_config *cfg, const struct agent_group_cfg *g,
	   const struct agent_opts *o, struct agent_cycle_stats *st, struct cycle_ask *ask)
{
	struct cycle c = { .cfg = cfg, .g = g, .o = o, .ask = ask };
	uint64_t t0 = clock_now_ns();
	int r;

	c.step_ns = t0;
	c.show_progress = o->progress && isatty(STDERR_FILENO) && ask->mode != M_POLL;
	c.keep = o->keep && ask->mode == M_POINT;
	r = cycle_run(&c, c.keep ? o->keep : NULL);
	if (r < 0 && c.reused && !c.answered && !(o->stop && *o->stop)) {
		/* Nothing was begun on the kept connection: a new one now. */
		c.state = C_HELLO;
		c.reused = false;
		c.step_ns = clock_now_ns();
		r = cycle_run(&c, c.keep ? o->keep : NULL);
	}
	c.st.seconds = (double)(clock_now_ns() - t0) / 1e9;
	if ((ask->mode == M_POINT || ask->mode == M_FINAL) && !ask->handled)
		print_stats(&c, r == 0 && !ask->failed_over);
	snapshot_free(c.snap);
	cycle_time(&c, "snapshot freed", NULL);
	json_decref(c.vm_meta);
	*st = c.st;
	st->failed_over = ask->failed_over;
	return r;
}

/* A planned failover was asked: shut the source down, then the final
 * point; or tell the receiver why not. */
static int
agent_planned(const struct agent_config *cfg, const struct agent_group_cfg *g,
	      const struct agent_opts *o, struct agent_cycle_stats *st)
{
	char why[PROTO_TEXT_MAX - 64];
	struct cycle_ask ask = { .mode = M_FINAL };
	json_t *done = NULL;
	int r;

	/* the checkpoints the last commit replaced, while the VMs run */
	snapshot_libvirt_keep_flush(o->lvkeep);
	r = shutdown_group_vms(cfg, g, o->stop, why, sizeof(why), &done);

	if (r < 0) {
		ask = (struct cycle_ask){ .mode = M_REFUSE, .refusal = why };
		(void)cycle_once(cfg, g, o, st, &ask);
		return -1;
	}
	if (r == 1)
		log_warn("group %s: planned failover: the group has no live VMs (file or rbd "
			 "disks): the final point is taken as is; the source was not shut down "
			 "by Nestor", g->name);
	ask.final_meta = r == 0 ? json_pack("{s:o}", "shutdown", done)
				: json_pack("{s:[]}", "shutdown");
	if (ask.final_meta && r == 1)
		json_object_set_new(ask.final_meta, "not_shut_down",
				    json_string("no live VMs in the group (file or rbd disks)"));
	r = cycle_once(cfg, g, o, st, &ask);
	json_decref(ask.final_meta);
	if (r == 0 && ask.mode == M_FINAL && !ask.failed_over) {
		st->final = 1;
		log_info("group %s: final point %llu committed for a planned failover",
			 g->name, (unsigned long long)st->point_id);
	}
	return r;
}

int
agent_control_poll(const struct agent_config *cfg, const struct agent_group_cfg *g,
		   const struct agent_opts *o)
{
	struct cycle_ask ask = { .mode = M_POLL };
	struct agent_cycle_stats st;

	if (cycle_once(cfg, g, o, &st, &ask) < 0)
		return -1;
	if (ask.failed_over)
		return AGENT_POLL_FAILED_OVER;
	if (ask.abandoned)
		return AGENT_POLL_ABANDONED;
	return ask.planned ? AGENT_POLL_PLANNED : AGENT_POLL_NONE;
}

/* A torn point cannot be mended inside itself (a disk's extents go in
 * increasing offsets, once): the next incremental re-reads the source and
 * sends the blocks whose content differs from what was sent, so it is
 * point-in-time as soon as one pass meets a quiet source. */
int
agent_cycle(const struct agent_config *cfg, const struct agent_group_cfg *g,
	    const struct agent_opts *o, struct agent_cycle_stats *st)
{
	unsigned pass = 0;
	int r;

	for (;;) {
		struct cycle_ask ask = { .mode = M_POINT };

		r = cycle_once(cfg, g, o, st, &ask);
		if (r == 0 && ask.failed_over)
			return 0;
		if (r == 0 && ask.handled)
			return agent_planned(cfg, g, o, st);
		st->rereads = pass;
		if (r < 0 || st->consistency != CONS_NOT_PIT || (o->stop && *o->stop))
			return r;
		if (pass == g->consistency_rereads) {
			log_warn("group %s: point %llu stays not point-in-time: its disk files "
				 "kept changing%s", g->name, (unsigned long long)st->point_id,
				 pass ? " through every re-read pass" : "");
			return r;
		}
		pass++;
		log_info("group %s: point %llu is not point-in-time: re-reading what changed "
			 "(pass %u of %llu)", g->name, (unsigned long long)st->point_id, pass,
			 (unsigned long long)g->consistency_rereads);
	}
}

int
agent_children_open(const struct agent_config *cfg)
{
	char dir[4096];

	if ((size_t)snprintf(dir, sizeof(dir), "%s/.children", cfg->state_dir) >= sizeof(dir)) {
		log_error("state directory %s: path too long", cfg->state_dir);
		return -1;
	}
	return child_registry_open(dir);
}

int
agent_run_once(const struct agent_config *cfg, const struct agent_opts *o)
{
	int ret = 0, found = 0;

	heap_keep_buffers(0);
	signal(SIGPIPE, SIG_IGN);
	if (agent_children_open(cfg) < 0)
		return -1;
	for (size_t i = 0; i < cfg->ngroups; i++) {
		struct agent_cycle_stats st;

		if (o->group && strcmp(o->group, cfg->groups[i].name) != 0)
			continue;
		found = 1;
		if (agent_cycle(cfg, &cfg->groups[i], o, &st) < 0) {
			ret = -1;
		} else if (st.failed_over) {
			/* No point was made: a caller counting on one must know. */
			log_error("group %s is failed over at the DR site: no forward cycle "
				  "until failback", cfg->groups[i].name);
			ret = -1;
		}
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
	return verify_run(cfg, group, point, json, out);
}
