/* The on-prem libvirt domains of a failback (docs/failback.md): their
 * disks as the target store takes them, the rule that they stay shut off
 * while the target lies over those disks, and, at the cutover, their start
 * from their own definitions and the drill's checks. Plain data in, no
 * pointer returned. */
#ifndef NESTOR_FAILBACK_ONDOMAINS_H
#define NESTOR_FAILBACK_ONDOMAINS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct agent_group_cfg;
struct cutover;
struct failback_disks;
struct range_set;

/* What the cutover does with the domains; strings borrowed. */
struct ondomains_opts {
	bool no_start;        /* leave them shut off (today's cutover) */
	const char *marker;   /* boot marker on the console; NULL: the drill's */
	unsigned timeout_s;   /* per domain: start -> marker, and per check;
			       * 0: the drill's default */
	bool guest_agent;     /* the guest agent must answer */
	unsigned tcp_port;    /* 0: none; else the guest must answer on it */
	const char *script;   /* NULL, or SCRIPT VM ADDRESS must exit 0 */
};

/* Append the file disks of g's domains to d, named "<domain>.<target>" as
 * the forward points name them, from each domain's inactive definition on
 * the on-prem libvirtd (snapshot/plan.h), running or not. An RBD disk is
 * refused (not supported yet). 0 / -1 (logged). */
int ondomains_disks(const struct agent_group_cfg *g, struct failback_disks *d);

/* X of disk `name` since point p, when it is a qcow2 disk of one of g's
 * domains (as ondomains_disks names it) whose point p the libvirt source
 * took live: the ranges its checkpoint bitmaps hold since p
 * (snapshot_libvirt_changed_since, the source's state in
 * <state_dir>/<group>/libvirt), added to rs; nothing is written. 1 added;
 * 0 not known: not a domain's disk, or why logged (a warning: the caller
 * takes the whole disk); -1 on an error (logged). */
int ondomains_x(const struct agent_group_cfg *g, const char *state_dir, uint64_t p,
		const char *name, struct range_set *rs);

/* 0 when none of g's domains runs (or g has none); -1 (logged, with how
 * to stop it) when one does, or libvirt cannot tell. what: the step that
 * needs them off ("failback start"). */
int ondomains_off(const struct agent_group_cfg *g, const char *what);

/* committed -> started. With domains (and not o->no_start): each started
 * paused from its definition (one paused already is taken as it is; one
 * running is refused: its disks may no longer be F), the sources committed
 * at f while nothing runs (failback/reprotect.h), started recorded with
 * domains_started, then each resumed. Otherwise the sources committed at
 * f with the disks as they are (a domain running then is refused),
 * started recorded. At started already:
 * every paused domain resumed, a shut-off one started (when the cutover
 * started them). c: the state, updated. 0 / -1 (logged). */
int ondomains_start(const struct agent_group_cfg *g, const char *state_dir, const char *gdir,
		    struct cutover *c, uint64_t f, const struct ondomains_opts *o);

/* started -> verified: each started domain checked as a drill checks its
 * VMs (boot marker on the console its definition logs, then the guest
 * agent, TCP port and script asked for: failover/console.h, checks.h).
 * The verdicts are saved in <gdir>/verify.json. A failure leaves the
 * domains running and the state at started (a re-run checks again): -1,
 * logged with what failed. Nothing started: verified, said so. */
int ondomains_verify(const struct agent_group_cfg *g, const char *gdir, struct cutover *c,
		     const struct ondomains_opts *o);

/* The verdicts the last verification saved: a new {summary, vms: [...]}
 * (caller decrefs), or NULL when there are none (logged at debug). */
json_t *ondomains_report(const char *gdir);

#endif
