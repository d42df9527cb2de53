/* Shut down the live source VMs of a group for its final point
 * (shutdown.h). Asked once per VM, then awaited together; the ACPI button
 * is pressed again now and then, since a guest still booting its ACPI
 * daemon drops the first press. */
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

#define SHUTDOWN_MAX_VMS   64
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
ask(const struct agent_group_cfg *g, struct sdvm *v, char *why, size_t cap)
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
	log_info("group %s: VM %s: shutdown asked (%s)", g->name, v->name, v->how);
	return 0;
}

/* Open, look up and ask every VM. 0 / -1 (why set). */
static int
start_all(const struct agent_group_cfg *g, virConnectPtr conn, struct sdvm *vms, size_t n,
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
		if (ask(g, &vms[i], why, cap) < 0)
			return -1;
	}
	return 0;
}

/* Wait for all to be off. 0, or -1 with why naming the first still up. */
static int
wait_all(const struct agent_config *cfg, const struct agent_group_cfg *g, struct sdvm *vms,
	 size_t n, const volatile int *stop, char *why, size_t cap)
{
	uint64_t t0 = clock_mono_ns(), deadline = t0 + cfg->planned_shutdown_s * 1000000000ull;
	uint64_t repress = t0 + ACPI_REPRESS_MS * 1000000ull;

	for (;;) {
		size_t up = n;

		for (size_t i = 0; i < n; i++) {
			if (!vms[i].off && sym_virDomainIsActive(vms[i].dom) == 0) {
				vms[i].off = true;
				log_info("group %s: VM %s is shut off", g->name, vms[i].name);
			}
			up -= vms[i].off;
		}
		if (up == 0)
			return 0;
		if (stop && *stop) {
			snprintf(why, cap, "the agent is stopping");
			return -1;
		}
		if (clock_mono_ns() >= deadline) {
			for (size_t i = 0; i < n; i++)
				if (!vms[i].off) {
					snprintf(why, cap, "VM %s still running %" PRIu64 " s after "
						 "its shutdown was asked (%s, planned_shutdown_timeout); "
						 "not destroyed: shut it down, or fail over unplanned",
						 vms[i].name, cfg->planned_shutdown_s, vms[i].how);
					break;
				}
			return -1;
		}
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
shutdown_group_vms(const struct agent_config *cfg, const struct agent_group_cfg *g,
		   const volatile int *stop, char *why, size_t cap, json_t **done)
{
	struct sdvm vms[SHUTDOWN_MAX_VMS] = { 0 };
	char *names = NULL, *save = NULL, *tok;
	virConnectPtr conn = NULL;
	const char *uri = g->libvirt_uri ? g->libvirt_uri : VMXML_DEFAULT_URI;
	size_t n = 0;
	int ret = -1;

	*done = NULL;
	if (!g->domains)
		return 1;
	names = strdup(g->domains);
	if (!names) {
		snprintf(why, cap, "out of memory");
		goto out;
	}
	for (tok = strtok_r(names, " \t", &save); tok && n < SHUTDOWN_MAX_VMS;
	     tok = strtok_r(NULL, " \t", &save))
		vms[n++].name = tok;
	if (n == 0) {
		ret = 1;
		goto out;
	}
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
	if (start_all(g, conn, vms, n, why, cap) < 0 ||
	    wait_all(cfg, g, vms, n, stop, why, cap) < 0)
		goto out;
	*done = json_array();
	for (size_t i = 0; *done && i < n; i++)
		json_array_append_new(*done, json_pack("{s:s, s:s}", "vm", vms[i].name, "how",
						       vms[i].how));
	ret = 0;
out:
	if (ret < 0)
		log_error("group %s: planned shutdown refused: %s", g->name, why);
	for (size_t i = 0; i < n; i++)
		if (vms[i].dom)
			sym_virDomainFree(vms[i].dom);
	if (conn)
		sym_virConnectClose(conn);
	free(names);
	return ret;
}
