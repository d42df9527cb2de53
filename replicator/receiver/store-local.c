/* Local store backend: per disk a qcow2 chain under <group>/disks/<disk>/
 * (a point = one overlay "<id>.qcow2" on top of its base point's file, or
 * on the chain's root: nothing, or the target backend's on-prem disk),
 * written through qemu-nbd children of ours (common/child.h); settled
 * later on a shallower layout, and the children of a removed point rebased
 * (store-chain.h); clones are qcow2 overlays for drills. */
#define _GNU_SOURCE /* sync_file_range, O_DIRECT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdatomic.h>

#include "common/child.h"
#include "common/fileutil.h"
#include "common/nbd-dl.h"
#include "common/spawn.h"
#include "common/log.h"
#include "common/qcow2new.h"
#include "common/strfmt.h"
#include "replicator/receiver/store-aio.h"
#include "replicator/receiver/store-backend.h"
#include "replicator/receiver/store-chain.h"
#include "replicator/receiver/store-local.h"

/* qemu-nbd refuses payloads above 32 MiB; stay well below. */
#define LOCAL_NBD_CHUNK  (16u << 20)
#define LOCAL_ZERO_CHUNK (256u << 20)
/* Start the kernel's writeback of a disk file every so many bytes written,
 * so that a checkpoint's flush finds little left to write. */
#define LOCAL_KICK_BYTES (16u << 20)
/* qemu-nbd gets its socket by systemd activation (child.h). */
#define LOCAL_OPEN_TRIES 30
/* qemu-nbd exits after its final flush once its client is gone. */
#define LOCAL_CHILD_EXIT_MS 120000
#define LOCAL_QEMU_TUNABLES \
	"GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=16777216"

/* qemu-nbd processes this receiver runs (writers and readers): the event
 * loop and the writer threads start and stop them. */
static atomic_uint local_nbd_live;

struct store_bdisk {
	struct nbd_handle *nbd;
	struct child *child;  /* nbd's qemu-nbd */
	bool direct;          /* qemu-nbd writes with O_DIRECT */
	int kick_fd;          /* the file, read-only, for sync_file_range */
	uint64_t since_kick;  /* writer thread only */
	/* Made durable by this process (local_disk_create): its name (the
	 * directory fsynced), and, while clean, its content (no qemu-nbd has
	 * opened it since). The seal then has nothing to fsync. */
	bool named;
	bool clean;
	/* A qemu-nbd started at create (child) that no one connected to yet:
	 * our end of its socket, else -1. */
	int pre_sock;
};

struct store_reader {
	struct nbd_handle *nbd;
	struct child *child;
	char ctx[STORE_CTX_MAX];
};

/* ---- qemu-nbd ------------------------------------------------------------ */

/* Whether the file system under path takes O_DIRECT (tmpfs before 6.6 and
 * some FUSE file systems refuse it at open). */
static bool
direct_io_ok(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Whether a qcow2 file names a backing file (header bytes 8..15, the
 * big-endian offset of its name, 0 without one): 1, 0, or -1 unreadable. */
static int
qcow2_has_backing(const char *path)
{
	uint8_t hdr[16];
	uint64_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? pread(fd, hdr, sizeof(hdr), 0) : -1;

	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)sizeof(hdr))
		return -1;
	for (int i = 8; i < 16; i++)
		off = off << 8 | hdr[i];
	return off != 0;
}

/* qemu's --image-opts for an overlay written with O_DIRECT whose backing
 * chain is read through the page cache; commas in the path doubled, as the
 * option syntax wants. NULL on overflow. */
static char *
overlay_opts(const char *path, const char *aio, char *buf, size_t cap)
{
	int hn = snprintf(buf, cap, "driver=qcow2,cache.direct=on,backing.cache.direct=off,"
			  "file.driver=file,file.aio=%s,file.filename=", aio);
	size_t n = hn > 0 ? (size_t)hn : cap;

	if (cap <= n)
		return NULL;
	for (const char *p = path; *p; p++) {
		if (n + 3 > cap)
			return NULL;
		if (*p == ',')
			buf[n++] = ',';
		buf[n++] = *p;
	}
	buf[n] = '\0';
	return buf;
}

/* libnbd on sock, the socket of *child: the handle, or NULL with the child
 * ended and *child NULL (logged when last). sock is libnbd's or closed. */
static struct nbd_handle *
nbd_attach(struct child **child, int sock, const char *ctx, const char *path, bool last)
{
	struct nbd_handle *h = nbd_dl_create(ctx);

	if (!h) {
		close(sock); /* logged */
	} else if (sym_nbd_connect_socket(h, sock) == 0) {
		return h;
	} else if (last) {
		log_error("%s: qemu-nbd %s: %s", ctx, path, nbd_dl_error());
	}
	if (h)
		sym_nbd_close(h);
	/* No client ever spoke to it: nothing of its is worth waiting for (an
	 * early qemu-nbd that never got the connection could sit out the whole
	 * exit wait, LOCAL_CHILD_EXIT_MS, holding the session). */
	if (child_pid(*child) > 0)
		(void)kill(child_pid(*child), SIGKILL);
	(void)child_finish(*child, LOCAL_CHILD_EXIT_MS);
	*child = NULL;
	return NULL;
}

/* One more qemu-nbd, unless max_nbd_total run already (errno EMFILE). */
static bool
nbd_slot_take(const struct store_backend *be, const char *ctx)
{
	unsigned n = atomic_fetch_add(&local_nbd_live, 1);

	if (be->max_nbd && n >= be->max_nbd) {
		atomic_fetch_sub(&local_nbd_live, 1);
		log_error("%s: %u qemu-nbd processes run already (max_nbd_total): refused", ctx, n);
		errno = EMFILE;
		return false;
	}
	return true;
}

/* How path is opened for writing: *direct tells whether qemu-nbd writes
 * with O_DIRECT (cache=none); the result is qcow2_has_backing's (-1 when
 * not looked at: read-only, or direct NULL).
 *
 * An incremental's partial-cluster writes read the backing chain for
 * copy-on-write: only the overlay itself is opened with O_DIRECT, so those
 * reads still come from the page cache that holds the base just written.
 * Writing through the page cache instead cost qemu-nbd more CPU than the
 * whole receiver (copies into freshly allocated cache pages, writers
 * spinning on the inode lock). */
static int
nbd_mode(const char *path, bool readonly, bool *direct)
{
	char opts[PATH_MAX + 256];
	int backing = -1;

	if (direct) {
		backing = readonly ? -1 : qcow2_has_backing(path);
		*direct = backing >= 0 && direct_io_ok(path) &&
			  (backing == 0 || overlay_opts(path, "native", opts, sizeof(opts)));
	}
	return backing;
}

/* Start qemu-nbd on path (nbd_mode's direct and backing; attempt > 0 is a
 * retry): the child and *sock, or NULL (logged). */
static struct child *
nbd_spawn(const char *path, bool readonly, bool direct, int backing, int attempt,
	  const char *ctx, int *sock)
{
	/* qemu-nbd allocates a buffer per request; glibc would mmap each 1 MiB
	 * one afresh and qemu-nbd would spend more CPU in page faults than the
	 * receiver spends in total. Heap buffers are reused. `env` execs
	 * qemu-nbd in the same process, so socket activation still matches.
	 * cache=none: a buffered write costs qemu-nbd a copy into the page
	 * cache, which was half the receiver side's CPU in a seed (perf, see
	 * bench/README.md); with O_DIRECT the device reads qemu-nbd's buffer
	 * and durability still comes from the flush (fdatasync) at checkpoints
	 * and commit. aio=native lets the writer's concurrent NBD requests
	 * reach the device together. */
	char aio[32] = "--aio=native";
	char *argv_direct[] = { "env", LOCAL_QEMU_TUNABLES, "qemu-nbd", "-f", "qcow2",
				"--cache=none", aio, "--discard=unmap",
				"--detect-zeroes=unmap", (char *)path, NULL };
	char *argv_rw[] = { "env", LOCAL_QEMU_TUNABLES, "qemu-nbd", "-f", "qcow2",
			    "--cache=writeback", "--discard=unmap", "--detect-zeroes=unmap",
			    (char *)path, NULL };
	char *argv_ro[] = { "env", LOCAL_QEMU_TUNABLES, "qemu-nbd", "-r", "-f", "qcow2",
			    (char *)path, NULL };
	char opts[PATH_MAX + 256];
	char *argv_overlay[] = { "env", LOCAL_QEMU_TUNABLES, "qemu-nbd", "--image-opts",
				 opts, "--discard=unmap", "--detect-zeroes=unmap", NULL };
	char **argv = readonly ? argv_ro : argv_rw;

	/* Native AIO while the kernel has contexts to spare (store-aio.h), for
	 * a seed. Not for an overlay, an incremental point (issue 17): its
	 * writes extend the file, which makes ext4's io_submit wait for them
	 * (threads wrote 128-256 MiB 1.5-2.5x faster here), and destroying the
	 * AIO context held qemu-nbd's exit, which a disk's DISK_DONE waits
	 * for, 35-65 ms against 1-6 ms (bench/README.md, where a cycle's time
	 * goes). */
	if (direct) {
		const char *mode = backing == 1 ? "threads" : store_aio_mode(attempt > 0);

		snprintf(aio, sizeof(aio), "--aio=%s", mode);
		(void)overlay_opts(path, mode, opts, sizeof(opts));
		argv = backing ? argv_overlay : argv_direct;
	}
	return child_start_activated(ctx, argv, sock);
}

static struct nbd_handle *
nbd_open_image(const struct store_backend *be, const char *path, bool readonly, bool *direct,
	       const char *ctx, struct child **child)
{
	int backing = nbd_mode(path, readonly, direct);

	if (!nbd_slot_take(be, ctx))
		return NULL;
	/* The qemu-nbd of a writer that was just killed may still hold the
	 * image lock while it finishes its last flush: retry for a while. */
	for (int attempt = 0; attempt < LOCAL_OPEN_TRIES; attempt++) {
		struct nbd_handle *h;
		int sock;

		if (attempt)
			usleep(100 * 1000);
		*child = nbd_spawn(path, readonly, direct && *direct, backing, attempt, ctx, &sock);
		if (!*child)
			continue;
		h = nbd_attach(child, sock, ctx, path, attempt == LOCAL_OPEN_TRIES - 1);
		if (h)
			return h;
	}
	atomic_fetch_sub(&local_nbd_live, 1);
	return NULL;
}

/* Close cleanly so qemu-nbd exits after its final flush, and wait for it
 * to exit (it holds the image lock until then). */
static int
nbd_close_image(struct nbd_handle *h, struct child *child, const char *ctx)
{
	int rc = 0;

	if (!h)
		return 0;
	if (sym_nbd_aio_is_ready(h) && sym_nbd_shutdown(h, 0) < 0) {
		log_error("%s: nbd shutdown: %s", ctx, nbd_dl_error());
		rc = -1;
	}
	sym_nbd_close(h);
	atomic_fetch_sub(&local_nbd_live, 1);
	if (child_finish(child, LOCAL_CHILD_EXIT_MS) < 0)
		rc = -1;
	return rc;
}

/* ---- the point being received --------------------------------------------- */

static void
local_free(struct store_backend *be)
{
	free(be);
}

static int
local_disk_init(struct store_backend *be, const struct store_where *w, struct store_disk *d)
{
	char *dir = strfmt("%s/disks/%s", w->gdir, d->name);
	int rc = -1;

	(void)be;
	if (!dir || store_mkdir_durable(dir) < 0)
		goto out;
	d->path = strfmt("%s/%" PRIu64 ".qcow2", dir, w->point);
	d->io = calloc(1, sizeof(*d->io));
	if (!d->path || !d->io) {
		log_error("store: out of memory");
		goto out;
	}
	d->io->kick_fd = -1;
	d->io->pre_sock = -1;
	rc = 0;
out:
	free(dir);
	return rc;
}

/* Resume: the file must still be there; qemu-nbd starts at the first
 * write (local_connect). */
static int
local_disk_open(struct store_backend *be, const struct store_where *w, struct store_disk *d)
{
	(void)be;
	/* A resumed file that is gone: say so instead of retrying qemu-nbd. */
	if (access(d->path, F_OK) < 0) {
		log_warn("store: group %s point %" PRIu64 ": %s: %m", w->group, w->point,
			 d->path);
		return -1;
	}
	return 0;
}

/* Start d's qemu-nbd now, at the point's begin, for a disk the group's
 * last point wrote (d->hot): its start (~0.1 s here, more under load)
 * then overlaps the rest of the begin and the agent's first reads instead
 * of holding the first write (issue 17). Best effort: without it the
 * first write starts one as before. */
static void
local_prestart(struct store_backend *be, const struct store_where *w, struct store_disk *d)
{
	struct store_bdisk *io = d->io;
	char ctx[STORE_CTX_MAX];
	int backing;

	/* Never near max_nbd_total: a write must not be refused because of a
	 * process started on a guess. */
	if (io->child || (be->max_nbd && atomic_load(&local_nbd_live) + 1 > be->max_nbd / 2))
		return;
	store_ctx(ctx, sizeof(ctx), w, d->name);
	backing = nbd_mode(d->path, false, &io->direct);
	if (!nbd_slot_take(be, ctx))
		return;
	io->clean = false; /* qemu may rewrite the header as it opens it */
	io->child = nbd_spawn(d->path, false, io->direct, backing, 0, ctx, &io->pre_sock);
	if (!io->child) {
		io->pre_sock = -1;
		atomic_fetch_sub(&local_nbd_live, 1);
	}
}

/* A qemu-nbd started at create that got no write: killed (nothing of
 * ours is in flight, and the file is the empty overlay the seal fsyncs;
 * after a SIGTERM, or our end of its socket closed, it was seen to wait
 * for the connection it had not negotiated yet until child_finish's
 * timeout), then reaped. */
static void
local_prestart_drop(struct store_bdisk *io)
{
	if (io->pre_sock < 0)
		return;
	if (child_pid(io->child) > 0)
		(void)kill(child_pid(io->child), SIGKILL);
	close(io->pre_sock);
	io->pre_sock = -1;
	(void)child_finish(io->child, LOCAL_CHILD_EXIT_MS);
	io->child = NULL;
	atomic_fetch_sub(&local_nbd_live, 1);
}

/* qemu-nbd for d, started when a disk is first written (from the writer
 * thread): a point's disks that get no data never cost a process, and
 * the disks written one after another hold one at a time (disk_idle). */
static int
local_connect(struct store_backend *be, const struct store_where *w, struct store_disk *d)
{
	char ctx[STORE_CTX_MAX];
	struct store_bdisk *io = d->io;

	if (io->nbd)
		return 0;
	store_ctx(ctx, sizeof(ctx), w, d->name);
	io->clean = false;
	if (io->pre_sock >= 0) {
		int sock = io->pre_sock;

		io->pre_sock = -1;
		io->nbd = nbd_attach(&io->child, sock, ctx, d->path, false);
		if (!io->nbd) /* its slot; a fresh start below says why */
			atomic_fetch_sub(&local_nbd_live, 1);
	}
	if (!io->nbd)
		io->nbd = nbd_open_image(be, d->path, false, &io->direct, ctx, &io->child);
	if (!io->nbd)
		return -1;
	/* Only a hint, and only for writes through the page cache: without it
	 * the data still becomes durable at flush. */
	if (!io->direct && io->kick_fd < 0)
		io->kick_fd = open(d->path, O_RDONLY | O_CLOEXEC);
	return 0;
}

/* fsync disks/<disk>/, the directory of d's files. */
static int
local_dir_fsync(const struct store_where *w, const struct store_disk *d)
{
	char *dir = strfmt("%s/disks/%s", w->gdir, d->name);
	int rc = dir ? dir_fsync(dir) : -1;

	free(dir);
	return rc;
}

/* The root of disk's chains (store-local.h): 1 / 0 none / -1 (logged). */
static int
local_root(const struct store_backend *be, const char *disk, const char *ctx,
	   struct store_local_root *out)
{
	const struct store_local *l = (const struct store_local *)be;

	return l->root ? l->root(l, disk, ctx, out) : 0;
}

/* The backing file a new overlay names exists (qemu-img create checked it
 * by opening it; qcow2new does not): a base or root that is gone is the
 * begin's error, not the first write's. */
static int
local_backing_ok(const struct store_where *w, const struct store_disk *d,
		 const struct store_local_root *root, const char *ctx)
{
	char *path = root->path[0] == '/' ? strdup(root->path)
					  : strfmt("%s/disks/%s/%s", w->gdir, d->name, root->path);
	int rc = -1;

	if (!path)
		log_error("%s: out of memory", ctx);
	else if (access(path, R_OK) < 0)
		log_error("%s: backing file %s: %m", ctx, path);
	else
		rc = 0;
	free(path);
	return rc;
}

static int
local_disk_create(struct store_backend *be, const struct store_where *w,
		  struct store_disk *d, uint64_t base_id)
{
	char ctx[STORE_CTX_MAX];
	char base[32];
	/* Relative backing name: the group directory can move as a whole. */
	struct store_local_root root = { base, "qcow2" };
	int r = 1;

	store_ctx(ctx, sizeof(ctx), w, d->name);
	snprintf(base, sizeof(base), "%" PRIu64 ".qcow2", base_id);
	if (!base_id && (r = local_root(be, d->name, ctx, &root)) < 0)
		return -1;
	/* Written here, not by a qemu-img child: that process was most of a
	 * point's begin (issue 17, bench/README.md). The file is fsynced. */
	if ((r && local_backing_ok(w, d, &root, ctx) < 0) ||
	    qcow2new_create(ctx, d->path, d->size, r ? root.path : NULL,
			    r ? root.format : NULL) < 0)
		return -1;
	/* pending.json names the file from now on and a resume expects it,
	 * header included: make both durable before (without the directory's
	 * fsync, every power cut before the commit's seal lost the point's
	 * files and the resume started over: tests/integration/
	 * test-power-loss.sh, issue 13). */
	if (local_dir_fsync(w, d) < 0)
		return -1;
	d->io->named = d->io->clean = true;
	if (d->hot)
		local_prestart(be, w, d);
	return 0;
}

static void
disk_io_error(const struct store_where *w, const struct store_disk *d, const char *op,
	      uint64_t offset, uint64_t len)
{
	int e = sym_nbd_get_errno();

	log_error("store: group %s point %" PRIu64 " disk %s (%s): %s of %" PRIu64
		  " bytes at %" PRIu64 " failed: %s%s", w->group, w->point, d->name, d->path,
		  op, len, offset, nbd_dl_error(),
		  e == ENOSPC ? " (replica store is full)" : "");
	errno = e; /* callers tell the peer when the store is full */
}

static int
local_disk_write(struct store_backend *be, const struct store_where *w,
		 struct store_disk *d, uint64_t offset, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t off = offset;
	size_t left = len;

	if (local_connect(be, w, d) < 0)
		return -1;
	while (left > 0) {
		size_t n = left < LOCAL_NBD_CHUNK ? left : LOCAL_NBD_CHUNK;

		if (sym_nbd_pwrite(d->io->nbd, p, n, off, 0) < 0) {
			disk_io_error(w, d, "write", off, n);
			return -1;
		}
		p += n;
		off += n;
		left -= n;
	}
	return 0;
}

static int
local_disk_zero(struct store_backend *be, const struct store_where *w,
		struct store_disk *d, uint64_t offset, uint64_t len)
{
	uint64_t off = offset, left = len;

	if (local_connect(be, w, d) < 0)
		return -1;
	/* No NBD_CMD_FLAG_NO_HOLE: qemu may then record zero clusters, which
	 * also hide whatever the backing file holds there. */
	while (left > 0) {
		uint64_t n = left < LOCAL_ZERO_CHUNK ? left : LOCAL_ZERO_CHUNK;

		if (sym_nbd_zero(d->io->nbd, n, off, 0) < 0) {
			disk_io_error(w, d, "zero", off, n);
			return -1;
		}
		off += n;
		left -= n;
	}
	return 0;
}

static int
local_disk_flush(struct store_backend *be, const struct store_where *w, struct store_disk *d)
{
	(void)be;
	if (!d->io->nbd)
		return 0;
	if (sym_nbd_flush(d->io->nbd, 0) < 0) {
		disk_io_error(w, d, "flush", 0, 0);
		return -1;
	}
	return 0;
}

static int64_t
local_aio_write(struct store_backend *be, const struct store_where *w, struct store_disk *d,
		uint64_t off, const void *buf, size_t len)
{
	struct store_bdisk *io = d->io;
	int64_t cookie;

	if (local_connect(be, w, d) < 0)
		return -1;
	cookie = sym_nbd_aio_pwrite(io->nbd, buf, len, off, NBD_NULL_COMPLETION, 0);
	if (cookie < 0) {
		disk_io_error(w, d, "write", off, len);
		return -1;
	}
	if (io->kick_fd >= 0) {
		io->since_kick += len;
		if (io->since_kick >= LOCAL_KICK_BYTES) {
			io->since_kick = 0;
			(void)sync_file_range(io->kick_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		}
	}
	return cookie;
}

static int
local_aio_check(struct store_backend *be, const struct store_where *w, struct store_disk *d,
		uint64_t off, uint64_t len, int64_t cookie)
{
	int r = sym_nbd_aio_command_completed(d->io->nbd, (uint64_t)cookie);

	(void)be;
	if (r < 0) {
		disk_io_error(w, d, "write", off, len);
		return -1;
	}
	return r;
}

static void
local_aio_wait(struct store_backend *be, const struct store_where *w, struct store_disk *d)
{
	(void)be;
	/* The connection may be gone: libnbd then failed every command in
	 * flight, which aio_check reports. */
	if (sym_nbd_poll(d->io->nbd, -1) < 0 && sym_nbd_aio_is_dead(d->io->nbd) == 0)
		log_error("store: group %s point %" PRIu64 " disk %s: nbd poll: %s", w->group,
			  w->point, d->name, nbd_dl_error());
}

static bool
local_aio_dead(struct store_disk *d)
{
	return d->io->nbd && sym_nbd_aio_is_dead(d->io->nbd) == 1;
}

static void
local_disk_close(struct store_backend *be, const struct store_where *w, struct store_disk *d)
{
	char ctx[STORE_CTX_MAX];

	(void)be;
	if (!d->io)
		return;
	local_prestart_drop(d->io);
	if (d->io->kick_fd >= 0)
		close(d->io->kick_fd);
	d->io->kick_fd = -1;
	store_ctx(ctx, sizeof(ctx), w, d->name);
	nbd_close_image(d->io->nbd, d->io->child, ctx);
	d->io->nbd = NULL;
	d->io->child = NULL;
}

/* Data before metadata: let qemu-nbd exit after its flush, then fsync
 * ourselves so nothing depends on qemu's cache mode. */
static int
local_disk_seal(struct store_backend *be, const struct store_where *w, struct store_disk *d)
{
	char ctx[STORE_CTX_MAX];
	int r;

	store_ctx(ctx, sizeof(ctx), w, d->name);
	local_prestart_drop(d->io);
	r = nbd_close_image(d->io->nbd, d->io->child, ctx);
	d->io->nbd = NULL;
	d->io->child = NULL;
	local_disk_close(be, w, d);
	if (r < 0)
		return -1;
	/* What local_disk_create made durable needs no second fsync: each
	 * costs a device cache flush (issue 17). A resumed file's name was
	 * made durable by an earlier process, which this one cannot know. */
	if (!d->io->clean && store_fsync_path(d->path) < 0)
		return -1;
	return d->io->named ? 0 : local_dir_fsync(w, d);
}

static void
local_disk_free(struct store_disk *d)
{
	free(d->io);
	d->io = NULL;
}

/* ---- committed points ------------------------------------------------------ */

/* Stray disks/<disk>/<id>.qcow2 of one disk directory. */
static int
prune_disk_dir(DIR *sub, const char *path, const char *disk, const struct catalog *cat,
	       uint64_t keep_id)
{
	struct dirent *fe;
	bool removed = false;

	while ((fe = readdir(sub)) != NULL) {
		uint64_t id = store_file_id(fe->d_name, ".qcow2");

		if (id == 0 || id == keep_id || catalog_has(cat, id))
			continue;
		if (unlinkat(dirfd(sub), fe->d_name, 0) < 0) {
			log_error("store: unlink %s/%s/%s: %m", path, disk, fe->d_name);
			return -1;
		}
		log_info("store: removed stray %s/%s/%s", path, disk, fe->d_name);
		removed = true;
	}
	if (removed && fsync(dirfd(sub)) < 0) {
		log_error("store: fsync %s/%s: %m", path, disk);
		return -1;
	}
	return 0;
}

/* Call fn on each disks/<disk>/ directory of the group. 0 / -1 (fn's, or
 * logged here). */
static int
each_disk_dir(const struct store_where *w,
	      int (*fn)(DIR *sub, const char *path, const char *disk, void *arg), void *arg)
{
	char *path = strfmt("%s/disks", w->gdir);
	DIR *dd = NULL, *sub;
	struct dirent *de;
	int rc = -1;

	if (!path)
		return -1;
	dd = opendir(path);
	if (!dd) {
		if (errno == ENOENT)
			rc = 0;
		else
			log_error("store: opendir %s: %m", path);
		goto out;
	}
	while ((de = readdir(dd)) != NULL) {
		int fd, r;

		if (!store_name_ok(de->d_name))
			continue;
		fd = openat(dirfd(dd), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue; /* not a directory */
		sub = fdopendir(fd);
		if (!sub) {
			log_error("store: opendir %s/%s: %m", path, de->d_name);
			close(fd);
			goto out;
		}
		r = fn(sub, path, de->d_name, arg);
		closedir(sub);
		if (r < 0)
			goto out;
	}
	rc = 0;
out:
	if (dd)
		closedir(dd);
	free(path);
	return rc;
}

struct prune_arg {
	const struct catalog *cat;
	uint64_t keep_id;
};

static int
prune_one(DIR *sub, const char *path, const char *disk, void *arg)
{
	const struct prune_arg *a = arg;

	return prune_disk_dir(sub, path, disk, a->cat, a->keep_id);
}

static int
local_prune(struct store_backend *be, const struct store_where *w, const struct catalog *cat,
	    uint64_t keep_id)
{
	struct prune_arg a = { cat, keep_id };

	(void)be;
	return each_disk_dir(w, prune_one, &a);
}

static char *
local_file(const struct store_where *w, const char *disk)
{
	return strfmt("%s/disks/%s/%" PRIu64 ".qcow2", w->gdir, disk, w->point);
}

static int
local_disk_path(struct store_backend *be, const struct store_where *w, const char *disk,
		char **path)
{
	(void)be;
	*path = local_file(w, disk);
	return *path ? 0 : -1;
}

static bool
local_has_disk(struct store_backend *be, const struct store_where *w, const char *disk)
{
	char *path = local_file(w, disk);
	bool ok = path && access(path, F_OK) == 0;

	(void)be;
	free(path);
	return ok;
}

struct usage_arg {
	const struct catalog *cat;
	bool committed_only;
	uint64_t bytes;
};

/* Allocated bytes of the disks/<disk>/<id>.qcow2 files of one disk. */
static int
usage_one(DIR *sub, const char *path, const char *disk, void *arg)
{
	struct usage_arg *a = arg;
	struct dirent *fe;
	struct stat sb;

	(void)path;
	(void)disk;
	while ((fe = readdir(sub)) != NULL) {
		uint64_t id = store_file_id(fe->d_name, ".qcow2");

		if (id == 0 || (a->committed_only && !catalog_has(a->cat, id)))
			continue;
		if (fstatat(dirfd(sub), fe->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode))
			a->bytes += (uint64_t)sb.st_blocks * 512;
	}
	return 0;
}

static int
local_usage(struct store_backend *be, const struct store_where *w, const struct catalog *cat,
	    bool committed_only, uint64_t *bytes)
{
	struct usage_arg a = { cat, committed_only, 0 };
	int rc = each_disk_dir(w, usage_one, &a);

	(void)be;
	*bytes = a.bytes;
	return rc;
}

static struct store_reader *
local_reader_open(struct store_backend *be, const struct store_where *w, const char *disk)
{
	struct store_reader *r = calloc(1, sizeof(*r));
	char *path = local_file(w, disk);

	(void)be;
	if (!r || !path) {
		log_error("store: out of memory");
		goto fail;
	}
	store_ctx(r->ctx, sizeof(r->ctx), w, disk);
	r->nbd = nbd_open_image(be, path, true, NULL, r->ctx, &r->child);
	if (!r->nbd)
		goto fail;
	free(path);
	return r;
fail:
	free(path);
	free(r);
	return NULL;
}

static int
local_reader_pread(struct store_reader *r, void *buf, size_t len, uint64_t off)
{
	if (sym_nbd_pread(r->nbd, buf, len, off, 0) < 0) {
		log_error("%s: read of %zu bytes at %" PRIu64 ": %s", r->ctx, len, off,
			  nbd_dl_error());
		return -1;
	}
	return 0;
}

static void
local_reader_close(struct store_reader *r)
{
	if (!r)
		return;
	nbd_close_image(r->nbd, r->child, r->ctx);
	free(r);
}

static void
local_drop(struct store_backend *be, const struct store_where *w,
	   const struct store_point_info *victim)
{
	(void)be;
	for (size_t i = 0; i < victim->ndisks; i++) {
		char *dir = strfmt("%s/disks/%s", w->gdir, victim->disks[i].name);

		if (store_unlink_id(dir, victim->id, ".qcow2") < 0)
			log_warn("store: group %s: files of removed point %" PRIu64
				 " are left as strays", w->group, victim->id);
		free(dir);
	}
}

/* qemu-img create -f qcow2 -b TOP -F qcow2 OVERLAY: the point's files are
 * only ever opened read-only as backing files. */
static int
local_clone(struct store_backend *be, const struct store_where *w, const char *disk,
	    const struct store_clone_names *names, char **source)
{
	char ctx[STORE_CTX_MAX];
	char *top = local_file(w, disk);
	const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-b", top, "-F",
			       "qcow2", names->file, NULL };
	int rc = -1;

	(void)be;
	*source = NULL;
	store_ctx(ctx, sizeof(ctx), w, disk);
	if (!top || spawn_cmd(ctx, argv, NULL) < 0)
		goto out;
	*source = strdup(names->file);
	if (!*source) {
		log_error("%s: out of memory", ctx);
		(void)unlink(names->file);
		goto out;
	}
	log_info("%s: overlay %s over %s", ctx, names->file, top);
	rc = 0;
out:
	free(top);
	return rc;
}

static int
local_clone_remove(struct store_backend *be, const char *source)
{
	(void)be;
	if (unlink(source) < 0 && errno != ENOENT) {
		log_error("store: cannot remove overlay %s: %m", source);
		return -1;
	}
	return 0;
}

static const char *
local_clone_conf(const struct store_backend *be)
{
	(void)be;
	return NULL;
}

static const struct store_backend_ops local_ops = {
	.name = "local",
	.rewrite_points = true,
	.free = local_free,
	.disk_init = local_disk_init,
	.disk_open = local_disk_open,
	.disk_create = local_disk_create,
	.disk_write = local_disk_write,
	.disk_zero = local_disk_zero,
	.disk_flush = local_disk_flush,
	.aio_write = local_aio_write,
	.aio_check = local_aio_check,
	.aio_wait = local_aio_wait,
	.aio_dead = local_aio_dead,
	.disk_seal = local_disk_seal,
	.disk_close = local_disk_close,
	.disk_idle = local_disk_close,
	.disk_free = local_disk_free,
	.prune = local_prune,
	.disk_path = local_disk_path,
	.has_disk = local_has_disk,
	.usage = local_usage,
	.reader_open = local_reader_open,
	.reader_pread = local_reader_pread,
	.reader_close = local_reader_close,
	.unchain = store_chain_unchain,
	.kids = store_chain_kids,
	.settle = store_chain_settle,
	.drop = local_drop,
	.clone = local_clone,
	.clone_remove = local_clone_remove,
	.clone_conf = local_clone_conf,
};

const struct store_backend_ops *
store_local_ops(void)
{
	return &local_ops;
}

struct store_backend *
store_local_new(void)
{
	struct store_local *l = calloc(1, sizeof(*l));

	if (!l) {
		log_error("store: out of memory");
		return NULL;
	}
	l->be.ops = &local_ops;
	return &l->be;
}
