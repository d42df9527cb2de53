/* The extent-merging loop shared by the change sources. */
#include <stdlib.h>

#include "snapshot/coalesce.h"

int
coalesce_next(struct snap_extent *p, uint64_t max_len, coalesce_span_fn next, void *arg,
	      struct snap_extent *ext)
{
	struct snap_extent sp;
	int r;

	for (;;) {
		if (p->length >= max_len) {
			*ext = (struct snap_extent){ p->offset, max_len, p->kind };
			p->offset += max_len;
			p->length -= max_len;
			return 1;
		}
		r = next(arg, &sp);
		if (r < 0)
			return -1;
		if (r == 0 || (sp.kind == 0 && p->length)) {
			if (!p->length)
				return 0;
			*ext = *p;
			p->length = 0;
			return 1;
		}
		if (sp.kind == 0)
			continue;
		if (p->length && (p->kind != sp.kind || p->offset + p->length != sp.offset)) {
			*ext = *p;
			*p = sp;
			return 1;
		}
		if (p->length)
			p->length += sp.length;
		else
			*p = sp;
	}
}

int
coalesce_queue_add(struct coalesce_queue *q, uint64_t off, uint64_t len, int kind)
{
	struct snap_extent *last = q->n ? &q->v[q->n - 1] : NULL;

	if (len == 0)
		return 0;
	if (last && last->kind == kind && last->offset + last->length == off) {
		last->length += len;
		return 0;
	}
	if (q->n == q->cap) {
		size_t ncap = q->cap ? q->cap * 2 : 64;
		struct snap_extent *nv = realloc(q->v, ncap * sizeof(*nv));

		if (!nv)
			return -1;
		q->v = nv;
		q->cap = ncap;
	}
	q->v[q->n++] = (struct snap_extent){ off, len, kind };
	return 0;
}

struct coalesce_refill {
	struct coalesce_queue *q;
	uint64_t size;
	coalesce_fill_fn fill;
	void *arg;
};

static int
coalesce_queue_span(void *arg, struct snap_extent *sp)
{
	struct coalesce_refill *r = arg;
	struct coalesce_queue *q = r->q;

	while (q->i == q->n) {
		if (q->pos >= r->size)
			return 0;
		q->n = q->i = 0;
		if (r->fill(r->arg) < 0)
			return -1;
	}
	*sp = q->v[q->i++];
	return 1;
}

int
coalesce_queue_next(struct coalesce_queue *q, uint64_t size, uint64_t max_len,
		    coalesce_fill_fn fill, void *arg, struct snap_extent *ext)
{
	struct coalesce_refill r = { q, size, fill, arg };

	return coalesce_next(&q->pending, max_len, coalesce_queue_span, &r, ext);
}

void
coalesce_queue_free(struct coalesce_queue *q)
{
	free(q->v);
	q->v = NULL;
	q->n = q->i = q->cap = 0;
}
