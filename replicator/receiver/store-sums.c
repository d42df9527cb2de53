/* The store's per-extent checksums: written beside the point being
 * received, durable with its data, handed to the child when a point is
 * removed (store-sums.h). */
#include "replicator/receiver/store-sums.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "replicator/receiver/scrubstate.h"
#include "replicator/receiver/sums.h"

struct store_sums {
	char *dir; /* <gdir>/sums/<point> */
	size_t n;
	struct sums_writer *w[STORE_MAX_DISKS]; /* NULL: this disk keeps none */
};

void
store_sums_free(struct store_sums *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		sums_writer_free(s->w[i]);
	free(s->dir);
	free(s);
}

/* Resumed disk d: may its file be reopened? A missing or headless file of
 * a disk with durable data would miss records: keep none for it. */
static bool
resume_usable(const char *path, const struct store_disk *d, const char *ctx)
{
	struct stat sb;

	if (d->durable == 0 && !d->done)
		return true;
	if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size >= SUMS_HEADER_SIZE)
		return true;
	log_warn("%s: no checksum file to resume (%s): the point keeps no checksums of "
		 "this disk", ctx, path);
	(void)store_unlink(path);
	return false;
}

int
store_sums_begin(const char *gdir, uint64_t point, const struct store_disk *disks, size_t n,
		 bool resumed, struct store_sums **out)
{
	struct store_sums *s = calloc(1, sizeof(*s));
	char *root = sums_root(gdir), *path = NULL;
	char ctx[STORE_CTX_MAX];
	int rc = -1;

	*out = NULL;
	if (!s || !root) {
		log_error("store: out of memory");
		goto out;
	}
	s->n = n;
	if (!(s->dir = sums_dir(gdir, point)) || store_mkdir_durable(root) < 0 ||
	    store_mkdir_durable(s->dir) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct store_disk *d = &disks[i];
		struct store_where w = { NULL, gdir, point };
		uint64_t keep = !resumed ? 0 : d->done ? UINT64_MAX : d->durable;

		w.group = strrchr(gdir, '/') ? strrchr(gdir, '/') + 1 : gdir;
		store_ctx(ctx, sizeof(ctx), &w, d->name);
		free(path);
		if (!(path = sums_path(gdir, point, d->name)))
			goto out;
		if (resumed && !resume_usable(path, d, ctx))
			continue;
		s->w[i] = sums_writer_open(path, keep, sums_max_records(d->size), ctx, NULL);
		if (!s->w[i])
			goto out;
	}
	/* Every name made or removed in the point's directory is durable from
	 * here on (the new files were fdatasynced): one fsync for all, and
	 * the commit needs none (issue 17: a device cache flush each). */
	if (dir_fsync(s->dir) < 0)
		goto out;
	*out = s;
	s = NULL;
	rc = 0;
out:
	store_sums_free(s);
	free(path);
	free(root);
	return rc;
}

int
store_sums_add(struct store_sums *s, uint16_t disk, uint64_t off, uint64_t len, bool zero,
	       uint64_t hash, int *err)
{
	struct sums_rec r = { .offset = off, .length = len, .zero = zero, .hash = zero ? 0 : hash };

	if (!s || disk >= s->n || !s->w[disk])
		return 0;
	if (sums_writer_add(s->w[disk], &r) < 0) {
		*err = errno == E2BIG ? STORE_ERR_INVALID : STORE_ERR_IO;
		if (*err == STORE_ERR_INVALID)
			errno = E2BIG; /* the session names the bound */
		return -1;
	}
	return 0;
}

int
store_sums_sync(struct store_sums *s, uint16_t disk)
{
	if (!s || disk >= s->n || !s->w[disk])
		return 0;
	return sums_writer_sync(s->w[disk]);
}

int
store_sums_commit(struct store_sums *s)
{
	if (!s)
		return 0;
	/* The names are durable since store_sums_begin: the point's directory
	 * (store_mkdir_durable fsynced <gdir>/sums) and its files (fsynced
	 * once they were all made); only the records are left. */
	for (size_t i = 0; i < s->n; i++)
		if (store_sums_sync(s, (uint16_t)i) < 0)
			return -1;
	return 0;
}

struct prune_keep {
	const struct catalog *cat;
	uint64_t keep_id;
};

static bool
prune_keep(void *arg, uint64_t id)
{
	const struct prune_keep *k = arg;

	return id == k->keep_id || catalog_has(k->cat, id);
}

int
store_sums_prune(const char *gdir, const struct catalog *cat, uint64_t keep_id)
{
	struct prune_keep k = { cat, keep_id };

	return sums_prune(gdir, prune_keep, &k);
}

void
store_sums_drop(const char *gdir, uint64_t victim)
{
	if (sums_remove_point(gdir, victim) < 0)
		log_warn("store: checksums of removed point %" PRIu64 " in %s are left as strays",
			 victim, gdir);
}

/* ---- removal ------------------------------------------------------------------------ */

/* The records of one disk of the child, as loaded before the merge. */
struct child_disk {
	bool have;            /* the child has checksums of this disk */
	struct sums_rec *recs;
	size_t n;
	struct sums_span *cover;
	size_t ncover;
};

/* Load point's file of disk (of size bytes): 1 = none or unusable
 * (a malformed file counts as none: warned), 0 loaded, -1 I/O. */
static int
load_disk(const char *gdir, uint64_t point, const char *disk, uint64_t size,
	  struct sums_rec **recs, size_t *n)
{
	char *path = sums_path(gdir, point, disk);
	int r;

	if (!path)
		return -1;
	r = sums_load(path, sums_max_records(size), recs, n);
	if (r < 0) {
		log_warn("store: checksums %s are unusable: treated as none", path);
		r = 1;
	}
	free(path);
	return r;
}

/* Bad ranges of victim not overlapped by the child's own records go to
 * the child's entry; the victim's entry goes. 0 / -1. */
static int
move_verdicts(const char *gdir, const struct store_point_info *victim,
	      const struct store_point_info *child, const struct child_disk *cd, bool drop)
{
	struct scrubstate ss;
	struct scrub_entry *v, *to = NULL;
	int rc = -1;

	/* An unreadable scrub.json (logged) must not stop retention for good:
	 * the scrub refuses to record over it until it is fixed. */
	if (scrubstate_load(gdir, &ss) < 0) {
		log_warn("store: scrub verdicts of point %" PRIu64 " not handed to its child",
			 victim->id);
		return 0;
	}
	v = scrubstate_find(&ss, victim->id);
	if (!v) {
		rc = 0;
		goto out;
	}
	for (size_t i = 0; child && v->verdict == SCRUB_BAD && i < v->nbad; i++) {
		const struct scrub_range *b = &v->bad[i];
		int k = catalog_point_disk(child, b->disk);

		if (k < 0)
			continue; /* the child has no such disk: nothing read through */
		if (!to && !(to = scrubstate_get(&ss, child->id)))
			goto out;
		if (to->verdict != SCRUB_BAD && to->nbad == 0 && to->time_ns == 0)
			to->time_ns = v->time_ns;
		/* scrubstate_get may have moved the entries */
		v = scrubstate_find(&ss, victim->id);
		b = &v->bad[i];
		if (scrubstate_add_uncovered(to, b->disk, b->offset, b->length, cd[k].cover,
					     cd[k].have ? cd[k].ncover : 0) < 0)
			goto out;
	}
	if (to)
		log_warn("store: point %" PRIu64 " failed its scrub; its bad ranges the child "
			 "did not overwrite now count against point %" PRIu64, victim->id,
			 child->id);
	if (drop)
		scrubstate_drop(&ss, victim->id);
	rc = drop || to ? scrubstate_save(gdir, &ss) : 0;
out:
	scrubstate_free(&ss);
	return rc;
}

/* Each child disk that has checksums, merged with the victim's. */
static int
merge_disks(const char *gdir, const struct store_point_info *victim,
	    const struct store_point_info *child, const struct child_disk *cd)
{
	for (size_t k = 0; k < child->ndisks; k++) {
		const char *disk = child->disks[k].name;
		struct sums_rec *vr = NULL, *out = NULL;
		size_t nv = 0, nout = 0;
		char *path = NULL;
		int r = 0;

		if (!cd[k].have || catalog_point_disk(victim, disk) < 0)
			continue;
		r = load_disk(gdir, victim->id, disk,
			      victim->disks[catalog_point_disk(victim, disk)].size, &vr, &nv);
		if (r == 0)
			r = sums_merge(cd[k].recs, cd[k].n, vr, nv, child->disks[k].size, &out,
				       &nout);
		if (r == 0)
			r = (path = sums_path(gdir, child->id, disk)) ? sums_save(path, out, nout)
								       : -1;
		free(path);
		free(out);
		free(vr);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* One child of victim takes over its records and bad ranges; drop: the
 * victim's verdict goes (the last child). */
static int
hand_over(const char *gdir, const struct store_point_info *victim,
	  const struct store_point_info *child, bool drop)
{
	struct child_disk cd[STORE_MAX_DISKS] = { 0 };
	int rc = -1;

	for (size_t k = 0; child && k < child->ndisks; k++) {
		int r = load_disk(gdir, child->id, child->disks[k].name, child->disks[k].size,
				  &cd[k].recs, &cd[k].n);

		if (r < 0)
			goto out;
		cd[k].have = r == 0;
		sums_sort(cd[k].recs, cd[k].n);
		/* Bad ranges move where no record of the child vouches for
		 * its own bytes (an UNKNOWN one may hide the victim's). */
		if (cd[k].have &&
		    sums_cover(cd[k].recs, cd[k].n, true, &cd[k].cover, &cd[k].ncover) < 0)
			goto out;
	}
	/* Verdicts first: a crash before the merge leaves the child's own
	 * records, which the next attempt measures the moved ranges against
	 * again (found moved already: nothing to do). */
	if (move_verdicts(gdir, victim, child, cd, drop) < 0 ||
	    (child && merge_disks(gdir, victim, child, cd) < 0))
		goto out;
	rc = 0;
out:
	for (size_t k = 0; k < STORE_MAX_DISKS; k++) {
		free(cd[k].recs);
		free(cd[k].cover);
	}
	return rc;
}

int
store_sums_on_remove(const char *gdir, const struct store_point_info *victim,
		     const struct store_point_info *child,
		     const struct store_point_info *const *kids, size_t nkids, int *scrub_lock)
{
	*scrub_lock = scrubstate_lock(gdir);
	if (*scrub_lock < 0)
		return -1;
	for (size_t i = 0; i < nkids; i++)
		if (hand_over(gdir, victim, kids[i], false) < 0)
			return -1;
	return hand_over(gdir, victim, child, false);
}

int
store_sums_forget(const char *gdir, uint64_t victim)
{
	struct scrubstate ss;
	int rc;

	if (scrubstate_load(gdir, &ss) < 0)
		return 0; /* warned; as move_verdicts leaves it */
	if (!scrubstate_find(&ss, victim)) {
		scrubstate_free(&ss);
		return 0;
	}
	scrubstate_drop(&ss, victim);
	rc = scrubstate_save(gdir, &ss);
	scrubstate_free(&ss);
	return rc;
}

int
store_sums_on_settle(const char *gdir, const struct catalog *cat,
		     const struct store_point_info *pi, const char *disk,
		     const uint64_t *absorbed, size_t n)
{
	int k = catalog_point_disk(pi, disk);
	uint64_t size = k >= 0 ? pi->disks[k].size : 0;
	struct sums_rec *acc = NULL, *ar = NULL, *out = NULL;
	size_t nacc = 0, na = 0, nout = 0;
	char *path = NULL;
	int r, rc = -1;

	if (k < 0 || (r = load_disk(gdir, pi->id, disk, size, &acc, &nacc)) == 1)
		return 0; /* no checksums of this disk: none to extend */
	if (r < 0)
		goto out;
	/* Newest first: a newer record of the same bytes wins, as a walk
	 * down the old chain would have found. */
	for (size_t i = 0; i < n; i++) {
		const struct store_point_info *a = absorbed[i] ? catalog_find(cat, absorbed[i]) : NULL;
		int ak = a ? catalog_point_disk(a, disk) : -1;

		if (ak < 0)
			continue;
		free(ar);
		ar = NULL;
		r = load_disk(gdir, a->id, disk, a->disks[ak].size, &ar, &na);
		if (r < 0)
			goto out;
		if (r == 1)
			continue; /* its bytes have no checksums: unchecked, as before */
		if (sums_merge(acc, nacc, ar, na, size, &out, &nout) < 0)
			goto out;
		free(acc);
		acc = out;
		nacc = nout;
		out = NULL;
	}
	if ((path = sums_path(gdir, pi->id, disk)) && sums_save(path, acc, nacc) == 0)
		rc = 0;
out:
	free(path);
	free(acc);
	free(ar);
	free(out);
	return rc;
}

bool
store_sums_complete(const char *gdir, const struct catalog *cat,
		    const struct store_point_info *pi, const char *disk, const uint64_t *absorbed,
		    size_t n)
{
	bool ok = true;
	char *path;
	struct stat sb;

	if (!(path = sums_path(gdir, pi->id, disk)))
		return false;
	if (stat(path, &sb) < 0) {
		free(path);
		return true; /* no checksums of its own: nothing to keep right */
	}
	free(path);
	for (size_t i = 0; ok && i < n; i++) {
		const struct store_point_info *a = absorbed[i] ? catalog_find(cat, absorbed[i]) : NULL;

		if (!a || catalog_point_disk(a, disk) < 0)
			continue;
		path = sums_path(gdir, a->id, disk);
		ok = path && stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
		     sb.st_size >= SUMS_HEADER_SIZE;
		free(path);
	}
	return ok;
}
