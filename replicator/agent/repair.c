/* Repair session (replicator/agent/repair.h): HELLO, REPAIR_QUERY; per bad
 * point its REPAIR_LIST, then a POINT_BEGIN with the REPAIR flag, one
 * EXTENT per record the source can still give (read and hashed now, sent
 * as the output drains), POINT_COMMIT; after COMMITTED the same point is
 * asked again: what it no longer lists was repaired. */
#include "replicator/agent/repair.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/hash.h"
#include "common/log.h"
#include "proto/codec.h"
#include "proto/conn.h"
#include "replicator/agent/channel.h"
#include "replicator/agent/pace.h"
#include "replicator/agent/verify.h"
#include "replicator/config.h"
#include "snapshot/source.h"

#define REPAIR_OUT_MAX (4u << 20) /* output queued before waiting for a drain */
#define REPAIR_JUDGED_MAX 65536u  /* records of one point kept in mind */

enum rp_state { RP_HELLO, RP_LIST, RP_SEND, RP_COMMIT, RP_DONE, RP_FAILED };
/* What became of a record of the point being repaired. */
enum rp_fate { F_SENT, F_REPAIRED, F_LOST, F_STILL };

struct judged {
	struct proto_repair_entry e;
	enum rp_fate fate;
};

struct arepair {
	const struct agent_group_cfg *g;
	struct channel *ch;
	enum rp_state state;
	uint64_t want;      /* --point, 0 = every bad point */
	uint64_t cur;       /* the point being repaired, 0 = asking for the next */
	uint64_t before;    /* the walk's bound: points below it are left */
	struct proto_repair_list list; /* the last list, entries copied to ents */
	uint8_t *ents;
	uint32_t next;      /* next entry of the list to read and send */
	bool begun;         /* a REPAIR POINT_BEGIN went out for this round */
	bool more;          /* the list was cut: ask again after the commit */
	bool listed;        /* cur was listed at least once */
	struct judged *j;   /* records of cur seen so far: [0, nsorted) sorted, then
			     * this round's in list order (sorted too) */
	size_t nj, nsorted;
	struct snapshot *src[PROTO_MAX_DISKS]; /* by the group's disk index */
	uint8_t *buf;
	struct pace *bw;    /* the group's bandwidth limit, NULL = none */
	uint64_t bytes;     /* payload bytes sent */
	size_t nrepaired, nlost, nstill, nuntried;
	size_t nunlisted;   /* bad points whose bad bytes no record describes */
	json_t *repaired, *lost, *still;
	bool json;
	FILE *out;
};

static void
rp_end(struct arepair *r, enum rp_state st)
{
	if (r->state != RP_DONE)
		r->state = st;
	channel_end(r->ch);
}

static void
rp_print(struct arepair *r, const char *what, json_t *arr, const struct proto_repair_entry *e)
{
	const char *disk = r->list.disks[e->disk].name;

	if (r->json)
		json_array_append_new(arr, json_pack("{s:I, s:s, s:I, s:I}", "point",
						     (json_int_t)r->cur, "disk", disk, "offset",
						     (json_int_t)e->offset, "length",
						     (json_int_t)e->length));
	else
		fprintf(r->out, "%s: point %" PRIu64 " disk %s offset %" PRIu64 " length %" PRIu64
			"\n", what, r->cur, disk, e->offset, e->length);
}

static void
rp_fate(struct arepair *r, struct judged *x, enum rp_fate f)
{
	x->fate = f;
	switch (f) {
	case F_REPAIRED:
		r->nrepaired++;
		rp_print(r, "repaired", r->repaired, &x->e);
		break;
	case F_LOST:
		r->nlost++;
		if (r->json)
			rp_print(r, "", r->lost, &x->e);
		else
			fprintf(r->out, "not recoverable from the source (changed since point %"
				PRIu64 "): disk %s offset %" PRIu64 " length %" PRIu64 "\n", r->cur,
				r->list.disks[x->e.disk].name, x->e.offset, x->e.length);
		break;
	case F_STILL:
		r->nstill++;
		rp_print(r, "still bad after the repair", r->still, &x->e);
		break;
	default:
		break;
	}
}

static int
entry_cmp(const struct proto_repair_entry *a, const struct proto_repair_entry *b)
{
	if (a->disk != b->disk)
		return a->disk < b->disk ? -1 : 1;
	return a->offset < b->offset ? -1 : a->offset > b->offset;
}

static int
judged_cmp(const void *a, const void *b)
{
	return entry_cmp(&((const struct judged *)a)->e, &((const struct judged *)b)->e);
}

/* The lists come sorted by disk and offset (the receiver sorts them). */
static struct judged *
judged_search(struct judged *v, size_t n, const struct proto_repair_entry *e)
{
	struct judged key = { .e = *e };

	return n ? bsearch(&key, v, n, sizeof(key), judged_cmp) : NULL;
}

static struct judged *
judged_find(struct arepair *r, const struct proto_repair_entry *e)
{
	struct judged *x = judged_search(r->j, r->nsorted, e);

	return x ? x : judged_search(r->j + r->nsorted, r->nj - r->nsorted, e);
}

/* Is e in the last list? */
static bool
list_has(const struct arepair *r, const struct proto_repair_entry *e)
{
	struct proto_repair_entry x;
	uint32_t lo = 0, hi = r->list.count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c;

		proto_repair_entry_get(&r->list, mid, &x);
		if ((c = entry_cmp(&x, e)) == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static struct judged *
judged_add(struct arepair *r, const struct proto_repair_entry *e)
{
	struct judged *p;

	if (r->nj >= REPAIR_JUDGED_MAX) {
		log_error("group %s point %" PRIu64 ": more than %u bad records", r->g->name, r->cur,
			  REPAIR_JUDGED_MAX);
		return NULL;
	}
	p = reallocarray(r->j, r->nj + 1, sizeof(*p));
	if (!p) {
		log_error("agent: out of memory");
		return NULL;
	}
	r->j = p;
	r->j[r->nj] = (struct judged){ .e = *e, .fate = F_SENT };
	return &r->j[r->nj++];
}

static int
rp_query(struct arepair *r, uint64_t point, uint64_t before)
{
	struct proto_msg m = { .type = PROTO_REPAIR_QUERY };

	snprintf(m.u.rquery.group, sizeof(m.u.rquery.group), "%s", r->g->name);
	m.u.rquery.point = point;
	m.u.rquery.before = before;
	r->state = RP_LIST;
	return conn_send(channel_conn(r->ch), &m);
}

/* The point is done with: the next bad point below it, or the end. */
static int
rp_next_point(struct arepair *r)
{
	if (r->more)
		r->nuntried++; /* listed beyond what could be sent: left for later */
	r->more = false;
	r->listed = false;
	r->nj = r->nsorted = 0;
	if (r->want || r->cur == 1) {
		rp_end(r, RP_DONE);
		return 0;
	}
	r->before = r->cur;
	r->cur = 0;
	return rp_query(r, 0, r->before);
}

/* The source's disk for list disk i, opened on first use; NULL when the
 * group has no such disk (logged). */
static struct snapshot *
rp_source(struct arepair *r, uint16_t i)
{
	for (size_t k = 0; k < r->g->ndisks; k++) {
		if (strcmp(r->g->disks[k].name, r->list.disks[i].name) != 0)
			continue;
		if (!r->src[k])
			r->src[k] = verify_open_disk(r->g, k);
		return r->src[k];
	}
	log_warn("group %s: disk %s of point %" PRIu64 " is not in the configuration",
		 r->g->name, r->list.disks[i].name, r->cur);
	return NULL;
}

static int
rp_source_read(void *arg, void *buf, size_t n, uint64_t off)
{
	return snapshot_read(arg, 0, off, buf, n);
}

/* Read e's range from the source into r->buf (DATA) or check it is zeros:
 * 1 it is what the point held, 0 it changed since, -1 read error. */
static int
rp_read(struct arepair *r, const struct proto_repair_entry *e)
{
	struct snapshot *s = rp_source(r, e->disk);

	if (!s || e->offset + e->length > snapshot_disk_size(s, 0))
		return 0;
	if (e->kind != PROTO_KIND_DATA)
		return range_is_zero(rp_source_read, s, e->offset, e->length, r->buf,
				     PROTO_MAX_EXTENT);
	if (snapshot_read(s, 0, e->offset, r->buf, (size_t)e->length) < 0)
		return -1;
	return hash64(r->buf, (size_t)e->length) == e->hash;
}

static int
rp_begin(struct arepair *r)
{
	struct proto_msg m = { .type = PROTO_POINT_BEGIN };

	m.u.begin.flags = PROTO_FLAG_BEGIN_REPAIR;
	snprintf(m.u.begin.group, sizeof(m.u.begin.group), "%s", r->g->name);
	m.u.begin.point_id = r->cur;
	m.u.begin.base_id = r->list.base_id;
	m.u.begin.ndisks = r->list.ndisks;
	memcpy(m.u.begin.disks, r->list.disks, sizeof(m.u.begin.disks));
	r->begun = true;
	return conn_send(channel_conn(r->ch), &m);
}

static int
rp_send_extent(struct arepair *r, const struct proto_repair_entry *e)
{
	struct proto_msg m = { .type = PROTO_EXTENT };

	m.u.extent.disk = e->disk;
	m.u.extent.kind = e->kind;
	m.u.extent.comp = PROTO_COMP_NONE;
	m.u.extent.offset = e->offset;
	m.u.extent.length = e->length;
	if (e->kind == PROTO_KIND_DATA) {
		m.u.extent.checksum = e->hash;
		m.u.extent.data = r->buf;
		m.u.extent.data_len = (size_t)e->length;
	}
	r->bytes += m.u.extent.data_len;
	return conn_send(channel_conn(r->ch), &m);
}

/* Read and send the list's new records while the output has room; then
 * commit, or move on when nothing could be sent. */
static int
rp_pump(struct arepair *r)
{
	struct proto_msg m = { .type = PROTO_POINT_COMMIT };
	struct proto_repair_entry e;
	struct judged *x;
	int ok;

	while (r->next < r->list.count) {
		if (conn_out_pending(channel_conn(r->ch)) >= REPAIR_OUT_MAX)
			return 0; /* on_drain brings us back */
		proto_repair_entry_get(&r->list, r->next, &e);
		if (!pace_allow(r->bw, e.kind == PROTO_KIND_DATA ? (size_t)e.length : 0))
			return 0; /* the pacer brings us back */
		r->next++;
		if (judged_find(r, &e))
			continue; /* sent or judged in an earlier round */
		if (!(x = judged_add(r, &e)) || (ok = rp_read(r, &e)) < 0)
			return -1;
		if (!ok) {
			rp_fate(r, x, F_LOST);
			continue;
		}
		if ((!r->begun && rp_begin(r) < 0) || rp_send_extent(r, &e) < 0)
			return -1;
	}
	if (!r->begun)
		return rp_next_point(r);
	m.u.commit.point_id = r->cur;
	r->state = RP_COMMIT;
	return conn_send(channel_conn(r->ch), &m);
}

/* A list for the point: the records sent last round that it no longer
 * holds were repaired, those it still holds were not. */
static void
rp_settle(struct arepair *r)
{
	for (size_t i = 0; i < r->nj; i++)
		if (r->j[i].fate == F_SENT)
			rp_fate(r, &r->j[i], list_has(r, &r->j[i].e) ? F_STILL : F_REPAIRED);
	if (r->nj > 1)
		qsort(r->j, r->nj, sizeof(*r->j), judged_cmp);
	r->nsorted = r->nj;
}

static int
rp_on_list(struct arepair *r, const struct proto_repair_list *l)
{
	bool fresh = !r->listed || l->point_id != r->cur;

	if (l->point_id == 0) {
		if (r->want && r->nj == 0)
			log_info("group %s: point %" PRIu64 " has no bad scrub verdict: nothing "
				 "to repair", r->g->name, r->want);
		r->list.count = 0;
		rp_settle(r); /* the point is clean now: all that was sent is repaired */
		if (r->cur)
			return rp_next_point(r);
		rp_end(r, RP_DONE);
		return 0;
	}
	if (r->cur && l->point_id != r->cur) {
		log_error("group %s: list of point %" PRIu64 " while repairing %" PRIu64,
			  r->g->name, l->point_id, r->cur);
		return -1;
	}
	if (fresh)
		r->nj = r->nsorted = 0;
	if (fresh && l->count == 0) {
		/* Bad, yet no checksum record lies in its bad ranges (an inherited
		 * range, records lost): nothing to ask the source for. */
		log_warn("group %s: point %" PRIu64 " is bad but lists no checksum record to "
			 "re-fetch: not repairable (scrub it again)", r->g->name, l->point_id);
		r->nunlisted++;
	}
	r->cur = l->point_id;
	r->listed = true;
	r->list = *l;
	if (l->count)
		memcpy(r->ents, l->entries, (size_t)l->count * PROTO_REPAIR_ENTRY_SIZE);
	r->list.entries = r->ents;
	rp_settle(r);
	r->more = (l->flags & PROTO_FLAG_REPAIR_MORE) != 0;
	r->next = 0;
	r->begun = false;
	r->state = RP_SEND;
	return rp_pump(r);
}

static int
rp_on_msg(void *arg, const struct proto_msg *msg)
{
	struct arepair *r = arg;
	int rc = -1;

	if (channel_refused(r->ch, msg)) {
		rp_end(r, RP_FAILED);
		return -1;
	}
	if (r->state == RP_HELLO && msg->type == PROTO_HELLO) {
		if (channel_hello_ok(msg) == 0)
			rc = rp_query(r, r->want, 0);
	} else if (r->state == RP_LIST && msg->type == PROTO_REPAIR_LIST) {
		rc = rp_on_list(r, &msg->u.rlist);
	} else if (r->state == RP_COMMIT && msg->type == PROTO_COMMITTED &&
		   msg->u.committed.point_id == r->cur) {
		rc = rp_query(r, r->cur, 0); /* what is left of it */
	} else {
		r->state = RP_FAILED;
		return channel_unexpected(r->ch, msg);
	}
	if (rc < 0)
		rp_end(r, RP_FAILED);
	return rc;
}

/* The output drained, or the bandwidth allows more: send on. */
static void
rp_on_drain(void *arg)
{
	struct arepair *r = arg;

	if (r->state == RP_SEND && rp_pump(r) < 0)
		rp_end(r, RP_FAILED);
}

static void
rp_on_close(void *arg, const char *reason)
{
	struct arepair *r = arg;

	if (r->state == RP_DONE)
		return;
	if (r->state != RP_FAILED)
		log_error("group %s: connection to the receiver lost: %s", r->g->name, reason);
	r->state = RP_FAILED;
}

static void
rp_on_tick(void *arg)
{
	struct arepair *r = arg;

	if (channel_idle(r->ch))
		rp_end(r, RP_FAILED);
}

static const struct channel_cbs rp_cbs = {
	.on_msg = rp_on_msg,
	.on_drain = rp_on_drain,
	.on_close = rp_on_close,
	.on_tick = rp_on_tick,
};

static void
rp_summary(struct arepair *r)
{
	json_t *j;
	char *txt;

	if (!r->json) {
		fprintf(r->out, "group %s: %zu ranges repaired, %zu not recoverable from the source, "
			"%zu still bad%s%s; %" PRIu64 " payload bytes sent\n", r->g->name,
			r->nrepaired, r->nlost, r->nstill,
			r->nuntried ? ", more bad ranges than one list held (run again)" : "",
			r->nunlisted ? ", bad points without checksum records to re-fetch" : "",
			r->bytes);
		return;
	}
	j = json_pack("{s:s, s:O, s:O, s:O, s:b, s:I, s:I}", "group", r->g->name, "repaired",
		      r->repaired, "unrecoverable", r->lost, "still_bad", r->still, "incomplete",
		      r->nuntried != 0, "unlisted_points", (json_int_t)r->nunlisted, "bytes_sent",
		      (json_int_t)r->bytes);
	txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (txt)
		fprintf(r->out, "%s\n", txt);
	free(txt);
	json_decref(j);
}

int
agent_repair_run(const struct agent_config *cfg, const char *group, uint64_t point, bool json,
		 FILE *out)
{
	struct arepair r = { .want = point, .cur = point, .json = json, .out = out };
	int rc = -1;

	r.g = verify_group(cfg, group);
	if (!r.g)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	r.repaired = json_array();
	r.lost = json_array();
	r.still = json_array();
	r.ch = channel_new(cfg, group, &rp_cbs, &r);
	if (r.ch && (r.g->bandwidth || cfg->bandwidth) &&
	    !(r.bw = pace_new(channel_base(r.ch), r.g->bandwidth ? r.g->bandwidth : cfg->bandwidth,
			      rp_on_drain, &r))) {
		channel_free(r.ch);
		r.ch = NULL;
	}
	r.buf = malloc(PROTO_MAX_EXTENT);
	r.ents = malloc((size_t)PROTO_MAX_REPAIR * PROTO_REPAIR_ENTRY_SIZE);
	if (!r.buf || !r.ents || !r.repaired || !r.lost || !r.still)
		log_error("agent: out of memory");
	else if (r.ch && channel_run(r.ch) == 0 && r.state == RP_DONE)
		rc = 0;
	pace_free(r.bw); /* its timer lives on the channel's loop */
	channel_free(r.ch);
	for (size_t i = 0; i < PROTO_MAX_DISKS; i++)
		snapshot_free(r.src[i]);
	if (rc == 0)
		rp_summary(&r);
	free(r.buf);
	free(r.ents);
	free(r.j);
	json_decref(r.repaired);
	json_decref(r.lost);
	json_decref(r.still);
	if (rc < 0)
		return -1;
	return r.nlost || r.nstill || r.nuntried || r.nunlisted ? 1 : 0;
}
