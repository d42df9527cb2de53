/* Failover bookkeeping beside the drill's boot path (drill_run in failover
 * mode): the failed-over groups with their VMs' states, and the release. */
#define _GNU_SOURCE
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "common/names.h"
#include "common/virt-dl.h"
#include "failover/drill.h"
#include "failover/drnet-failover.h"
#include "failover/failover.h"
#include "replicator/receiver/marker.h"
#include "replicator/config.h"
#include "replicator/receiver/store.h"

static const char *
state_name(int state)
{
	switch (state) {
	case VIR_DOMAIN_RUNNING: return "running";
	case VIR_DOMAIN_BLOCKED: return "blocked";
	case VIR_DOMAIN_PAUSED: return "paused";
	case VIR_DOMAIN_SHUTDOWN: return "shutting-down";
	case VIR_DOMAIN_SHUTOFF: return "shut-off";
	case VIR_DOMAIN_CRASHED: return "crashed";
	case VIR_DOMAIN_PMSUSPENDED: return "suspended";
	default: return "unknown";
	}
}

/* State of domain name ("absent" if libvirt does not know it). */
static const char *
dom_state(virConnectPtr conn, const char *name)
{
	virDomainPtr dom = conn && name ? sym_virDomainLookupByName(conn, name) : NULL;
	int state = -1, reason = 0;

	if (!conn)
		return "unknown";
	if (!dom)
		return "absent";
	if (sym_virDomainGetState(dom, &state, &reason, 0) < 0)
		state = -1;
	sym_virDomainFree(dom);
	return state_name(state);
}

json_t *
failover_status(const char *store_dir, const char *uri)
{
	DIR *dir = opendir(store_dir);
	virConnectPtr conn = NULL;
	json_t *arr = json_array();
	struct dirent *de;
	json_t *ret = NULL;

	if (!dir) {
		log_error("store %s: %m", store_dir);
		goto out;
	}
	/* Without libvirt (error logged) the states are unknown too. */
	if (virt_dl_load() == 0 && !(conn = sym_virConnectOpen(uri)))
		log_warn("cannot connect to libvirt at %s: %s; VM states unknown", uri,
			 sym_virGetLastErrorMessage());
	while ((de = readdir(dir)) != NULL) {
		json_t *m, *vms, *g;
		bool absent = false;

		if (!name_valid(de->d_name, strlen(de->d_name)) ||
		    !failover_group_is_failed_over(store_dir, de->d_name))
			continue;
		m = failover_marker_load(store_dir, de->d_name, &absent);
		if (!m)
			continue;
		vms = json_array();
		for (size_t i = 0; i < json_array_size(json_object_get(m, "vms")); i++) {
			json_t *v = json_array_get(json_object_get(m, "vms"), i);
			const char *dn = json_string_value(json_object_get(v, "domain"));

			json_array_append_new(vms, json_pack("{s:O?, s:s?, s:s}", "vm",
							     json_object_get(v, "vm"), "domain", dn,
							     "state", dom_state(conn, dn)));
		}
		g = json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:o, s:o?}", "group", de->d_name,
			      "failover", json_object_get(m, "failover"),
			      "point", json_object_get(m, "point"),
			      "since", json_object_get(m, "time"),
			      "network", json_object_get(m, "network"),
			      "uri", json_object_get(m, "uri"), "vms", vms,
			      "dr_networks", drnet_failover_status(store_dir, de->d_name));
		json_decref(m);
		if (!g)
			continue;
		json_array_append_new(arr, g);
	}
	ret = arr;
	arr = NULL;
out:
	if (dir)
		closedir(dir);
	if (conn)
		sym_virConnectClose(conn);
	json_decref(arr);
	return ret;
}

/* What an interrupted failover of group left of its DR networks. */
static int
release_interrupted(const char *store_dir, const char *group, const char *uri)
{
	virConnectPtr conn = NULL;
	int ret = -1;

	if (virt_dl_load() < 0)
		return -1;
	if (!(conn = sym_virConnectOpen(uri))) {
		log_error("cannot connect to libvirt at %s: %s", uri, sym_virGetLastErrorMessage());
		return -1;
	}
	log_info("group %s is not failed over, but an interrupted failover left DR network "
		 "items: releasing them", group);
	ret = drnet_failover_release(conn, store_dir, group);
	sym_virConnectClose(conn);
	return ret;
}

int
failover_release(const char *store_dir, const char *group, const char *uri)
{
	json_t *m = NULL, *vms;
	virConnectPtr conn = NULL;
	bool absent = false;
	const char *net;
	int ret = -1;

	m = failover_marker_load(store_dir, group, &absent);
	if (!m && absent && drnet_failover_pending(store_dir, group)) {
		/* a failover ended between its DR networks and its marker */
		ret = release_interrupted(store_dir, group, uri);
		goto out;
	}
	if (!m) {
		if (absent)
			log_error("group %s is not failed over", group);
		goto out;
	}
	if (virt_dl_load() < 0)
		goto out;
	conn = sym_virConnectOpen(uri);
	if (!conn) {
		log_error("cannot connect to libvirt at %s: %s", uri,
			  sym_virGetLastErrorMessage());
		goto out;
	}
	vms = json_object_get(m, "vms");
	/* all or nothing: check every VM before touching any */
	for (size_t i = 0; i < json_array_size(vms); i++) {
		const char *dn = json_string_value(json_object_get(json_array_get(vms, i),
								   "domain"));
		virDomainPtr dom = dn ? sym_virDomainLookupByName(conn, dn) : NULL;

		if (dom && sym_virDomainIsActive(dom) != 0) {
			log_error("group %s: domain %s is still running; shut it down first "
				  "(virsh shutdown %s)", group, dn, dn);
			sym_virDomainFree(dom);
			goto out;
		}
		if (dom)
			sym_virDomainFree(dom);
	}
	for (size_t i = 0; i < json_array_size(vms); i++) {
		const char *dn = json_string_value(json_object_get(json_array_get(vms, i),
								   "domain"));
		virDomainPtr dom = dn ? sym_virDomainLookupByName(conn, dn) : NULL;

		/* A failback's reverse replication (docs/failback-design.md)
		 * leaves its checkpoints on the domain: their metadata goes with
		 * it (libvirt refuses to undefine a domain that has some). */
		if (dom && sym_virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA) < 0) {
			log_error("group %s: cannot undefine domain %s: %s", group, dn,
				  sym_virGetLastErrorMessage());
			sym_virDomainFree(dom);
			goto out;
		}
		if (dom) {
			log_info("group %s: domain %s undefined", group, dn);
			sym_virDomainFree(dom);
		}
	}
	if (drnet_failover_release(conn, store_dir, group) < 0)
		goto out;
	net = json_string_value(json_object_get(m, "network"));
	if (net && json_is_true(json_object_get(m, "network_created"))) {
		virNetworkPtr n = sym_virNetworkLookupByName(conn, net);

		if (n) {
			if (sym_virNetworkIsActive(n) == 1)
				(void)sym_virNetworkDestroy(n);
			if (sym_virNetworkUndefine(n) < 0)
				log_warn("group %s: cannot undefine network %s: %s", group, net,
					 sym_virGetLastErrorMessage());
			sym_virNetworkFree(n);
		}
	}
	if (failover_marker_remove(store_dir, group) < 0)
		goto out;
	log_info("group %s released: the receiver accepts its points again; the "
		 "failover overlays (or, on a ceph store, the failover-* RBD clones) "
		 "stay; work directory %s", group,
		 json_string_value(json_object_get(m, "workdir"))
		 ? json_string_value(json_object_get(m, "workdir")) : "?");
	ret = 0;
out:
	if (conn)
		sym_virConnectClose(conn);
	json_decref(m);
	return ret;
}
