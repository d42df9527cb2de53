/* File helpers shared by the catalog, the replica store and the agent state:
 * everything durable goes through file_write_atomic. */
#include "common/fileutil.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One step of a full-I/O loop: n bytes done (> 0); 0 to retry after EINTR;
 * -1 with errno set. A call that moves no byte fails with eof_errno rather
 * than spinning: never expected from a regular file when writing, the end
 * of the file when reading. */
static ssize_t
io_step(ssize_t n, int eof_errno)
{
	if (n > 0)
		return n;
	if (n == 0) {
		errno = eof_errno;
		return -1;
	}
	return errno == EINTR ? 0 : -1;
}

int
fd_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = io_step(write(fd, p, len), EIO);

		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
fd_pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	if (off < 0 || len > (size_t)SSIZE_MAX) {
		errno = EINVAL;
		return -1;
	}
	while (len > 0) {
		ssize_t n = io_step(pread(fd, p, len, off), ENODATA);

		if (n < 0)
			return -1;
		if (__builtin_add_overflow(off, (off_t)n, &off)) {
			errno = EOVERFLOW;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
dir_fsync_quiet(const char *dir)
{
	int fd, rc;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	if (rc < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

int
dir_fsync(const char *dir)
{
	if (dir_fsync_quiet(dir) < 0) {
		log_error("%s: fsync directory: %m", dir);
		return -1;
	}
	return 0;
}

/* Directory part of path, malloc'd: "a/b" -> "a", "b" -> ".", "/b" -> "/". */
static char *
parent_dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* "path.tmp", malloc'd; NULL (errno ENOMEM) if out of memory. */
static char *
tmp_name(const char *path)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + sizeof(".tmp"));

	if (tmp != NULL) {
		memcpy(tmp, path, plen);
		memcpy(tmp + plen, ".tmp", sizeof(".tmp"));
	}
	return tmp;
}

/* Writes tmp with data and fsyncs it. On failure tmp is removed and *what
 * names the step (errno kept). No logging. 0 / -1. */
static int
tmp_write(const char *tmp, const void *data, size_t len, mode_t mode, const char **what)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	int saved;

	if (fd < 0) {
		*what = "create temporary file";
		return -1;
	}
	/* A stale tmp from a crash keeps its old mode through O_CREAT. */
	if (fchmod(fd, mode) < 0) {
		*what = "chmod temporary file";
	} else if (fd_write_all(fd, data, len) < 0) {
		*what = "write temporary file";
	} else if (fsync(fd) < 0) {
		*what = "fsync temporary file";
	} else {
		int r = close(fd);

		fd = -1; /* released even when close fails */
		if (r == 0)
			return 0;
		*what = "close temporary file";
	}
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

int
file_stage(const char *path, const void *data, size_t len, mode_t mode)
{
	const char *what = "allocate";
	char *tmp = tmp_name(path);
	int rc = tmp ? tmp_write(tmp, data, len, mode, &what) : -1;

	if (rc < 0)
		log_error("%s: staged write: %s: %m", path, what);
	free(tmp);
	return rc;
}

int
file_publish(const char *path)
{
	char *tmp = tmp_name(path);
	int rc = tmp ? rename(tmp, path) : -1;

	if (rc < 0)
		log_error("%s: rename of the staged file into place: %m", path);
	free(tmp);
	return rc;
}

void
file_unstage(const char *path)
{
	char *tmp = tmp_name(path);

	if (tmp != NULL && unlink(tmp) < 0 && errno != ENOENT)
		log_warn("%s: unlink: %m", tmp);
	free(tmp);
}

int
file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char *tmp = tmp_name(path), *dir = parent_dir(path);
	const char *what = "allocate";
	int rc = -1;

	if (tmp == NULL || dir == NULL)
		goto out;
	if (tmp_write(tmp, data, len, mode, &what) < 0)
		goto out;
	if (rename(tmp, path) < 0) {
		int saved = errno;

		what = "rename into place";
		unlink(tmp);
		errno = saved;
		goto out;
	}
	if (dir_fsync_quiet(dir) < 0) {
		what = "fsync directory";
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		log_error("%s: atomic write: %s: %m", path, what);
	free(tmp);
	free(dir);
	return rc;
}

int
mkdir_p(const char *path, mode_t mode)
{
	char *buf = NULL;
	struct stat st;
	int rc = -1;

	if (path == NULL || path[0] == '\0') {
		errno = EINVAL;
		log_error("mkdir_p: empty path");
		return -1;
	}
	buf = strdup(path);
	if (buf == NULL) {
		log_error("%s: mkdir: %m", path);
		goto out;
	}
	/* Walk each prefix ending before a '/', then the full path. */
	for (char *p = buf + 1;; p++) {
		char saved = *p;

		if (saved != '/' && saved != '\0')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST) {
			log_error("%s: mkdir: %m", buf);
			goto out;
		}
		if (stat(buf, &st) < 0) {
			log_error("%s: stat: %m", buf);
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			log_error("%s: exists and is not a directory", buf);
			goto out;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

/* The bounded read of file_read_all and file_read_regular from fd, which
 * it closes. */
static int
read_all_fd(int fd, const char *path, size_t max, void **data, size_t *len)
{
	char *buf = NULL;
	size_t cap, used = 0;
	int rc = -1;

	/* Read up to max + 1 bytes so an oversized file (or a pipe, where size
	 * is unknown in advance) is detected without trusting st_size. */
	if (max >= SIZE_MAX - 1) {
		errno = EINVAL;
		log_error("%s: read limit too large", path);
		goto out;
	}
	cap = max < 65536 ? max + 1 : 65536;
	buf = malloc(cap + 1);
	if (buf == NULL) {
		log_error("%s: read: %m", path);
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (used == cap) {
			size_t ncap;
			char *nbuf;

			if (cap == max + 1)
				break;
			ncap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
			nbuf = realloc(buf, ncap + 1);
			if (nbuf == NULL) {
				log_error("%s: read: %m", path);
				goto out;
			}
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + used, cap - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("%s: read: %m", path);
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	if (used > max) {
		errno = EFBIG;
		log_error("%s: file too large (more than %zu bytes)", path, max);
		goto out;
	}
	buf[used] = '\0';
	*data = buf;
	*len = used;
	buf = NULL;
	rc = 0;
out:
	close(fd);
	free(buf);
	return rc;
}

int
file_read_all(const char *path, size_t max, void **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		log_error("%s: %m", path);
		return -1;
	}
	return read_all_fd(fd, path, max, data, len);
}

int
file_read_regular(const char *path, size_t max, void **data, size_t *len)
{
	/* O_NONBLOCK: a FIFO put in the file's place must not hang the caller. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat sb;

	if (fd < 0) {
		log_error("%s: %m", path);
		return -1;
	}
	if (fstat(fd, &sb) < 0) {
		log_error("%s: %m", path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		log_error("%s: not a regular file", path);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return read_all_fd(fd, path, max, data, len);
}

void
file_id_of(const struct stat *sb, struct file_id *id)
{
	memset(id, 0, sizeof(*id));
	id->dev = sb->st_dev;
	id->ino = sb->st_ino;
	id->size = sb->st_size;
	id->mtime = sb->st_mtim;
	id->ctime = sb->st_ctim;
}

int
file_identity(const char *path, struct file_id *id)
{
	struct stat sb;

	memset(id, 0, sizeof(*id));
	if (stat(path, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		log_error("stat %s: %m", path);
		return -1;
	}
	file_id_of(&sb, id);
	return 1;
}

bool
file_id_same(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}
