/* A planned failover's shutdown of a group's source VMs (issue 14, item 5):
 * the guest agent first, else the ACPI power button, then a bounded wait.
 * A VM that stays up is never destroyed: the operator decides. */
#ifndef NESTOR_AGENT_SHUTDOWN_H
#define NESTOR_AGENT_SHUTDOWN_H

#include <stddef.h>

#include <jansson.h>

struct agent_config;
struct agent_group_cfg;

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
