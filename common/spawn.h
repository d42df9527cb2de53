/* One way to run a child process to completion: no shell, stdin from
 * /dev/null, only fds 0-2 inherited, output captured with a cap, exit
 * status checked, every failure logged once by spawn_run (the model is
 * libvirt's vircommand). Children that serve us while we run (qemu-nbd)
 * go through child.h. */
#ifndef NESTOR_COMMON_SPAWN_H
#define NESTOR_COMMON_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

struct spawn;

/* Where a child's stdout or stderr goes. */
enum spawn_io {
	SPAWN_IO_NULL,    /* /dev/null */
	SPAWN_IO_INHERIT, /* our own fd of the same number */
	SPAWN_IO_CAPTURE, /* kept, up to a cap (stderr: in the error message) */
	SPAWN_IO_STDERR,  /* stdout only: into our stderr, the log */
};

/* Default caps: stdout over its cap is an error, stderr is truncated. */
#define SPAWN_OUT_MAX (16u << 20)
#define SPAWN_ERR_MAX 2048u

/* A command running prog (looked up in PATH unless spawn_no_path_search)
 * with argv[0] = prog. Defaults: stdout to /dev/null, stderr captured, no
 * timeout. Never NULL for a non-NULL prog until memory runs out; errors of
 * the builder calls are kept and reported by spawn_run. Free with
 * spawn_free. */
struct spawn *spawn_new(const char *prog);
/* Same, the arguments after prog from a NULL-terminated list. */
struct spawn *spawn_new_argv(const char *prog, const char *const *args);
void spawn_arg(struct spawn *sp, const char *arg);
void spawn_args(struct spawn *sp, const char *const *args);
/* Messages read "CTX: NAME ...": ctx (the object, e.g. "vm web1") is
 * omitted when unset; name defaults to the command line. Both copied. */
void spawn_set_context(struct spawn *sp, const char *ctx);
void spawn_set_name(struct spawn *sp, const char *name);
/* max applies to SPAWN_IO_CAPTURE only; 0 keeps the default. */
void spawn_set_stdout(struct spawn *sp, enum spawn_io io, size_t max);
void spawn_set_stderr(struct spawn *sp, enum spawn_io io, size_t max);
/* Killed (SIGKILL) and an error when still running after ms. */
void spawn_set_timeout_ms(struct spawn *sp, unsigned ms);
/* Run prog as a path (relative to the cwd if it has no '/'), as execv. */
void spawn_no_path_search(struct spawn *sp);
/* Run it in the network namespace nsfd (netns_open; borrowed, open until
 * spawn_run returns): the child joins it between fork and exec, we never
 * do. Failing to join is failing to run. */
void spawn_set_netns(struct spawn *sp, int nsfd);

/* Run to completion. With exitstatus NULL, anything but exit 0 is an error;
 * otherwise *exitstatus gets the exit code (128 + signal when killed by
 * one) and only a failure to run, wait or capture, or the timeout, is an
 * error. Logs once. 0 / -1. A spawn runs once. */
int spawn_run(struct spawn *sp, int *exitstatus);
/* Captured text, NUL-terminated, trailing line ends kept for stdout and
 * dropped for stderr; "" before a run or when not captured. Owned by sp. */
const char *spawn_stdout(const struct spawn *sp);
const char *spawn_stderr(const struct spawn *sp);
/* The captured stdout handed to the caller (free it); NULL if none. */
char *spawn_take_stdout(struct spawn *sp);
void spawn_free(struct spawn *sp);

/* Wait for child pid, SIGKILL and reap it past timeout_ms (0: none): 0,
 * 1 timed out, -1 (errno). */
int spawn_wait_pid(pid_t pid, int *status, unsigned timeout_ms);

/* The common case in one call: run argv[0] with argv[1..] (NULL-terminated)
 * under ctx (may be NULL); with out, stdout is captured into *out (caller
 * frees; NULL on error). Non-zero exit is an error naming stderr. 0 / -1. */
int spawn_cmd(const char *ctx, const char *const *argv, char **out);

#endif
