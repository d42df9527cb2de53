/* `nestor failover`: the boot path of the drill with the VMs kept up under
 * their own names, plus --status (markers + libvirt state) and --release. */
#define _GNU_SOURCE
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"
#include "common/virt-dl.h"
#include "failover/drill.h"
#include "failover/failover.h"
#include "replicator/receiver/marker.h"
#include "replicator/config.h"
#include "replicator/receiver/store.h"

#define DEFAULT_RECEIVER_CONF "/etc/nestor/receiver.conf"

static const char usage_failover[] =
	"usage: nestor failover [--config FILE] GROUP [--point ID|latest] [--planned]\n"
	"                       [--network-map SRC=DST,...] [--uri URI] [--json]\n"
	"                       [drill verification options: --marker, --timeout,\n"
	"                        --check-cmd, --accel, --cpu-baseline, --boot-order,\n"
	"                        --boot-delay, --tcp-port, --guest-agent, --script]\n"
	"       nestor failover [--config FILE] --status [--json]\n"
	"       nestor failover [--config FILE] --release GROUP [--uri URI]\n"
	"\n"
	"Fail a protection group over to this receiver: boot every VM of a recovery\n"
	"point (default: the newest complete one) as a persistent libvirt domain under\n"
	"its own name (or NAME-failover-ID if that name is taken), on qcow2 overlays\n"
	"kept in <store>/<group>/failover/<id>/ (the point itself is never written),\n"
	"verify each VM like a drill, and leave them running. The group is marked\n"
	"failed over (<store>/<group>/failover.json): the receiver refuses new points\n"
	"for it until --release. Each NIC joins the network given by --network-map for\n"
	"its source network, else the source network's name if this host has it, else\n"
	"the isolated network nestor-failover-GROUP.\n"
	"\n"
	"  -c, --config FILE   receiver configuration (default " DEFAULT_RECEIVER_CONF ")\n"
	"  -p, --point ID      point to boot, or 'latest' (default)\n"
	"      --planned       planned failover (source shut down, final agent --once\n"
	"                      done): refuse if an incomplete point is pending\n"
	"      --network-map M SRC=DST[,SRC=DST...]: source network -> network here\n"
	"      --json          print the report (or --status) as JSON\n"
	DRILL_COMMON_USAGE
	"      --status        show failed-over groups and the state of their VMs\n"
	"      --release GROUP end the failover of GROUP once its VMs are shut down:\n"
	"                      undefine the domains, remove the network nestor created\n"
	"                      and the marker; overlays stay (they hold the VMs' changes)\n"
	"  -v, --verbose       debug logging\n"
	"Exit: 0 success, 1 failure (a VM not verified, refused, libvirt), 2 usage.\n";

enum { OPT_JSON = 300, OPT_PLANNED, OPT_NETMAP, OPT_STATUS, OPT_RELEASE };

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

static int
status(const char *store_dir, const char *uri, bool json)
{
	DIR *dir = opendir(store_dir);
	virConnectPtr conn = NULL;
	json_t *arr = json_array();
	struct dirent *de;
	bool header = false;
	int ret = -1;

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
		g = json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:o}", "group", de->d_name,
			      "failover", json_object_get(m, "failover"),
			      "point", json_object_get(m, "point"),
			      "since", json_object_get(m, "time"),
			      "network", json_object_get(m, "network"),
			      "uri", json_object_get(m, "uri"), "vms", vms);
		json_decref(m);
		if (!g)
			continue;
		if (!json) {
			if (!header)
				printf("%-20s %-6s %-21s %-20s %-28s %s\n", "GROUP", "POINT", "SINCE",
				       "VM", "DOMAIN", "STATE");
			header = true;
			for (size_t i = 0; i < json_array_size(vms); i++) {
				json_t *v = json_array_get(vms, i);
				const char *vn = json_string_value(json_object_get(v, "vm"));
				const char *dn = json_string_value(json_object_get(v, "domain"));

				printf("%-20s %-6" JSON_INTEGER_FORMAT " %-21s %-20s %-28s %s\n",
				       de->d_name,
				       json_integer_value(json_object_get(g, "point")),
				       json_string_value(json_object_get(g, "since"))
				       ? json_string_value(json_object_get(g, "since")) : "?",
				       vn ? vn : "?", dn ? dn : "?",
				       json_string_value(json_object_get(v, "state")));
			}
		}
		json_array_append_new(arr, g);
	}
	if (json) {
		char *txt = json_dumps(arr, JSON_INDENT(2));
		if (txt)
			printf("%s\n", txt);
		free(txt);
	} else if (!header) {
		printf("no group is failed over\n");
	}
	ret = 0;
out:
	if (dir)
		closedir(dir);
	if (conn)
		sym_virConnectClose(conn);
	json_decref(arr);
	return ret;
}

/* Undefine the failed-over domains (all must be shut off), remove the
 * isolated network if the failover created it, then the marker. */
static int
release(const char *store_dir, const char *group, const char *uri)
{
	json_t *m = NULL, *vms;
	virConnectPtr conn = NULL;
	bool absent = false;
	const char *net;
	int ret = -1;

	m = failover_marker_load(store_dir, group, &absent);
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

		if (dom && sym_virDomainUndefine(dom) < 0) {
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

int
failover_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "point", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "planned", no_argument, NULL, OPT_PLANNED },
		{ "network-map", required_argument, NULL, OPT_NETMAP },
		{ "status", no_argument, NULL, OPT_STATUS },
		{ "release", no_argument, NULL, OPT_RELEASE },
		DRILL_COMMON_OPTIONS,
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct drill_opts o = { .marker = DRILL_DEFAULT_MARKER,
				.timeout_s = DRILL_DEFAULT_TIMEOUT_S,
				.cpu_baseline = DRILL_DEFAULT_CPU_BASELINE,
				.mode = DRILL_MODE_FAILOVER };
	const char *path = DEFAULT_RECEIVER_CONF;
	struct receiver_config *cfg = NULL;
	struct store *st = NULL;
	struct report r = { 0 };
	struct sigaction sa = { .sa_handler = drill_on_signal };
	bool json = false, verbose = false, do_status = false, do_release = false;
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "c:p:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'p':
			if (!strcmp(optarg, "latest")) {
				o.point = 0;
			} else if (parse_u64(optarg, &o.point) < 0 || o.point == 0) {
				fprintf(stderr, "nestor failover: --point needs a point id or "
					"'latest', not '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_JSON: json = true; break;
		case OPT_PLANNED: o.planned = true; break;
		case OPT_NETMAP:
			if (!drill_network_map_valid(optarg)) {
				fprintf(stderr, "nestor failover: --network-map is SRC=DST[,SRC=DST...] "
					"of plain network names\n");
				return 2;
			}
			o.network_map = optarg;
			break;
		case OPT_STATUS: do_status = true; break;
		case OPT_RELEASE: do_release = true; break;
		case 'v': verbose = true; break;
		case 'h': fputs(usage_failover, stdout); return 0;
		default:
			switch (drill_parse_common(c, optarg, "failover", &o)) {
			case 0: break;
			case -1: return 2;
			default: fputs(usage_failover, stderr); return 2;
			}
		}
	}
	if (do_status && do_release) {
		fprintf(stderr, "nestor failover: --status and --release exclude each other\n");
		return 2;
	}
	if (do_status ? optind != argc : optind != argc - 1) {
		fprintf(stderr, "nestor failover: expected %s\n%s",
			do_status ? "no GROUP with --status" : "one GROUP", usage_failover);
		return 2;
	}
	o.group = do_status ? NULL : argv[optind];
	if (!o.uri)
		o.uri = getenv("LIBVIRT_DEFAULT_URI");
	if (!o.uri || !*o.uri)
		o.uri = DRILL_DEFAULT_URI;
	log_set_prefix("failover");
	if (o.group && !name_valid(o.group, strlen(o.group))) {
		log_error("invalid group name '%s'", o.group);
		return 2;
	}
	if (receiver_config_load(path, &cfg) < 0)
		return 1;
	log_set_level(verbose ? LOG_LVL_DEBUG : cfg->log_level);
	if (do_status) {
		ret = status(cfg->store_dir, o.uri, json) == 0 ? 0 : 1;
		goto out;
	}
	if (do_release) {
		ret = release(cfg->store_dir, o.group, o.uri) == 0 ? 0 : 1;
		goto out;
	}
	st = receiver_store_open(cfg);
	if (!st)
		goto out;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	ret = drill_run(st, cfg->store_dir, &o, &r) == 0 ? 0 : 1;
	report_output(&r, json, stdout);
out:
	report_clear(&r);
	store_free(st);
	receiver_config_free(cfg);
	return ret;
}
