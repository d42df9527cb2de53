/* Lock files taken with flock (lockfile.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/lockfile.h"
#include "common/log.h"

#define CTX(c) (c) ? (c) : "", (c) ? ": " : ""

int
lockfile_take(const char *path, mode_t mode, bool blocking, const char *ctx)
{
	int fd = mode ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode)
		      : open(path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0) {
		log_error("%s%sopen %s: %m", CTX(ctx), path);
		return -1;
	}
	while ((r = flock(fd, LOCK_EX | (blocking ? 0 : LOCK_NB))) < 0 && errno == EINTR)
		;
	if (r == 0)
		return fd;
	if (errno == EWOULDBLOCK && !blocking) {
		close(fd);
		errno = EWOULDBLOCK;
		return LOCKFILE_HELD;
	}
	log_error("%s%sflock %s: %m", CTX(ctx), path);
	close(fd);
	return -1;
}

void
lockfile_release(int fd)
{
	if (fd >= 0)
		close(fd);
}

int
lockfile_held(const char *path, const char *ctx)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r, err;

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		log_error("%s%sopen %s: %m", CTX(ctx), path);
		return -1;
	}
	r = flock(fd, LOCK_SH | LOCK_NB);
	err = errno;
	if (r < 0 && err != EWOULDBLOCK)
		log_error("%s%sflock %s: %m", CTX(ctx), path);
	close(fd);
	return r == 0 ? 0 : err == EWOULDBLOCK ? 1 : -1;
}
