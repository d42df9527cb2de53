/* The drilled guest's serial console: boot marker in the console log and
 * one-line commands over the console socket (nestor test-guest protocol). */
#ifndef NESTOR_FAILOVER_CONSOLE_H
#define NESTOR_FAILOVER_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Is marker in log (from byte offset from on)? 1 yes, 0 not (yet) or no
 * file, -1 error (logged). Reads at most the last 16 MiB. */
int console_has(const char *log, off_t from, const char *marker);
/* Wait up to timeout_s for marker in log (from byte offset from on),
 * looking every 100 ms; each time going(arg, why) may end the wait
 * early (it returns false and sets *why: the domain stopped, a signal).
 * 1 seen; 0 not (*why: going's reason, or the timeout's); -1 error
 * (logged). The drill's boot check and a failback's on-prem one. */
int console_wait(const char *log, off_t from, const char *marker, unsigned timeout_s,
		 bool (*going)(void *arg, const char **why), void *arg, const char **why);
/* Size of the console log (0 if it does not exist yet). */
off_t console_size(const char *log);
/* The last max bytes of the log, \r dropped, for reports; malloc'd or NULL. */
char *console_tail(const char *log, size_t max);

/* Send cmd (one line) to the guest over the unix socket sock and wait up to
 * timeout_ms for the guest's "NESTOR-DONE <rc>". *output (malloc'd, at most
 * CONSOLE_OUTPUT_MAX bytes, \r dropped) is what the guest printed before it,
 * *rc its exit status. The connection stays open until the answer is in,
 * because QEMU drops unread input when a client disconnects. 0 / -1 (logged;
 * *output may then hold partial output or be NULL). */
#define CONSOLE_OUTPUT_MAX (64u << 10)
int console_exec(const char *sock, const char *cmd, int timeout_ms, char **output,
		 int *rc);

#endif
