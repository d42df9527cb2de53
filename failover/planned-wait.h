/* `nestor failover --planned`: request a final point from the group's agent
 * (planned.json, replicator/receiver/planned.h) and wait until it is
 * committed, refused or the deadline passes; --planned-cancel. */
#ifndef NESTOR_FAILOVER_PLANNED_WAIT_H
#define NESTOR_FAILOVER_PLANNED_WAIT_H

#include <stddef.h>
#include <stdint.h>

struct store;

struct planned_wait_opts {
	const char *store_dir;
	const char *group;
	uint64_t timeout_ns;   /* the request's deadline from now */
	unsigned poll_ms;      /* how often planned.json and the catalog are read */
	/* One progress line (no newline), for the operator; arg is say_arg. */
	void (*say)(void *arg, const char *line);
	void *say_arg;
};

/* Request and wait. 0: the final point committed, its id in *point, the
 * request removed. -1: refused by the agent, deadline passed (request
 * removed: no later contact shuts anything down), interrupted by a signal
 * (drill_on_signal; the request stays until its deadline) or an error;
 * the reason is logged once with what the operator can do next. */
int planned_wait(struct store *st, const struct planned_wait_opts *o, uint64_t *point);

/* Remove group's request; says what it had reached. 0 / -1 (logged; none
 * requested is -1). */
int planned_cancel(const char *store_dir, const char *group,
		   void (*say)(void *arg, const char *line), void *say_arg);

/* ns as "1h2m3s" / "10m0s" / "20s" into buf. */
void planned_fmt_duration(uint64_t ns, char *buf, size_t cap);

#endif
