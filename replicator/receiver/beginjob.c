/* A POINT_BEGIN's store work off the event loop (beginjob.h). */
#include "replicator/receiver/beginjob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "proto/codec.h"
#include "replicator/receiver/limits.h"
#include "replicator/receiver/store.h"

struct beginjob {
	const struct receiver_config *cfg;
	struct store *store;
	void *owner;
	struct store_begin sb;
	struct limits_point limits;
	struct store_point *point;
	int rc; /* as beginjob_take */
	int err;
	uint32_t code;
	char why[256];
};

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

struct beginjob *
beginjob_new(const struct receiver_config *cfg, struct store *st,
	     const struct proto_point_begin *b, void *owner)
{
	struct beginjob *j = calloc(1, sizeof(*j));

	if (!j) {
		log_error("group %s: out of memory for a point's begin", b->group);
		return NULL;
	}
	j->cfg = cfg;
	j->store = st;
	j->owner = owner;
	store_begin_of(b, &j->sb);
	j->rc = -1;
	j->err = STORE_ERR_INTERNAL;
	return j;
}

void
beginjob_run(void *job)
{
	struct beginjob *j = job;

	if (limits_begin(j->cfg, j->store, &j->sb, &j->limits, j->why, sizeof(j->why),
			 &j->code) < 0) {
		j->rc = 1;
		return;
	}
	j->point = store_point_begin(j->store, &j->sb, &j->err);
	if (j->point && limits_begun(j->store, j->sb.group, &j->limits) < 0) {
		store_point_free(j->point);
		j->point = NULL;
	}
	j->rc = j->point ? 0 : -1;
}

int
beginjob_take(struct beginjob *j, struct store_point **pt, struct limits_point *lp,
	      uint32_t *code, const char **why, int *err)
{
	*pt = j->point;
	j->point = NULL;
	*lp = j->limits;
	*code = j->code;
	*why = j->why;
	*err = j->err;
	return j->rc;
}

const struct store_begin *
beginjob_request(const struct beginjob *j)
{
	return &j->sb;
}

void *
beginjob_owner(const struct beginjob *j)
{
	return j->owner;
}

void
beginjob_disown(struct beginjob *j)
{
	j->owner = NULL;
}

void
beginjob_free(struct beginjob *j)
{
	if (!j)
		return;
	store_point_free(j->point);
	free(j);
}
