/* A hash query run off the event loop (hashjob.h). The job owns every byte
 * the worker touches, so the session may go away while it runs. */
#include "replicator/receiver/hashjob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "proto/codec.h"
#include "replicator/receiver/store.h"

struct hashjob {
	struct store *store;
	void *owner;
	struct proto_hash_query q;
	uint64_t max_bytes;
	uint64_t *hashes; /* allocated by the worker, big-endian once run */
	struct store_hash_res res;
	int rc;
	int err;
};

struct hashjob *
hashjob_new(struct store *st, const struct proto_hash_query *q, uint64_t max_bytes, void *owner)
{
	struct hashjob *j = calloc(1, sizeof(*j));

	if (!j) {
		log_error("group %s: out of memory for a hash query", q->group);
		return NULL;
	}
	j->store = st;
	j->owner = owner;
	j->q = *q;
	j->max_bytes = max_bytes;
	j->rc = -1;
	j->err = STORE_ERR_INTERNAL;
	return j;
}

/* Big-endian on the wire; converted in place, still on the worker. */
static void
hashes_to_wire(uint64_t *hashes, uint32_t n)
{
	uint8_t *be = (uint8_t *)hashes;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t v = hashes[i];

		for (int b = 7; b >= 0; b--) {
			be[i * 8 + (unsigned)b] = (uint8_t)v;
			v >>= 8;
		}
	}
}

void
hashjob_run(void *job)
{
	struct hashjob *j = job;
	const struct proto_hash_query *q = &j->q;
	struct store_hash_req req = { q->group, q->disk, q->point_id, q->offset, q->block_size,
				      q->count, j->max_bytes };
	/* The store refuses a count over its bound before it writes a hash. */
	size_t n = q->count >= 1 && q->count <= PROTO_MAX_HASHES ? q->count : 1;

	j->hashes = malloc(n * sizeof(uint64_t));
	if (!j->hashes) {
		log_error("group %s: out of memory for a hash query", q->group);
		return;
	}
	j->rc = store_hash_query(j->store, &req, j->hashes, &j->res, &j->err);
	if (j->rc == 0)
		hashes_to_wire(j->hashes, j->res.got);
}

int
hashjob_answer(const struct hashjob *j, struct proto_msg *m, int *err)
{
	*err = j->err;
	if (j->rc < 0)
		return -1;
	memset(m, 0, sizeof(*m));
	m->type = PROTO_HASH_ANSWER;
	m->u.hanswer.point_id = j->res.point;
	m->u.hanswer.offset = j->q.offset;
	m->u.hanswer.block_size = j->q.block_size;
	m->u.hanswer.count = j->res.got;
	m->u.hanswer.flags = j->res.more ? PROTO_FLAG_HASH_MORE : 0;
	m->u.hanswer.hashes = (const uint8_t *)j->hashes;
	return 0;
}

const struct proto_hash_query *
hashjob_query(const struct hashjob *j)
{
	return &j->q;
}

void *
hashjob_owner(const struct hashjob *j)
{
	return j->owner;
}

void
hashjob_disown(struct hashjob *j)
{
	j->owner = NULL;
}

void
hashjob_free(struct hashjob *j)
{
	if (!j)
		return;
	free(j->hashes);
	free(j);
}
