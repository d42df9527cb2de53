/* The options and the run that `nestor drill` and `nestor failover` share. */
#include "cli/boot.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/common.h"
#include "common/names.h"
#include "common/parse.h"
#include "common/strfmt.h"
#include "failover/report.h"
#include "replicator/config.h"

int
cli_boot_parse_check(int c, const char *arg, const char *cmd, struct drill_opts *o)
{
	uint64_t v;

	switch (c) {
	case CLI_BOOT_OPT_MARKER:
		if (!*arg || strchr(arg, '\n')) {
			fprintf(stderr, "nestor %s: --marker must be one non-empty line\n", cmd);
			return -1;
		}
		o->marker = arg;
		return 0;
	case CLI_BOOT_OPT_TIMEOUT:
		if (parse_duration(arg, &v) < 0 || v == 0 || v > 86400) {
			fprintf(stderr, "nestor %s: --timeout needs 1..86400 seconds, not '%s'\n",
				cmd, arg);
			return -1;
		}
		o->timeout_s = (unsigned)v;
		return 0;
	case CLI_BOOT_OPT_CHECK:
		if (!*arg || strchr(arg, '\n') || strchr(arg, '\r')) {
			fprintf(stderr, "nestor %s: --check-cmd must be one non-empty line\n", cmd);
			return -1;
		}
		o->check_cmd = arg;
		return 0;
	case CLI_BOOT_OPT_ACCEL:
		if (!strcmp(arg, "auto")) o->accel = DRILL_ACCEL_AUTO;
		else if (!strcmp(arg, "tcg")) o->accel = DRILL_ACCEL_TCG;
		else if (!strcmp(arg, "kvm")) o->accel = DRILL_ACCEL_KVM;
		else if (!strcmp(arg, "probe")) o->accel = DRILL_ACCEL_PROBE;
		else {
			fprintf(stderr, "nestor %s: --accel is auto, probe, tcg or kvm\n", cmd);
			return -1;
		}
		return 0;
	case CLI_BOOT_OPT_CPU:
		if (!name_valid(arg, strlen(arg))) {
			fprintf(stderr, "nestor %s: --cpu-baseline needs a CPU model name\n", cmd);
			return -1;
		}
		o->cpu_baseline = arg;
		return 0;
	case CLI_BOOT_OPT_ORDER:
		for (const char *p = arg;; p++) {
			size_t n = strcspn(p, ",");

			if (!name_valid(p, n)) {
				fprintf(stderr, "nestor %s: --boot-order is VM,VM,... of plain "
					"names\n", cmd);
				return -1;
			}
			p += n;
			if (!*p)
				break;
		}
		o->boot_order = arg;
		return 0;
	case CLI_BOOT_OPT_DELAY:
		if (parse_u64(arg, &v) < 0 || v > 3600) {
			fprintf(stderr, "nestor %s: --boot-delay needs 0..3600 seconds\n", cmd);
			return -1;
		}
		o->boot_delay_s = (unsigned)v;
		return 0;
	case CLI_BOOT_OPT_TCP:
		if (parse_u64(arg, &v) < 0 || v == 0 || v > 65535) {
			fprintf(stderr, "nestor %s: --tcp-port needs 1..65535\n", cmd);
			return -1;
		}
		o->tcp_port = (unsigned)v;
		return 0;
	case CLI_BOOT_OPT_AGENT: o->guest_agent = true; return 0;
	case CLI_BOOT_OPT_SCRIPT:
		if (access(arg, X_OK) < 0) {
			fprintf(stderr, "nestor %s: --script %s is not executable: %s\n", cmd,
				arg, strerror(errno));
			return -1;
		}
		o->script = arg;
		return 0;
	default:
		return 1;
	}
}

int
cli_boot_parse(int c, const char *arg, const char *cmd, struct cli_boot_args *a)
{
	switch (c) {
	case 'c': a->path = arg; return 0;
	case 'p': return cli_parse_point(cmd, arg, &a->o.point);
	case CLI_BOOT_OPT_JSON: a->json = true; return 0;
	case 'v': a->verbose = true; return 0;
	case CLI_BOOT_OPT_URI: a->o.uri = arg; return 0;
	case CLI_BOOT_OPT_FORCE: a->o.force = true; return 0;
	default: return cli_boot_parse_check(c, arg, cmd, &a->o);
	}
}

int
cli_boot_run(struct cli_rx *rx, const struct cli_boot_args *a)
{
	struct report r = { 0 };
	struct drill_opts o = a->o;
	int ret = 1;

	if (cli_rx_open_store(rx, true) < 0)
		goto out;
	o.max_memory = rx->cfg->drill_max_memory;
	o.max_vcpus = rx->cfg->drill_max_vcpus;
	o.max_devices = rx->cfg->drill_max_devices;
	o.networks = rx->cfg->networks;
	o.nnetworks = rx->cfg->nnetworks;
	ret = drill_run(rx->st, rx->cfg->store_dir, &o, &r) == 0 ? 0 : 1;
	report_output(&r, a->json, stdout);
out:
	report_clear(&r);
	return ret;
}

int
cli_boot_list(const struct cli_rx *rx, const char *group, bool failover, bool json)
{
	char *dir = strfmt("%s/%s/%s", rx->cfg->store_dir, group, failover ? "failover" : "drills");
	int ret;

	if (!dir)
		return 1;
	ret = report_list(dir, json, stdout) == 0 ? 0 : 1;
	free(dir);
	return ret;
}
