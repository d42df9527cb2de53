/* Serial console of a drilled guest: marker search in the log file written
 * by virtlogd, one-line commands over QEMU's console socket. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "failover/console.h"

#define CONSOLE_READ_MAX (16u << 20)
/* everything a check command may print before its DONE line */
#define CONSOLE_STREAM_MAX (1u << 20)
#define DONE_TAG "NESTOR-DONE "

/* Read log[from..] (at most the last CONSOLE_READ_MAX bytes), NUL-terminated.
 * 1 = no file, 0 = ok, -1 = error (logged). */
static int
read_from(const char *log, off_t from, char **buf, size_t *len)
{
	struct stat sb;
	int fd = open(log, O_RDONLY | O_CLOEXEC), rc = -1;
	size_t n;

	*buf = NULL;
	*len = 0;
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		log_error("console log %s: %m", log);
		return -1;
	}
	if (fstat(fd, &sb) < 0) {
		log_error("console log %s: %m", log);
		goto out;
	}
	if (from < 0 || sb.st_size <= from) {
		rc = 0;
		if (!(*buf = strdup("")))
			rc = -1;
		goto out;
	}
	if (sb.st_size - from > (off_t)CONSOLE_READ_MAX)
		from = sb.st_size - CONSOLE_READ_MAX;
	n = (size_t)(sb.st_size - from);
	*buf = malloc(n + 1);
	if (!*buf) {
		log_error("console log %s: out of memory", log);
		goto out;
	}
	/* the log may be rotated or truncated by virtlogd meanwhile: read what
	 * is there */
	ssize_t got = pread(fd, *buf, n, from);
	if (got < 0) {
		log_error("console log %s: read: %m", log);
		free(*buf);
		*buf = NULL;
		goto out;
	}
	(*buf)[got] = '\0';
	*len = (size_t)got;
	rc = 0;
out:
	close(fd);
	return rc;
}

int
console_has(const char *log, off_t from, const char *marker)
{
	char *buf = NULL;
	size_t len = 0;
	int r = read_from(log, from, &buf, &len);

	if (r == 0)
		r = memmem(buf, len, marker, strlen(marker)) ? 1 : 0;
	else if (r == 1)
		r = 0;
	free(buf);
	return r;
}

int
console_wait(const char *log, off_t from, const char *marker, unsigned timeout_s,
	     bool (*going)(void *arg, const char **why), void *arg, const char **why)
{
	double start = clock_mono_s();

	for (;;) {
		int r = console_has(log, from, marker);

		if (r != 0)
			return r;
		if (going && !going(arg, why))
			return 0;
		if (clock_mono_s() - start >= timeout_s) {
			*why = "no boot marker on the console within the timeout";
			return 0;
		}
		clock_nap_ms(100);
	}
}

off_t
console_size(const char *log)
{
	struct stat sb;

	return stat(log, &sb) == 0 ? sb.st_size : 0;
}

static void
drop_cr(char *s, size_t *len)
{
	size_t j = 0;

	for (size_t i = 0; i < *len; i++)
		if (s[i] != '\r')
			s[j++] = s[i];
	s[j] = '\0';
	*len = j;
}

char *
console_tail(const char *log, size_t max)
{
	off_t size = console_size(log);
	char *buf = NULL;
	size_t len = 0;

	if (read_from(log, size > (off_t)max ? size - (off_t)max : 0, &buf, &len) != 0)
		return NULL;
	drop_cr(buf, &len);
	return buf;
}

static int64_t
now_ms(void)
{
	return (int64_t)(clock_mono_ns() / 1000000u);
}

/* Find "NESTOR-DONE <int>" followed by a line end in buf; the guest does not
 * always start it on a fresh line. Returns its offset or -1; *rc parsed. */
static long
find_done(const char *buf, size_t len, int *rc)
{
	const char *p = buf, *end = buf + len;

	while ((p = memmem(p, (size_t)(end - p), DONE_TAG, strlen(DONE_TAG))) != NULL) {
		const char *q = p + strlen(DONE_TAG);
		bool neg = false;
		long v = 0;
		int digits = 0;

		if (q < end && *q == '-') {
			neg = true;
			q++;
		}
		while (q < end && *q >= '0' && *q <= '9' && digits < 6) {
			v = v * 10 + (*q - '0');
			q++;
			digits++;
		}
		if (digits > 0 && q < end && (*q == '\r' || *q == '\n')) {
			*rc = (int)(neg ? -v : v);
			return (long)(p - buf);
		}
		if (digits > 0 && q == end)
			return -1; /* line end not in yet */
		p++;
	}
	return -1;
}

int
console_exec(const char *sock, const char *cmd, int timeout_ms, char **output, int *rc)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *buf = NULL, *line = NULL;
	size_t len = 0, cmdlen = strlen(cmd);
	int64_t deadline = now_ms() + timeout_ms;
	int fd = -1, ret = -1;
	long at = -1;

	*output = NULL;
	*rc = -1;
	if (strchr(cmd, '\n') || strchr(cmd, '\r')) {
		log_error("console %s: the check command must be one line", sock);
		return -1;
	}
	if (strlen(sock) >= sizeof(sa.sun_path)) {
		log_error("console %s: socket path too long", sock);
		return -1;
	}
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	buf = malloc(CONSOLE_STREAM_MAX + 1);
	line = malloc(cmdlen + 2);
	if (!buf || !line) {
		log_error("console %s: out of memory", sock);
		goto out;
	}
	memcpy(line, cmd, cmdlen);
	line[cmdlen] = '\n';
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_error("console %s: connect: %m", sock);
		goto out;
	}
	for (size_t sent = 0; sent < cmdlen + 1;) {
		ssize_t w = send(fd, line + sent, cmdlen + 1 - sent, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			log_error("console %s: send: %m", sock);
			goto out;
		}
		sent += (size_t)w;
	}
	/* The socket carries all guest output from now on; we drain it (an
	 * unread client would stall QEMU's writes) and look for the answer. */
	while (at < 0) {
		int64_t left = deadline - now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;
		int pr;

		if (left <= 0) {
			log_error("console %s: no answer to '%s' within %d s", sock, cmd,
				  timeout_ms / 1000);
			goto partial;
		}
		pr = poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			log_error("console %s: poll: %m", sock);
			goto partial;
		}
		if (pr == 0)
			continue;
		if (len == CONSOLE_STREAM_MAX) {
			log_error("console %s: more than %u bytes of output from '%s'", sock,
				  CONSOLE_STREAM_MAX, cmd);
			goto partial;
		}
		r = recv(fd, buf + len, CONSOLE_STREAM_MAX - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			log_error("console %s: connection closed before the answer to '%s'%s%s",
				  sock, cmd, r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
			goto partial;
		}
		len += (size_t)r;
		at = find_done(buf, len, rc);
	}
	len = (size_t)at;
	ret = 0;
partial:
	if (len > CONSOLE_OUTPUT_MAX)
		len = CONSOLE_OUTPUT_MAX;
	buf[len] = '\0';
	drop_cr(buf, &len);
	*output = buf;
	buf = NULL;
out:
	if (fd >= 0)
		close(fd);
	free(line);
	free(buf);
	return ret;
}
