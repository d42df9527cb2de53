/* The local backend's physical chains: qcow2 backing names read from the
 * headers, a committed point settled onto its skip ancestor, the children
 * of a point (store-chain.h). */
#define _GNU_SOURCE /* copy_file_range */
#include "replicator/receiver/store-chain.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/lockfile.h"
#include "common/log.h"
#include "common/spawn.h"
#include "common/strfmt.h"
#include "replicator/receiver/chain.h"
#include "replicator/receiver/scrubstate.h"
#include "replicator/receiver/store-local.h"
#include "replicator/receiver/store-sums.h"

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */
#define QCOW2_MAX_BACKING 1023  /* qemu's own bound on the name */

static uint64_t
be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int
store_chain_backing(const char *path, char *name, size_t cap)
{
	uint8_t hdr[20];
	uint64_t off;
	uint32_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;

	name[0] = '\0';
	if (fd < 0) {
		log_error("store: open %s: %m", path);
		return -1;
	}
	if (fd_pread_all(fd, hdr, sizeof(hdr), 0) < 0 || be32(hdr) != QCOW2_MAGIC) {
		log_error("store: %s: not a qcow2 file", path);
		goto out;
	}
	off = be64(hdr + 8);
	len = be32(hdr + 16);
	if (off == 0) {
		rc = 0;
		goto out;
	}
	/* The header is the file's: bounded before it is used. */
	if (len == 0 || len > QCOW2_MAX_BACKING || len >= cap || off > (uint64_t)INT64_MAX - len) {
		log_error("store: %s: backing file name of %" PRIu32 " bytes at %" PRIu64
			  " refused", path, len, off);
		goto out;
	}
	if (fd_pread_all(fd, name, len, (off_t)off) < 0) {
		log_error("store: %s: backing file name unreadable: %m", path);
		goto out;
	}
	name[len] = '\0';
	if (strlen(name) != len) {
		log_error("store: %s: backing file name holds a NUL", path);
		goto out;
	}
	rc = 1;
out:
	if (rc < 0)
		name[0] = '\0';
	close(fd);
	return rc;
}

uint64_t
store_chain_name_id(const char *name)
{
	return strchr(name, '/') ? 0 : store_file_id(name, ".qcow2");
}

int
store_chain_walk(const char *dir, uint64_t id, uint64_t *out, size_t cap, size_t *n,
		 bool *ext)
{
	char name[QCOW2_MAX_BACKING + 1];
	char *path = NULL;
	int rc = -1;

	*n = 0;
	*ext = false;
	while (id) {
		int r;

		if (*n == cap || (*n > 0 && id >= out[*n - 1])) {
			log_error("store: %s: the chain below point %" PRIu64 " is too deep or "
				  "loops (at %" PRIu64 ")", dir, out[0], id);
			goto out;
		}
		out[(*n)++] = id;
		free(path);
		if (!(path = strfmt("%s/%" PRIu64 ".qcow2", dir, id)) ||
		    (r = store_chain_backing(path, name, sizeof(name))) < 0)
			goto out;
		id = r ? store_chain_name_id(name) : 0;
		*ext = r && !id;
	}
	rc = 0;
out:
	free(path);
	return rc;
}

int
store_chain_lock(const char *gdir)
{
	char *path = strfmt("%s/chain.lock", gdir);
	int fd = path ? lockfile_take(path, 0640, true, "store") : -1;

	free(path);
	return fd;
}

void
store_chain_unlock(int fd)
{
	lockfile_release(fd);
}

int
store_chain_children(const struct store_where *w, const struct catalog *cat, const char *disk,
		     uint64_t victim, uint64_t *kids, size_t cap, size_t *n)
{
	char name[QCOW2_MAX_BACKING + 1];
	char *path = NULL;
	int rc = -1;

	/* Every newer point's header: O(points) small reads, no qemu. */
	*n = 0;
	for (size_t i = 0; i < cat->n; i++) {
		const struct store_point_info *pi = &cat->pts[i];
		int r;

		if (pi->id <= victim || catalog_point_disk(pi, disk) < 0)
			continue;
		free(path);
		if (!(path = strfmt("%s/disks/%s/%" PRIu64 ".qcow2", w->gdir, disk, pi->id)) ||
		    (r = store_chain_backing(path, name, sizeof(name))) < 0)
			goto out;
		if (r == 0 || store_chain_name_id(name) != victim)
			continue;
		if (*n == cap) {
			log_error("store: group %s: point %" PRIu64 " has more than %zu children "
				  "on disk %s", w->group, victim, cap, disk);
			goto out;
		}
		kids[(*n)++] = pi->id;
	}
	rc = 0;
out:
	free(path);
	return rc;
}

/* ---- a removal's children ----------------------------------------------------------- */

/* len bytes of in to out from their starts. 0 / -1 (errno). */
static int
copy_plain(int in, int out, off_t len)
{
	uint8_t buf[1 << 16];
	off_t off = 0;

	while (off < len) {
		size_t n = len - off < (off_t)sizeof(buf) ? (size_t)(len - off) : sizeof(buf);

		if (fd_pread_all(in, buf, n, off) < 0 || pwrite(out, buf, n, off) != (ssize_t)n)
			return -1;
		off += (off_t)n;
	}
	return 0;
}

/* Copy src into the new file dst whole (the file system may share the
 * blocks). 0 / -1 (logged). */
static int
copy_file(const char *src, const char *dst, const struct stat *sb, const char *ctx)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
	off_t left = sb->st_size;

	if (in < 0 || (out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
				  sb->st_mode & 0777)) < 0) {
		log_error("%s: copy %s to %s: %m", ctx, src, dst);
		goto out;
	}
	while (left > 0) {
		ssize_t k = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);

		/* A file system without it (nothing copied yet): plain reads. */
		if (k < 0 && left == sb->st_size &&
		    (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
			rc = copy_plain(in, out, left);
			if (rc < 0)
				log_error("%s: copy %s to %s: %m", ctx, src, dst);
			goto out;
		}
		if (k <= 0) {
			log_error("%s: copy %s to %s: %s", ctx, src, dst,
				  k == 0 ? "short file" : strerror(errno));
			goto out;
		}
		left -= k;
	}
	rc = 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* tmp: a copy of path (stat sb) rebased onto new_base of format fmt ("" =
 * none) in qemu-img's safe mode (the clusters where the old and the new
 * backing differ copied in, then the header switched: the same bytes as
 * path), fsynced. Not in place: a power cut in the middle of an in-place
 * rebase can leave the new header durable before the copied clusters'
 * tables (tests/integration/test-power-loss.sh). 0 / -1 (logged; tmp
 * removed). */
static int
rebuild(const char *path, const char *tmp, const struct stat *sb, const char *new_base,
	const char *fmt, const char *ctx)
{
	const char *argv_b[] = { "qemu-img", "rebase", "-q", "-f", "qcow2", "-b", new_base,
				 "-F", fmt, tmp, NULL };
	const char *argv_n[] = { "qemu-img", "rebase", "-q", "-f", "qcow2", "-b", "", tmp, NULL };

	if (unlink(tmp) < 0 && errno != ENOENT) {
		log_error("%s: unlink %s: %m", ctx, tmp);
		return -1;
	}
	if (copy_file(path, tmp, sb, ctx) == 0 &&
	    spawn_cmd(ctx, new_base[0] ? argv_b : argv_n, NULL) == 0 &&
	    store_fsync_path(tmp) == 0)
		return 0;
	(void)unlink(tmp);
	return -1;
}

/* Rebase the file path (in dir) onto new_base: rebuilt beside it, renamed
 * over it, the directory fsynced; it reads the same bytes throughout. */
static int
rebase_file(const char *dir, const char *path, const char *new_base, const char *fmt,
	    const char *ctx)
{
	char *tmp = strfmt("%s.rebase", path);
	struct stat sb;
	int rc = -1;

	if (!tmp)
		return -1;
	if (stat(path, &sb) < 0)
		log_error("%s: stat %s: %m", ctx, path);
	else if (rebuild(path, tmp, &sb, new_base, fmt, ctx) == 0) {
		if (rename(tmp, path) < 0) {
			log_error("%s: rename %s: %m", ctx, tmp);
			(void)unlink(tmp);
		} else {
			rc = dir_fsync(dir);
		}
	}
	free(tmp);
	return rc;
}

/* Add id to the set kids (ids increasing, at most STORE_MAX_KIDS). */
static int
kids_add(uint64_t *kids, size_t *n, uint64_t id)
{
	size_t i = 0;

	while (i < *n && kids[i] < id)
		i++;
	if (i < *n && kids[i] == id)
		return 0;
	if (*n == STORE_MAX_KIDS) {
		log_error("store: more than %d points to rebase", STORE_MAX_KIDS);
		return -1;
	}
	memmove(kids + i + 1, kids + i, (*n - i) * sizeof(*kids));
	kids[i] = id;
	(*n)++;
	return 0;
}

/* What victim's file of disk backs on: *id a point, else root (a target
 * store's disk: *ext) or nothing. 0 / -1. */
static int
victim_backing(struct store_backend *be, const struct store_where *w, const char *disk,
	       const char *ctx, uint64_t *id, struct store_local_root *root, bool *ext)
{
	const struct store_local *l = (const struct store_local *)be;
	char name[QCOW2_MAX_BACKING + 1];
	char *path = strfmt("%s/disks/%s/%" PRIu64 ".qcow2", w->gdir, disk, w->point);
	int r = path ? store_chain_backing(path, name, sizeof(name)) : -1;

	free(path);
	*id = r > 0 ? store_chain_name_id(name) : 0;
	*ext = r > 0 && *id == 0;
	if (r < 0 || (*ext && (!l->root || l->root(l, disk, ctx, root) <= 0))) {
		if (r >= 0)
			log_error("%s: backs on %s, which is no point and no root", ctx, name);
		return -1;
	}
	return 0;
}

/* One disk of a removal: each child onto its new backing. */
static int
unchain_disk(struct store_backend *be, const struct store_where *w, const struct catalog *cat,
	     const char *disk, uint64_t *all, size_t *nall)
{
	uint64_t *kids = calloc(STORE_MAX_KIDS, sizeof(*kids)), *to = NULL, vb = 0;
	struct store_local_root root = { "", "qcow2" };
	struct store_where cw = { w->group, w->gdir, 0 };
	char ctx[STORE_CTX_MAX], base[32];
	char *path = NULL, *dir = NULL;
	size_t n;
	bool ext = false;
	int rc = -1;

	store_ctx(ctx, sizeof(ctx), w, disk);
	if (!(dir = strfmt("%s/disks/%s", w->gdir, disk)) || !kids ||
	    !(to = calloc(STORE_MAX_KIDS, sizeof(*to)))) {
		log_error("%s: out of memory", ctx);
		goto out;
	}
	if (store_chain_children(w, cat, disk, w->point, kids, STORE_MAX_KIDS, &n) < 0 ||
	    (n > 0 && victim_backing(be, w, disk, ctx, &vb, &root, &ext) < 0))
		goto out;
	/* The root stands for itself: every child takes it, like a point. */
	chain_adopt(ext ? UINT64_MAX : vb, kids, n, to);
	/* The oldest child last: a crash between leaves the others on it,
	 * still over the victim, and the next attempt finds only it. */
	for (size_t k = n; k-- > 0;) {
		const char *nb = "", *fmt = "qcow2";

		if (to[k] == UINT64_MAX) {
			nb = root.path;
			fmt = root.format;
		} else if (to[k]) {
			snprintf(base, sizeof(base), "%" PRIu64 ".qcow2", to[k]);
			nb = base;
		}
		cw.point = kids[k];
		store_ctx(ctx, sizeof(ctx), &cw, disk);
		free(path);
		if (!(path = strfmt("%s/disks/%s/%" PRIu64 ".qcow2", w->gdir, disk, kids[k])) ||
		    rebase_file(dir, path, nb, fmt, ctx) < 0 || kids_add(all, nall, kids[k]) < 0)
			goto out;
	}
	rc = 0;
out:
	free(path);
	free(dir);
	free(kids);
	free(to);
	return rc;
}

int
store_chain_kids(struct store_backend *be, const struct store_where *w,
		 const struct catalog *cat, const struct store_point_info *victim,
		 const struct store_point_info *child, uint64_t *kids, size_t *nkids)
{
	uint64_t *one = calloc(STORE_MAX_KIDS, sizeof(*one));
	size_t n;
	int rc = -1;

	(void)be;
	*nkids = 0;
	if (!one) {
		log_error("store: out of memory");
		return -1;
	}
	for (size_t i = 0; i < victim->ndisks; i++) {
		if (store_chain_children(w, cat, victim->disks[i].name, victim->id, one,
					 STORE_MAX_KIDS, &n) < 0)
			goto out;
		for (size_t k = 0; k < n; k++)
			if ((!child || one[k] != child->id) && kids_add(kids, nkids, one[k]) < 0)
				goto out;
	}
	rc = 0;
out:
	free(one);
	return rc;
}

int
store_chain_unchain(struct store_backend *be, const struct store_where *w,
		    const struct catalog *cat, const struct store_point_info *victim,
		    const struct store_point_info *child, uint64_t *kids, size_t *nkids)
{
	uint64_t *all = calloc(STORE_MAX_KIDS, sizeof(*all));
	size_t nall = 0;
	int rc = -1;

	*nkids = 0;
	if (!all) {
		log_error("store: out of memory");
		return -1;
	}
	for (size_t i = 0; i < victim->ndisks; i++)
		if (unchain_disk(be, w, cat, victim->disks[i].name, all, &nall) < 0)
			goto out;
	for (size_t i = 0; i < nall; i++)
		if (!child || all[i] != child->id)
			kids[(*nkids)++] = all[i];
	rc = 0;
out:
	free(all);
	return rc;
}

/* ---- settling a point ------------------------------------------------------------ */

/* What a settle of one disk works with. */
struct settle {
	const struct store_where *w;
	const struct store_point_info *pi;
	const char *disk;
	char ctx[STORE_CTX_MAX];
	char *dir, *path, *tmp, *rtmp; /* rtmp: a removal's (rebase_file) */
	uint64_t chain[CHAIN_MAX_DEPTH]; /* the base's physical chain */
	size_t n, pick;
	struct stat before;               /* the point's file when copied */
};

/* Whether a scrub found the point or one it would absorb bad: its bytes
 * stay where the repair will write them. */
static bool
settle_bad(const struct settle *s, const struct scrubstate *ss)
{
	const struct scrub_entry *e = scrubstate_find(ss, s->pi->id);

	for (size_t i = 0; !(e && e->verdict == SCRUB_BAD) && i < s->pick; i++)
		e = scrubstate_find(ss, s->chain[i]);
	return e && e->verdict == SCRUB_BAD;
}

/* Under the chain lock: the swap is still right. 1 yes / 0 no (logged). */
static int
settle_still(const struct settle *s)
{
	struct catalog cat = { 0 };
	struct scrubstate ss;
	struct file_id now, before;
	int ok = 0;

	if (catalog_load(s->w->gdir, &cat) < 0 || scrubstate_load(s->w->gdir, &ss) < 0) {
		catalog_free(&cat);
		return 0;
	}
	file_id_of(&s->before, &before);
	if (file_identity(s->path, &now) <= 0 || !file_id_same(&now, &before))
		log_info("%s: changed while it was settled: left as it is", s->ctx);
	else if (!catalog_has(&cat, s->pi->id) || !catalog_has(&cat, s->chain[s->pick]))
		log_info("%s: removed while it was settled: left as it is", s->ctx);
	else if (settle_bad(s, &ss))
		log_info("%s: failed a scrub meanwhile: left as it is", s->ctx);
	else
		ok = 1;
	scrubstate_free(&ss);
	catalog_free(&cat);
	return ok;
}

/* Build the new file beside the point's and swap it in. 1 / 0 / -1. */
static int
settle_swap(struct settle *s, const struct catalog *cat)
{
	char base[32];
	int lock = -1, r = -1;

	snprintf(base, sizeof(base), "%" PRIu64 ".qcow2", s->chain[s->pick]);
	if (stat(s->path, &s->before) < 0) {
		log_error("%s: stat %s: %m", s->ctx, s->path);
		return -1;
	}
	/* qemu compares only what lies between the old and the new backing */
	if (rebuild(s->path, s->tmp, &s->before, base, "qcow2", s->ctx) < 0)
		goto out;
	if ((lock = store_chain_lock(s->w->gdir)) < 0)
		goto out;
	if (!settle_still(s)) {
		r = 0;
		goto out;
	}
	/* Checksums first: they describe the point's content, the same in
	 * the old file and the new, so a crash between leaves them right for
	 * either; after the swap a crash would leave the new file with records
	 * short of what it took in. */
	if (store_sums_on_settle(s->w->gdir, cat, s->pi, s->disk, s->chain, s->pick) < 0)
		goto out;
	if (rename(s->tmp, s->path) < 0) {
		log_error("%s: rename %s: %m", s->ctx, s->tmp);
		goto out;
	}
	if (dir_fsync(s->dir) < 0)
		goto out;
	log_info("%s: settled on point %" PRIu64 " (was on %" PRIu64 ", absorbed %zu point(s))",
		 s->ctx, s->chain[s->pick], s->chain[0], s->pick);
	r = 1;
out:
	store_chain_unlock(lock);
	if (r != 1)
		(void)unlink(s->tmp);
	return r;
}

static int
settle_disk(struct settle *s, const struct catalog *cat)
{
	struct scrubstate ss;
	uint64_t own[CHAIN_MAX_DEPTH];
	size_t n;
	bool ext;
	int r;

	/* What a crash during an earlier settle or removal left (a pass after
	 * a start looks at every point); a removal's file only between
	 * removals. */
	if (unlink(s->tmp) < 0 && errno != ENOENT)
		log_warn("%s: %s left: %m", s->ctx, s->tmp);
	if (access(s->rtmp, F_OK) == 0) {
		int lock = store_chain_lock(s->w->gdir);

		if (lock >= 0 && unlink(s->rtmp) < 0 && errno != ENOENT)
			log_warn("%s: %s left: %m", s->ctx, s->rtmp);
		store_chain_unlock(lock);
	}
	if (store_chain_walk(s->dir, s->pi->id, own, CHAIN_MAX_DEPTH, &n, &ext) < 0)
		return -1;
	if (n < 2)
		return 1; /* the chain's bottom */
	/* What the point's own file backs on now, and its chain. */
	memcpy(s->chain, own + 1, (n - 1) * sizeof(*own));
	s->n = n - 1;
	s->pick = chain_pick(s->pi->id, s->chain, s->n);
	if (s->pick == 0)
		return 1;
	if (scrubstate_load(s->w->gdir, &ss) < 0)
		return 0;
	r = settle_bad(s, &ss);
	scrubstate_free(&ss);
	if (r) {
		log_info("%s: a scrub found it or a point below bad: not settled", s->ctx);
		return 0;
	}
	/* Its records must then cover what it takes in: else a removal below
	 * would later hand it records of bytes it no longer reads. */
	if (!store_sums_complete(s->w->gdir, cat, s->pi, s->disk, s->chain, s->pick)) {
		log_info("%s: a point it would take in keeps no checksums: not settled", s->ctx);
		return 0;
	}
	return settle_swap(s, cat);
}

int
store_chain_settle(struct store_backend *be, const struct store_where *w,
		   const struct catalog *cat, const struct store_point_info *pi)
{
	struct store_where pw = { w->group, w->gdir, pi->id };
	struct settle *s = calloc(1, sizeof(*s));
	int rc = 1;

	(void)be;
	if (!s) {
		log_error("store: out of memory");
		return -1;
	}
	for (size_t i = 0; i < pi->ndisks && rc >= 0; i++) {
		int r;

		s->w = &pw;
		s->pi = pi;
		s->disk = pi->disks[i].name;
		store_ctx(s->ctx, sizeof(s->ctx), &pw, s->disk);
		free(s->dir);
		free(s->path);
		free(s->tmp);
		free(s->rtmp);
		s->dir = strfmt("%s/disks/%s", w->gdir, s->disk);
		s->path = strfmt("%s/disks/%s/%" PRIu64 ".qcow2", w->gdir, s->disk, pi->id);
		s->tmp = strfmt("%s/disks/%s/%" PRIu64 ".qcow2.settle", w->gdir, s->disk, pi->id);
		s->rtmp = strfmt("%s/disks/%s/%" PRIu64 ".qcow2.rebase", w->gdir, s->disk, pi->id);
		r = s->dir && s->path && s->tmp && s->rtmp ? settle_disk(s, cat) : -1;
		if (r < rc)
			rc = r;
	}
	free(s->dir);
	free(s->path);
	free(s->tmp);
	free(s->rtmp);
	free(s);
	return rc;
}
