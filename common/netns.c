/* Work inside a named network namespace from a child (common/netns.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/netns.h"
#include "common/spawn.h"

#define NETNS_DIR "/run/netns/"
/* the child's exit code when it could not join: fn's range ends below */
#define NETNS_JOIN_FAILED 255

static const char *
ctx_of(const char *ctx, const char **sep)
{
	*sep = ctx ? ": " : "";
	return ctx ? ctx : "";
}

int
netns_open(const char *name, const char *ctx)
{
	char path[sizeof(NETNS_DIR) + 256];
	const char *sep, *c = ctx_of(ctx, &sep);
	int fd;

	if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") ||
	    strlen(name) > 255) {
		log_error("%s%snetwork namespace '%s': not a namespace name", c, sep,
			  name ? name : "");
		return -1;
	}
	snprintf(path, sizeof(path), NETNS_DIR "%s", name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		log_error("%s%snetwork namespace %s: %m", c, sep, name);
	return fd;
}

int
netns_join(int nsfd)
{
	return setns(nsfd, CLONE_NEWNET);
}

int
netns_call(int nsfd, int (*fn)(void *arg), void *arg, unsigned timeout_ms, const char *ctx)
{
	const char *sep, *c = ctx_of(ctx, &sep);
	int status = 0, r;
	pid_t pid = fork();

	if (pid < 0) {
		log_error("%s%sfork: %m", c, sep);
		return -1;
	}
	if (pid == 0) {
		if (netns_join(nsfd) < 0)
			_exit(NETNS_JOIN_FAILED);
		r = fn(arg);
		_exit(r < 0 || r >= NETNS_JOIN_FAILED ? NETNS_JOIN_FAILED - 1 : r);
	}
	r = spawn_wait_pid(pid, &status, timeout_ms);
	if (r < 0) {
		log_error("%s%swaitpid: %m", c, sep);
		return -1;
	}
	if (r > 0) {
		log_error("%s%sthe namespace's child still ran after %u ms: killed", c, sep,
			  timeout_ms);
		return -1;
	}
	if (!WIFEXITED(status)) {
		log_error("%s%sthe namespace's child was killed by signal %d", c, sep,
			  WIFSIGNALED(status) ? WTERMSIG(status) : -1);
		return -1;
	}
	if (WEXITSTATUS(status) == NETNS_JOIN_FAILED) {
		log_error("%s%scannot join the network namespace (setns needs CAP_SYS_ADMIN)",
			  c, sep);
		return -1;
	}
	return WEXITSTATUS(status);
}
