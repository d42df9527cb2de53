/* The agent's configuration file: [agent], [group NAME] and [disk GROUP
 * DISK] sections into struct agent_config (see config.h). */
#include "replicator/config.h"

#include "common/ini.h"
#include "common/names.h"
#include "common/parse.h"
#include "replicator/config-keys.h"

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- agent setters -------------------------------------------------------- */

static int
set_format(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	if (strcmp(value, "qcow2") != 0 && strcmp(value, "raw") != 0) {
		*expect = "qcow2 or raw";
		return -1;
	}
	return cfg_set_string(obj, k, value, expect);
}

/* value as a duration of min..max seconds into k's field; else *expect = what. */
static int
set_duration_in(void *obj, const struct key_def *k, const char *value, const char **expect,
		uint64_t min, uint64_t max, const char *what)
{
	uint64_t v;

	if (parse_duration(value, &v) < 0 || v < min || v > max) {
		*expect = what;
		return -1;
	}
	*CFG_FIELD(obj, k->off, uint64_t) = v;
	return 0;
}

static int
set_duration(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	return set_duration_in(obj, k, value, expect, 0, 365ull * 86400,
			       "a duration such as 30s, 5m, 1h (at most a year)");
}

/* Longer than the receiver's longest legitimate silence: COMMITTED waits
 * for retention, which may merge a removed point into its child. */
static int
set_receiver_timeout(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	return set_duration_in(obj, k, value, expect, 10, 86400, "a duration from 10s to 1d");
}

/* A planned failover's wait for the group's VMs to shut down. */
static int
set_shutdown_timeout(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	return set_duration_in(obj, k, value, expect, 1, 86400, "a duration from 1s to 1d");
}

/* The daemon's control poll: 0 (off) or 1s..1h. */
static int
set_control_poll(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	return set_duration_in(obj, k, value, expect, 0, 3600,
			       "a duration from 1s to 1h, or 0 (off)");
}

/* Bytes per second: "20M" = 20 MiB/s; 64K .. 100G, or 0 for no limit. */
static int
set_bandwidth(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	uint64_t v;

	if (parse_size(value, &v) < 0 || (v != 0 && (v < 65536 || v > (100ull << 30)))) {
		*expect = "bytes per second such as 20M (64K..100G, 0 = unlimited)";
		return -1;
	}
	*CFG_FIELD(obj, k->off, uint64_t) = v;
	return 0;
}

static int
set_compress_level(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	uint64_t v;
	bool neg = value[0] == '-';

	/* -7..-1: zstd's fast levels (zstd --fast=N). */
	if (parse_u64(value + neg, &v) < 0 || v > (neg ? 7 : 19) || (neg && v == 0)) {
		*expect = "an integer -7..19 (0 = no compression, below 0 = zstd --fast)";
		return -1;
	}
	*CFG_FIELD(obj, k->off, int) = neg ? -(int)v : (int)v;
	return 0;
}

static int
set_yes_no(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "yes or no";
	return parse_bool(value, CFG_FIELD(obj, k->off, bool));
}

static int
set_file_snapshot(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	static const char *const names[] = { "auto", "reflink", "read" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(value, names[i]) == 0) {
			*CFG_FIELD(obj, k->off, enum agent_file_snapshot) = (enum agent_file_snapshot)i;
			return 0;
		}
	*expect = "auto, reflink or read";
	return -1;
}

static int
set_rereads(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	uint64_t v;

	if (parse_u64(value, &v) < 0 || v > 10) {
		*expect = "an integer 0..10";
		return -1;
	}
	*CFG_FIELD(obj, k->off, uint64_t) = v;
	return 0;
}

/* ---- agent ---------------------------------------------------------------- */

static const struct key_def agent_keys[] = {
	CFG_STR("name", cfg_set_name, struct agent_config, name, false),
	CFG_ENDPOINT("receiver", struct agent_config, receiver_host, receiver_port, true),
	CFG_STR("server_name", cfg_set_string, struct agent_config, server_name, false),
	CFG_STR("ca", cfg_set_string, struct agent_config, ca, true),
	CFG_STR("cert", cfg_set_string, struct agent_config, cert, true),
	CFG_STR("key", cfg_set_string, struct agent_config, key, true),
	CFG_STR("state_dir", cfg_set_string, struct agent_config, state_dir, true),
	CFG_KEY("compress_level", set_compress_level, struct agent_config, compress_level, false),
	CFG_KEY("compress_adapt", set_yes_no, struct agent_config, compress_adapt, false),
	CFG_KEY("log_level", cfg_set_log_level, struct agent_config, log_level, false),
	CFG_KEY("retry_max", set_duration, struct agent_config, retry_max_s, false),
	CFG_KEY("receiver_timeout", set_receiver_timeout, struct agent_config, receiver_timeout_s,
		false),
	CFG_KEY("bandwidth", set_bandwidth, struct agent_config, bandwidth, false),
	CFG_KEY("planned_shutdown_timeout", set_shutdown_timeout, struct agent_config,
		planned_shutdown_s, false),
	CFG_KEY("control_poll", set_control_poll, struct agent_config, control_poll_s, false),
	CFG_ENDPOINT("metrics", struct agent_config, metrics_host, metrics_port, false),
};

static const struct key_def group_keys[] = {
	CFG_STR("domain_xml", cfg_set_string, struct agent_group_cfg, domain_xml, false),
	CFG_STR("domains", cfg_set_string, struct agent_group_cfg, domains, false),
	CFG_STR("libvirt_uri", cfg_set_string, struct agent_group_cfg, libvirt_uri, false),
	CFG_STR("ceph_conf", cfg_set_string, struct agent_group_cfg, ceph_conf, false),
	CFG_STR("ceph_client", cfg_set_string, struct agent_group_cfg, ceph_client, false),
	CFG_KEY("rpo", set_duration, struct agent_group_cfg, rpo_s, false),
	CFG_KEY("min_interval", set_duration, struct agent_group_cfg, min_interval_s, false),
	CFG_KEY("bandwidth", set_bandwidth, struct agent_group_cfg, bandwidth, false),
	CFG_KEY("snapshot", set_file_snapshot, struct agent_group_cfg, snapshot, false),
	CFG_KEY("consistency_rereads", set_rereads, struct agent_group_cfg, consistency_rereads,
		false),
};

/* "pool/image": two names as Ceph allows them, bounded and without '@'
 * (a snapshot is never the source). */
static int
set_rbd_spec(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	const char *slash = strchr(value, '/');

	*expect = "POOL/IMAGE (letters, digits, '.', '_', '-')";
	if (!slash || slash == value || !slash[1] || strchr(slash + 1, '/') ||
	    !name_valid(value, (size_t)(slash - value)) ||
	    !name_valid(slash + 1, strlen(slash + 1)))
		return -1;
	return cfg_set_string(obj, k, value, expect);
}

static const struct key_def disk_keys[] = {
	CFG_STR("path", cfg_set_string, struct agent_disk_cfg, path, false),
	CFG_STR("format", set_format, struct agent_disk_cfg, format, false),
	CFG_STR("rbd", set_rbd_spec, struct agent_disk_cfg, rbd, false),
};

/* A disk seen before its group is known to exist; attached at the end. */
struct pending_disk {
	char group[NAME_MAX_LEN + 1];
	struct agent_disk_cfg d;
	int line;
};

struct agent_load {
	const struct ini_doc *doc;
	struct agent_config *c;
	int *group_lines;
	struct pending_disk *disks;
	size_t ndisks;
};

/* Every string a config holds is a key's (tables above) or a default in
 * such a field, so the tables say what to free. */
static void
disk_cfg_clear(struct agent_disk_cfg *d)
{
	cfg_keys_free(disk_keys, CFG_NKEYS(disk_keys), d);
}

void
agent_config_free(struct agent_config *c)
{
	if (c == NULL)
		return;
	cfg_keys_free(agent_keys, CFG_NKEYS(agent_keys), c);
	for (size_t g = 0; g < c->ngroups; g++) {
		for (size_t d = 0; d < c->groups[g].ndisks; d++)
			disk_cfg_clear(&c->groups[g].disks[d]);
		free(c->groups[g].disks);
		cfg_keys_free(group_keys, CFG_NKEYS(group_keys), &c->groups[g]);
	}
	free(c->groups);
	free(c);
}

static int
agent_main_section(void *ctx, const struct ini_doc *doc, size_t hdr, const struct word *w,
		   size_t *next)
{
	struct agent_load *L = ctx;

	(void)w;
	return cfg_section_keys(doc, hdr, next, agent_keys, CFG_NKEYS(agent_keys), L->c);
}

static int
agent_group_section(void *ctx, const struct ini_doc *doc, size_t hdr, const struct word *w,
		    size_t *next)
{
	struct agent_load *L = ctx;
	const struct ini_entry *h = ini_at(doc, hdr);
	struct agent_config *c = L->c;
	struct agent_group_cfg *ng;
	char name[NAME_MAX_LEN + 1];
	int *nl;

	if (cfg_section_name(doc, h, &w[1], "group", name) < 0)
		return -1;
	for (size_t g = 0; g < c->ngroups; g++) {
		if (strcmp(c->groups[g].name, name) == 0) {
			cfg_err(doc, h->line, "duplicate group '%s' (first on line %d)",
				name, L->group_lines[g]);
			return -1;
		}
	}
	ng = cfg_append(c->groups, c->ngroups, sizeof(*ng));
	if (ng == NULL)
		goto oom;
	c->groups = ng;
	nl = reallocarray(L->group_lines, c->ngroups + 1, sizeof(*nl));
	if (nl == NULL)
		goto oom;
	L->group_lines = nl;
	ng[c->ngroups].rpo_s = 300;
	ng[c->ngroups].consistency_rereads = 1;
	memcpy(ng[c->ngroups].name, name, sizeof(name));
	nl[c->ngroups] = h->line;
	c->ngroups++;
	return cfg_section_keys(doc, hdr, next, group_keys,
			    CFG_NKEYS(group_keys), &ng[c->ngroups - 1]);
oom:
	cfg_err(doc, h->line, "out of memory");
	return -1;
}

static int
agent_disk_section(void *ctx, const struct ini_doc *doc, size_t hdr, const struct word *w,
		   size_t *next)
{
	struct agent_load *L = ctx;
	const struct ini_entry *h = ini_at(doc, hdr);
	struct pending_disk *nd, *pd;

	nd = cfg_append(L->disks, L->ndisks, sizeof(*nd));
	if (nd == NULL) {
		cfg_err(doc, h->line, "out of memory");
		return -1;
	}
	L->disks = nd;
	pd = &nd[L->ndisks];
	pd->line = h->line;
	if (cfg_section_name(doc, h, &w[1], "group", pd->group) < 0 ||
	    cfg_section_name(doc, h, &w[2], "disk", pd->d.name) < 0)
		return -1;
	for (size_t i = 0; i < L->ndisks; i++) {
		if (strcmp(nd[i].group, pd->group) == 0 &&
		    strcmp(nd[i].d.name, pd->d.name) == 0) {
			cfg_err(doc, h->line,
				"duplicate disk '%s' in group '%s' (first on line %d)",
				pd->d.name, pd->group, nd[i].line);
			return -1;
		}
	}
	/* Counted before its keys so cleanup frees whatever they allocate. */
	L->ndisks++;
	if (cfg_section_keys(doc, hdr, next, disk_keys,
			 CFG_NKEYS(disk_keys), &pd->d) < 0)
		return -1;
	if (!pd->d.path == !pd->d.rbd) {
		cfg_err(doc, h->line, "[%s] needs exactly one of 'path' and 'rbd'",
			h->section);
		return -1;
	}
	if (pd->d.rbd && pd->d.format) {
		cfg_err(doc, h->line, "[%s]: 'format' applies to 'path' only",
			h->section);
		return -1;
	}
	return 0;
}

static const struct section_def agent_sections[] = {
	{ "agent", 1, agent_main_section },
	{ "group", 2, agent_group_section },
	{ "disk", 3, agent_disk_section },
};

/* Move pending disks into their groups; every group needs at least one,
 * or libvirt domains that bring theirs. */
static int
agent_attach_disks(struct agent_load *L)
{
	struct agent_config *c = L->c;

	for (size_t i = 0; i < L->ndisks; i++) {
		size_t g;

		for (g = 0; g < c->ngroups; g++)
			if (strcmp(c->groups[g].name, L->disks[i].group) == 0)
				break;
		if (g == c->ngroups) {
			cfg_err(L->doc, L->disks[i].line,
				"[disk %s %s] refers to undeclared group '%s' (add a [group %s] section)",
				L->disks[i].group, L->disks[i].d.name,
				L->disks[i].group, L->disks[i].group);
			return -1;
		}
	}
	for (size_t g = 0; g < c->ngroups; g++) {
		struct agent_group_cfg *grp = &c->groups[g];
		size_t n = 0;

		for (size_t i = 0; i < L->ndisks; i++)
			if (strcmp(grp->name, L->disks[i].group) == 0)
				n++;
		if (n == 0 && !grp->domains) {
			cfg_err(L->doc, L->group_lines[g],
				"group '%s' has no disks (add a [disk %s NAME] section or 'domains')",
				grp->name, grp->name);
			return -1;
		}
		if (n == 0)
			continue; /* a live group: its domains bring their disks */
		grp->disks = calloc(n, sizeof(*grp->disks));
		if (grp->disks == NULL) {
			cfg_err(L->doc, L->group_lines[g], "out of memory");
			return -1;
		}
		for (size_t i = 0; i < L->ndisks; i++) {
			if (strcmp(grp->name, L->disks[i].group) != 0)
				continue;
			grp->disks[grp->ndisks++] = L->disks[i].d;
			memset(&L->disks[i].d, 0, sizeof(L->disks[i].d));
		}
	}
	return 0;
}

static int
agent_defaults(struct agent_load *L)
{
	struct agent_config *c = L->c;

	if (c->name == NULL) {
		char host[HOST_NAME_MAX + 1];

		if (gethostname(host, sizeof(host)) < 0) {
			cfg_err(L->doc, 0, "[agent] name not set and gethostname failed: %m");
			return -1;
		}
		host[sizeof(host) - 1] = '\0';
		if (!name_valid(host, strlen(host))) {
			cfg_err(L->doc, 0,
				"[agent] name not set and the host name '%s' is not a valid name; set name (expected "
				CFG_NAME_EXPECT ")", host);
			return -1;
		}
		c->name = strdup(host);
		if (c->name == NULL)
			goto oom;
	}
	if (c->server_name == NULL) {
		c->server_name = strdup(c->receiver_host);
		if (c->server_name == NULL)
			goto oom;
	}
	return 0;
oom:
	cfg_err(L->doc, 0, "out of memory");
	return -1;
}

/* out: struct agent_config **, as cfg_load passes it. */
static int
agent_from_doc(const struct ini_doc *doc, void *out)
{
	struct agent_load L = { .doc = doc };
	int agent_line, rc = -1;

	L.c = calloc(1, sizeof(*L.c));
	if (L.c == NULL) {
		cfg_err(doc, 0, "out of memory");
		goto out;
	}
	L.c->compress_level = 3;
	L.c->compress_adapt = true; /* session 12: the seed's 2x, no loss at 8 agents */
	L.c->retry_max_s = 300;
	L.c->receiver_timeout_s = 300;
	L.c->planned_shutdown_s = 300;
	L.c->control_poll_s = 10;
	L.c->log_level = LOG_LVL_INFO;
	if (cfg_sections(doc, agent_sections, CFG_NKEYS(agent_sections),
			 "[agent], [group NAME] or [disk GROUP DISK]", &L, &agent_line) < 0)
		goto out;
	if (L.c->ngroups == 0) {
		cfg_err(doc, 0, "no protection group: add [group NAME] and [disk NAME DISK] sections");
		goto out;
	}
	if (agent_attach_disks(&L) < 0 || agent_defaults(&L) < 0)
		goto out;
	*(struct agent_config **)out = L.c;
	L.c = NULL;
	rc = 0;
out:
	for (size_t d = 0; d < L.ndisks; d++)
		disk_cfg_clear(&L.disks[d].d);
	free(L.disks);
	free(L.group_lines);
	agent_config_free(L.c);
	return rc;
}

int
agent_config_load(const char *path, struct agent_config **out)
{
	return cfg_load(path, NULL, agent_from_doc, out);
}

int
agent_config_load_string(const char *name, const char *text,
			 struct agent_config **out)
{
	return cfg_load(name, text, agent_from_doc, out);
}
