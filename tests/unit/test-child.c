/* Unit tests for common/childrec (the record format, /proc/PID/stat, the
 * verdict on a record) and common/child (socket activation, death with
 * the parent, orphans ended at the next start, never a live parent's). */
#define _GNU_SOURCE
#include "common/child.h"
#include "common/childrec.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/tmpdir.h"

#define BOOT "0b3c2a4e-5f60-4718-92a3-b4c5d6e7f809"

static const struct childrec rec = {
	.boot_id = BOOT, .pid = 4242, .start = 987654, .ppid = 17, .pstart = 1234,
};

Test(childrec, format_parse_round_trip)
{
	char text[CHILDREC_TEXT_MAX];
	struct childrec r;

	cr_assert_eq(childrec_format(&rec, text, sizeof(text)), 0);
	cr_assert_str_eq(text, "nestor-child 1 boot=" BOOT
			 " pid=4242 start=987654 ppid=17 pstart=1234\n");
	cr_assert_eq(childrec_parse(text, &r), 0);
	cr_assert_str_eq(r.boot_id, BOOT);
	cr_assert(r.pid == 4242 && r.start == 987654 && r.ppid == 17 && r.pstart == 1234);
	text[strlen(text) - 1] = '\0'; /* the newline is optional */
	cr_assert_eq(childrec_parse(text, &r), 0);
	cr_assert_eq(childrec_format(&rec, text, 40), -1, "a short buffer is refused");
}

Test(childrec, parse_refuses_everything_else)
{
	static const char *const bad[] = {
		"",
		"nestor-child 1",
		"nestor-child 2 boot=" BOOT " pid=1 start=1 ppid=1 pstart=1",
		"nestor-child 1 boot=" BOOT " pid=1 start=1 ppid=1",
		"nestor-child 1 boot=" BOOT " pid=1 start=1 ppid=1 pstart=1 more=1",
		"nestor-child 1 boot=" BOOT " pid=0 start=1 ppid=1 pstart=1",
		"nestor-child 1 boot=" BOOT " pid=-5 start=1 ppid=1 pstart=1",
		"nestor-child 1 boot=" BOOT " pid=99999999999 start=1 ppid=1 pstart=1",
		"nestor-child 1 boot=" BOOT " pid=1 start=x ppid=1 pstart=1",
		"nestor-child 1 boot=" BOOT " ppid=1 pid=1 start=1 pstart=1",
		"nestor-child 1 boot=" BOOT "  pid=1 start=1 ppid=1 pstart=1",
		"nestor-child 1 boot=0B3C2A4E-5F60-4718-92A3-B4C5D6E7F809 pid=1 start=1 ppid=1 pstart=1",
		"nestor-child 1 boot=not-a-uuid pid=1 start=1 ppid=1 pstart=1",
		"nestor-child 1 boot=" BOOT " pid=1 start=1 ppid=1 pstart=1\n\n",
	};
	struct childrec r = rec;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(childrec_parse(bad[i], &r), -1, "accepted: \"%s\"", bad[i]);
		cr_expect_eq(r.pid, 4242, "changed by a refused record");
	}
}

Test(childrec, stat_start_with_a_hostile_name)
{
	uint64_t start = 0;
	/* Field 22 is the start time; the name may hold ") " and spaces. */
	const char *stat = "77 (a) b (c) d) S 1 77 77 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
			   "55501 1000 10 18446744073709551615\n";

	cr_assert_eq(childrec_stat_start(stat, &start), 0);
	cr_assert_eq(start, 55501);
	cr_assert_eq(childrec_stat_start("77 (x) S 1 2 3", &start), -1, "too few fields");
	cr_assert_eq(childrec_stat_start("77 x S 1", &start), -1, "no name");
}

Test(childrec, proc_start_of_ourselves_and_of_nobody)
{
	uint64_t a = 0, b = 0;
	char boot[CHILDREC_BOOT_ID_MAX + 1];

	cr_assert_eq(childrec_proc_start(getpid(), &a), 1);
	cr_assert_eq(childrec_proc_start(getpid(), &b), 1);
	cr_assert(a > 0 && a == b);
	cr_assert_eq(childrec_proc_start(INT32_MAX, &a), 0, "no such process");
	cr_assert_eq(childrec_boot_id(boot), 0);
	cr_assert_eq(strlen(boot), CHILDREC_BOOT_ID_MAX);
}

Test(childrec, verdict)
{
	/* the child, as recorded, whose parent is gone or another process now */
	cr_assert_eq(childrec_judge(&rec, BOOT, 1, 987654, 0, 0), CHILDREC_ORPHAN);
	cr_assert_eq(childrec_judge(&rec, BOOT, 1, 987654, 1, 999), CHILDREC_ORPHAN);
	/* its parent runs: not ours */
	cr_assert_eq(childrec_judge(&rec, BOOT, 1, 987654, 1, 1234), CHILDREC_KEEP);
	/* the pid runs but is another process: never touched */
	cr_assert_eq(childrec_judge(&rec, BOOT, 1, 987655, 0, 0), CHILDREC_STALE);
	cr_assert_eq(childrec_judge(&rec, BOOT, 0, 0, 0, 0), CHILDREC_STALE);
	cr_assert_eq(childrec_judge(&rec, BOOT, -1, 0, 0, 0), CHILDREC_STALE);
	/* another boot: every pid is another process */
	cr_assert_eq(childrec_judge(&rec, "ffffffff-5f60-4718-92a3-b4c5d6e7f809", 1, 987654, 0, 0),
		     CHILDREC_STALE);
}

TMPDIR_SUITE(child, dir, "nestor-child");

/* A python3 server on the activated socket: it answers with what it was
 * given (LISTEN_FDS, LISTEN_PID, its pid) and exits. */
static char *const echo_argv[] = {
	"python3", "-c",
	"import os, socket\n"
	"s = socket.socket(fileno=3)\n"
	"c, _ = s.accept()\n"
	"c.sendall(('%s %s %d' % (os.environ['LISTEN_FDS'], os.environ['LISTEN_PID'],"
	" os.getpid())).encode())\n",
	NULL
};

Test(child, socket_activation)
{
	char buf[128] = "", want[128];
	int sock = -1;
	ssize_t n, got = 0;
	struct child *c = child_start_activated("test", echo_argv, &sock);

	cr_assert_not_null(c);
	cr_assert(sock >= 0);
	while ((n = read(sock, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	snprintf(want, sizeof(want), "1 %d %d", child_pid(c), child_pid(c));
	cr_assert_str_eq(buf, want);
	close(sock);
	cr_assert_eq(child_finish(c, 10000), 0);
}

Test(child, recorded_while_it_runs)
{
	char *const argv[] = { "sleep", "30", NULL };
	char path[256];
	int sock = -1;
	struct child *c;

	cr_assert_eq(child_registry_open(dir), 0);
	c = child_start_activated("test", argv, &sock);
	cr_assert_not_null(c);
	snprintf(path, sizeof(path), "%s/%d.child", dir, child_pid(c));
	cr_assert_eq(access(path, F_OK), 0, "no record %s", path);
	/* Its parent (we) runs: a second start keeps it. */
	cr_assert_eq(child_registry_open(dir), 0);
	cr_assert_eq(access(path, F_OK), 0, "a live parent's record was dropped");
	cr_assert_eq(kill(child_pid(c), 0), 0, "a live parent's child was ended");
	close(sock);
	kill(child_pid(c), SIGKILL);
	cr_assert_eq(child_finish(c, 10000), 0);
	cr_assert_eq(access(path, F_OK), -1, "record left after the child ended");
}

/* In a forked process: start a child (sleep), record it, report its pid on
 * fd, then die without cleaning up (as kill -9 would). */
static void
start_and_die(int fd, const char *reg, bool stop_first)
{
	char *const argv[] = { "sleep", "60", NULL };
	struct child *c;
	int sock, pid;

	if (child_registry_open(reg) < 0 || !(c = child_start_activated("test", argv, &sock)))
		_exit(1);
	pid = child_pid(c);
	if (write(fd, &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
		_exit(1);
	if (stop_first)
		raise(SIGSTOP);
	_exit(0);
}

/* Fork start_and_die; we are the subreaper, so its child comes to us.
 * Returns the grandchild's pid. */
static pid_t
orphan_made(const char *reg, bool stop_first, pid_t *mid)
{
	int fds[2], pid = -1;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	cr_assert_eq(pipe(fds), 0);
	*mid = fork();
	cr_assert(*mid >= 0);
	if (*mid == 0) {
		close(fds[0]);
		start_and_die(fds[1], reg, stop_first);
	}
	close(fds[1]);
	cr_assert_eq(read(fds[0], &pid, sizeof(pid)), (ssize_t)sizeof(pid));
	close(fds[0]);
	return pid;
}

Test(child, dies_with_its_parent)
{
	pid_t mid, pid, w;
	int status = 0;

	pid = orphan_made(dir, true, &mid);
	/* The parent stopped itself right after the start; kill -9 it then. */
	cr_assert_eq(waitpid(mid, &status, WUNTRACED), mid);
	cr_assert(WIFSTOPPED(status));
	kill(mid, SIGKILL);
	cr_assert_eq(waitpid(mid, &status, 0), mid);
	w = waitpid(pid, &status, 0);
	cr_assert_eq(w, pid);
	/* SIGTERM, or, killed before it set its death signal, it saw its
	 * parent gone right after and left before exec (127). */
	cr_assert((WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) ||
		  (WIFEXITED(status) && WEXITSTATUS(status) == 127),
		  "the child was not ended with its parent (status %#x)", status);
}

/* A sleep in its own group, as child_start_activated makes them. */
static pid_t
sleeper(void)
{
	pid_t o = fork();

	cr_assert(o >= 0);
	if (o == 0) {
		setpgid(0, 0);
		execlp("sleep", "sleep", "60", (char *)NULL);
		_exit(127);
	}
	setpgid(o, o);
	usleep(100 * 1000); /* exec'd: its start time is final */
	return o;
}

/* Write r as dir/<pid>.child into path. */
static void
put_record(const struct childrec *r, char *path, size_t cap)
{
	char text[CHILDREC_TEXT_MAX];
	FILE *f;

	snprintf(path, cap, "%s/%d.child", dir, (int)r->pid);
	cr_assert_eq(childrec_format(r, text, sizeof(text)), 0);
	f = fopen(path, "w");
	cr_assert(f && fputs(text, f) >= 0);
	fclose(f);
}

/* A sleeper recorded as the child of a parent that is gone, its start
 * time off by skew (0: the very process), then a start's sweep of the
 * records. Its pid; the record's path in path. */
static pid_t
sweep_recorded_sleeper(uint64_t skew, char *path, size_t cap)
{
	struct childrec r = { .ppid = INT32_MAX, .pstart = 1 };
	pid_t o = sleeper();

	cr_assert_eq(childrec_boot_id(r.boot_id), 0);
	r.pid = o;
	cr_assert_eq(childrec_proc_start(o, &r.start), 1);
	r.start += skew;
	put_record(&r, path, cap);
	cr_assert_eq(child_registry_open(dir), 0);
	return o;
}

Test(child, orphan_ended_at_next_start)
{
	char path[256];
	int status = 0;
	/* As a parent that died without its death signal reaching the child
	 * leaves it (an older nestor, a child of an exited thread). */
	pid_t o = sweep_recorded_sleeper(0, path, sizeof(path));

	cr_assert_eq(waitpid(o, &status, 0), o);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "the orphan was not ended");
	cr_assert_eq(access(path, F_OK), -1, "the orphan's record was kept");
}

Test(child, recycled_pid_never_killed)
{
	char path[256];
	int status = 0;
	/* The record names the pid with another start time: a recycled pid. */
	pid_t o = sweep_recorded_sleeper(1, path, sizeof(path));

	cr_assert_eq(waitpid(o, &status, WNOHANG), 0, "a process that only shares the pid was ended");
	cr_assert_eq(access(path, F_OK), -1, "the stale record was kept");
	kill(o, SIGKILL);
	waitpid(o, &status, 0);
}

Test(child, unreadable_record_dropped)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/123.child", dir);
	f = fopen(path, "w");
	cr_assert(f && fputs("pid=123\n", f) >= 0);
	fclose(f);
	cr_assert_eq(child_registry_open(dir), 0);
	cr_assert_eq(access(path, F_OK), -1);
}
