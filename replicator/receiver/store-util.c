/* Small helpers of the store and its backends (store-backend.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/hash.h"
#include "common/lockfile.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "common/names.h"
#include "replicator/receiver/store-backend.h"
#include "replicator/receiver/wbudget.h"

/* ---- helpers shared with the backends -------------------------------------- */

bool
store_name_ok(const char *s)
{
	/* NUL-terminated here, so a name longer than the limit is caught by
	 * strnlen. */
	return name_valid(s, strnlen(s, NAME_MAX_LEN + 1));
}

const char *
store_ctx(char *buf, size_t cap, const struct store_where *w, const char *disk)
{
	snprintf(buf, cap, "store: group %s point %" PRIu64 " disk %s", w->group, w->point,
		 disk);
	return buf;
}

int
store_fsync_path(const char *path)
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

/* Directories whose names this process made durable (the parent fsynced
 * after they existed): a fact about the kernel's state, so process-wide.
 * Each begin would otherwise fsync the parents of the group's directories
 * again, five device cache flushes per point (issue 17). A directory that
 * was removed and made again is another inode, and looked at afresh. */
#define DURABLE_DIRS 64

struct durable_dir {
	dev_t dev;
	ino_t ino;
	uint64_t path_hash;
};

static struct {
	pthread_mutex_t mu;
	struct durable_dir d[DURABLE_DIRS];
	size_t n, next;
} durable_dirs = { .mu = PTHREAD_MUTEX_INITIALIZER };

static uint64_t
path_hash(const char *path)
{
	return hash64(path, strlen(path));
}

static bool
durable_dir_known(const struct stat *sb, uint64_t h)
{
	bool found = false;

	pthread_mutex_lock(&durable_dirs.mu);
	for (size_t i = 0; i < durable_dirs.n && !found; i++)
		found = durable_dirs.d[i].dev == sb->st_dev && durable_dirs.d[i].ino == sb->st_ino &&
			durable_dirs.d[i].path_hash == h;
	pthread_mutex_unlock(&durable_dirs.mu);
	return found;
}

static void
durable_dir_add(const struct stat *sb, uint64_t h)
{
	pthread_mutex_lock(&durable_dirs.mu);
	durable_dirs.d[durable_dirs.next] = (struct durable_dir){ sb->st_dev, sb->st_ino, h };
	durable_dirs.next = (durable_dirs.next + 1) % DURABLE_DIRS;
	if (durable_dirs.n < DURABLE_DIRS)
		durable_dirs.n++;
	pthread_mutex_unlock(&durable_dirs.mu);
}

int
store_mkdir_durable(const char *path)
{
	struct stat sb;
	char *parent = NULL;
	char *slash;
	bool existed = false;
	uint64_t h = path_hash(path);
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
		/* Its name may not be durable yet: a receiver killed between
		 * the mkdir and the fsync below, or a hand-made directory. A
		 * power cut then took the group's acknowledged points with it
		 * (tests/integration/test-power-loss.sh, issue 13): fsync the
		 * parent anyway, unless this process did so already. Only
		 * directories that existed are remembered: the new ones are a
		 * point's, used once. */
		if (durable_dir_known(&sb, h))
			return 0;
		existed = true;
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
	if (existed)
		durable_dir_add(&sb, h);
	rc = 0;
out:
	free(parent);
	return rc;
}

int
store_unlink(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT) {
		log_error("store: unlink %s: %m", path);
		return -1;
	}
	return 0;
}

int
store_unlink_id(const char *dir, uint64_t id, const char *suffix)
{
	char *path = dir ? strfmt("%s/%" PRIu64 "%s", dir, id, suffix) : NULL;
	int rc = -1;

	if (path && store_unlink(path) == 0 && dir_fsync(dir) == 0)
		rc = 0;
	free(path);
	return rc;
}

uint64_t
store_file_id(const char *name, const char *suffix)
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

char *
store_group_dir(struct store *st, const char *group)
{
	if (!store_name_ok(group)) {
		log_error("store: refusing group name \"%.*s\"", STORE_NAME_MAX, group);
		return NULL;
	}
	return strfmt("%s/%s", st->root, group);
}


/* One writer per group (also within this process: flock is per open file). */
int
store_group_lock(const char *gdir, const char *group)
{
	char *path = strfmt("%s/lock", gdir);
	int fd = path ? lockfile_take(path, 0640, false, "store: group %s", group) : -1;

	if (fd == LOCKFILE_HELD) {
		log_error("store: group %s: another session is writing it", group);
		fd = -1;
	}
	free(path);
	return fd;
}

int
store_hold(struct store *st, const char *group, bool absent_ok, struct store_held *h)
{
	struct stat sb;

	h->gdir = NULL;
	h->lock_fd = -1;
	memset(&h->cat, 0, sizeof(h->cat));
	if (!(h->gdir = store_group_dir(st, group)))
		return -1;
	/* an absent group is not created by locking it */
	if (absent_ok && stat(h->gdir, &sb) < 0 && errno == ENOENT)
		return 1;
	h->lock_fd = store_group_lock(h->gdir, group);
	if (h->lock_fd < 0 || catalog_load(h->gdir, &h->cat) < 0)
		return -1;
	return 0;
}

void
store_release(struct store_held *h)
{
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	h->lock_fd = -1;
	catalog_free(&h->cat);
	free(h->gdir);
	h->gdir = NULL;
}

/* ---- errors and rules -------------------------------------------------------- */

const char *
store_strerror(int err)
{
	switch (err) {
	case STORE_OK: return "success";
	case STORE_ERR_INVALID: return "malformed request or out of sequence";
	case STORE_ERR_IO: return "storage failure";
	case STORE_ERR_CONFLICT: return "conflicts with the group's state";
	case STORE_ERR_NOTFOUND: return "no such point or disk";
	case STORE_ERR_SEQUENCE: return "point id out of sequence";
	case STORE_ERR_FUTURE:
		return "snapshot time ahead of the receiver's clock by more than max_clock_skew";
	case STORE_ERR_PAST: return "snapshot time not after the newest point's";
	default: return "internal error";
	}
}

void
store_set_rules(struct store *st, store_rules_fn fn, const void *arg)
{
	st->rules = fn;
	st->rules_arg = arg;
}

void
store_group_rules(const struct store *st, const char *group, struct store_rules *out)
{
	out->max_skew_ns = STORE_DEFAULT_SKEW_NS;
	out->immutable_ns = 0;
	if (st->rules)
		st->rules(st->rules_arg, group, out);
}

/* meta/<id>.bin and its temp files of points neither in cat nor keep_id. */
int
store_remove_stray_meta(const char *gdir, const struct catalog *cat, uint64_t keep_id)
{
	char *path = strfmt("%s/meta", gdir);
	DIR *sub = NULL;
	struct dirent *fe;
	int rc = -1;

	if (!path)
		return -1;
	sub = opendir(path);
	if (!sub && errno != ENOENT) {
		log_error("store: opendir %s: %m", path);
		goto out;
	}
	while (sub && (fe = readdir(sub)) != NULL) {
		uint64_t id = store_file_id(fe->d_name, ".bin");
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
	rc = 0;
out:
	if (sub)
		closedir(sub);
	free(path);
	return rc;
}

int
store_set_write_buffers(struct store *st, uint64_t total)
{
	st->wbufs = wbudget_new(total);
	return st->wbufs ? 0 : -1;
}
