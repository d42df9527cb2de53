/* The agent as a long-running daemon: every protection group replicated
 * continuously in its own thread, RPO alerts, back-off, reload, stop. */
#ifndef NESTOR_AGENT_DAEMON_H
#define NESTOR_AGENT_DAEMON_H

#include <stdbool.h>

/* Run until SIGTERM/SIGINT (the cycles in flight are abandoned cleanly and
 * stay resumable). SIGHUP reloads config_path: groups added start, removed
 * ones stop, changed ones restart; the others go on untouched. A group's
 * next cycle starts when the previous one committed, but not sooner than
 * its min_interval after the previous start; failures retry with
 * exponential back-off up to retry_max. When a group's newest point is
 * older than its rpo target, a warning is logged (once per breach) and the
 * group's status says so. Status per group: <state_dir>/<group>/status.json.
 * Returns 0 on a clean stop, -1 if the configuration cannot be loaded. */
int agent_daemon(const char *config_path, bool verbose);

#endif
