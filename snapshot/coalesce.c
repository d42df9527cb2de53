/* The extent-merging loop shared by the change sources. */
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
