/* The NBD block-status walker: two metadata contexts, each a list of
 * (length, flags) pairs, merged into ranges where neither changes. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/nbd-dl.h"
#include "snapshot/nbdstatus.h"

/* Entries kept per context and reply: the rest is asked for again. */
#define NBDSTATUS_MAX_ENTRIES 65536u

struct nbdstatus_list {
	uint32_t *v; /* (length, flags) pairs */
	size_t n, cap;
	int seen;
};

struct nbdstatus {
	const char *dirty_ctx;
	struct nbdstatus_list alloc, dirty;
};

static int
nbdstatus_cb_collect(void *opaque, const char *metacontext, uint64_t offset,
		     uint32_t *entries, size_t nr_entries, int *error)
{
	struct nbdstatus *st = opaque;
	struct nbdstatus_list *l;

	(void)offset;
	if (strcmp(metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) == 0)
		l = &st->alloc;
	else if (st->dirty_ctx && strcmp(metacontext, st->dirty_ctx) == 0)
		l = &st->dirty;
	else
		return 0;
	l->seen = 1;
	for (size_t i = 0; i + 1 < nr_entries; i += 2) {
		if (l->n / 2 >= NBDSTATUS_MAX_ENTRIES)
			break;
		if (l->n + 2 > l->cap) {
			size_t ncap = l->cap ? l->cap * 2 : 256;
			uint32_t *nv = realloc(l->v, ncap * sizeof(*nv));
			if (!nv) {
				*error = ENOMEM;
				return -1;
			}
			l->v = nv;
			l->cap = ncap;
		}
		l->v[l->n++] = entries[i];
		l->v[l->n++] = entries[i + 1];
	}
	return 0;
}

static uint64_t
nbdstatus_total(const struct nbdstatus_list *l)
{
	uint64_t t = 0;

	for (size_t i = 0; i < l->n; i += 2)
		t += l->v[i];
	return t;
}

/* Calls cb for the ranges of [off, end) where neither context changes. */
static int
nbdstatus_merge(const struct nbdstatus *st, uint64_t off, uint64_t end,
		nbdstatus_cb cb, void *opaque, uint64_t *done)
{
	uint64_t pos = off, a_end = off, d_end = st->dirty_ctx ? off : end;
	size_t ia = 0, id = 0;

	while (pos < end) {
		unsigned flags;
		uint64_t seg_end = end;

		while (a_end <= pos && ia < st->alloc.n) {
			a_end += st->alloc.v[ia];
			ia += 2;
		}
		while (st->dirty_ctx && d_end <= pos && id < st->dirty.n) {
			d_end += st->dirty.v[id];
			id += 2;
		}
		if (a_end <= pos || d_end <= pos)
			break; /* cannot happen: end is within both totals */
		flags = st->alloc.v[ia - 1] & (LIBNBD_STATE_HOLE | LIBNBD_STATE_ZERO);
		if (st->dirty_ctx && (st->dirty.v[id - 1] & 1))
			flags |= NBDSTATUS_DIRTY;
		if (a_end < seg_end)
			seg_end = a_end;
		if (d_end < seg_end)
			seg_end = d_end;
		if (cb(opaque, pos, seg_end - pos, flags) < 0)
			return -1;
		pos = seg_end;
	}
	*done = pos - off;
	return 0;
}

int64_t
nbdstatus_walk(struct nbd_handle *nbd, const char *dirty_ctx, uint64_t off,
	       uint64_t len, nbdstatus_cb cb, void *opaque, const char *what)
{
	struct nbdstatus st = { .dirty_ctx = dirty_ctx };
	uint64_t end, done = 0;
	int64_t ret = -1;

	if (sym_nbd_block_status(nbd, len, off,
			     (nbd_extent_callback){ .callback = nbdstatus_cb_collect,
						    .user_data = &st }, 0) < 0) {
		log_error("%s: block status at %" PRIu64 ": %s", what, off,
			  nbd_dl_error());
		goto out;
	}
	if (!st.alloc.seen || (dirty_ctx && !st.dirty.seen)) {
		log_error("%s: block status at %" PRIu64 ": the server omitted a "
			  "context", what, off);
		goto out;
	}
	/* Describe only what both contexts cover. */
	end = off + len;
	if (off + nbdstatus_total(&st.alloc) < end)
		end = off + nbdstatus_total(&st.alloc);
	if (dirty_ctx && off + nbdstatus_total(&st.dirty) < end)
		end = off + nbdstatus_total(&st.dirty);
	if (end <= off) {
		log_error("%s: block status at %" PRIu64 " made no progress", what, off);
		goto out;
	}
	if (nbdstatus_merge(&st, off, end, cb, opaque, &done) < 0)
		goto out;
	ret = (int64_t)done;
out:
	free(st.alloc.v);
	free(st.dirty.v);
	return ret;
}
