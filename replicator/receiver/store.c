/* Replica store: recovery points listed in an atomically replaced JSON
 * catalog per group; the data either as per-disk qcow2 chains written
 * through qemu-nbd (local backend) or as RBD images with one snapshot per
 * point (ceph backend, store-rbd.c). */
#define _GNU_SOURCE /* vasprintf, pipe2 */
#include "replicator/receiver/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libnbd.h>

#include "common/fileutil.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/names.h"
#include "replicator/receiver/store-rbd.h"

extern char **environ;

#define STORE_JSON_MAX   (16u << 20) /* catalog.json / pending.json cap */
/* qemu-nbd refuses payloads above 32 MiB; stay well below. */
#define STORE_NBD_CHUNK  (16u << 20)
#define STORE_ZERO_CHUNK (256u << 20)
/* Ids, times and byte counts go through JSON, whose integers are signed. */
#define STORE_U64_MAX    ((uint64_t)INT64_MAX)
#define STORE_ERRTEXT    2048
#define STORE_CATALOG_VERSION 1
/* Writes of up to STORE_WQ_BUF bytes are queued to a writer thread (at most
 * STORE_WQ_SLOTS at a time, their buffers allocated once per point) so that
 * the receiver decodes the next extent while qemu-nbd stores this one. */
#define STORE_WQ_SLOTS   8
#define STORE_WQ_BUF     PROTO_MAX_EXTENT
/* Start the kernel's writeback of a disk file every so many bytes written,
 * so that a checkpoint's flush finds little left to write. */
#define STORE_KICK_BYTES (16u << 20)
#define STORE_QEMU_TUNABLES \
	"GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=16777216"

struct store {
	char *root;
	bool ceph;
	char *ceph_conf, *ceph_client, *ceph_pool;
	pthread_mutex_t rbd_mu;
	struct srbd *rbd; /* connected on first use */
};

struct store_disk {
	char name[PROTO_NAME_MAX + 1];
	uint64_t size;
	/* Extents of a disk arrive in increasing offset order, so the end of the
	 * highest extent written bounds everything the agent has sent. */
	uint64_t written_end;
	uint64_t durable; /* written_end as of the last flush that was persisted */
	bool done;
	char *path;               /* file, or pool/image for logs (ceph) */
	char image[SRBD_NAME_MAX]; /* ceph backend */
	struct srbd_img *img;     /* ceph backend: the image head */
	struct nbd_handle *nbd;
	bool direct;          /* qemu-nbd writes with O_DIRECT */
	int kick_fd;          /* the file, read-only, for sync_file_range */
	uint64_t since_kick;  /* writer thread only */
};

/* A queued write (buf != NULL) or zeroing (buf == NULL). */
struct store_wop {
	uint16_t disk;
	uint64_t offset, len;
	uint8_t *buf;
	int64_t cookie; /* writer thread only: its NBD command while in flight */
};

/* Writer thread of a point: issues queued operations in order, writes as
 * concurrent NBD commands (up to every slot in flight, on one disk at a
 * time, never two overlapping ones), retires them in order. The first
 * failure sticks; later calls and flushes report it. */
struct store_wq {
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_room;
	struct store_wop ops[STORE_WQ_SLOTS];
	uint8_t *bufs[STORE_WQ_SLOTS];
	size_t head, count; /* ops[head] is the oldest not retired */
	size_t issued;      /* ops[head .. head+issued) were issued */
	bool stop;
	bool failed;
	int fail_errno;
	int fail_err;
	pthread_t th;
};

struct store_point {
	struct store *st;
	char group[PROTO_NAME_MAX + 1];
	char *gdir;
	uint64_t id;
	uint64_t base_id;
	uint64_t time_ns;
	uint64_t bytes;
	size_t ndisks;
	int lock_fd; /* flock on <group>/lock: one writer per group */
	bool committed;
	struct store_wq *wq; /* started by the first queued write */
	struct store_disk disks[PROTO_MAX_DISKS];
};

struct catalog {
	struct store_point_info *pts;
	size_t n;
};

struct pending {
	uint64_t point;
	uint64_t base;
	uint64_t time_ns;
	uint64_t bytes;
	size_t ndisks;
	struct {
		char name[PROTO_NAME_MAX + 1];
		uint64_t size;
		uint64_t durable;
		bool done;
	} disks[PROTO_MAX_DISKS];
};

/* ---- small helpers ------------------------------------------------------ */

/* Names become path components; NUL-terminated here, so a name longer than
 * the limit is caught by strnlen. */
static bool
name_ok(const char *s)
{
	return name_valid(s, strnlen(s, NAME_MAX_LEN + 1));
}

static char *
path_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
path_fmt(const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0) {
		log_error("store: out of memory building a path");
		return NULL;
	}
	return p;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = -1;

	if (fd < 0) {
		log_error("store: open %s for fsync: %m", path);
		return -1;
	}
	if (fsync(fd) < 0) {
		log_error("store: fsync %s: %m", path);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* mkdir that makes the new entry durable by syncing the parent. */
static int
mkdir_durable(const char *path)
{
	struct stat sb;
	char *parent = NULL;
	char *slash;
	int rc = -1;

	if (mkdir(path, 0750) < 0) {
		if (errno != EEXIST) {
			log_error("store: mkdir %s: %m", path);
			return -1;
		}
		if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			log_error("store: %s exists and is not a directory", path);
			return -1;
		}
		return 0;
	}
	parent = strdup(path);
	if (!parent) {
		log_error("store: out of memory");
		goto out;
	}
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	else if (slash)
		slash[1] = '\0';
	if (dir_fsync(slash ? parent : ".") < 0)
		goto out;
	rc = 0;
out:
	free(parent);
	return rc;
}

/* Durable replace of dir/name (tmp + fsync + rename + dir fsync). */
static int
write_atomic(const char *dir, const char *name, const void *buf, size_t len)
{
	char *dst = path_fmt("%s/%s", dir, name);
	int rc = -1;

	if (dst)
		rc = file_write_atomic(dst, buf, len, 0640);
	free(dst);
	return rc;
}

/* Read a whole file of at most cap bytes (NUL appended).
 * 0 / 1 = does not exist / -1. Files read here are only ever replaced by
 * rename or removed under the group lock, so checking first is enough. */
static int
read_capped(const char *path, size_t cap, char **buf, size_t *len)
{
	void *data = NULL;

	*buf = NULL;
	*len = 0;
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 1;
	if (file_read_all(path, cap, &data, len) < 0)
		return -1;
	*buf = data;
	return 0;
}

/* Strict decimal id of a file name "<id><suffix>"; 0 if it is not one. */
static uint64_t
file_id(const char *name, const char *suffix)
{
	size_t nlen = strlen(name), slen = strlen(suffix);
	uint64_t v = 0;

	if (nlen <= slen || nlen - slen > 19 || strcmp(name + nlen - slen, suffix) != 0 ||
	    name[0] == '0')
		return 0;
	for (size_t i = 0; i < nlen - slen; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(name[i] - '0'), &v))
			return 0;
	}
	return v;
}

/* Run a tool without a shell; its stderr goes to the log on failure. */
static int
run_tool(char *const argv[], const char *ctx)
{
	posix_spawn_file_actions_t fa;
	bool fa_init = false;
	int pfd[2] = { -1, -1 };
	char errbuf[STORE_ERRTEXT];
	size_t elen = 0;
	pid_t pid = -1;
	int status = 0, rc = -1, r;

	errbuf[0] = '\0';
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		log_error("%s: pipe: %m", ctx);
		goto out;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		log_error("%s: posix_spawn_file_actions_init failed", ctx);
		goto out;
	}
	fa_init = true;
	if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, pfd[1], 2) != 0) {
		log_error("%s: posix_spawn file actions failed", ctx);
		goto out;
	}
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	if (r != 0) {
		errno = r;
		pid = -1;
		log_error("%s: cannot run %s: %m", ctx, argv[0]);
		goto out;
	}
	close(pfd[1]);
	pfd[1] = -1;
	for (;;) {
		char scratch[512];
		char *dst = elen < sizeof(errbuf) - 1 ? errbuf + elen : scratch;
		size_t room = elen < sizeof(errbuf) - 1 ? sizeof(errbuf) - 1 - elen : sizeof(scratch);
		ssize_t k = read(pfd[0], dst, room);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (dst != scratch)
			elen += (size_t)k;
	}
	errbuf[elen] = '\0';
	while (elen > 0 && (errbuf[elen - 1] == '\n' || errbuf[elen - 1] == '\r'))
		errbuf[--elen] = '\0';
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			log_error("%s: waitpid %s: %m", ctx, argv[0]);
			goto out;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		rc = 0;
	} else if (WIFEXITED(status)) {
		log_error("%s: %s exited with status %d: %s", ctx, argv[0],
			  WEXITSTATUS(status), errbuf);
	} else {
		log_error("%s: %s killed by signal %d: %s", ctx, argv[0],
			  WIFSIGNALED(status) ? WTERMSIG(status) : -1, errbuf);
	}
out:
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	return rc;
}

/* libnbd spawns qemu-nbd on a socket it passes by systemd activation. */
#define STORE_OPEN_TRIES 30

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
overlay_opts(const char *path, char *buf, size_t cap)
{
	static const char head[] = "driver=qcow2,cache.direct=on,backing.cache.direct=off,"
				   "file.driver=file,file.aio=native,file.filename=";
	size_t n = sizeof(head) - 1;

	if (cap <= n)
		return NULL;
	memcpy(buf, head, n);
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

/* *direct tells whether qemu-nbd writes with O_DIRECT (cache=none). */
static struct nbd_handle *
nbd_open_image(const char *path, bool readonly, bool *direct, const char *ctx)
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
	char *argv_direct[] = { "env", STORE_QEMU_TUNABLES, "qemu-nbd", "-f", "qcow2",
				"--cache=none", "--aio=native", "--discard=unmap",
				"--detect-zeroes=unmap", (char *)path, NULL };
	char *argv_rw[] = { "env", STORE_QEMU_TUNABLES, "qemu-nbd", "-f", "qcow2",
			    "--cache=writeback", "--discard=unmap", "--detect-zeroes=unmap",
			    (char *)path, NULL };
	char *argv_ro[] = { "env", STORE_QEMU_TUNABLES, "qemu-nbd", "-r", "-f", "qcow2",
			    (char *)path, NULL };
	char opts[PATH_MAX + 256];
	char *argv_overlay[] = { "env", STORE_QEMU_TUNABLES, "qemu-nbd", "--image-opts",
				 opts, "--discard=unmap", "--detect-zeroes=unmap", NULL };
	char **argv = readonly ? argv_ro : argv_rw;
	struct nbd_handle *h = NULL;

	/* An incremental's partial-cluster writes read the backing chain for
	 * copy-on-write: only the overlay itself is opened with O_DIRECT, so
	 * those reads still come from the page cache that holds the base just
	 * written. Writing through the page cache instead cost qemu-nbd more
	 * CPU than the whole receiver (copies into freshly allocated cache
	 * pages, writers spinning on the inode lock). */
	if (direct) {
		int backing = readonly ? -1 : qcow2_has_backing(path);

		*direct = backing >= 0 && direct_io_ok(path) &&
			  (backing == 0 || overlay_opts(path, opts, sizeof(opts)));
		if (*direct)
			argv = backing ? argv_overlay : argv_direct;
	}
	/* The qemu-nbd of a writer that was just killed may still hold the
	 * image lock while it finishes its last flush: retry for a while. */
	for (int attempt = 0; attempt < STORE_OPEN_TRIES; attempt++) {
		if (attempt)
			usleep(100 * 1000);
		h = nbd_create();
		if (!h) {
			log_error("%s: nbd_create: %s", ctx, nbd_get_error());
			return NULL;
		}
		if (nbd_connect_systemd_socket_activation(h, argv) == 0)
			return h;
		if (attempt == STORE_OPEN_TRIES - 1)
			log_error("%s: qemu-nbd %s: %s", ctx, path, nbd_get_error());
		nbd_close(h);
	}
	return NULL;
}

/* Close cleanly so qemu-nbd exits after its final flush; nbd_close waits
 * for the subprocess. */
static int
nbd_close_image(struct nbd_handle *h, const char *ctx)
{
	int rc = 0;

	if (!h)
		return 0;
	if (nbd_aio_is_ready(h) && nbd_shutdown(h, 0) < 0) {
		log_error("%s: nbd shutdown: %s", ctx, nbd_get_error());
		rc = -1;
	}
	nbd_close(h);
	return rc;
}

/* ---- JSON --------------------------------------------------------------- */

static int
json_u64(json_t *obj, const char *key, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);
	json_int_t x;

	if (!json_is_integer(v))
		return -1;
	x = json_integer_value(v);
	if (x < 0 || (uint64_t)x > max)
		return -1;
	*out = (uint64_t)x;
	return 0;
}

static int
json_disk(json_t *o, char name[PROTO_NAME_MAX + 1], uint64_t *size)
{
	const char *s;

	if (!json_is_object(o))
		return -1;
	s = json_string_value(json_object_get(o, "name"));
	if (!s || !name_ok(s))
		return -1;
	snprintf(name, PROTO_NAME_MAX + 1, "%s", s);
	if (json_u64(o, "size", PROTO_MAX_DISK_SIZE, size) < 0 || *size == 0)
		return -1;
	return 0;
}

static json_t *
json_load_capped(const char *path, int *missing)
{
	json_error_t jerr;
	json_t *root = NULL;
	char *buf = NULL;
	size_t len;
	int r;

	*missing = 0;
	r = read_capped(path, STORE_JSON_MAX, &buf, &len);
	if (r == 1) {
		*missing = 1;
		return NULL;
	}
	if (r < 0)
		return NULL;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		log_error("store: %s: invalid JSON at line %d: %s", path, jerr.line, jerr.text);
	else if (!json_is_object(root)) {
		log_error("store: %s: not a JSON object", path);
		json_decref(root);
		root = NULL;
	}
	free(buf);
	return root;
}

static void
catalog_free(struct catalog *cat)
{
	free(cat->pts);
	cat->pts = NULL;
	cat->n = 0;
}

/* A missing catalog is an empty group; anything malformed is an error. */
static int
catalog_load(const char *gdir, struct catalog *cat)
{
	json_t *root = NULL, *points, *p;
	char *path = NULL;
	size_t i;
	int missing, rc = -1;

	cat->pts = NULL;
	cat->n = 0;
	path = path_fmt("%s/catalog.json", gdir);
	if (!path)
		goto out;
	root = json_load_capped(path, &missing);
	if (!root) {
		rc = missing ? 0 : -1;
		goto out;
	}
	points = json_object_get(root, "points");
	if (!json_is_object(root) || json_integer_value(json_object_get(root, "version")) !=
	    STORE_CATALOG_VERSION || !json_is_array(points)) {
		log_error("store: %s: missing version %d or points array", path,
			  STORE_CATALOG_VERSION);
		goto out;
	}
	if (json_array_size(points) > 0) {
		cat->pts = calloc(json_array_size(points), sizeof(*cat->pts));
		if (!cat->pts) {
			log_error("store: out of memory loading %s", path);
			goto out;
		}
	}
	json_array_foreach(points, i, p) {
		struct store_point_info *pi = &cat->pts[i];
		json_t *disks = json_object_get(p, "disks"), *d;
		size_t j;

		if (!json_is_object(p) || json_u64(p, "id", STORE_U64_MAX, &pi->id) < 0 ||
		    pi->id == 0 || (i > 0 && pi->id <= cat->pts[i - 1].id) ||
		    json_u64(p, "base", STORE_U64_MAX, &pi->base_id) < 0 ||
		    pi->base_id >= pi->id ||
		    json_u64(p, "time_ns", STORE_U64_MAX, &pi->time_ns) < 0 ||
		    json_u64(p, "committed_ns", STORE_U64_MAX, &pi->committed_ns) < 0 ||
		    json_u64(p, "bytes", STORE_U64_MAX, &pi->bytes_received) < 0 ||
		    !json_is_array(disks) || json_array_size(disks) == 0 ||
		    json_array_size(disks) > PROTO_MAX_DISKS) {
			log_error("store: %s: point #%zu is malformed", path, i);
			goto out;
		}
		json_array_foreach(disks, j, d) {
			if (json_disk(d, pi->disks[j].name, &pi->disks[j].size) < 0) {
				log_error("store: %s: point %" PRIu64 " disk #%zu is malformed",
					  path, pi->id, j);
				goto out;
			}
			for (size_t k = 0; k < j; k++) {
				if (strcmp(pi->disks[k].name, pi->disks[j].name) == 0) {
					log_error("store: %s: point %" PRIu64 " lists disk %s twice",
						  path, pi->id, pi->disks[j].name);
					goto out;
				}
			}
		}
		pi->ndisks = json_array_size(disks);
		cat->n = i + 1;
	}
	rc = 0;
out:
	if (rc < 0)
		catalog_free(cat);
	json_decref(root);
	free(path);
	return rc;
}

static json_t *
json_disk_new(const char *name, uint64_t size)
{
	return json_pack("{s:s, s:I}", "name", name, "size", (json_int_t)size);
}

static int
catalog_save(const char *gdir, const struct catalog *cat)
{
	json_t *root = NULL, *points;
	char *text = NULL;
	int rc = -1;

	root = json_pack("{s:i, s:[]}", "version", STORE_CATALOG_VERSION, "points");
	if (!root)
		goto oom;
	points = json_object_get(root, "points");
	for (size_t i = 0; i < cat->n; i++) {
		const struct store_point_info *pi = &cat->pts[i];
		json_t *disks = json_array(), *p;

		if (!disks)
			goto oom;
		for (size_t j = 0; j < pi->ndisks; j++) {
			if (json_array_append_new(disks, json_disk_new(pi->disks[j].name,
								       pi->disks[j].size)) < 0) {
				json_decref(disks);
				goto oom;
			}
		}
		p = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "id", (json_int_t)pi->id,
			      "base", (json_int_t)pi->base_id, "time_ns", (json_int_t)pi->time_ns,
			      "committed_ns", (json_int_t)pi->committed_ns,
			      "bytes", (json_int_t)pi->bytes_received, "disks", disks);
		if (json_array_append_new(points, p) < 0)
			goto oom;
	}
	text = json_dumps(root, JSON_INDENT(1));
	if (!text)
		goto oom;
	rc = write_atomic(gdir, "catalog.json", text, strlen(text));
	goto out;
oom:
	log_error("store: out of memory building %s/catalog.json", gdir);
out:
	free(text);
	json_decref(root);
	return rc;
}

static bool
catalog_has(const struct catalog *cat, uint64_t id)
{
	size_t lo = 0, hi = cat->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cat->pts[mid].id == id)
			return true;
		if (cat->pts[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* point 0 = newest. */
static const struct store_point_info *
catalog_find(const struct catalog *cat, uint64_t id)
{
	if (cat->n == 0)
		return NULL;
	if (id == 0)
		return &cat->pts[cat->n - 1];
	for (size_t i = 0; i < cat->n; i++)
		if (cat->pts[i].id == id)
			return &cat->pts[i];
	return NULL;
}

static int
info_disk(const struct store_point_info *pi, const char *disk)
{
	for (size_t i = 0; i < pi->ndisks; i++)
		if (strcmp(pi->disks[i].name, disk) == 0)
			return (int)i;
	return -1;
}

/* 0 / 1 = none / -1 = unreadable or malformed (pending state is never the
 * truth, so callers may start over instead of failing). */
static int
pending_load(const char *gdir, struct pending *pd)
{
	json_t *root = NULL, *disks, *d;
	char *path = NULL;
	size_t i;
	int missing, rc = -1;

	memset(pd, 0, sizeof(*pd));
	path = path_fmt("%s/pending.json", gdir);
	if (!path)
		goto out;
	root = json_load_capped(path, &missing);
	if (!root) {
		rc = missing ? 1 : -1;
		goto out;
	}
	disks = json_object_get(root, "disks");
	if (json_u64(root, "point", STORE_U64_MAX, &pd->point) < 0 || pd->point == 0 ||
	    json_u64(root, "base", STORE_U64_MAX, &pd->base) < 0 || pd->base >= pd->point ||
	    json_u64(root, "time_ns", STORE_U64_MAX, &pd->time_ns) < 0 ||
	    json_u64(root, "bytes", STORE_U64_MAX, &pd->bytes) < 0 ||
	    !json_is_array(disks) || json_array_size(disks) == 0 ||
	    json_array_size(disks) > PROTO_MAX_DISKS) {
		log_warn("store: %s is malformed", path);
		goto out;
	}
	json_array_foreach(disks, i, d) {
		json_t *done = json_object_get(d, "done");

		if (json_disk(d, pd->disks[i].name, &pd->disks[i].size) < 0 ||
		    json_u64(d, "durable_offset", pd->disks[i].size, &pd->disks[i].durable) < 0 ||
		    !json_is_boolean(done)) {
			log_warn("store: %s: disk #%zu is malformed", path, i);
			goto out;
		}
		pd->disks[i].done = json_is_true(done);
	}
	pd->ndisks = json_array_size(disks);
	rc = 0;
out:
	json_decref(root);
	free(path);
	return rc;
}

static int
pending_save(const struct store_point *pt)
{
	json_t *root = NULL, *disks = NULL;
	char *text = NULL;
	int rc = -1;

	disks = json_array();
	if (!disks)
		goto oom;
	for (size_t i = 0; i < pt->ndisks; i++) {
		const struct store_disk *d = &pt->disks[i];
		json_t *o = json_pack("{s:s, s:I, s:I, s:b}", "name", d->name,
				      "size", (json_int_t)d->size,
				      "durable_offset", (json_int_t)d->durable, "done", d->done);

		if (json_array_append_new(disks, o) < 0)
			goto oom;
	}
	root = json_pack("{s:I, s:I, s:I, s:I, s:O}", "point", (json_int_t)pt->id,
			 "base", (json_int_t)pt->base_id, "time_ns", (json_int_t)pt->time_ns,
			 "bytes", (json_int_t)pt->bytes, "disks", disks);
	if (!root)
		goto oom;
	text = json_dumps(root, JSON_INDENT(1));
	if (!text)
		goto oom;
	rc = write_atomic(pt->gdir, "pending.json", text, strlen(text));
	goto out;
oom:
	log_error("store: out of memory building %s/pending.json", pt->gdir);
out:
	free(text);
	json_decref(disks);
	json_decref(root);
	return rc;
}

static int
pending_remove(const char *gdir)
{
	char *path = path_fmt("%s/pending.json", gdir);
	int rc = -1;

	if (!path)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT) {
		log_error("store: unlink %s: %m", path);
		goto out;
	}
	rc = dir_fsync(gdir);
out:
	free(path);
	return rc;
}

/* ---- store -------------------------------------------------------------- */

static char *
dup_opt(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

struct store *
store_open(const char *root, const struct store_ceph_opts *ceph)
{
	struct store *st = calloc(1, sizeof(*st));
	struct stat sb;
	bool oom = false;

	if (!st) {
		log_error("store: out of memory");
		return NULL;
	}
	pthread_mutex_init(&st->rbd_mu, NULL);
	if (ceph) {
		st->ceph = true;
		st->ceph_conf = dup_opt(ceph->conf, &oom);
		st->ceph_client = dup_opt(ceph->client, &oom);
		st->ceph_pool = dup_opt(ceph->pool ? ceph->pool : "rbd", &oom);
		if (oom) {
			log_error("store: out of memory");
			goto fail;
		}
	}
	/* Absolute paths keep qemu from reading "x:" prefixes as protocols. */
	st->root = realpath(root, NULL);
	if (!st->root) {
		log_error("store: root %s: %m", root);
		goto fail;
	}
	if (stat(st->root, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		log_error("store: root %s is not a directory", st->root);
		goto fail;
	}
	return st;
fail:
	store_free(st);
	return NULL;
}

void
store_free(struct store *st)
{
	if (!st)
		return;
	srbd_free(st->rbd);
	pthread_mutex_destroy(&st->rbd_mu);
	free(st->ceph_conf);
	free(st->ceph_client);
	free(st->ceph_pool);
	free(st->root);
	free(st);
}

bool
store_is_ceph(const struct store *st)
{
	return st->ceph;
}

/* The ceph connection, made on first use so that commands that only read
 * the catalog (status, points) work while the cluster is down. */
static struct srbd *
store_rbd(struct store *st)
{
	struct srbd *c;

	pthread_mutex_lock(&st->rbd_mu);
	if (!st->rbd)
		st->rbd = srbd_connect(st->ceph_conf, st->ceph_client, st->ceph_pool);
	c = st->rbd;
	pthread_mutex_unlock(&st->rbd_mu);
	return c;
}

/* Ceph backend: the connection plus the image and snapshot names of disk
 * in point. NULL on error (logged). */
static struct srbd *
point_rbd(struct store *st, const char *group, const char *disk, uint64_t point,
	  char image[SRBD_NAME_MAX], char snap[32])
{
	srbd_snap_name(snap, point);
	if (srbd_image_name(image, group, disk) < 0)
		return NULL;
	return store_rbd(st);
}

static char *
group_dir(struct store *st, const char *group)
{
	if (!name_ok(group)) {
		log_error("store: refusing group name \"%.*s\"", PROTO_NAME_MAX, group);
		return NULL;
	}
	return path_fmt("%s/%s", st->root, group);
}

/* One writer per group (also within this process: flock is per open file). */
static int
group_lock(const char *gdir, const char *group)
{
	char *path = path_fmt("%s/lock", gdir);
	int fd = -1;

	if (!path)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		log_error("store: group %s: open %s: %m", group, path);
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			log_error("store: group %s: another session is writing it", group);
		else
			log_error("store: group %s: flock %s: %m", group, path);
		close(fd);
		fd = -1;
	}
out:
	free(path);
	return fd;
}

int
store_list_points(struct store *st, const char *group, struct store_point_info **out,
		  size_t *n)
{
	struct catalog cat = { 0 };
	char *gdir = group_dir(st, group);

	*out = NULL;
	*n = 0;
	if (!gdir || catalog_load(gdir, &cat) < 0) {
		free(gdir);
		return -1;
	}
	free(gdir);
	*out = cat.pts;
	*n = cat.n;
	return 0;
}

int
store_last_point(struct store *st, const char *group, uint64_t *id)
{
	struct store_point_info *pts;
	size_t n;

	*id = 0;
	if (store_list_points(st, group, &pts, &n) < 0)
		return -1;
	if (n > 0)
		*id = pts[n - 1].id;
	free(pts);
	return 0;
}

int
store_progress(struct store *st, const char *group, struct proto_progress *out)
{
	struct catalog cat = { 0 };
	struct pending *pd = NULL;
	char *gdir = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	gdir = group_dir(st, group);
	if (!gdir || catalog_load(gdir, &cat) < 0)
		goto out;
	snprintf(out->group, sizeof(out->group), "%s", group);
	out->last_point = cat.n ? cat.pts[cat.n - 1].id : 0;
	pd = malloc(sizeof(*pd));
	if (!pd) {
		log_error("store: out of memory");
		goto out;
	}
	/* A pending.json at or below the last point is left over from a commit
	 * interrupted after the catalog rename. */
	if (pending_load(gdir, pd) == 0 && pd->point > out->last_point) {
		out->pending_point = pd->point;
		out->pending_base = pd->base;
		out->ndisks = (uint16_t)pd->ndisks;
		for (size_t i = 0; i < pd->ndisks; i++) {
			snprintf(out->disks[i].name, sizeof(out->disks[i].name), "%s",
				 pd->disks[i].name);
			out->disks[i].durable_offset = pd->disks[i].durable;
			out->disks[i].done = pd->disks[i].done;
		}
	}
	rc = 0;
out:
	free(pd);
	catalog_free(&cat);
	free(gdir);
	return rc;
}

struct keep_ctx {
	const struct catalog *cat;
	uint64_t keep_id;
};

static bool
keep_snap(void *arg, uint64_t id)
{
	const struct keep_ctx *k = arg;

	return id == k->keep_id || catalog_has(k->cat, id);
}

/* Remove files (and ceph snapshots) of points that are not in the catalog
 * (except keep_id, the pending point being resumed) and temp files of
 * interrupted atomic writes. */
static int
remove_strays(struct store *st, const char *group, const char *gdir,
	      const struct catalog *cat, uint64_t keep_id)
{
	static const char *const tmps[] = { "catalog.json.tmp", "pending.json.tmp" };
	char *path = NULL;
	DIR *dd = NULL, *sub = NULL;
	struct dirent *de, *fe;
	int rc = -1;

	if (st->ceph) {
		struct keep_ctx k = { cat, keep_id };
		struct srbd *c = store_rbd(st);

		if (!c || srbd_prune(c, group, keep_snap, &k) < 0)
			return -1;
	}

	for (size_t i = 0; i < sizeof(tmps) / sizeof(tmps[0]); i++) {
		free(path);
		path = path_fmt("%s/%s", gdir, tmps[i]);
		if (!path)
			goto out;
		if (unlink(path) < 0 && errno != ENOENT) {
			log_error("store: unlink %s: %m", path);
			goto out;
		}
	}
	/* meta/<id>.bin and its temp files */
	free(path);
	path = path_fmt("%s/meta", gdir);
	if (!path)
		goto out;
	sub = opendir(path);
	if (!sub && errno != ENOENT) {
		log_error("store: opendir %s: %m", path);
		goto out;
	}
	while (sub && (fe = readdir(sub)) != NULL) {
		uint64_t id = file_id(fe->d_name, ".bin");
		size_t len = strlen(fe->d_name);

		if (id == 0 && !(len > 8 && strcmp(fe->d_name + len - 8, ".bin.tmp") == 0))
			continue;
		if (id != 0 && (id == keep_id || catalog_has(cat, id)))
			continue;
		if (unlinkat(dirfd(sub), fe->d_name, 0) < 0) {
			log_error("store: unlink %s/%s: %m", path, fe->d_name);
			goto out;
		}
		log_info("store: removed stray %s/%s", path, fe->d_name);
	}
	if (sub) {
		closedir(sub);
		sub = NULL;
	}
	/* disks/<disk>/<id>.qcow2 */
	free(path);
	path = path_fmt("%s/disks", gdir);
	if (!path)
		goto out;
	dd = opendir(path);
	if (!dd) {
		if (errno == ENOENT) {
			rc = 0;
			goto out;
		}
		log_error("store: opendir %s: %m", path);
		goto out;
	}
	while ((de = readdir(dd)) != NULL) {
		int fd;
		bool removed = false;

		if (!name_ok(de->d_name))
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
		while ((fe = readdir(sub)) != NULL) {
			uint64_t id = file_id(fe->d_name, ".qcow2");

			if (id == 0 || id == keep_id || catalog_has(cat, id))
				continue;
			if (unlinkat(dirfd(sub), fe->d_name, 0) < 0) {
				log_error("store: unlink %s/%s/%s: %m", path, de->d_name,
					  fe->d_name);
				goto out;
			}
			log_info("store: removed stray %s/%s/%s", path, de->d_name, fe->d_name);
			removed = true;
		}
		if (removed && fsync(dirfd(sub)) < 0) {
			log_error("store: fsync %s/%s: %m", path, de->d_name);
			goto out;
		}
		closedir(sub);
		sub = NULL;
	}
	rc = 0;
out:
	if (sub)
		closedir(sub);
	if (dd)
		closedir(dd);
	free(path);
	return rc;
}

int
store_discard_pending(struct store *st, const char *group)
{
	struct catalog cat = { 0 };
	struct stat sb;
	char *gdir = group_dir(st, group);
	int lock_fd = -1, rc = -1;

	if (!gdir)
		goto out;
	if (stat(gdir, &sb) < 0 && errno == ENOENT) {
		rc = 0;
		goto out;
	}
	lock_fd = group_lock(gdir, group);
	if (lock_fd < 0 || catalog_load(gdir, &cat) < 0)
		goto out;
	if (pending_remove(gdir) < 0 || remove_strays(st, group, gdir, &cat, 0) < 0)
		goto out;
	rc = 0;
out:
	if (lock_fd >= 0)
		close(lock_fd);
	catalog_free(&cat);
	free(gdir);
	return rc;
}

/* ---- point being received ----------------------------------------------- */

static void point_wq_stop(struct store_point *pt);

static void
point_close_disks(struct store_point *pt)
{
	point_wq_stop(pt);
	for (size_t i = 0; i < pt->ndisks; i++) {
		if (pt->disks[i].kick_fd >= 0)
			close(pt->disks[i].kick_fd);
		pt->disks[i].kick_fd = -1;
		char ctx[PROTO_NAME_MAX * 2 + 64];

		snprintf(ctx, sizeof(ctx), "store: group %s point %" PRIu64 " disk %s",
			 pt->group, pt->id, pt->disks[i].name);
		nbd_close_image(pt->disks[i].nbd, ctx);
		pt->disks[i].nbd = NULL;
		srbd_close(pt->disks[i].img);
		pt->disks[i].img = NULL;
	}
}

void
store_point_free(struct store_point *pt)
{
	if (!pt)
		return;
	point_close_disks(pt);
	for (size_t i = 0; i < pt->ndisks; i++)
		free(pt->disks[i].path);
	if (pt->lock_fd >= 0)
		close(pt->lock_fd);
	free(pt->gdir);
	free(pt);
}

static bool
pending_matches(const struct pending *pd, const struct proto_point_begin *b)
{
	if (pd->point != b->point_id || pd->base != b->base_id || pd->ndisks != b->ndisks)
		return false;
	for (size_t i = 0; i < pd->ndisks; i++)
		if (strcmp(pd->disks[i].name, b->disks[i].name) != 0 ||
		    pd->disks[i].size != b->disks[i].size)
			return false;
	return true;
}

static int
point_open_disk(struct store_point *pt, struct store_disk *d)
{
	char ctx[PROTO_NAME_MAX * 2 + 64];

	if (pt->st->ceph) {
		struct srbd *c = store_rbd(pt->st);

		d->img = c ? srbd_open(c, d->image) : NULL;
		return d->img ? 0 : -1;
	}
	snprintf(ctx, sizeof(ctx), "store: group %s point %" PRIu64 " disk %s", pt->group,
		 pt->id, d->name);
	d->nbd = nbd_open_image(d->path, false, &d->direct, ctx);
	if (!d->nbd)
		return -1;
	/* Only a hint, and only for writes through the page cache: without it
	 * the data still becomes durable at flush. */
	if (!d->direct && d->kick_fd < 0)
		d->kick_fd = open(d->path, O_RDONLY | O_CLOEXEC);
	return 0;
}

static int
point_resume(struct store_point *pt, const struct pending *pd)
{
	for (size_t i = 0; i < pt->ndisks; i++) {
		struct store_disk *d = &pt->disks[i];

		if (!pt->st->ceph && access(d->path, F_OK) < 0) {
			log_warn("store: group %s point %" PRIu64 ": %s: %m", pt->group, pt->id,
				 d->path);
			return -1;
		}
		if (point_open_disk(pt, d) < 0)
			return -1;
		d->durable = d->written_end = pd->disks[i].durable;
		d->done = pd->disks[i].done;
	}
	pt->bytes = pd->bytes;
	return 0;
}

static int
point_create_disk(struct store_point *pt, struct store_disk *d,
		  const struct store_point_info *base)
{
	char ctx[PROTO_NAME_MAX * 2 + 64];
	char size[32], opts[128];
	char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-o", opts, d->path,
			 size, NULL };

	if (pt->st->ceph) {
		struct srbd *c = store_rbd(pt->st);
		char snap[32];

		srbd_snap_name(snap, base ? base->id : 0);
		d->img = c ? srbd_prepare(c, d->image, d->size,
					  base && info_disk(base, d->name) >= 0 ? snap : NULL)
			   : NULL;
		return d->img ? 0 : -1;
	}
	snprintf(ctx, sizeof(ctx), "store: group %s point %" PRIu64 " disk %s", pt->group,
		 pt->id, d->name);
	snprintf(size, sizeof(size), "%" PRIu64, d->size);
	/* Relative backing name: the group directory can move as a whole. */
	if (base && info_disk(base, d->name) >= 0)
		snprintf(opts, sizeof(opts),
			 "cluster_size=65536,lazy_refcounts=off,backing_file=%" PRIu64
			 ".qcow2,backing_fmt=qcow2", base->id);
	else
		snprintf(opts, sizeof(opts), "cluster_size=65536,lazy_refcounts=off");
	if (run_tool(argv, ctx) < 0)
		return -1;
	return point_open_disk(pt, d);
}

static bool
begin_valid(const struct proto_point_begin *b)
{
	if (!name_ok(b->group)) {
		log_error("store: refusing group name \"%.*s\"", PROTO_NAME_MAX, b->group);
		return false;
	}
	if (b->point_id == 0 || b->point_id > STORE_U64_MAX || b->time_ns > STORE_U64_MAX ||
	    b->base_id >= b->point_id || b->ndisks == 0 || b->ndisks > PROTO_MAX_DISKS) {
		log_error("store: group %s: bad point %" PRIu64 " base %" PRIu64 " disks %u",
			  b->group, b->point_id, b->base_id, b->ndisks);
		return false;
	}
	for (size_t i = 0; i < b->ndisks; i++) {
		if (!name_ok(b->disks[i].name) || b->disks[i].size == 0 ||
		    b->disks[i].size > PROTO_MAX_DISK_SIZE) {
			log_error("store: group %s point %" PRIu64 ": bad disk #%zu", b->group,
				  b->point_id, i);
			return false;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(b->disks[i].name, b->disks[j].name) == 0) {
				log_error("store: group %s point %" PRIu64 ": disk %s listed twice",
					  b->group, b->point_id, b->disks[i].name);
				return false;
			}
		}
	}
	return true;
}

struct store_point *
store_point_begin(struct store *st, const struct proto_point_begin *b, int *err)
{
	struct store_point *pt = NULL, *ret = NULL;
	struct catalog cat = { 0 };
	struct pending *pd = NULL;
	const struct store_point_info *base = NULL;
	char *dir = NULL;
	uint64_t last;
	int pr;

	*err = PROTO_ERR_PROTOCOL;
	if (!begin_valid(b))
		goto out;
	*err = PROTO_ERR_STORE;
	pt = calloc(1, sizeof(*pt));
	pd = malloc(sizeof(*pd));
	if (!pt || !pd) {
		log_error("store: out of memory");
		*err = PROTO_ERR_INTERNAL;
		goto out;
	}
	pt->lock_fd = -1;
	for (size_t i = 0; i < PROTO_MAX_DISKS; i++)
		pt->disks[i].kick_fd = -1;
	pt->st = st;
	snprintf(pt->group, sizeof(pt->group), "%s", b->group);
	pt->id = b->point_id;
	pt->base_id = b->base_id;
	pt->time_ns = b->time_ns;
	pt->ndisks = b->ndisks;
	pt->gdir = group_dir(st, b->group);
	if (!pt->gdir || mkdir_durable(pt->gdir) < 0)
		goto out;
	pt->lock_fd = group_lock(pt->gdir, pt->group);
	if (pt->lock_fd < 0) {
		*err = PROTO_ERR_CONFLICT;
		goto out;
	}
	if (catalog_load(pt->gdir, &cat) < 0)
		goto out;
	last = cat.n ? cat.pts[cat.n - 1].id : 0;
	if ((b->base_id != 0 && b->base_id != last) || b->point_id <= last) {
		log_error("store: group %s: point %" PRIu64 " on base %" PRIu64
			  " does not follow the newest point %" PRIu64, pt->group, pt->id,
			  pt->base_id, last);
		*err = PROTO_ERR_CONFLICT;
		goto out;
	}
	if (b->base_id != 0)
		base = &cat.pts[cat.n - 1];

	free(dir);
	dir = path_fmt("%s/disks", pt->gdir);
	if (!dir || mkdir_durable(dir) < 0)
		goto out;
	free(dir);
	dir = path_fmt("%s/meta", pt->gdir);
	if (!dir || mkdir_durable(dir) < 0)
		goto out;
	for (size_t i = 0; i < pt->ndisks; i++) {
		struct store_disk *d = &pt->disks[i];

		snprintf(d->name, sizeof(d->name), "%s", b->disks[i].name);
		d->size = b->disks[i].size;
		if (st->ceph) {
			if (srbd_image_name(d->image, pt->group, d->name) < 0)
				goto out;
			d->path = path_fmt("%s/%s", st->ceph_pool, d->image);
			if (!d->path)
				goto out;
			continue;
		}
		free(dir);
		dir = path_fmt("%s/disks/%s", pt->gdir, d->name);
		if (!dir || mkdir_durable(dir) < 0)
			goto out;
		d->path = path_fmt("%s/%" PRIu64 ".qcow2", dir, pt->id);
		if (!d->path)
			goto out;
	}

	pr = pending_load(pt->gdir, pd);
	if (pr == 0 && pending_matches(pd, b)) {
		/* Strays first: the ceph backend removes stray snapshots through
		 * their own image handles, which must not wait for the lock the
		 * resumed head holds. */
		if (remove_strays(st, pt->group, pt->gdir, &cat, pt->id) < 0)
			goto out;
		if (point_resume(pt, pd) == 0) {
			log_info("store: group %s: resuming point %" PRIu64 " on base %" PRIu64,
				 pt->group, pt->id, pt->base_id);
			goto done;
		}
		log_warn("store: group %s: cannot resume point %" PRIu64 ", starting over",
			 pt->group, pt->id);
		point_close_disks(pt);
		for (size_t i = 0; i < pt->ndisks; i++) {
			pt->disks[i].durable = pt->disks[i].written_end = 0;
			pt->disks[i].done = false;
		}
		pt->bytes = 0;
	} else if (pr == 0) {
		log_info("store: group %s: discarding pending point %" PRIu64
			 " for point %" PRIu64, pt->group, pd->point, pt->id);
	}
	/* pending.json goes first so it never names files that are gone. */
	if (pending_remove(pt->gdir) < 0 || remove_strays(st, pt->group, pt->gdir, &cat, 0) < 0)
		goto out;
	for (size_t i = 0; i < pt->ndisks; i++)
		if (point_create_disk(pt, &pt->disks[i], base) < 0)
			goto out;
	if (pending_save(pt) < 0)
		goto out;
	log_info("store: group %s: receiving point %" PRIu64 " on base %" PRIu64 " (%zu disks)",
		 pt->group, pt->id, pt->base_id, pt->ndisks);
done:
	ret = pt;
	pt = NULL;
	*err = 0;
out:
	store_point_free(pt);
	catalog_free(&cat);
	free(pd);
	free(dir);
	return ret;
}

static struct store_disk *
point_disk(struct store_point *pt, uint16_t disk, uint64_t offset, uint64_t len,
	   const char *op, int *err)
{
	struct store_disk *d;

	*err = PROTO_ERR_PROTOCOL;
	if (pt->committed) {
		log_error("store: group %s point %" PRIu64 ": %s after commit", pt->group,
			  pt->id, op);
		return NULL;
	}
	if (disk >= pt->ndisks) {
		log_error("store: group %s point %" PRIu64 ": %s on unknown disk #%u",
			  pt->group, pt->id, op, disk);
		return NULL;
	}
	d = &pt->disks[disk];
	if (d->done) {
		log_error("store: group %s point %" PRIu64 " disk %s: %s after disk done",
			  pt->group, pt->id, d->name, op);
		return NULL;
	}
	if (len > d->size || offset > d->size - len) {
		log_error("store: group %s point %" PRIu64 " disk %s: %s of %" PRIu64
			  " bytes at %" PRIu64 " is beyond the disk size %" PRIu64,
			  pt->group, pt->id, d->name, op, len, offset, d->size);
		return NULL;
	}
	if (!d->nbd && !d->img) {
		*err = PROTO_ERR_STORE;
		log_error("store: group %s point %" PRIu64 " disk %s: %s without a connection",
			  pt->group, pt->id, d->name, op);
		return NULL;
	}
	*err = 0;
	return d;
}

static void
disk_io_error(const struct store_point *pt, const struct store_disk *d, const char *op,
	      uint64_t offset, uint64_t len, int *err)
{
	int e = nbd_get_errno();

	log_error("store: group %s point %" PRIu64 " disk %s (%s): %s of %" PRIu64
		  " bytes at %" PRIu64 " failed: %s%s", pt->group, pt->id, d->name, d->path,
		  op, len, offset, nbd_get_error(),
		  e == ENOSPC ? " (replica store is full)" : "");
	*err = PROTO_ERR_STORE;
	errno = e; /* callers tell the peer when the store is full */
}

/* Synchronous work on one disk; run by the writer thread, or by the caller
 * for writes too large to queue. */
static int
disk_pwrite(struct store_point *pt, struct store_disk *d, uint64_t offset,
	    const uint8_t *p, size_t len, int *err)
{
	uint64_t off = offset;
	size_t left = len;

	if (d->img) {
		if (srbd_write(d->img, offset, p, len) < 0) {
			*err = PROTO_ERR_STORE;
			return -1;
		}
		return 0;
	}
	while (left > 0) {
		size_t n = left < STORE_NBD_CHUNK ? left : STORE_NBD_CHUNK;

		if (nbd_pwrite(d->nbd, p, n, off, 0) < 0) {
			disk_io_error(pt, d, "write", off, n, err);
			return -1;
		}
		p += n;
		off += n;
		left -= n;
	}
	return 0;
}

static int
disk_pzero(struct store_point *pt, struct store_disk *d, uint64_t offset, uint64_t len,
	   int *err)
{
	uint64_t off = offset, left = len;

	if (d->img) {
		if (srbd_zero(d->img, offset, len) < 0) {
			*err = PROTO_ERR_STORE;
			return -1;
		}
		return 0;
	}
	/* No NBD_CMD_FLAG_NO_HOLE: qemu may then record zero clusters, which
	 * also hide whatever the backing file holds there. */
	while (left > 0) {
		uint64_t n = left < STORE_ZERO_CHUNK ? left : STORE_ZERO_CHUNK;

		if (nbd_zero(d->nbd, n, off, 0) < 0) {
			disk_io_error(pt, d, "zero", off, n, err);
			return -1;
		}
		off += n;
		left -= n;
	}
	return 0;
}

/* Issue op: a write on a local disk goes out as an NBD command that the
 * writer polls for later (op->cookie > 0); anything else runs to the end
 * here (op->cookie = 0). 0 / -1 (logged). */
static int
wq_issue(struct store_point *pt, struct store_wop *op, int *err)
{
	struct store_disk *d = &pt->disks[op->disk];

	op->cookie = 0;
	if (op->buf && d->nbd && op->len <= STORE_NBD_CHUNK) {
		op->cookie = nbd_aio_pwrite(d->nbd, op->buf, (size_t)op->len, op->offset,
					    NBD_NULL_COMPLETION, 0);
		if (op->cookie < 0) {
			op->cookie = 0;
			disk_io_error(pt, d, "write", op->offset, op->len, err);
			return -1;
		}
		return 0;
	}
	return op->buf ? disk_pwrite(pt, d, op->offset, op->buf, (size_t)op->len, err)
		       : disk_pzero(pt, d, op->offset, op->len, err);
}

/* 1 when op is complete, 0 while its command is in flight, -1 when it
 * failed (logged). */
static int
wq_check(struct store_point *pt, struct store_wop *op, int *err)
{
	struct store_disk *d = &pt->disks[op->disk];
	int r;

	if (op->cookie == 0)
		return 1;
	r = nbd_aio_command_completed(d->nbd, (uint64_t)op->cookie);
	if (r == 0)
		return 0;
	op->cookie = 0;
	if (r < 0) {
		disk_io_error(pt, d, "write", op->offset, op->len, err);
		return -1;
	}
	return 1;
}

static void
wq_fail(struct store_wq *q, int err)
{
	if (!q->failed) {
		q->failed = true;
		q->fail_errno = errno;
		q->fail_err = err;
	}
}

static void *
wq_main(void *arg)
{
	struct store_point *pt = arg;
	struct store_wq *q = pt->wq;
	/* In-flight commands: all on disk `cur`, ending at or before cur_end. */
	size_t inflight = 0;
	uint16_t cur = 0;
	uint64_t cur_end = 0;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		struct store_wop *op = NULL;
		struct store_disk *d;
		bool retired = false;
		int err = 0, r = 0;

		while (!q->stop && q->count == 0)
			pthread_cond_wait(&q->cv_work, &q->mu);
		/* Stop drops what was not issued but waits for the commands in
		 * flight: their buffers are freed after this thread ends. */
		if (q->stop && inflight == 0)
			break;
		if (!q->stop && q->issued < q->count)
			op = &q->ops[(q->head + q->issued) % STORE_WQ_SLOTS];
		pthread_mutex_unlock(&q->mu);
		if (op && inflight > 0 && (op->disk != cur || op->offset < cur_end ||
					   !op->buf || !pt->disks[op->disk].nbd))
			op = NULL; /* let the commands in flight finish first */
		if (op) {
			d = &pt->disks[op->disk];
			r = wq_issue(pt, op, &err);
			if (r == 0 && op->cookie > 0) {
				inflight++;
				cur = op->disk;
				cur_end = op->offset + op->len;
			}
			if (r == 0 && op->buf && d->kick_fd >= 0) {
				d->since_kick += op->len;
				if (d->since_kick >= STORE_KICK_BYTES) {
					d->since_kick = 0;
					(void)sync_file_range(d->kick_fd, 0, 0,
							      SYNC_FILE_RANGE_WRITE);
				}
			}
		} else if (inflight > 0 && nbd_poll(pt->disks[cur].nbd, -1) < 0) {
			/* The connection is gone: libnbd failed every command in
			 * flight, which the checks below retire. */
			if (nbd_aio_is_dead(pt->disks[cur].nbd) == 0)
				log_error("store: group %s point %" PRIu64 " disk %s: nbd poll: %s",
					  pt->group, pt->id, pt->disks[cur].name, nbd_get_error());
		}
		pthread_mutex_lock(&q->mu);
		if (op) {
			q->issued++;
			if (r < 0)
				wq_fail(q, err);
		}
		/* Retire in order; a command that failed is logged once here. */
		while (q->issued > 0) {
			struct store_wop *h = &q->ops[q->head];
			bool was_inflight = h->cookie > 0;

			pthread_mutex_unlock(&q->mu);
			r = wq_check(pt, h, &err);
			if (r == 0 && pt->disks[h->disk].nbd &&
			    nbd_aio_is_dead(pt->disks[h->disk].nbd) == 1) {
				h->cookie = 0; /* never completes; the close fails it */
				r = -1;
				err = PROTO_ERR_STORE;
				errno = EIO;
			}
			pthread_mutex_lock(&q->mu);
			if (r == 0)
				break;
			if (was_inflight)
				inflight--;
			if (r < 0)
				wq_fail(q, err);
			q->head = (q->head + 1) % STORE_WQ_SLOTS;
			q->count--;
			q->issued--;
			retired = true;
		}
		if (retired)
			pthread_cond_broadcast(&q->cv_room);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

static int
point_wq_start(struct store_point *pt)
{
	struct store_wq *q = calloc(1, sizeof(*q));
	int r;

	if (!q) {
		log_error("store: group %s point %" PRIu64 ": out of memory", pt->group, pt->id);
		return -1;
	}
	for (size_t i = 0; i < STORE_WQ_SLOTS; i++) {
		q->bufs[i] = malloc(STORE_WQ_BUF);
		if (!q->bufs[i]) {
			log_error("store: group %s point %" PRIu64 ": out of memory", pt->group,
				  pt->id);
			goto fail;
		}
	}
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv_work, NULL);
	pthread_cond_init(&q->cv_room, NULL);
	pt->wq = q;
	r = pthread_create(&q->th, NULL, wq_main, pt);
	if (r != 0) {
		errno = r;
		log_error("store: group %s point %" PRIu64 ": cannot start the writer thread: %m",
			  pt->group, pt->id);
		pthread_cond_destroy(&q->cv_room);
		pthread_cond_destroy(&q->cv_work);
		pthread_mutex_destroy(&q->mu);
		pt->wq = NULL;
		goto fail;
	}
	return 0;
fail:
	for (size_t i = 0; i < STORE_WQ_SLOTS; i++)
		free(q->bufs[i]);
	free(q);
	return -1;
}

/* Stop the writer after the operation it is executing; queued ones that
 * did not start are dropped (they were never reported durable). */
static void
point_wq_stop(struct store_point *pt)
{
	struct store_wq *q = pt->wq;

	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->cv_work);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->th, NULL);
	pthread_cond_destroy(&q->cv_room);
	pthread_cond_destroy(&q->cv_work);
	pthread_mutex_destroy(&q->mu);
	for (size_t i = 0; i < STORE_WQ_SLOTS; i++)
		free(q->bufs[i]);
	free(q);
	pt->wq = NULL;
}

/* Called with q->mu held: the sticky failure as this call's result. */
static int
wq_failed(struct store_wq *q, int *err)
{
	*err = q->fail_err ? q->fail_err : PROTO_ERR_STORE;
	errno = q->fail_errno; /* callers tell the peer when the store is full */
	return -1;
}

/* Wait until every queued operation has executed. 0 / -1 (a queued
 * operation failed; logged by the writer). */
static int
point_wq_drain(struct store_point *pt, int *err)
{
	struct store_wq *q = pt->wq;
	int rc = 0;

	if (!q)
		return 0;
	pthread_mutex_lock(&q->mu);
	while (q->count > 0)
		pthread_cond_wait(&q->cv_room, &q->mu);
	if (q->failed)
		rc = wq_failed(q, err);
	pthread_mutex_unlock(&q->mu);
	return rc;
}

static int
point_wq_push(struct store_point *pt, uint16_t disk, uint64_t offset, const void *data,
	      uint64_t len, int *err)
{
	struct store_wq *q;
	struct store_wop *op;
	size_t slot;
	int rc = 0;

	if (!pt->wq && point_wq_start(pt) < 0) {
		*err = PROTO_ERR_INTERNAL;
		return -1;
	}
	q = pt->wq;
	pthread_mutex_lock(&q->mu);
	while (q->count == STORE_WQ_SLOTS && !q->failed)
		pthread_cond_wait(&q->cv_room, &q->mu);
	if (q->failed) {
		rc = wq_failed(q, err);
		goto out;
	}
	slot = (q->head + q->count) % STORE_WQ_SLOTS;
	op = &q->ops[slot];
	op->disk = disk;
	op->offset = offset;
	op->len = len;
	op->buf = NULL;
	op->cookie = 0;
	if (data) {
		memcpy(q->bufs[slot], data, (size_t)len);
		op->buf = q->bufs[slot];
	}
	q->count++;
	pthread_cond_signal(&q->cv_work);
	*err = 0;
out:
	pthread_mutex_unlock(&q->mu);
	return rc;
}

int
store_point_write(struct store_point *pt, uint16_t disk, uint64_t offset,
		  const void *data, size_t len, int *err)
{
	struct store_disk *d = point_disk(pt, disk, offset, len, "write", err);

	if (!d)
		return -1;
	if (len <= STORE_WQ_BUF) {
		if (point_wq_push(pt, disk, offset, data, len, err) < 0)
			return -1;
	} else if (point_wq_drain(pt, err) < 0 || disk_pwrite(pt, d, offset, data, len, err) < 0) {
		return -1;
	}
	if (offset + len > d->written_end)
		d->written_end = offset + len;
	return 0;
}

int
store_point_zero(struct store_point *pt, uint16_t disk, uint64_t offset, uint64_t len,
		 int *err)
{
	struct store_disk *d = point_disk(pt, disk, offset, len, "zero", err);

	if (!d)
		return -1;
	if (point_wq_push(pt, disk, offset, NULL, len, err) < 0)
		return -1;
	if (offset + len > d->written_end)
		d->written_end = offset + len;
	return 0;
}

/* Everything queued before is executed and then flushed. */
static int
disk_flush(struct store_point *pt, struct store_disk *d, int *err)
{
	if (point_wq_drain(pt, err) < 0)
		return -1;
	if (d->img) {
		if (srbd_flush(d->img) < 0) {
			*err = PROTO_ERR_STORE;
			return -1;
		}
		return 0;
	}
	if (!d->nbd)
		return 0;
	if (nbd_flush(d->nbd, 0) < 0) {
		disk_io_error(pt, d, "flush", 0, 0, err);
		return -1;
	}
	return 0;
}

int
store_point_disk_done(struct store_point *pt, uint16_t disk, int *err)
{
	struct store_disk *d = point_disk(pt, disk, 0, 0, "disk done", err);

	if (!d)
		return -1;
	if (disk_flush(pt, d, err) < 0)
		return -1;
	d->done = true;
	d->written_end = d->durable = d->size;
	if (pending_save(pt) < 0) {
		*err = PROTO_ERR_STORE;
		return -1;
	}
	*err = 0;
	return 0;
}

int
store_point_checkpoint(struct store_point *pt, int *err)
{
	uint64_t flushed[PROTO_MAX_DISKS];

	*err = PROTO_ERR_PROTOCOL;
	if (pt->committed) {
		log_error("store: group %s point %" PRIu64 ": checkpoint after commit",
			  pt->group, pt->id);
		return -1;
	}
	/* Snapshot the ends before flushing: only what preceded the flush is
	 * known durable. */
	for (size_t i = 0; i < pt->ndisks; i++) {
		flushed[i] = pt->disks[i].written_end;
		if (!pt->disks[i].done && disk_flush(pt, &pt->disks[i], err) < 0)
			return -1;
	}
	for (size_t i = 0; i < pt->ndisks; i++)
		pt->disks[i].durable = flushed[i];
	if (pending_save(pt) < 0) {
		*err = PROTO_ERR_STORE;
		return -1;
	}
	*err = 0;
	return 0;
}

void
store_point_add_bytes(struct store_point *pt, uint64_t n)
{
	if (__builtin_add_overflow(pt->bytes, n, &pt->bytes) || pt->bytes > STORE_U64_MAX)
		pt->bytes = STORE_U64_MAX;
}

int
store_point_commit(struct store_point *pt, const void *meta, size_t meta_len, int *err)
{
	struct catalog cat = { 0 };
	struct store_point_info *grown, *pi;
	char *dir = NULL, *name = NULL;
	int rc = -1;

	*err = PROTO_ERR_PROTOCOL;
	if (pt->committed) {
		log_error("store: group %s point %" PRIu64 ": committed twice", pt->group, pt->id);
		goto out;
	}
	if (meta_len > PROTO_MAX_META || (!meta && meta_len > 0)) {
		log_error("store: group %s point %" PRIu64 ": bad metadata of %zu bytes",
			  pt->group, pt->id, meta_len);
		goto out;
	}
	for (size_t i = 0; i < pt->ndisks; i++) {
		if (!pt->disks[i].done) {
			log_error("store: group %s point %" PRIu64 ": commit before disk %s is done",
				  pt->group, pt->id, pt->disks[i].name);
			goto out;
		}
	}
	*err = PROTO_ERR_STORE;
	/* Data before metadata: flush, let qemu-nbd exit, then fsync ourselves
	 * so nothing depends on qemu's cache mode. */
	for (size_t i = 0; i < pt->ndisks; i++)
		if (disk_flush(pt, &pt->disks[i], err) < 0)
			goto out;
	if (pt->st->ceph) {
		char snap[32];

		/* Flushed above: each snapshot holds every extent of the point. */
		srbd_snap_name(snap, pt->id);
		for (size_t i = 0; i < pt->ndisks; i++) {
			if (srbd_snap_create(pt->disks[i].img, snap) < 0)
				goto out;
			srbd_close(pt->disks[i].img);
			pt->disks[i].img = NULL;
		}
		goto meta;
	}
	for (size_t i = 0; i < pt->ndisks; i++) {
		char ctx[PROTO_NAME_MAX * 2 + 64];

		snprintf(ctx, sizeof(ctx), "store: group %s point %" PRIu64 " disk %s",
			 pt->group, pt->id, pt->disks[i].name);
		if (nbd_close_image(pt->disks[i].nbd, ctx) < 0) {
			pt->disks[i].nbd = NULL;
			goto out;
		}
		pt->disks[i].nbd = NULL;
	}
	for (size_t i = 0; i < pt->ndisks; i++) {
		free(dir);
		dir = path_fmt("%s/disks/%s", pt->gdir, pt->disks[i].name);
		if (!dir || fsync_path(pt->disks[i].path) < 0 || dir_fsync(dir) < 0)
			goto out;
	}
meta:
	free(dir);
	dir = path_fmt("%s/meta", pt->gdir);
	name = path_fmt("%" PRIu64 ".bin", pt->id);
	if (!dir || !name || write_atomic(dir, name, meta_len ? meta : "", meta_len) < 0)
		goto out;

	if (catalog_load(pt->gdir, &cat) < 0)
		goto out;
	if (cat.n && cat.pts[cat.n - 1].id >= pt->id) {
		log_error("store: group %s: point %" PRIu64 " is no longer newer than %" PRIu64,
			  pt->group, pt->id, cat.pts[cat.n - 1].id);
		*err = PROTO_ERR_CONFLICT;
		goto out;
	}
	grown = realloc(cat.pts, (cat.n + 1) * sizeof(*cat.pts));
	if (!grown) {
		log_error("store: out of memory");
		*err = PROTO_ERR_INTERNAL;
		goto out;
	}
	cat.pts = grown;
	pi = &cat.pts[cat.n++];
	memset(pi, 0, sizeof(*pi));
	pi->id = pt->id;
	pi->base_id = pt->base_id;
	pi->time_ns = pt->time_ns;
	pi->committed_ns = now_ns();
	pi->bytes_received = pt->bytes;
	pi->ndisks = pt->ndisks;
	for (size_t i = 0; i < pt->ndisks; i++) {
		snprintf(pi->disks[i].name, sizeof(pi->disks[i].name), "%s", pt->disks[i].name);
		pi->disks[i].size = pt->disks[i].size;
	}
	if (catalog_save(pt->gdir, &cat) < 0)
		goto out;
	pt->committed = true;
	/* The point is committed now; a stale pending.json is ignored by id. */
	if (pending_remove(pt->gdir) < 0)
		log_warn("store: group %s: pending.json of committed point %" PRIu64
			 " not removed", pt->group, pt->id);
	log_info("store: group %s: committed point %" PRIu64 " (base %" PRIu64 ", %" PRIu64
		 " bytes)", pt->group, pt->id, pt->base_id, pt->bytes);
	*err = 0;
	rc = 0;
out:
	catalog_free(&cat);
	free(dir);
	free(name);
	return rc;
}

/* ---- reading committed points ------------------------------------------- */

static int
lookup(struct store *st, const char *group, uint64_t point, const char *disk,
       struct catalog *cat, const struct store_point_info **pi, char **gdir, int *err)
{
	*err = PROTO_ERR_PROTOCOL;
	*gdir = NULL;
	*pi = NULL;
	if (disk && !name_ok(disk)) {
		log_error("store: refusing disk name \"%.*s\"", PROTO_NAME_MAX, disk);
		return -1;
	}
	*gdir = group_dir(st, group);
	if (!*gdir)
		return -1;
	*err = PROTO_ERR_STORE;
	if (catalog_load(*gdir, cat) < 0)
		return -1;
	*err = PROTO_ERR_NOTFOUND;
	*pi = catalog_find(cat, point);
	if (!*pi) {
		log_error("store: group %s: no point %" PRIu64, group, point);
		return -1;
	}
	if (disk && info_disk(*pi, disk) < 0) {
		log_error("store: group %s point %" PRIu64 ": no disk %s", group, (*pi)->id, disk);
		return -1;
	}
	*err = 0;
	return 0;
}

char *
store_point_disk_path(struct store *st, const char *group, uint64_t point,
		      const char *disk)
{
	struct catalog cat = { 0 };
	const struct store_point_info *pi;
	char *gdir = NULL, *path = NULL;
	int err;

	if (lookup(st, group, point, disk, &cat, &pi, &gdir, &err) == 0) {
		if (st->ceph) {
			char image[SRBD_NAME_MAX], snap[32];

			srbd_snap_name(snap, pi->id);
			if (srbd_image_name(image, group, disk) == 0)
				path = path_fmt("rbd:%s/%s@%s", st->ceph_pool, image, snap);
		} else {
			path = path_fmt("%s/disks/%s/%" PRIu64 ".qcow2", gdir, disk, pi->id);
		}
	}
	catalog_free(&cat);
	free(gdir);
	return path;
}

bool
store_point_has_disk(struct store *st, const char *group, uint64_t point, const char *disk)
{
	struct catalog cat = { 0 };
	const struct store_point_info *pi;
	char *gdir = NULL, *path = NULL;
	bool ok = false;
	int err;

	if (lookup(st, group, point, disk, &cat, &pi, &gdir, &err) < 0)
		goto out;
	if (st->ceph) {
		char image[SRBD_NAME_MAX], snap[32];
		struct srbd *c = point_rbd(st, group, disk, pi->id, image, snap);

		ok = c && srbd_snap_exists(c, image, snap) == 1;
	} else {
		path = path_fmt("%s/disks/%s/%" PRIu64 ".qcow2", gdir, disk, pi->id);
		ok = path && access(path, F_OK) == 0;
	}
out:
	free(path);
	free(gdir);
	catalog_free(&cat);
	return ok;
}

int
store_point_clone(struct store *st, const char *group, uint64_t point, const char *disk,
		  const char *clone, struct store_clone_spec *spec)
{
	struct catalog cat = { 0 };
	const struct store_point_info *pi;
	char *gdir = NULL;
	char image[SRBD_NAME_MAX], snap[32];
	struct srbd *c;
	int err, rc = -1;

	memset(spec, 0, sizeof(*spec));
	if (!st->ceph) {
		log_error("store: group %s: clones need the ceph store backend", group);
		return -1;
	}
	if (!name_ok(clone) || strlen(clone) >= sizeof(spec->image)) {
		log_error("store: refusing clone name \"%s\"", clone);
		return -1;
	}
	if (lookup(st, group, point, disk, &cat, &pi, &gdir, &err) < 0)
		goto out;
	c = point_rbd(st, group, disk, pi->id, image, snap);
	if (!c || srbd_clone(c, image, snap, clone) < 0)
		goto out;
	snprintf(spec->pool, sizeof(spec->pool), "%s", st->ceph_pool);
	snprintf(spec->image, sizeof(spec->image), "%s", clone);
	spec->conf = st->ceph_conf;
	spec->client = st->ceph_client ? st->ceph_client : "admin";
	rc = 0;
out:
	free(gdir);
	catalog_free(&cat);
	return rc;
}

int
store_clone_remove(struct store *st, const char *clone)
{
	struct srbd *c;

	if (!st->ceph || !name_ok(clone)) {
		log_error("store: refusing to remove clone \"%s\"", clone);
		return -1;
	}
	c = store_rbd(st);
	return c && srbd_remove(c, clone) == 0 ? 0 : -1;
}

int
store_point_hashes(struct store *st, const char *group, uint64_t point, const char *disk,
		   uint64_t offset, uint32_t block_size, uint32_t count, uint64_t *hashes,
		   uint32_t *got, int *err)
{
	struct catalog cat = { 0 };
	const struct store_point_info *pi;
	struct nbd_handle *h = NULL;
	struct srbd_img *im = NULL;
	char *gdir = NULL, *path = NULL;
	char ctx[PROTO_NAME_MAX * 2 + 64] = "store";
	uint8_t *buf = NULL;
	uint64_t size, off = offset;
	uint32_t i = 0;
	int rc = -1;

	*got = 0;
	*err = PROTO_ERR_PROTOCOL;
	if (block_size < 4096 || block_size > (16u << 20) ||
	    (block_size & (block_size - 1)) != 0 || count == 0 || count > PROTO_MAX_HASHES ||
	    offset % block_size != 0) {
		log_error("store: group %.*s: bad hash query (offset %" PRIu64 ", block %" PRIu32
			  ", count %" PRIu32 ")", PROTO_NAME_MAX, group, offset, block_size, count);
		goto out;
	}
	if (lookup(st, group, point, disk, &cat, &pi, &gdir, err) < 0)
		goto out;
	size = pi->disks[info_disk(pi, disk)].size;
	if (offset >= size) {
		rc = 0;
		goto out;
	}
	*err = PROTO_ERR_STORE;
	snprintf(ctx, sizeof(ctx), "store: group %s point %" PRIu64 " disk %s", group, pi->id,
		 disk);
	path = path_fmt("%s/disks/%s/%" PRIu64 ".qcow2", gdir, disk, pi->id);
	buf = malloc(block_size);
	if (!path || !buf) {
		log_error("%s: out of memory", ctx);
		goto out;
	}
	if (st->ceph) {
		char image[SRBD_NAME_MAX], snap[32];
		struct srbd *c = point_rbd(st, group, disk, pi->id, image, snap);

		if (!c || !(im = srbd_open_snap(c, image, snap)))
			goto out;
	} else if (!(h = nbd_open_image(path, true, NULL, ctx))) {
		goto out;
	}
	for (i = 0; i < count && off < size; i++) {
		size_t n = size - off < block_size ? (size_t)(size - off) : block_size;

		if (im) {
			if (srbd_read(im, off, buf, n) < 0)
				goto out;
		} else if (nbd_pread(h, buf, n, off, 0) < 0) {
			log_error("%s: read of %zu bytes at %" PRIu64 ": %s", ctx, n, off,
				  nbd_get_error());
			goto out;
		}
		hashes[i] = hash64(buf, n);
		off += n;
	}
	*got = i;
	*err = 0;
	rc = 0;
out:
	nbd_close_image(h, ctx);
	srbd_close(im);
	free(buf);
	free(path);
	free(gdir);
	catalog_free(&cat);
	return rc;
}

int
store_point_meta(struct store *st, const char *group, uint64_t point, void **meta,
		 size_t *len)
{
	struct catalog cat = { 0 };
	const struct store_point_info *pi;
	char *gdir = NULL, *path = NULL, *buf = NULL;
	int err, rc = -1;

	*meta = NULL;
	*len = 0;
	if (lookup(st, group, point, NULL, &cat, &pi, &gdir, &err) < 0)
		goto out;
	path = path_fmt("%s/meta/%" PRIu64 ".bin", gdir, pi->id);
	if (!path)
		goto out;
	rc = read_capped(path, PROTO_MAX_META, &buf, len);
	if (rc == 1) {
		log_error("store: group %s point %" PRIu64 ": metadata %s is missing", group,
			  pi->id, path);
		rc = -1;
	}
	if (rc == 0) {
		*meta = buf;
		buf = NULL;
	}
out:
	free(buf);
	free(path);
	free(gdir);
	catalog_free(&cat);
	return rc;
}

/* ---- removing a point (retention) --------------------------------------- */

/* Rebase the child's disk file onto new_base ("" = none) in qemu-img's safe
 * mode: clusters where the old and the new backing differ are copied into
 * the child first, and only then is its header switched, so the child reads
 * the same bytes before, during and after. */
static int
child_rebase(const char *path, const char *new_base, const char *ctx)
{
	char *argv_b[] = { "qemu-img", "rebase", "-q", "-f", "qcow2", "-b", (char *)new_base,
			   "-F", "qcow2", (char *)path, NULL };
	char *argv_n[] = { "qemu-img", "rebase", "-q", "-f", "qcow2", "-b", "", (char *)path,
			   NULL };

	if (run_tool(new_base[0] ? argv_b : argv_n, ctx) < 0)
		return -1;
	return fsync_path(path);
}

static int
unlink_logged(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT) {
		log_error("store: unlink %s: %m", path);
		return -1;
	}
	return 0;
}

int
store_point_remove(struct store *st, const char *group, uint64_t point,
		   store_remove_veto veto, void *arg)
{
	struct catalog cat = { 0 };
	struct store_point_info victim;
	struct store_point_info *child = NULL;
	char *gdir = NULL, *path = NULL, *dir = NULL;
	char ctx[PROTO_NAME_MAX * 2 + 64];
	size_t idx;
	int lock_fd = -1, rc = -1;

	gdir = group_dir(st, group);
	if (!gdir)
		goto out;
	lock_fd = group_lock(gdir, group);
	if (lock_fd < 0 || catalog_load(gdir, &cat) < 0)
		goto out;
	for (idx = 0; idx < cat.n && cat.pts[idx].id != point; idx++)
		;
	if (idx == cat.n) {
		log_error("store: group %s: no point %" PRIu64 " to remove", group, point);
		goto out;
	}
	if (idx == cat.n - 1) {
		log_error("store: group %s: point %" PRIu64 " is the newest and is never removed",
			  group, point);
		goto out;
	}
	victim = cat.pts[idx];
	if (cat.pts[idx + 1].base_id == point)
		child = &cat.pts[idx + 1];

	/* 1. data: the child absorbs what it read through the victim (a ceph
	 * snapshot holds its whole content: nothing to merge) */
	for (size_t i = 0; child && !st->ceph && i < child->ndisks; i++) {
		const char *disk = child->disks[i].name;
		char base_name[32] = "";

		if (info_disk(&victim, disk) < 0)
			continue; /* the child's disk was created without a backing file */
		/* The victim's disk file has a backing file exactly when its own
		 * base had that disk (see point_create_disk). */
		if (victim.base_id != 0) {
			const struct store_point_info *vb = catalog_find(&cat, victim.base_id);

			if (vb && info_disk(vb, disk) >= 0)
				snprintf(base_name, sizeof(base_name), "%" PRIu64 ".qcow2",
					 victim.base_id);
		}
		snprintf(ctx, sizeof(ctx), "store: group %s point %" PRIu64 " disk %s", group,
			 child->id, disk);
		free(path);
		path = path_fmt("%s/disks/%s/%" PRIu64 ".qcow2", gdir, disk, child->id);
		if (!path || child_rebase(path, base_name, ctx) < 0)
			goto out;
	}
	if (veto && veto(arg, point)) {
		log_info("store: group %s: point %" PRIu64 " is kept: it came into use", group,
			 point);
		rc = 1;
		goto out;
	}

	/* 2. the catalog: from now on the victim does not exist */
	if (child)
		child->base_id = victim.base_id;
	memmove(&cat.pts[idx], &cat.pts[idx + 1], (cat.n - idx - 1) * sizeof(*cat.pts));
	cat.n--;
	if (catalog_save(gdir, &cat) < 0)
		goto out;

	/* 3. its files; a failure here only leaves strays for later */
	for (size_t i = 0; st->ceph && i < victim.ndisks; i++) {
		char image[SRBD_NAME_MAX], snap[32];
		struct srbd *c = point_rbd(st, group, victim.disks[i].name, point, image, snap);

		if (!c || srbd_snap_remove(c, image, snap) < 0)
			log_warn("store: group %s: snapshot of removed point %" PRIu64
				 " is left as a stray", group, point);
	}
	for (size_t i = 0; !st->ceph && i < victim.ndisks; i++) {
		free(path);
		free(dir);
		dir = path_fmt("%s/disks/%s", gdir, victim.disks[i].name);
		path = path_fmt("%s/%" PRIu64 ".qcow2", dir ? dir : "", point);
		if (!dir || !path || unlink_logged(path) < 0 || dir_fsync(dir) < 0)
			log_warn("store: group %s: files of removed point %" PRIu64
				 " are left as strays", group, point);
	}
	free(path);
	free(dir);
	dir = path_fmt("%s/meta", gdir);
	path = path_fmt("%s/meta/%" PRIu64 ".bin", gdir, point);
	if (!dir || !path || unlink_logged(path) < 0 || dir_fsync(dir) < 0)
		log_warn("store: group %s: metadata of removed point %" PRIu64
			 " is left as a stray", group, point);
	log_info("store: group %s: removed point %" PRIu64 "%s", group, point,
		 child ? " (merged into its child)" : "");
	rc = 0;
out:
	if (lock_fd >= 0)
		close(lock_fd);
	catalog_free(&cat);
	free(gdir);
	free(path);
	free(dir);
	return rc;
}
