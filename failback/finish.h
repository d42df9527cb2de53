/* `nestor failback finish GROUP` on the agent host (docs/failback.md): the
 * whole cutover in one command, resumable at every step. REVERSE_FINISH
 * (the DR side shuts the cloud VMs down, sends the final reverse point,
 * makes point F), the on-prem cutover to F (cutover-run.h), then the
 * release of the failover on the DR side, last, once the on-prem side is
 * verified. */
#ifndef NESTOR_FAILBACK_FINISH_H
#define NESTOR_FAILBACK_FINISH_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "failback/ondomains.h"
#include "replicator/config.h"

struct failback_finish_opts {
	const char *group;
	uint32_t shutdown_s; /* the DR side's wait for its VMs (1..86400) */
	struct ondomains_opts on; /* the on-prem domains: start, checks */
};

/* Finish the failback of o->group from wherever cutover.json says it
 * stands (a re-run after a crash continues). *report (caller decrefs; NULL
 * on error): {group, reverse_point, point: F, base, bytes, domains: what
 * became of the on-prem domains, vms: [{name, pass, marker_seen,
 * guest_agent, tcp_port, script_rc, ...}] (ondomains.h), released: true,
 * resumed_from: the state found}. The DR side is released only once the
 * started domains passed their checks. 0 / -1 (logged). */
int failback_finish(const struct agent_config *cfg, const struct failback_finish_opts *o,
		    json_t **report);

#endif
