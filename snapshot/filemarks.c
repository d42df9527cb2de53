/* Change markers of an image file or block device (snapshot/filemarks.h).
 * mtime and ctime are stamped from the kernel's coarse clock: a write in
 * the same tick as the previous one leaves them unchanged, hence the settle
 * step before a read begins. */
#define _GNU_SOURCE
#include "snapshot/filemarks.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define SETTLE_TRIES 5

static uint64_t
ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

int
filemarks_parse_blkstat(const char *text, uint64_t *wr_sectors, uint64_t *discard_sectors)
{
	uint64_t f[15] = { 0 };
	const char *p = text;
	int n = 0;

	while (n < 15) {
		char *end;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			break;
		errno = 0;
		f[n] = strtoull(p, &end, 10);
		if (errno || end == p)
			return -1;
		p = end;
		n++;
	}
	if (n < 11)
		return -1;
	*wr_sectors = f[6];
	*discard_sectors = n >= 14 ? f[13] : 0;
	return 0;
}

static int
filemarks_blk(const char *path, struct filemarks *m, const char *what)
{
	char sys[64], text[512];
	ssize_t n;
	int fd;

	/* Writes still in the shared page cache of the device are not counted
	 * until written back: push them out first. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		log_error("%s: %s: cannot flush the device: %m", what, path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/stat", major((dev_t)m->rdev),
		 minor((dev_t)m->rdev));
	fd = open(sys, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_error("%s: %s: %s: %m", what, path, sys);
		return -1;
	}
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0) {
		log_error("%s: %s: %s: %m", what, path, sys);
		return -1;
	}
	text[n] = '\0';
	if (filemarks_parse_blkstat(text, &m->wr_sectors, &m->discard_sectors) < 0) {
		log_error("%s: %s: %s: unexpected format", what, path, sys);
		return -1;
	}
	return 0;
}

static int
filemarks_once(const char *path, struct filemarks *m, const char *what)
{
	struct stat st;

	memset(m, 0, sizeof(*m));
	if (stat(path, &st) < 0) {
		log_error("%s: %s: %m", what, path);
		return -1;
	}
	m->dev = (uint64_t)st.st_dev;
	m->ino = (uint64_t)st.st_ino;
	m->rdev = (uint64_t)st.st_rdev;
	m->size = (uint64_t)st.st_size;
	m->mtime_ns = ts_ns(&st.st_mtim);
	m->ctime_ns = ts_ns(&st.st_ctim);
	m->blk = S_ISBLK(st.st_mode);
	return m->blk ? filemarks_blk(path, m, what) : 0;
}

int
filemarks_take(const char *path, bool settle, struct filemarks *m, const char *what)
{
	for (int i = 0;; i++) {
		struct timespec now, res;
		uint64_t last;

		if (filemarks_once(path, m, what) < 0)
			return -1;
		if (!settle || i == SETTLE_TRIES ||
		    clock_gettime(CLOCK_REALTIME_COARSE, &now) < 0 ||
		    clock_getres(CLOCK_REALTIME_COARSE, &res) < 0)
			return 0;
		last = m->mtime_ns > m->ctime_ns ? m->mtime_ns : m->ctime_ns;
		if (last < ts_ns(&now))
			return 0; /* the next write gets a later stamp */
		/* Changed in this very tick: wait for the next one. */
		res.tv_nsec += 1000000;
		nanosleep(&res, NULL);
	}
}

bool
filemarks_same(const struct filemarks *a, const struct filemarks *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->rdev == b->rdev &&
	       a->size == b->size && a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns &&
	       a->blk == b->blk && a->wr_sectors == b->wr_sectors &&
	       a->discard_sectors == b->discard_sectors;
}
