/* Work inside a named network namespace (/run/netns/NAME, as `ip netns`
 * makes them) without entering it: a short-lived child process joins it
 * with setns(2) and does the work, so the calling process (a receiver, a
 * drill) never changes namespace. A command is run there by spawn.h
 * (spawn_set_netns). */
#ifndef NESTOR_COMMON_NETNS_H
#define NESTOR_COMMON_NETNS_H

/* An fd of namespace name (O_CLOEXEC; the caller closes it), or -1
 * (logged under ctx, may be NULL): name not one `ip netns` makes
 * (empty, '/', "." or ".."), or no such namespace. */
int netns_open(const char *name, const char *ctx);

/* Join nsfd in the calling thread: for a child between fork and exec
 * only (async-signal-safe). 0 / -1 (errno). */
int netns_join(int nsfd);

/* Run fn(arg) in a child process that joined nsfd; fn's return value
 * (0-254) is what this returns. fn runs after fork in a process that
 * may have had threads: only async-signal-safe calls (socket, connect,
 * poll, open, read), no malloc, no stdio, no log. The child is killed
 * after timeout_ms (0: none). -1 when the child cannot be made, cannot
 * join the namespace or timed out (logged under ctx, may be NULL). */
int netns_call(int nsfd, int (*fn)(void *arg), void *arg, unsigned timeout_ms, const char *ctx);

#endif
