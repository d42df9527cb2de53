/* A repair's begin or commit on a worker (repairjob.h). */
#include "replicator/receiver/repairjob.h"

#include <stdbool.h>
#include <stdlib.h>

#include "common/log.h"
#include "proto/codec.h"

struct repairjob {
	const struct receiver_config *cfg;
	struct store *st;
	struct proto_point_begin *b; /* a begin's request; NULL for a commit */
	struct repair *r;            /* the begun repair, or the one to commit */
	void *owner;
	int rc;
	struct repair_why why;
};

static struct repairjob *
job_new(void *owner)
{
	struct repairjob *j = calloc(1, sizeof(*j));

	if (!j)
		log_error("receiver: out of memory");
	else
		j->owner = owner;
	return j;
}

struct repairjob *
repairjob_begin(const struct receiver_config *cfg, struct store *st,
		const struct proto_point_begin *b, void *owner)
{
	struct repairjob *j = job_new(owner);

	if (j && !(j->b = malloc(sizeof(*j->b)))) {
		log_error("receiver: out of memory");
		free(j);
		return NULL;
	}
	if (j) {
		*j->b = *b;
		j->cfg = cfg;
		j->st = st;
	}
	return j;
}

struct repairjob *
repairjob_commit(struct repair *r, void *owner)
{
	struct repairjob *j = job_new(owner);

	if (!j)
		repair_free(r);
	else
		j->r = r;
	return j;
}

void
repairjob_run(void *job)
{
	struct repairjob *j = job;

	if (j->b)
		j->rc = repair_begin(j->cfg, j->st, j->b, &j->r, &j->why);
	else
		j->rc = repair_commit(j->r, &j->why) == 0 ? 1 : -1;
}

int
repairjob_take(struct repairjob *j, struct repair **out, struct repair_why *why)
{
	*out = NULL;
	if (j->rc < 0)
		*why = j->why;
	else if (j->rc == 0) {
		*out = j->r;
		j->r = NULL;
	}
	return j->rc;
}

void *
repairjob_owner(const struct repairjob *j)
{
	return j->owner;
}

void
repairjob_disown(struct repairjob *j)
{
	j->owner = NULL;
}

void
repairjob_free(struct repairjob *j)
{
	if (!j)
		return;
	repair_free(j->r);
	free(j->b);
	free(j);
}
