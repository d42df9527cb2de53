/* Shut down the live VMs of a group (shutdown.h): a planned failover's
 * source VMs, a failback's failed-over VMs. Asked once per VM, then
 * awaited together; the ACPI button is pressed again now and then, since
 * a guest still booting its ACPI daemon drops the first press. */
#include "replicator/agent/shutdown.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/virt-dl.h"
#include "common/vmxml.h"
#include "replicator/config.h"

#define AGENT_TIMEOUT_S    10  /* guest agent's answer to the shutdown */
#define ACPI_REPRESS_MS    30000
#define POLL_MS            500

struct sdvm {
	char *name;          /* into the names copy */
	virDomainPtr dom;
	const char *how;
	bool off;
};

/* Ask one running domain to shut down: guest agent, else ACPI. 0 / -1. */
static int
ask(const struct shutdown_req *rq, struct sdvm *v, char *why, size_t cap)
{
	sym_virDomainAgentSetResponseTimeout(v->dom, AGENT_TIMEOUT_S, 0);
	if (sym_virDomainShutdownFlags(v->dom, VIR_DOMAIN_SHUTDOWN_GUEST_AGENT) == 0) {
		v->how = "guest-agent";
	} else if (sym_virDomainShutdownFlags(v->dom, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) == 0) {
		v->how = "acpi";
	} else {
		snprintf(why, cap, "cannot shut VM %s down: %s", v->name,
			 sym_virGetLastErrorMessage());
		return -1;
	}
	log_info("group %s: VM %s: shutdown asked (%s)", rq->group, v->name, v->how);
	return 0;
}

/* Destroy v (a paused guest, or one past the timeout): logged. 0 / -1. */
static int
destroy(const struct shutdown_req *rq, struct sdvm *v, const char *how, char *why, size_t cap)
{
	if (sym_virDomainDestroy(v->dom) < 0 && sym_virDomainIsActive(v->dom) != 0) {
		snprintf(why, cap, "cannot destroy VM %s: %s", v->name,
			 sym_virGetLastErrorMessage());
		return -1;
	}
	log_warn("group %s: VM %s destroyed (%s)", rq->group, v->name, how);
	v->how = how;
	v->off = true;
	return 0;
}

/* Open, look up and ask every VM. 0 / -1 (why set). */
static int
start_all(const struct shutdown_req *rq, virConnectPtr conn, struct sdvm *vms, size_t n,
	  char *why, size_t cap)
{
	for (size_t i = 0; i < n; i++) {
		int state = 0, reason = 0;

		vms[i].dom = sym_virDomainLookupByName(conn, vms[i].name);
		if (!vms[i].dom) {
			snprintf(why, cap, "VM %s: %s", vms[i].name, sym_virGetLastErrorMessage());
			return -1;
		}
		if (sym_virDomainGetState(vms[i].dom, &state, &reason, 0) == 0 &&
		    state == VIR_DOMAIN_SHUTOFF) {
			vms[i].off = true;
			vms[i].how = "was shut off";
			continue;
		}
		/* A paused guest cannot hear the button: its disks hold all it
		 * wrote, as they would after the timeout. */
		if (rq->destroy && state == VIR_DOMAIN_PAUSED) {
			if (destroy(rq, &vms[i], "paused: destroyed", why, cap) < 0)
				return -1;
			continue;
		}
		if (ask(rq, &vms[i], why, cap) < 0)
			return -1;
	}
	return 0;
}

/* Past the timeout: destroy what is still up, or refuse naming the first. */
static int
timed_out(const struct shutdown_req *rq, struct sdvm *vms, size_t n, char *why, size_t cap)
{
	for (size_t i = 0; i < n; i++) {
		if (vms[i].off)
			continue;
		if (!rq->destroy) {
			snprintf(why, cap, "VM %s still running %" PRIu64 " s after its shutdown "
				 "was asked (%s, %s); not destroyed: shut it down, or fail over "
				 "unplanned", vms[i].name, rq->timeout_s, vms[i].how, rq->timeout_key);
			return -1;
		}
		if (destroy(rq, &vms[i], strcmp(vms[i].how, "acpi") == 0
				? "no shutdown within the timeout (acpi)"
				: "no shutdown within the timeout (guest-agent)", why, cap) < 0)
			return -1;
	}
	return 0;
}

/* Wait for all to be off. 0, or -1 with why naming the first still up. */
static int
wait_all(const struct shutdown_req *rq, struct sdvm *vms, size_t n, char *why, size_t cap)
{
	uint64_t t0 = clock_mono_ns(), deadline = t0 + rq->timeout_s * 1000000000ull;
	uint64_t repress = t0 + ACPI_REPRESS_MS * 1000000ull;

	for (;;) {
		size_t up = n;

		for (size_t i = 0; i < n; i++) {
			if (!vms[i].off && sym_virDomainIsActive(vms[i].dom) == 0) {
				vms[i].off = true;
				log_info("group %s: VM %s is shut off", rq->group, vms[i].name);
			}
			up -= vms[i].off;
		}
		if (up == 0)
			return 0;
		if (rq->stop && *rq->stop) {
			snprintf(why, cap, "the agent is stopping");
			return -1;
		}
		if (clock_mono_ns() >= deadline)
			return timed_out(rq, vms, n, why, cap);
		if (clock_mono_ns() >= repress) {
			for (size_t i = 0; i < n; i++)
				if (!vms[i].off && strcmp(vms[i].how, "acpi") == 0)
					(void)sym_virDomainShutdownFlags(vms[i].dom,
									 VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN);
			repress = clock_mono_ns() + ACPI_REPRESS_MS * 1000000ull;
		}
		clock_nap_ms(POLL_MS);
	}
}

int
shutdown_vms(const struct shutdown_req *rq, char *why, size_t cap, json_t **done)
{
	struct sdvm vms[SHUTDOWN_MAX_VMS] = { 0 };
	virConnectPtr conn = NULL;
	const char *uri = rq->uri ? rq->uri : VMXML_DEFAULT_URI;
	size_t n = rq->n;
	int ret = -1;

	*done = NULL;
	if (n == 0 || n > SHUTDOWN_MAX_VMS) {
		snprintf(why, cap, "%zu VMs: 1 to %d can be shut down", n, SHUTDOWN_MAX_VMS);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		vms[i].name = (char *)rq->names[i];
	if (virt_dl_load() < 0) {
		snprintf(why, cap, "libvirt cannot be loaded");
		goto out;
	}
	conn = sym_virConnectOpen(uri);
	if (!conn) {
		snprintf(why, cap, "cannot connect to libvirt at %s: %s", uri,
			 sym_virGetLastErrorMessage());
		goto out;
	}
	if (start_all(rq, conn, vms, n, why, cap) < 0 || wait_all(rq, vms, n, why, cap) < 0)
		goto out;
	*done = json_array();
	for (size_t i = 0; *done && i < n; i++)
		json_array_append_new(*done, json_pack("{s:s, s:s}", "vm", vms[i].name, "how",
						       vms[i].how));
	ret = 0;
out:
	if (ret < 0)
		log_error("group %s: shutdown of its VMs failed: %s", rq->group, why);
	for (size_t i = 0; i < n && i < SHUTDOWN_MAX_VMS; i++)
		if (vms[i].dom)
			sym_virDomainFree(vms[i].dom);
	if (conn)
		sym_virConnectClose(conn);
	return ret;
}

int
shutdown_group_vms(const struct agent_config *cfg, const struct agent_group_cfg *g,
		   const volatile int *stop, char *why, size_t cap, json_t **done)
{
	const char *names[SHUTDOWN_MAX_VMS];
	struct shutdown_req rq = { .group = g->name, .uri = g->libvirt_uri, .names = names,
				   .timeout_s = cfg->planned_shutdown_s,
				   .timeout_key = "planned_shutdown_timeout", .stop = stop };
	char *copy = NULL, *save = NULL, *tok;
	int ret = -1;

	*done = NULL;
	if (!g->domains)
		return 1;
	copy = strdup(g->domains);
	if (!copy) {
		snprintf(why, cap, "out of memory");
		log_error("group %s: planned shutdown refused: %s", g->name, why);
		return -1;
	}
	for (tok = strtok_r(copy, " \t", &save); tok && rq.n < SHUTDOWN_MAX_VMS;
	     tok = strtok_r(NULL, " \t", &save))
		names[rq.n++] = tok;
	ret = rq.n == 0 ? 1 : shutdown_vms(&rq, why, cap, done);
	free(copy);
	return ret;
}
