/* Verify session (replicator/agent/verify.h): HELLO, then per disk a
 * HASH_QUERY for each window of PROTO_MAX_HASHES blocks; the answer is
 * compared with our own hashes of the same blocks, differing blocks are
 * coalesced into ranges. One disk is open at a time. */
#include "replicator/agent/verify.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/hash.h"
#include "common/log.h"
#include "proto/codec.h"
#include "replicator/agent/channel.h"
#include "replicator/agent/readonly.h"
#include "replicator/config.h"
#include "snapshot/source.h"

#define VERIFY_BLOCK (64u * 1024)

enum verify_state { V_HELLO, V_VERIFY, V_DONE, V_FAILED };

struct verify {
	const struct agent_group_cfg *g;
	struct channel *ch;
	enum verify_state state;
	struct snapshot *disk; /* the disk being compared (one disk), or NULL */
	size_t vdisk;          /* its index in the group */
	uint64_t offset;       /* next block to ask for */
	uint64_t point;
	uint8_t *buf;
	int differs;
	uint64_t diff_start, diff_len; /* current coalesced differing range */
	json_t *ranges;
	bool json;
	FILE *out;             /* where the ranges and the verdict go */
};

/* The disk's source: image files today; any source that can be read as a
 * struct snapshot fits here. */
struct snapshot *
verify_open_disk(const struct agent_group_cfg *g, size_t i)
{
	const struct agent_disk_cfg *d = &g->disks[i];

	if (!d->path) {
		log_error("group %s disk %s: verify reads image files only", g->name, d->name);
		return NULL;
	}
	return readonly_file_open(d->name, d->path, d->format);
}

/* A verify that ended (V_DONE or V_FAILED) stays so; the connection is
 * closed behind it. */
static void
verify_end(struct verify *v, enum verify_state st)
{
	if (v->state != V_DONE)
		v->state = st;
	channel_end(v->ch);
}

static int
verify_next_query(struct verify *v)
{
	while (v->vdisk < v->g->ndisks) {
		if (!v->disk) {
			v->disk = verify_open_disk(v->g, v->vdisk);
			if (!v->disk)
				return -1;
			v->offset = 0;
		}
		if (v->offset < snapshot_disk_size(v->disk, 0))
			break;
		snapshot_free(v->disk);
		v->disk = NULL;
		v->vdisk++;
	}
	if (v->vdisk == v->g->ndisks) {
		verify_end(v, V_DONE);
		return 0;
	}
	return channel_hash_query(v->ch, snapshot_disk_name(v->disk, 0), v->point, v->offset,
				  VERIFY_BLOCK, PROTO_MAX_HASHES);
}

/* One differing range, as soon as it is complete. */
static void
verify_print_range(FILE *out, const char *disk, uint64_t off, uint64_t len, bool json,
		   json_t *ranges)
{
	if (json)
		json_array_append_new(ranges, json_pack("{s:s, s:I, s:I}", "disk", disk,
							"offset", (json_int_t)off,
							"length", (json_int_t)len));
	else
		fprintf(out, "differs: disk %s offset %llu length %llu\n", disk,
		       (unsigned long long)off, (unsigned long long)len);
}

/* The verdict, after the last disk. */
static void
verify_print_result(FILE *out, const char *group, uint64_t point, int differs, bool json,
		    json_t *ranges)
{
	if (json) {
		json_t *j = json_pack("{s:s, s:I, s:b, s:O}", "group", group, "point",
				      (json_int_t)point, "identical", !differs,
				      "differences", ranges);
		char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
		if (txt)
			fprintf(out, "%s\n", txt);
		free(txt);
		json_decref(j);
	} else {
		fprintf(out, "group %s point %llu: %s\n", group, (unsigned long long)point,
		       differs ? "DIFFERS from the source" : "identical to the source");
	}
}

static void
verify_flush_range(struct verify *v)
{
	if (!v->diff_len)
		return;
	verify_print_range(v->out, v->g->disks[v->vdisk].name, v->diff_start, v->diff_len,
			   v->json, v->ranges);
	v->diff_len = 0;
}

static void
verify_mark(struct verify *v, uint64_t off, uint64_t len)
{
	v->differs = 1;
	if (v->diff_len && v->diff_start + v->diff_len == off) {
		v->diff_len += len;
		return;
	}
	verify_flush_range(v);
	v->diff_start = off;
	v->diff_len = len;
}

static int
verify_on_hashes(struct verify *v, const struct proto_hash_answer *a)
{
	uint64_t size = snapshot_disk_size(v->disk, 0);
	uint64_t want = (size - v->offset + VERIFY_BLOCK - 1) / VERIFY_BLOCK;

	if (want > PROTO_MAX_HASHES)
		want = PROTO_MAX_HASHES;
	/* The receiver hashed fewer for its per-query bound: the rest is
	 * asked for next, not missing. */
	if ((a->flags & PROTO_FLAG_HASH_MORE) && a->count < want)
		want = a->count;
	if (a->offset != v->offset || a->block_size != VERIFY_BLOCK) {
		log_error("group %s: unexpected hash answer", v->g->name);
		return -1;
	}
	v->point = a->point_id;
	for (uint32_t i = 0; i < want; i++) {
		uint64_t off = v->offset + (uint64_t)i * VERIFY_BLOCK;
		uint64_t len = size - off < VERIFY_BLOCK ? size - off : VERIFY_BLOCK;

		if (snapshot_read(v->disk, 0, off, v->buf, (size_t)len) < 0)
			return -1;
		if (i >= a->count)
			verify_mark(v, off, len); /* replica is shorter */
		else if (channel_hash_at(a, i) != hash64(v->buf, (size_t)len))
			verify_mark(v, off, len);
	}
	if (a->count > want) {
		log_warn("group %s disk %s: replica is larger than the source",
			 v->g->name, v->g->disks[v->vdisk].name);
		v->differs = 1;
	}
	v->offset += want * VERIFY_BLOCK;
	if (v->offset >= size)
		verify_flush_range(v);
	return verify_next_query(v);
}

static int
verify_on_msg(void *arg, const struct proto_msg *msg)
{
	struct verify *v = arg;

	if (channel_refused(v->ch, msg)) {
		verify_end(v, V_FAILED);
		return -1;
	}
	if (v->state == V_HELLO && msg->type == PROTO_HELLO) {
		if (channel_hello_ok(msg) < 0) {
			verify_end(v, V_FAILED);
			return -1;
		}
		v->state = V_VERIFY;
		if (verify_next_query(v) < 0) {
			verify_end(v, V_FAILED);
			return -1;
		}
		return 0;
	}
	if (v->state == V_VERIFY && msg->type == PROTO_HASH_ANSWER) {
		if (verify_on_hashes(v, &msg->u.hanswer) < 0) {
			verify_end(v, V_FAILED);
			return -1;
		}
		return 0;
	}
	v->state = V_FAILED;
	return channel_unexpected(v->ch, msg);
}

static void
verify_on_close(void *arg, const char *reason)
{
	struct verify *v = arg;

	if (v->state == V_DONE)
		return;
	if (v->state != V_FAILED)
		log_error("group %s: connection to the receiver lost: %s", v->g->name, reason);
	v->state = V_FAILED;
}

static void
verify_on_tick(void *arg)
{
	struct verify *v = arg;

	if (channel_idle(v->ch))
		verify_end(v, V_FAILED);
}

static const struct channel_cbs verify_cbs = {
	.on_msg = verify_on_msg,
	.on_close = verify_on_close,
	.on_tick = verify_on_tick,
};

const struct agent_group_cfg *
verify_group(const struct agent_config *cfg, const char *group)
{
	const struct agent_group_cfg *g = NULL;

	for (size_t i = 0; i < cfg->ngroups; i++)
		if (strcmp(cfg->groups[i].name, group) == 0)
			g = &cfg->groups[i];
	if (!g) {
		log_error("group %s is not in the configuration", group);
		return NULL;
	}
	if (g->ndisks == 0) {
		log_error("group %s: verify compares image-file disks; this group has none",
			  group);
		return NULL;
	}
	return g;
}

int
verify_run(const struct agent_config *cfg, const char *group, uint64_t point, bool json,
	   FILE *out)
{
	struct verify v = { .point = point, .json = json, .out = out };
	int r = -1;

	v.g = verify_group(cfg, group);
	if (!v.g)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	v.ranges = json_array();
	v.ch = channel_new(cfg, group, &verify_cbs, &v);
	v.buf = malloc(VERIFY_BLOCK);
	if (!v.buf)
		log_error("agent: out of memory");
	else if (v.ch && channel_run(v.ch) == 0 && v.state == V_DONE)
		r = 0;
	channel_free(v.ch);
	snapshot_free(v.disk);
	free(v.buf);
	if (r == 0)
		verify_print_result(out, group, v.point, v.differs, json, v.ranges);
	json_decref(v.ranges);
	if (r < 0)
		return -1;
	return v.differs ? 1 : 0;
}
