/* Shutting a group's VMs down: a planned failover's source VMs (issue 14,
 * item 5: the guest agent first, else the ACPI power button, then a
 * bounded wait; a VM that stays up is never destroyed, the operator
 * decides) and a failback finish's failed-over VMs (the same, then
 * destroyed past the timeout). */
#ifndef NESTOR_AGENT_SHUTDOWN_H
#define NESTOR_AGENT_SHUTDOWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct agent_config;
struct agent_group_cfg;

#define SHUTDOWN_MAX_VMS 64

/* What shutdown_vms shuts down; strings borrowed for the call. */
struct shutdown_req {
	const char *group;         /* for the log */
	const char *uri;           /* libvirt; NULL = VMXML_DEFAULT_URI */
	const char *const *names;  /* the domains, 1..SHUTDOWN_MAX_VMS */
	size_t n;
	uint64_t timeout_s;        /* the wait for all of them */
	const char *timeout_key;   /* what sets it, for the message */
	/* Past the timeout, destroy what is still up (logged), and destroy a
	 * paused domain at once (it cannot answer); else refuse. */
	bool destroy;
	const volatile int *stop;  /* non-zero: abandon the wait; may be NULL */
};

/* Shut rq's domains down and wait. 0: all shut off; *done (new array,
 * caller decrefs) lists {vm, how: "guest-agent" | "acpi" | "was shut off"
 * | "paused: destroyed" | "no shutdown within the timeout (...)"}. -1:
 * why says which VM is still up or what failed; logged once. */
int shutdown_vms(const struct shutdown_req *rq, char *why, size_t cap, json_t **done);

/* Shut g's live domains (g->domains) down and wait up to
 * cfg->planned_shutdown_s for every one to be shut off.
 * 0: all shut off; *done (new array, caller decrefs) lists
 *    {vm, how: "guest-agent" | "acpi" | "was shut off"}.
 * 1: g has no domains Nestor runs (file or rbd disks): nothing shut down.
 * -1: why (for the receiver and the operator) says which VM is still up
 *    or what failed; logged once. stop: abandon the wait when it turns
 *    non-zero. */
int shutdown_group_vms(const struct agent_config *cfg, const struct agent_group_cfg *g,
		       const volatile int *stop, char *why, size_t cap, json_t **done);

#endif
