/* Removing a committed point (retention) without changing the content of
 * any other point: the backend unchains the child, then the catalog
 * forgets the point, then its files go. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "replicator/receiver/catalog.h"
#include "replicator/receiver/catlog.h"
#include "replicator/receiver/history.h"
#include "replicator/receiver/scrubstate.h"
#include "replicator/receiver/store-backend.h"
#include "replicator/receiver/store-chain.h"
#include "replicator/receiver/store-sums.h"

/* ---- removing a point (retention) --------------------------------------------- */

/* Inside the group's immutability window: checked here, under the group
 * lock and before any data moves, so that no caller (retention, prune, a
 * future path) can remove such a point. */
static bool
remove_immutable(const struct store *st, const char *group, const struct store_point_info *pi)
{
	struct store_rules r;
	uint64_t now = clock_now_ns();
	char when[CLOCK_ISO_LEN];

	store_group_rules(st, group, &r);
	if (!history_immutable(pi->received_ns, now, r.immutable_ns))
		return false;
	clock_iso8601(pi->received_ns, when, sizeof(when));
	log_warn("store: group %s: point %" PRIu64 " (received %s) is inside the immutability "
		 "window of %" PRIu64 " s: not removed", group, pi->id, when,
		 r.immutable_ns / UINT64_C(1000000000));
	return true;
}

/* Step 3 of a removal: the victim's data and metadata; a failure here only
 * leaves strays for later. */
static void
remove_files(struct store *st, const struct store_where *w,
	     const struct store_point_info *victim)
{
	char *dir = strfmt("%s/meta", w->gdir);

	st->be->ops->drop(st->be, w, victim);
	if (store_unlink_id(dir, victim->id, ".bin") < 0)
		log_warn("store: group %s: metadata of removed point %" PRIu64
			 " is left as a stray", w->group, victim->id);
	free(dir);
}

/* Index of point in cat, which must not be the newest. -1 (logged). */
static ssize_t
remove_index(const struct catalog *cat, const char *group, uint64_t point)
{
	size_t idx;

	for (idx = 0; idx < cat->n && cat->pts[idx].id != point; idx++)
		;
	if (idx == cat->n) {
		log_error("store: group %s: no point %" PRIu64 " to remove", group, point);
		return -1;
	}
	if (idx == cat->n - 1) {
		log_error("store: group %s: point %" PRIu64 " is the newest and is never removed",
			  group, point);
		return -1;
	}
	return (ssize_t)idx;
}

int
store_point_remove(struct store *st, const char *group, uint64_t point,
		   store_remove_veto veto, void *arg)
{
	struct store_held h = { .lock_fd = -1 };
	struct catalog *cat = &h.cat;
	struct store_point_info victim, *child = NULL;
	struct store_where w = { group, NULL, point };
	uint64_t *kid_ids = calloc(STORE_MAX_KIDS, sizeof(*kid_ids));
	const struct store_point_info **kids = calloc(STORE_MAX_KIDS, sizeof(*kids));
	size_t nkids = 0;
	ssize_t idx;
	int rc = -1, scrub_lock = -1, chain_lock = -1;

	/* No hash query reads through the point while it goes (store-backend.h). */
	pthread_rwlock_wrlock(&st->readers);
	if (!kid_ids || !kids) {
		log_error("store: out of memory");
		goto out;
	}
	if (store_hold(st, group, false, &h) < 0 ||
	    (idx = remove_index(cat, group, point)) < 0)
		goto out;
	w.gdir = h.gdir;
	victim = cat->pts[idx];
	if (remove_immutable(st, group, &victim)) {
		rc = 2;
		goto out;
	}
	if (cat->pts[idx + 1].base_id == point)
		child = &cat->pts[idx + 1];
	/* No settle swaps a file of the group meanwhile (store-chain.h). */
	if ((chain_lock = store_chain_lock(h.gdir)) < 0)
		goto out;
	/* 1. checksums and bad scrub verdicts: the child and every point whose
	 * file backs on the victim take the victim's. First, while their data
	 * still reads through it (the same bytes before and after step 2): a
	 * crash after the data moved would leave points the next attempt no
	 * longer finds from the headers without them. */
	if (st->be->ops->kids && st->be->ops->kids(st->be, &w, cat, &victim, child, kid_ids,
						   &nkids) < 0)
		goto out;
	for (size_t i = 0; i < nkids; i++)
		kids[i] = catalog_find(cat, kid_ids[i]);
	if (store_sums_on_remove(h.gdir, &victim, child, kids, nkids, &scrub_lock) < 0)
		goto out;
	/* 2. data: they absorb what they read through the victim */
	if (st->be->ops->unchain &&
	    st->be->ops->unchain(st->be, &w, cat, &victim, child, kid_ids, &nkids) < 0)
		goto out;
	if (veto && veto(arg, point)) {
		log_info("store: group %s: point %" PRIu64 " is kept: it came into use", group,
			 point);
		rc = 1;
		goto out;
	}
	if (store_sums_forget(h.gdir, point) < 0)
		goto out;
	/* 3. the catalog: from now on the victim does not exist (its child
	 * takes its base) */
	if (catlog_remove(h.gdir, cat, point) < 0)
		goto out;
	/* 4. its files */
	remove_files(st, &w, &victim);
	store_sums_drop(h.gdir, point);
	log_info("store: group %s: removed point %" PRIu64 "%s", group, point,
		 child ? " (merged into its child)" : "");
	rc = 0;
out:
	scrubstate_unlock(scrub_lock);
	store_chain_unlock(chain_lock);
	store_release(&h);
	pthread_rwlock_unlock(&st->readers);
	free(kid_ids);
	free(kids);
	return rc;
}
