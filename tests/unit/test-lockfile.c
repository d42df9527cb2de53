/* Unit tests for common/lockfile: taken, refused as held from another open
 * file description (also in this process), released, taken again; the
 * blocking form waits for the holder; the probe; a directory; errors
 * logged once. */
#define _GNU_SOURCE
#include "common/fileutil.h"
#include "common/lockfile.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/capture.h"
#include "tests/unit/tmpdir.h"

TMPDIR_SUITE(lockfile, dir, "nestor-lockfile");

static void
lock_path(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
}

Test(lockfile, take_held_release_take)
{
	char path[128];
	struct stat sb;
	int a, b;

	lock_path(path, sizeof(path), "run.lock");
	cr_assert_eq(lockfile_held(path, "t"), 0, "never made: free");
	a = lockfile_take(path, 0640, false, "t");
	cr_assert_geq(a, 0);
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0640 & ~umask(umask(0)));
	cr_assert_eq(lockfile_held(path, "t"), 1);
	/* Another open of the same file, in this very process: refused. */
	errno = 0;
	b = lockfile_take(path, 0640, false, "t");
	cr_assert_eq(b, LOCKFILE_HELD);
	cr_assert_eq(errno, EWOULDBLOCK);
	lockfile_release(a);
	cr_assert_eq(lockfile_held(path, "t"), 0);
	b = lockfile_take(path, 0640, false, "t");
	cr_assert_geq(b, 0);
	cr_assert_eq(lockfile_held(path, "t"), 1);
	lockfile_release(b);
	lockfile_release(-1);
}

/* Held elsewhere is not an error: nothing logged. */
Test(lockfile, held_not_logged)
{
	char path[128], *log;
	int a, b;

	lock_path(path, sizeof(path), "g.lock");
	a = lockfile_take(path, 0600, false, "%s", "t");
	cr_assert_geq(a, 0);
	cap_start();
	b = lockfile_take(path, 0600, false, "group web");
	log = cap_stop();
	cr_assert_eq(b, LOCKFILE_HELD);
	cr_assert_str_empty(log, "%s", log);
	free(log);
	lockfile_release(a);
}

/* A blocking take waits for the holder (another process) to let go. */
Test(lockfile, blocking_waits)
{
	char path[128], c = 0;
	int a, p[2], status;
	pid_t pid;

	lock_path(path, sizeof(path), "chain.lock");
	a = lockfile_take(path, 0640, true, "t");
	cr_assert_geq(a, 0);
	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd;

		close(a); /* a fork shares our description: ours alone holds it */
		fd = lockfile_take(path, 0640, true, "child");

		_exit(fd >= 0 && write(p[1], "y", 1) == 1 ? 0 : 1);
	}
	close(p[1]);
	/* The child cannot have it while we hold it. */
	cr_assert_eq(lockfile_held(path, "t"), 1);
	lockfile_release(a);
	cr_assert_eq(read(p[0], &c, 1), 1, "the child never got the lock");
	cr_assert_eq(c, 'y');
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(p[0]);
	/* Its fd went with it: free again. */
	cr_assert_eq(lockfile_held(path, "t"), 0);
}

/* Mode 0: an existing directory, opened read-only. */
Test(lockfile, directory)
{
	int a = lockfile_take(dir, 0, true, "t"), b;

	cr_assert_geq(a, 0);
	b = lockfile_take(dir, 0, false, "t");
	cr_assert_eq(b, LOCKFILE_HELD);
	lockfile_release(a);
	b = lockfile_take(dir, 0, false, "t");
	cr_assert_geq(b, 0);
	lockfile_release(b);
}

/* Failures are -1, logged once with the context and the path. */
Test(lockfile, errors_logged_once)
{
	char path[128];
	int fd;

	lock_path(path, sizeof(path), "absent/x.lock");
	cap_start();
	fd = lockfile_take(path, 0640, true, "scrub");
	assert_logged_once(cap_stop(), "scrub: open /tmp/nestor-lockfile-");
	cr_assert_eq(fd, -1);

	/* Mode 0 never creates. */
	lock_path(path, sizeof(path), "none.lock");
	cap_start();
	fd = lockfile_take(path, 0, true, "t");
	assert_logged_once(cap_stop(), "none.lock: No such file or directory");
	cr_assert_eq(fd, -1);
	cr_assert_not(tmpdir_exists(dir, "none.lock"));

	/* A probe that cannot tell (a file where a directory should be): an
	 * error, not "free". */
	tmpdir_touch(dir, "file");
	lock_path(path, sizeof(path), "file/run.lock");
	cap_start();
	fd = lockfile_held(path, "group %s", "web");
	assert_logged_once(cap_stop(), "group web: open ");
	cr_assert_eq(fd, -1);
}
