/* Lock files taken with flock (lockfile.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/lockfile.h"
#include "common/log.h"

/* "CTX: OP PATH: <errno's text>", errno as the failure left it; fd (if
 * open) closed. Returns -1. */
static int __attribute__((format(printf, 4, 0)))
lockfile_fail(int fd, const char *op, const char *path, const char *ctxfmt, va_list ap)
{
	int err = errno;
	char ctx[256] = "";

	if (ctxfmt)
		vsnprintf(ctx, sizeof(ctx), ctxfmt, ap);
	errno = err;
	log_error("%s%s%s %s: %m", ctx, ctx[0] ? ": " : "", op, path);
	if (fd >= 0)
		close(fd);
	return -1;
}

int
lockfile_take(const char *path, mode_t mode, bool blocking, const char *ctxfmt, ...)
{
	int fd = mode ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode)
		      : open(path, O_RDONLY | O_CLOEXEC);
	va_list ap;
	int r = -1;

	while (fd >= 0 && (r = flock(fd, LOCK_EX | (blocking ? 0 : LOCK_NB))) < 0 &&
	       errno == EINTR)
		;
	if (r == 0)
		return fd;
	if (fd >= 0 && errno == EWOULDBLOCK && !blocking) {
		close(fd);
		errno = EWOULDBLOCK;
		return LOCKFILE_HELD;
	}
	va_start(ap, ctxfmt);
	r = lockfile_fail(fd, fd < 0 ? "open" : "flock", path, ctxfmt, ap);
	va_end(ap);
	return r;
}

void
lockfile_release(int fd)
{
	if (fd >= 0)
		close(fd);
}

int
lockfile_held(const char *path, const char *ctxfmt, ...)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = -1;
	va_list ap;

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd >= 0 && ((r = flock(fd, LOCK_SH | LOCK_NB)) == 0 || errno == EWOULDBLOCK)) {
		close(fd);
		return r == 0 ? 0 : 1;
	}
	va_start(ap, ctxfmt);
	r = lockfile_fail(fd, fd < 0 ? "open" : "flock", path, ctxfmt, ap);
	va_end(ap);
	return r;
}
