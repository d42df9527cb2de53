/* Unit tests for common/netns and spawn_set_netns: work done in another
 * network namespace by a child (a namespace of a sleeping child of the
 * test's), the caller's own namespace never changed, and a descriptor that
 * is not a namespace refused with one message. */
#define _GNU_SOURCE
#include "common/fileutil.h"
#include "common/netns.h"
#include "common/spawn.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/capture.h"

static pid_t holder = -1;

static ino_t
ns_ino(const char *path)
{
	struct stat sb;

	cr_assert_eq(stat(path, &sb), 0, "%s: %s", path, strerror(errno));
	return sb.st_ino;
}

/* A namespace of its own, held by a sleeping child: its fd (skips the
 * test without the privilege to make one). */
static int
other_ns(void)
{
	int p[2], fd;
	char c = 0, path[64];

	cr_assert_eq(pipe(p), 0);
	holder = fork();
	cr_assert(holder >= 0);
	if (holder == 0) {
		c = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
		(void)!write(p[1], &c, 1);
		pause();
		_exit(0);
	}
	close(p[1]);
	cr_assert_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	if (c != 'y')
		cr_skip_test("cannot make a network namespace (needs CAP_SYS_ADMIN)");
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)holder);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(fd >= 0);
	return fd;
}

static void
holder_end(void)
{
	if (holder > 0) {
		kill(holder, SIGKILL);
		waitpid(holder, NULL, 0);
		holder = -1;
	}
}

TestSuite(netns, .fini = holder_end);

/* 7 in the namespace whose inode is *arg, 3 elsewhere */
static int
in_ns(void *arg)
{
	struct stat sb;

	return stat("/proc/self/ns/net", &sb) == 0 && sb.st_ino == *(ino_t *)arg ? 7 : 3;
}

Test(netns, call_runs_in_the_namespace_not_here)
{
	ino_t mine = ns_ino("/proc/self/ns/net");
	int fd = other_ns();
	char path[64];
	ino_t theirs;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)holder);
	theirs = ns_ino(path);
	cr_assert_neq(mine, theirs);
	cr_assert_eq(netns_call(fd, in_ns, &theirs, 5000, "t"), 7);
	cr_assert_eq(netns_call(fd, in_ns, &mine, 5000, "t"), 3);
	cr_assert_eq(ns_ino("/proc/self/ns/net"), mine, "the caller changed namespace");
	close(fd);
}

Test(netns, spawn_runs_the_command_in_the_namespace)
{
	ino_t mine = ns_ino("/proc/self/ns/net");
	int fd = other_ns(), st = -1;
	const char *args[] = { "-c", "stat -L -c %i /proc/self/ns/net; exit 5", NULL };
	struct spawn *sp = spawn_new_argv("sh", args);
	char path[64], want[32];

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)holder);
	snprintf(want, sizeof(want), "%lu\n", (unsigned long)ns_ino(path));
	spawn_set_stdout(sp, SPAWN_IO_CAPTURE, 0);
	spawn_set_netns(sp, fd);
	cr_assert_eq(spawn_run(sp, &st), 0);
	cr_assert_eq(st, 5, "exit status %d", st);
	cr_assert_str_eq(spawn_stdout(sp), want);
	cr_assert_eq(ns_ino("/proc/self/ns/net"), mine);
	spawn_free(sp);
	close(fd);
}

Test(netns, not_a_namespace_is_refused_once)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ino_t any = 0;
	struct spawn *sp = spawn_new("true");
	char *log;

	cr_assert(fd >= 0);
	cap_start();
	cr_assert_eq(netns_call(fd, in_ns, &any, 5000, "drill t"), -1);
	log = cap_stop();
	assert_logged(log, "drill t: cannot join the network namespace");
	cr_assert_eq(count_lines(log), 1, "%s", log);
	free(log);

	spawn_set_netns(sp, fd);
	spawn_set_name(sp, "script true");
	cap_start();
	cr_assert_eq(spawn_run(sp, NULL), -1);
	log = cap_stop();
	assert_logged(log, "cannot run script true: Invalid argument");
	cr_assert_eq(count_lines(log), 1, "%s", log);
	free(log);
	spawn_free(sp);
	close(fd);
}

static int
forever(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return 0;
}

Test(netns, call_is_bounded)
{
	int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	char *log;

	cr_assert(fd >= 0);
	cap_start();
	cr_assert_eq(netns_call(fd, forever, NULL, 200, "t"), -1);
	log = cap_stop();
	assert_logged(log, "t: the namespace's child still ran after 200 ms: killed");
	free(log);
	close(fd);
}

Test(netns, open_checks_the_name)
{
	char *log;

	cap_start();
	cr_assert_eq(netns_open("../../proc/self/ns/net", "t"), -1);
	cr_assert_eq(netns_open("..", "t"), -1);
	cr_assert_eq(netns_open("", "t"), -1);
	cr_assert_eq(netns_open("nestor-no-such-namespace", "t"), -1);
	log = cap_stop();
	assert_logged(log, "t: network namespace '..': not a namespace name");
	assert_logged(log, "t: network namespace nestor-no-such-namespace: No such file");
	cr_assert_eq(count_lines(log), 4, "%s", log);
	free(log);
}
