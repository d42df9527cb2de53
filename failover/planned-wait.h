/* `nestor failover --planned`: request a final point from the group's agent
 * (planned.json, replicator/receiver/planned.h) and wait until it is
 * committed, refused or the deadline passes; --planned-cancel. */
#ifndef NESTOR_FAILOVER_PLANNED_WAIT_H
#define NESTOR_FAILOVER_PLANNED_WAIT_H

#include <stdbool.h>
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

/* Take the group's run lock (planned_run_lock): the caller holds the fd
 * from before planned_wait until planned_boot_done, then closes it. While
 * nobody holds it, a committed final point is abandoned at the agent's
 * next contact, so an agent never awaits a boot nobody will make. -1
 * (logged): another --planned of the group runs, or an error. */
int planned_wait_lock(const struct planned_wait_opts *o);

/* Request and wait. 0: the final point committed, its id in *point; the
 * request stays (final) until planned_boot_done. -1: refused by the
 * agent, deadline passed (an untouched request removed; one the agent
 * acknowledged abandoned: it is told to resume), cancelled meanwhile,
 * interrupted by a signal (drill_on_signal; the request stays until its
 * deadline) or an error; the reason is logged once with what the
 * operator can do next. */
int planned_wait(struct store *st, const struct planned_wait_opts *o, uint64_t *point);

/* The boot of final point `point` ended: booted (or the group is failed
 * over anyway): the request is removed; else it is abandoned (the agent
 * is told, resumes forward cycles) and the operator told what is left.
 * 0 / -1 (logged). */
int planned_boot_done(const struct planned_wait_opts *o, uint64_t point, bool booted);

/* Withdraw group's request; says what it had reached. One an agent acted
 * on (acknowledged, final point sent) is abandoned, so the agent is told
 * and resumes; an abandoned one (an old agent that cannot read the flag)
 * is removed. 0 / -1 (logged; none requested is -1). */
int planned_cancel(const char *store_dir, const char *group,
		   void (*say)(void *arg, const char *line), void *say_arg);

/* ns as "1h2m3s" / "10m0s" / "20s" into buf. */
void planned_fmt_duration(uint64_t ns, char *buf, size_t cap);

#endif
