/* Child processes (common/spawn.h): posix_spawn with file actions, output
 * into memfds, one error message per failed run. */
#define _GNU_SOURCE
#include "common/spawn.h"

#include "common/clock.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The default name, the command line, is cut here: enough to recognise. */
#define SPAWN_NAME_MAX 512

enum { S_OUT, S_ERR };

struct spawn {
	char **argv; /* NULL-terminated once argc > 0 */
	size_t argc, cap;
	char *ctx, *name;
	enum spawn_io io[2];
	size_t max[2];
	unsigned timeout_ms;
	bool no_path, oom, ran;
	int netns;   /* + 1: 0 none, else the fd of the namespace to run in */
	char *text[2];
};

static void
spawn_push(struct spawn *sp, const char *arg)
{
	char *dup;

	if (sp->oom)
		return;
	if (sp->argc + 2 > sp->cap) {
		size_t ncap = sp->cap ? sp->cap * 2 : 8;
		char **n = realloc(sp->argv, ncap * sizeof(*n));

		if (!n) {
			sp->oom = true;
			return;
		}
		sp->argv = n;
		sp->cap = ncap;
	}
	dup = strdup(arg);
	if (!dup) {
		sp->oom = true;
		return;
	}
	sp->argv[sp->argc++] = dup;
	sp->argv[sp->argc] = NULL;
}

struct spawn *
spawn_new(const char *prog)
{
	struct spawn *sp = calloc(1, sizeof(*sp));

	if (!sp) {
		log_error("%s: out of memory", prog);
		return NULL;
	}
	sp->io[S_OUT] = SPAWN_IO_NULL;
	sp->io[S_ERR] = SPAWN_IO_CAPTURE;
	sp->max[S_OUT] = SPAWN_OUT_MAX;
	sp->max[S_ERR] = SPAWN_ERR_MAX;
	spawn_push(sp, prog);
	return sp;
}

struct spawn *
spawn_new_argv(const char *prog, const char *const *args)
{
	struct spawn *sp = spawn_new(prog);

	if (sp)
		spawn_args(sp, args);
	return sp;
}

void
spawn_arg(struct spawn *sp, const char *arg)
{
	spawn_push(sp, arg);
}

void
spawn_args(struct spawn *sp, const char *const *args)
{
	for (size_t i = 0; args && args[i]; i++)
		spawn_push(sp, args[i]);
}

static void
spawn_set_str(struct spawn *sp, char **dst, const char *s)
{
	free(*dst);
	*dst = s ? strdup(s) : NULL;
	if (s && !*dst)
		sp->oom = true;
}

void
spawn_set_netns(struct spawn *sp, int nsfd)
{
	sp->netns = nsfd + 1;
}

void
spawn_set_context(struct spawn *sp, const char *ctx)
{
	spawn_set_str(sp, &sp->ctx, ctx);
}

void
spawn_set_name(struct spawn *sp, const char *name)
{
	spawn_set_str(sp, &sp->name, name);
}

void
spawn_set_stdout(struct spawn *sp, enum spawn_io io, size_t max)
{
	sp->io[S_OUT] = io;
	if (max)
		sp->max[S_OUT] = max;
}

void
spawn_set_stderr(struct spawn *sp, enum spawn_io io, size_t max)
{
	/* stderr into stderr is inheriting it */
	sp->io[S_ERR] = io == SPAWN_IO_STDERR ? SPAWN_IO_INHERIT : io;
	if (max)
		sp->max[S_ERR] = max;
}

void
spawn_set_timeout_ms(struct spawn *sp, unsigned ms)
{
	sp->timeout_ms = ms;
}

void
spawn_no_path_search(struct spawn *sp)
{
	sp->no_path = true;
}

/* The name in messages: the one set, or the command line, cut. */
static void
spawn_label(const struct spawn *sp, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	if (sp->name) {
		snprintf(buf, len, "%s", sp->name);
		return;
	}
	for (size_t i = 0; i < sp->argc && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? " " : "",
					 sp->argv[i]);
}

#define spawn_err(sp, label, f, ...) \
	log_error("%s%s%s" f, (sp)->ctx ? (sp)->ctx : "", (sp)->ctx ? ": " : "", \
		  (label), ##__VA_ARGS__)

/* The first max bytes of a memfd the child has finished writing, as a
 * string; *over set when it holds more. NULL with errno set. */
static char *
spawn_slurp(int fd, size_t max, bool *over)
{
	struct stat st;
	size_t len;
	char *buf;

	if (fstat(fd, &st) < 0)
		return NULL;
	len = (size_t)st.st_size;
	*over = len > max;
	if (*over)
		len = max;
	buf = malloc(len + 1);
	if (!buf)
		return NULL;
	if (fd_pread_all(fd, buf, len, 0) < 0) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

static int
spawn_actions(const struct spawn *sp, posix_spawn_file_actions_t *fa, const int fds[2])
{
	int r;

	if ((r = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0)) != 0)
		return r;
	for (int s = S_OUT; s <= S_ERR; s++) {
		int target = s == S_OUT ? 1 : 2;

		switch (sp->io[s]) {
		case SPAWN_IO_NULL:
			r = posix_spawn_file_actions_addopen(fa, target, "/dev/null", O_WRONLY, 0);
			break;
		case SPAWN_IO_CAPTURE:
			r = posix_spawn_file_actions_adddup2(fa, fds[s], target);
			break;
		case SPAWN_IO_STDERR:
			r = posix_spawn_file_actions_adddup2(fa, 2, target);
			break;
		case SPAWN_IO_INHERIT:
			break;
		}
		if (r != 0)
			return r;
	}
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	/* Our descriptors without O_CLOEXEC (libraries open some) stay ours. */
	r = posix_spawn_file_actions_addclosefrom_np(fa, 3);
#endif
	return r;
}

int
spawn_wait_pid(pid_t pid, int *status, unsigned timeout_ms)
{
	uint64_t deadline = clock_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	long nap = 1;
	pid_t w;

	for (;;) {
		w = waitpid(pid, status, timeout_ms ? WNOHANG : 0);
		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return -1;
		if (w == 0) {
			if (clock_mono_ns() >= deadline) {
				kill(pid, SIGKILL);
				while (waitpid(pid, status, 0) < 0 && errno == EINTR)
					;
				return 1;
			}
			/* short commands answer in a few ms, scripts take seconds */
			clock_nap_ms(nap);
			if (nap < 100)
				nap *= 2;
		}
	}
}

/* Collect the captured streams after the child ended: 0 / -1 logged. */
static int
spawn_collect(struct spawn *sp, const char *label, const int fds[2])
{
	for (int s = S_OUT; s <= S_ERR; s++) {
		bool over;

		if (fds[s] < 0)
			continue;
		sp->text[s] = spawn_slurp(fds[s], sp->max[s], &over);
		if (!sp->text[s]) {
			spawn_err(sp, label, ": cannot read its output: %m");
			return -1;
		}
		if (s == S_OUT && over) {
			free(sp->text[s]);
			sp->text[s] = NULL;
			spawn_err(sp, label, ": output over %zu bytes", sp->max[s]);
			return -1;
		}
		if (s == S_ERR) {
			size_t l = strlen(sp->text[s]);

			while (l > 0 && (sp->text[s][l - 1] == '\n' || sp->text[s][l - 1] == '\r'))
				sp->text[s][--l] = '\0';
		}
	}
	return 0;
}

/* exit 0 / the code in *exitstatus: 0; anything else: logged, -1. */
static int
spawn_status(struct spawn *sp, const char *label, int status, int *exitstatus)
{
	const char *err = sp->text[S_ERR] ? sp->text[S_ERR] : "";
	const char *sep = *err ? ": " : "";

	if (exitstatus) {
		*exitstatus = WIFEXITED(status) ? WEXITSTATUS(status)
			: 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		spawn_err(sp, label, " exited with status %d%s%s", WEXITSTATUS(status), sep, err);
	else
		spawn_err(sp, label, " killed by signal %d%s%s",
			  WIFSIGNALED(status) ? WTERMSIG(status) : -1, sep, err);
	return -1;
}

/* The child of a command run in a network namespace (spawn_set_netns),
 * between fork and exec: only async-signal-safe calls. What failed goes
 * back through err (close-on-exec: nothing arrives when exec worked). */
static void
spawn_child_netns(const struct spawn *sp, const int fds[2], int err)
{
	int e, nul = open("/dev/null", O_RDWR);

	if (netns_join(sp->netns - 1) < 0 || nul < 0 || dup2(nul, 0) < 0)
		goto fail;
	for (int s = S_OUT; s <= S_ERR; s++) {
		int target = s == S_OUT ? 1 : 2;

		if ((sp->io[s] == SPAWN_IO_NULL && dup2(nul, target) < 0) ||
		    (sp->io[s] == SPAWN_IO_CAPTURE && dup2(fds[s], target) < 0) ||
		    (sp->io[s] == SPAWN_IO_STDERR && dup2(2, target) < 0))
			goto fail;
	}
	/* ours stay ours (err closes at exec) */
	if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
		goto fail;
	if (sp->no_path)
		execv(sp->argv[0], sp->argv);
	else
		execvp(sp->argv[0], sp->argv);
fail:
	e = errno;
	(void)!write(err, &e, sizeof(e));
	_exit(127);
}

/* fork, join the namespace, exec: posix_spawn's result (0 / errno). */
static int
spawn_fork_netns(const struct spawn *sp, const int fds[2], pid_t *pid)
{
	int p[2], e = 0, status;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0)
		return errno;
	if ((*pid = fork()) < 0) {
		e = errno;
		close(p[0]);
		close(p[1]);
		return e;
	}
	if (*pid == 0)
		spawn_child_netns(sp, fds, p[1]);
	close(p[1]);
	while ((n = read(p[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (n == (ssize_t)sizeof(e)) {
		while (waitpid(*pid, &status, 0) < 0 && errno == EINTR)
			;
		return e ? e : EIO;
	}
	return 0;
}

int
spawn_run(struct spawn *sp, int *exitstatus)
{
	char label[SPAWN_NAME_MAX];
	posix_spawn_file_actions_t fa;
	bool fa_init = false;
	int fds[2] = { -1, -1 };
	int status = 0, ret = -1, r;
	pid_t pid;

	spawn_label(sp, label, sizeof(label));
	if (sp->oom) {
		spawn_err(sp, label, ": out of memory");
		return -1;
	}
	if (sp->ran) {
		spawn_err(sp, label, ": already run");
		return -1;
	}
	sp->ran = true;
	/* Files, not pipes: the child never blocks on a full pipe while we
	 * wait for it, and no reader thread is needed. */
	for (int s = S_OUT; s <= S_ERR; s++) {
		if (sp->io[s] != SPAWN_IO_CAPTURE)
			continue;
		fds[s] = memfd_create(s == S_OUT ? "spawn-out" : "spawn-err", MFD_CLOEXEC);
		if (fds[s] < 0) {
			spawn_err(sp, label, ": memfd_create: %m");
			goto out;
		}
	}
	if ((r = posix_spawn_file_actions_init(&fa)) != 0) {
		errno = r;
		spawn_err(sp, label, ": posix_spawn_file_actions_init: %m");
		goto out;
	}
	fa_init = true;
	if ((r = spawn_actions(sp, &fa, fds)) != 0) {
		errno = r;
		spawn_err(sp, label, ": posix_spawn file actions: %m");
		goto out;
	}
	if (sp->netns)
		r = spawn_fork_netns(sp, fds, &pid);
	else
		r = sp->no_path ? posix_spawn(&pid, sp->argv[0], &fa, NULL, sp->argv, environ)
				: posix_spawnp(&pid, sp->argv[0], &fa, NULL, sp->argv, environ);
	if (r != 0) {
		errno = r;
		log_error("%s%scannot run %s: %m", sp->ctx ? sp->ctx : "", sp->ctx ? ": " : "",
			  label);
		goto out;
	}
	r = spawn_wait_pid(pid, &status, sp->timeout_ms);
	if (r < 0) {
		spawn_err(sp, label, ": waitpid: %m");
		goto out;
	}
	if (r > 0) {
		spawn_err(sp, label, " still running after %u s: killed",
			  (sp->timeout_ms + 999) / 1000);
		goto out;
	}
	if (spawn_collect(sp, label, fds) < 0)
		goto out;
	ret = spawn_status(sp, label, status, exitstatus);
out:
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	for (int s = S_OUT; s <= S_ERR; s++)
		if (fds[s] >= 0)
			close(fds[s]);
	return ret;
}

const char *
spawn_stdout(const struct spawn *sp)
{
	return sp->text[S_OUT] ? sp->text[S_OUT] : "";
}

const char *
spawn_stderr(const struct spawn *sp)
{
	return sp->text[S_ERR] ? sp->text[S_ERR] : "";
}

char *
spawn_take_stdout(struct spawn *sp)
{
	char *t = sp->text[S_OUT];

	sp->text[S_OUT] = NULL;
	return t;
}

void
spawn_free(struct spawn *sp)
{
	if (!sp)
		return;
	for (size_t i = 0; i < sp->argc; i++)
		free(sp->argv[i]);
	free(sp->argv);
	free(sp->ctx);
	free(sp->name);
	free(sp->text[S_OUT]);
	free(sp->text[S_ERR]);
	free(sp);
}

int
spawn_cmd(const char *ctx, const char *const *argv, char **out)
{
	struct spawn *sp = spawn_new_argv(argv[0], argv + 1);
	int ret = -1;

	if (out)
		*out = NULL;
	if (!sp)
		return -1;
	spawn_set_context(sp, ctx);
	if (out)
		spawn_set_stdout(sp, SPAWN_IO_CAPTURE, 0);
	if (spawn_run(sp, NULL) == 0) {
		ret = 0;
		if (out)
			*out = spawn_take_stdout(sp);
	}
	spawn_free(sp);
	return ret;
}
