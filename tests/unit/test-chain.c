/* Unit tests of the chain layout (issue 17, "Many points stay cheap"): the
 * skip ancestor and the pick over a base's chain (pure, simulated over
 * 100,000 points and through removals), the qcow2 header reader, and the
 * local store settled and thinned for real (qemu-img / qemu-nbd): depth
 * bound, content unchanged, checksums carried, scrub clean. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "replicator/receiver/chain.h"
#include "replicator/receiver/scrub.h"
#include "replicator/receiver/store-chain.h"
#include "replicator/receiver/store.h"
#include "replicator/receiver/sums.h"
#include "nbdread.h"
#include "storebegin.h"
#include "tmpdir.h"

/* ---- pure --------------------------------------------------------------------------- */

Test(chain, skip_target)
{
	cr_assert_eq(chain_skip_target(1), 0);
	cr_assert_eq(chain_skip_target(2), 0);
	cr_assert_eq(chain_skip_target(3), 2);
	cr_assert_eq(chain_skip_target(12), 8);
	cr_assert_eq(chain_skip_target(13), 12);
	cr_assert_eq(chain_skip_target(1024), 0);
	cr_assert_eq(chain_skip_target(UINT64_MAX), UINT64_MAX - 1);
	cr_assert_eq(chain_depth_bound(255), 8);
	cr_assert_eq(chain_depth_bound(256), 1);
}

Test(chain, pick)
{
	const uint64_t c11[] = { 11, 10, 8, 1 }; /* below 12 */
	const uint64_t c7[] = { 7, 6, 4, 1 };    /* below 8 */
	const uint64_t gap[] = { 11, 9, 1 };     /* 10 and 8 removed */
	const uint64_t one[] = { 5 };

	cr_assert_eq(chain_pick(12, c11, 4), 2);  /* 8 */
	cr_assert_eq(chain_pick(8, c7, 4), 3);    /* a power of two: the bottom */
	cr_assert_eq(chain_pick(7 + 1 - 1, c7 + 1, 3), 0); /* 7 over 6: odd, stays */
	cr_assert_eq(chain_pick(12, gap, 3), 2);  /* the first <= 8 */
	cr_assert_eq(chain_pick(6, one, 1), 0);
}

Test(chain, adopt)
{
	const uint64_t kids[] = { 9, 10, 12 };
	uint64_t to[3];

	chain_adopt(0, kids, 3, to); /* the bottom goes: 9 becomes it */
	cr_assert_eq(to[0], 0);
	cr_assert_eq(to[1], 9);
	cr_assert_eq(to[2], 9);
	chain_adopt(4, kids, 3, to);
	cr_assert_eq(to[0], 4);
	cr_assert_eq(to[1], 4);
	cr_assert_eq(to[2], 4);
}

#define SIM_N 100000

/* A group's layout simulated: back[id] the point id's file backs on (0 =
 * none), gone[id] removed. */
static uint64_t back[SIM_N + 1];
static bool gone[SIM_N + 1];

static size_t
sim_chain(uint64_t id, uint64_t *out)
{
	size_t n = 0;

	for (; id; id = back[id]) {
		cr_assert(!gone[id], "chain through removed point %" PRIu64, id);
		cr_assert_lt(n, CHAIN_MAX_DEPTH);
		out[n++] = id;
	}
	return n;
}

/* Commit id over base, then settle it as store-chain.c does. */
static void
sim_add(uint64_t id, uint64_t base)
{
	uint64_t c[CHAIN_MAX_DEPTH];
	size_t n;

	back[id] = base;
	if (!base)
		return;
	n = sim_chain(base, c);
	back[id] = c[chain_pick(id, c, n)];
}

static void
sim_remove(uint64_t v, uint64_t newest)
{
	static uint64_t kids[4096], to[4096];
	size_t n = 0;

	for (uint64_t k = v + 1; k <= newest; k++)
		if (!gone[k] && back[k] == v) {
			cr_assert_lt(n, 4096);
			kids[n++] = k;
		}
	chain_adopt(back[v], kids, n, to);
	for (size_t i = 0; i < n; i++)
		back[kids[i]] = to[i];
	gone[v] = true;
}

static unsigned
sim_depth(uint64_t id)
{
	uint64_t c[CHAIN_MAX_DEPTH];

	return (unsigned)sim_chain(id, c) - 1;
}

Test(chain, depth_bound_over_100000_points)
{
	unsigned worst = 0;

	memset(back, 0, sizeof(back));
	memset(gone, 0, sizeof(gone));
	for (uint64_t id = 1; id <= SIM_N; id++) {
		unsigned d;

		sim_add(id, id - 1);
		d = sim_depth(id);
		cr_assert_leq(d, chain_depth_bound(id), "point %" PRIu64 ": depth %u", id, d);
		if (d > worst)
			worst = d;
	}
	cr_assert_leq(worst, 17);
	cr_assert_geq(worst, 16); /* 65535 is 16 deep: the bound is reached */
}

Test(chain, removals_never_deepen)
{
	uint64_t newest = 0, base = 0;
	unsigned seed = 7;

	memset(back, 0, sizeof(back));
	memset(gone, 0, sizeof(gone));
	/* 20,000 points; after each, a pseudo-random older point goes now and
	 * then (never the newest), as a thinning retention does, the bottom
	 * included. */
	for (uint64_t id = 1; id <= 20000; id++) {
		sim_add(id, base);
		base = newest = id;
		cr_assert_leq(sim_depth(id), 2 * 15 + 2, "point %" PRIu64, id);
		seed = seed * 1103515245 + 12345;
		if (id > 10 && seed % 3 == 0) {
			uint64_t v = 1 + (seed >> 8) % (id - 1);
			static unsigned before[4096];
			static uint64_t kids[4096];
			size_t n = 0;

			if (gone[v])
				continue;
			for (uint64_t k = v + 1; k <= newest && n < 4096; k++)
				if (!gone[k] && back[k] == v) {
					kids[n] = k;
					before[n++] = sim_depth(k);
				}
			sim_remove(v, newest);
			for (size_t i = 0; i < n; i++)
				cr_assert_leq(sim_depth(kids[i]), before[i],
					      "child %" PRIu64 " of removed %" PRIu64 " deeper", kids[i], v);
		}
	}
	/* every remaining point still has a whole chain */
	for (uint64_t id = 1; id <= newest; id++)
		if (!gone[id])
			(void)sim_depth(id);
}

/* ---- the header reader --------------------------------------------------------------- */

TMPDIR_SUITE(qhdr, qdir, "nestor-qhdr");

static void
sh(const char *cmd)
{
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(qhdr, backing_names)
{
	char cmd[512], path[128], name[64];
	uint8_t hdr[20] = { 'Q', 'F', 'I', 0xfb };
	int fd;

	snprintf(cmd, sizeof(cmd), "cd %s && qemu-img create -q -f qcow2 1.qcow2 1M && "
		 "qemu-img create -q -f qcow2 -b 1.qcow2 -F qcow2 2.qcow2", qdir);
	sh(cmd);
	snprintf(path, sizeof(path), "%s/1.qcow2", qdir);
	cr_assert_eq(store_chain_backing(path, name, sizeof(name)), 0);
	snprintf(path, sizeof(path), "%s/2.qcow2", qdir);
	cr_assert_eq(store_chain_backing(path, name, sizeof(name)), 1);
	cr_assert_str_eq(name, "1.qcow2");
	cr_assert_eq(store_chain_name_id(name), 1);
	cr_assert_eq(store_chain_name_id("/dev/sdb"), 0);
	cr_assert_eq(store_chain_name_id("../1.qcow2"), 0);
	cr_assert_eq(store_chain_backing(path, name, 5), -1); /* longer than the buffer */

	/* a header from a hostile file: a name of 4 GiB, then not qcow2 */
	snprintf(path, sizeof(path), "%s/bad.qcow2", qdir);
	hdr[15] = 100;
	hdr[16] = hdr[17] = hdr[18] = hdr[19] = 0xff;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	close(fd);
	cr_assert_eq(store_chain_backing(path, name, sizeof(name)), -1);
	hdr[0] = 'X';
	fd = open(path, O_WRONLY | O_TRUNC);
	cr_assert_eq(write(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	close(fd);
	cr_assert_eq(store_chain_backing(path, name, sizeof(name)), -1);
	snprintf(path, sizeof(path), "%s/none.qcow2", qdir);
	cr_assert_eq(store_chain_backing(path, name, sizeof(name)), -1);
}

/* ---- the store, settled and thinned --------------------------------------------------- */

#define MIB (1024u * 1024u)
#define DISK MIB
#define BLK 65536u
#define NPTS 24

TMPDIR_SUITE(settle, sdir, "nestor-settle");

/* The expected image of each point. */
static uint8_t want[NPTS + 1][DISK];

static void
commit_point(struct store *st, uint64_t id, uint64_t base)
{
	struct store_point *pt = store_begin_one(st, id, base, "vda", DISK);
	uint64_t off = (id * 5 % (DISK / BLK)) * BLK;
	int err = -1;

	if (base)
		memcpy(want[id], want[base], DISK);
	else
		memset(want[id], 0, DISK);
	/* one 64 KiB block per point, a second one every third point */
	for (size_t i = 0; i < BLK; i++)
		want[id][off + i] = (uint8_t)(id * 37 + i * 3 + 1);
	cr_assert_eq(store_point_write(pt, 0, off, want[id] + off, BLK, &err), 0);
	if (id % 3 == 0) {
		uint64_t o2 = (off + 7 * BLK) % DISK;

		memset(want[id] + o2, (int)id, BLK);
		cr_assert_eq(store_point_write(pt, 0, o2, want[id] + o2, BLK, &err), 0);
	}
	cr_assert_eq(store_point_disk_done(pt, 0, &err), 0);
	cr_assert_eq(store_point_commit(pt, "{}", 2, &err), 0);
	store_point_free(pt);
}

static void
assert_content(struct store *st, uint64_t id)
{
	char *path = store_point_disk_path(st, "grp", id, "vda");
	static uint8_t got[DISK];

	cr_assert_not_null(path);
	nbdread_image(path, got, DISK);
	cr_assert(memcmp(got, want[id], DISK) == 0, "point %" PRIu64 " changed", id);
	free(path);
}

static unsigned
depth(uint64_t id)
{
	char dir[128];
	uint64_t c[CHAIN_MAX_DEPTH];
	size_t n;
	bool ext;

	snprintf(dir, sizeof(dir), "%s/grp/disks/vda", sdir);
	cr_assert_eq(store_chain_walk(dir, id, c, CHAIN_MAX_DEPTH, &n, &ext), 0);
	cr_assert(!ext);
	return (unsigned)n - 1;
}

static size_t
nrecords(uint64_t id)
{
	char gdir[128];
	struct sums_rec *r = NULL;
	char *path;
	size_t n = 0;

	snprintf(gdir, sizeof(gdir), "%s/grp", sdir);
	path = sums_path(gdir, id, "vda");
	cr_assert_eq(sums_load(path, 1u << 20, &r, &n), 0);
	free(path);
	free(r);
	return n;
}

Test(settle, layout_content_sums_and_removal, .timeout = 300)
{
	struct store *st = store_open(sdir, NULL);
	struct scrub_opts so = { 0 };
	uint64_t done = 0;
	size_t rec16;

	cr_assert_not_null(st);
	for (uint64_t id = 1; id <= NPTS; id++)
		commit_point(st, id, id - 1);
	cr_assert_eq(depth(NPTS), NPTS - 1); /* as committed: one file per point */
	rec16 = nrecords(16);
	cr_assert_eq(store_settle_group(st, "grp", &done, NULL), 0);
	cr_assert_eq(done, NPTS - CHAIN_SETTLE_LAG);
	for (uint64_t id = 1; id <= NPTS - CHAIN_SETTLE_LAG; id++)
		cr_assert_leq(depth(id), chain_depth_bound(id), "point %" PRIu64 ": %u", id,
			      depth(id));
	/* the points above the lag stay over their base */
	cr_assert_eq(depth(NPTS), depth(NPTS - CHAIN_SETTLE_LAG) + CHAIN_SETTLE_LAG);
	cr_assert_eq(depth(16), 1); /* 16 backs on 1 */
	/* 16 absorbed 2..15: their records, one per block none of its own covers */
	cr_assert_gt(nrecords(16), rec16);
	for (uint64_t id = 1; id <= NPTS; id++)
		assert_content(st, id);
	cr_assert_eq(scrub_group(st, "grp", &so, NULL, NULL), 0);

	/* Settling again finds nothing to do. */
	done = 0;
	cr_assert_eq(store_settle_group(st, "grp", &done, NULL), 0);

	/* Point 8 has several children now (9, 10, 12): all keep their bytes. */
	cr_assert_eq(depth(10), 2);
	cr_assert_eq(depth(12), 2);
	cr_assert_eq(store_point_remove(st, "grp", 8, NULL, NULL), 0);
	cr_assert_leq(depth(9), 3);
	cr_assert_leq(depth(10), 2);
	cr_assert_leq(depth(12), 2);
	/* the bottom goes: its oldest child becomes it, the others back on it */
	cr_assert_eq(store_point_remove(st, "grp", 1, NULL, NULL), 0);
	cr_assert_eq(depth(2), 0);
	cr_assert_eq(depth(4), 1);
	cr_assert_eq(depth(16), 1);
	for (uint64_t id = 2; id <= NPTS; id++)
		if (id != 8)
			assert_content(st, id);
	cr_assert_eq(scrub_group(st, "grp", &so, NULL, NULL), 0);
	/* the files were rebuilt beside their point's: none is left */
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "! ls %s/grp/disks/vda | grep -v '^[0-9]*\\.qcow2$'",
			 sdir);
		cr_assert_eq(system(cmd), 0, "files left in %s/grp/disks/vda", sdir);
	}
	store_free(st);
}

/* A point that keeps no checksums of its disk (a resume dropped them) is
 * never absorbed by a settle: the settled point's records would miss its
 * bytes, and a removal below would later hand over records they replaced. */
Test(settle, no_checksums_not_absorbed, .timeout = 300)
{
	struct store *st = store_open(sdir, NULL);
	struct scrub_opts so = { 0 };
	char path[160];
	uint64_t done = 0;

	cr_assert_not_null(st);
	for (uint64_t id = 1; id <= 14; id++)
		commit_point(st, id, id - 1);
	snprintf(path, sizeof(path), "%s/grp/sums/3/vda.sums", sdir);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(store_settle_group(st, "grp", &done, NULL), 0);
	cr_assert_eq(depth(4), 3, "point 4 took in point 3: %u", depth(4));
	cr_assert_eq(depth(2), 1);
	cr_assert_eq(depth(6), 4); /* over 4 (absorbing 5: allowed), 4 still over 3 */
	cr_assert_eq(store_point_remove(st, "grp", 2, NULL, NULL), 0);
	for (uint64_t id = 3; id <= 14; id++)
		assert_content(st, id);
	cr_assert_eq(scrub_group(st, "grp", &so, NULL, NULL), 0);
	store_free(st);
}
