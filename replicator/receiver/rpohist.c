/* The dashboard's RPO history (replicator/receiver/rpohist.h). Fixed-size
 * records appended with O_APPEND: a crash leaves at most a torn last
 * record, which readers ignore and the next writer cuts. */
#define _GNU_SOURCE /* asprintf */
#include "replicator/receiver/rpohist.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"

#define HIST_DIR ".rpo-history"

char *
rpohist_path(const char *store_dir, const char *group)
{
	char *p = NULL;

	if (asprintf(&p, "%s/" HIST_DIR "/%s", store_dir, group) < 0) {
		log_error("rpo history of %s: out of memory", group);
		return NULL;
	}
	return p;
}

/* The directory of path (made if missing, and durable). */
static int
ensure_dir(const char *path)
{
	char *copy = strdup(path), *dir, *parent = NULL;
	struct stat sb;
	int rc = -1;

	if (!copy) {
		log_error("%s: out of memory", path);
		return -1;
	}
	dir = dirname(copy);
	if (stat(dir, &sb) == 0) {
		rc = 0;
		goto out;
	}
	if (mkdir_p(dir, 0750) < 0)
		goto out;
	parent = strdup(dir);
	if (!parent) {
		log_error("%s: out of memory", path);
		goto out;
	}
	rc = dir_fsync(dirname(parent));
out:
	free(parent);
	free(copy);
	return rc;
}

/* Keep the newest records that fit in half of max_bytes, then r, as the
 * whole new file. */
static int
compact(const char *path, int fd, uint64_t size, const struct rpohist_rec *r,
	uint64_t max_bytes)
{
	uint64_t keep = (max_bytes / 2) / RPOHIST_REC_SIZE * RPOHIST_REC_SIZE;
	char *buf = NULL;
	int rc = -1;

	if (keep > size)
		keep = size;
	buf = malloc(keep + RPOHIST_REC_SIZE);
	if (!buf) {
		log_error("rpo history %s: out of memory", path);
		goto out;
	}
	if (keep && fd_pread_all(fd, buf, keep, (off_t)(size - keep)) < 0) {
		log_error("rpo history %s: read: %m", path);
		goto out;
	}
	memcpy(buf + keep, r, RPOHIST_REC_SIZE);
	rc = file_write_atomic(path, buf, keep + RPOHIST_REC_SIZE, 0640);
out:
	free(buf);
	return rc;
}

int
rpohist_append(const char *path, const struct rpohist_rec *r, uint64_t max_bytes)
{
	struct stat sb;
	uint64_t size;
	bool created;
	int fd = -1, rc = -1;

	_Static_assert(sizeof(*r) == RPOHIST_REC_SIZE, "record layout");
	if (max_bytes < RPOHIST_MIN_BYTES)
		max_bytes = RPOHIST_MIN_BYTES;
	if (ensure_dir(path) < 0)
		return -1;
	fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	created = fd < 0 && errno == ENOENT;
	if (created)
		fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		log_error("rpo history %s: %m", path);
		goto out;
	}
	size = (uint64_t)sb.st_size;
	/* A torn record from a crash is cut before anything follows it. */
	if (size % RPOHIST_REC_SIZE) {
		size -= size % RPOHIST_REC_SIZE;
		if (ftruncate(fd, (off_t)size) < 0) {
			log_error("rpo history %s: truncate: %m", path);
			goto out;
		}
	}
	if (size + RPOHIST_REC_SIZE > max_bytes) {
		rc = compact(path, fd, size, r, max_bytes);
		goto out;
	}
	if (fd_write_all(fd, r, RPOHIST_REC_SIZE) < 0 || fdatasync(fd) < 0) {
		log_error("rpo history %s: append: %m", path);
		goto out;
	}
	if (created) {
		char *copy = strdup(path);

		rc = copy ? dir_fsync(dirname(copy)) : -1;
		free(copy);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int
rpohist_read(const char *path, uint64_t max_bytes, uint64_t since_ns,
	     struct rpohist_rec **out, size_t *n)
{
	struct rpohist_rec *v = NULL;
	struct stat sb;
	size_t cnt, k = 0;
	int fd, rc = -1;

	*out = NULL;
	*n = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		log_error("rpo history %s: %m", path);
		return -1;
	}
	if (fstat(fd, &sb) < 0) {
		log_error("rpo history %s: %m", path);
		goto out;
	}
	/* Only the newest max_bytes: the writer's bound, or a smaller one. */
	cnt = (size_t)((uint64_t)sb.st_size < max_bytes ? (uint64_t)sb.st_size : max_bytes) /
	      RPOHIST_REC_SIZE;
	if (cnt) {
		size_t first = (size_t)((uint64_t)sb.st_size / RPOHIST_REC_SIZE) - cnt;

		v = malloc(cnt * RPOHIST_REC_SIZE);
		if (!v) {
			log_error("rpo history %s: out of memory", path);
			goto out;
		}
		if (fd_pread_all(fd, v, cnt * RPOHIST_REC_SIZE,
				 (off_t)(first * RPOHIST_REC_SIZE)) < 0) {
			log_error("rpo history %s: read: %m", path);
			goto out;
		}
		for (size_t i = 0; i < cnt; i++)
			if (v[i].at_ns >= since_ns)
				v[k++] = v[i];
	}
	*out = v;
	*n = k;
	v = NULL;
	rc = 0;
out:
	free(v);
	close(fd);
	return rc;
}

size_t
rpohist_downsample(const struct rpohist_rec *in, size_t n, uint64_t from_ns, uint64_t to_ns,
		   size_t buckets, struct rpohist_rec *out)
{
	uint64_t span = to_ns > from_ns ? to_ns - from_ns : 1;
	size_t k = 0, cur = SIZE_MAX;

	if (n <= buckets) {
		memcpy(out, in, n * sizeof(*in));
		return n;
	}
	for (size_t i = 0; i < n; i++) {
		size_t b;

		if (in[i].at_ns < from_ns || in[i].at_ns >= to_ns)
			continue;
		/* (at - from) * buckets / span without overflow: span < 2^63. */
		b = (size_t)((unsigned __int128)(in[i].at_ns - from_ns) * buckets / span);
		if (b != cur) {
			if (k == buckets)
				break;
			out[k++] = in[i];
			cur = b;
		} else if (in[i].peak_ns > out[k - 1].peak_ns) {
			out[k - 1] = in[i];
		}
	}
	return k;
}
