/* Long-lived child processes (qemu-nbd) that die with us: each gets a
 * listening socket by systemd socket activation, SIGTERM when we die
 * (PR_SET_PDEATHSIG), its own process group, and a record under the
 * registry directory, so that the next start ends the children a killed
 * parent left behind (childrec.h), never a process by its name. Children
 * that run to completion go through spawn.h instead. */
#ifndef NESTOR_COMMON_CHILD_H
#define NESTOR_COMMON_CHILD_H

struct child;

/* Record children under dir (created 0700) from now on, and first end the
 * ones recorded there whose parent is gone. Called once at the start of a
 * daemon (the agent: <state_dir>/.children, the receiver:
 * <store>/.children); without it children are not recorded, but still die
 * with us. 0 / -1 (logged). */
int child_registry_open(const char *dir);

/* Start argv (argv[0] looked up in PATH, NULL-terminated) with a unix
 * listening socket as fd 3 (LISTEN_FDS=1, LISTEN_PID), stdin and stdout
 * /dev/null, our stderr. The socket is connected before the child runs and
 * its file is gone before this returns: *sock (ours to close, or to hand
 * to libnbd) is the only way in. ctx prefixes messages. NULL on error
 * (logged). With NESTOR_TEST_PAUSE=spawn the process stops itself once the
 * child is recorded (common/testhook.h). */
struct child *child_start_activated(const char *ctx, char *const *argv, int *sock);
int child_pid(const struct child *c);

/* The child exits once our end of its socket is closed: wait for it (up to
 * timeout_ms, then SIGKILL to its group), reap it, drop its record and
 * free c. -1 (logged) when it had to be killed; its exit status is not
 * judged (the child tells its own errors on our stderr). NULL: 0. */
int child_finish(struct child *c, unsigned timeout_ms);

#endif
