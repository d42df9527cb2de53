/* The receiver's configuration file: [receiver], [client CN] and [group
 * NAME] sections into struct receiver_config (see config.h). */
#include "replicator/config.h"

#include "common/httpurl.h"
#include "common/ini.h"
#include "common/names.h"
#include "common/parse.h"
#include "proto/codec.h"
#include "replicator/config-keys.h"
#include "replicator/config-network.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- receiver setters ----------------------------------------------------- */

static int
set_checkpoint(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	uint64_t v;

	if (parse_size(value, &v) < 0 || v < (1ULL << 20) || v > (4ULL << 30)) {
		*expect = "a size from 1M to 4G (suffix K, M, G)";
		return -1;
	}
	*CFG_FIELD(obj, k->off, uint64_t) = v;
	return 0;
}

/* A size key within [min, max]; expect names the range. */
static int
set_size_in(void *obj, const struct key_def *k, const char *value, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (parse_size(value, &v) < 0 || v < min || v > max)
		return -1;
	*CFG_FIELD(obj, k->off, uint64_t) = v;
	return 0;
}

static int
set_max_disk_size(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "a size from 1M to 1P (suffix K, M, G, T)";
	return set_size_in(obj, k, value, 1ULL << 20, PROTO_MAX_DISK_SIZE);
}

static int
set_scrub_rate(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "a rate in bytes/s from 1M to 64G (suffix K, M, G)";
	return set_size_in(obj, k, value, 1ULL << 20, 64ULL << 30);
}

/* A count key within [1, max]. */
static int
set_count_in(void *obj, const struct key_def *k, const char *value, uint64_t max)
{
	uint64_t v;

	if (parse_u64(value, &v) < 0 || v < 1 || v > max)
		return -1;
	*CFG_FIELD(obj, k->off, uint64_t) = v;
	return 0;
}

static int
set_max_disks(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "a number of disks from 1 to 64";
	return set_count_in(obj, k, value, PROTO_MAX_DISKS);
}

/* "none" (0: no quota) or a size. */
static int
set_quota(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "none or a size from 1M to 1P (suffix K, M, G, T)";
	if (strcmp(value, "none") == 0) {
		*CFG_FIELD(obj, k->off, uint64_t) = 0;
		return 0;
	}
	return set_size_in(obj, k, value, 1ULL << 20, 1ULL << 50);
}

static int
set_max_hash_bytes(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	/* At least one block of the largest kind, or a query could not progress. */
	*expect = "a size from 16M to 16G (suffix K, M, G)";
	return set_size_in(obj, k, value, 16ULL << 20, 16ULL << 30);
}

static int
set_output_max(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "a size from 256K to 64M (suffix K, M)";
	return set_size_in(obj, k, value, 256ULL << 10, 64ULL << 20);
}

/* At least one maximal extent, or a write could never be queued. */
static int
set_write_buffer_total(void *obj, const struct key_def *k, const char *value,
		       const char **expect)
{
	*expect = "a size from 1M to 64G (suffix K, M, G)";
	return set_size_in(obj, k, value, PROTO_MAX_EXTENT, 64ULL << 30);
}

/* Worker threads for the heavy steps (issue 12, section 3): 0 = the
 * online CPUs, resolved when the receiver starts. */
static int
set_workers(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "a number of threads from 1 to 64";
	return set_count_in(obj, k, value, 64);
}

static int
set_work_queue_max(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "a number of jobs from 1 to 65536";
	return set_count_in(obj, k, value, 65536);
}

static int
set_extents_in_flight(void *obj, const struct key_def *k, const char *value,
		      const char **expect)
{
	*expect = "a number of extents from 1 to 64";
	return set_count_in(obj, k, value, 64);
}

static int
set_nbd_total(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "a number of processes from 1 to 4096";
	return set_count_in(obj, k, value, 4096);
}

/* Append the group name p[len] to cl->groups (capacity *cap) unless it is
 * there already. */
static int
client_add_group(struct receiver_client_cfg *cl, const char *p, size_t len, size_t *cap,
		 const char **expect)
{
	for (size_t i = 0; i < cl->ngroups; i++) {
		if (strlen(cl->groups[i]) == len && memcmp(cl->groups[i], p, len) == 0) {
			*expect = "distinct group names";
			return -1;
		}
	}
	if (cl->ngroups == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;
		char **nv = reallocarray(cl->groups, ncap, sizeof(*nv));

		if (nv == NULL) {
			*expect = NULL;
			return -1;
		}
		cl->groups = nv;
		*cap = ncap;
	}
	cl->groups[cl->ngroups] = strndup(p, len);
	if (cl->groups[cl->ngroups] == NULL) {
		*expect = NULL;
		return -1;
	}
	cl->ngroups++;
	return 0;
}

/* groups = "*" or space-separated distinct names. The list is built in
 * place: the client is already counted in its config, so on an error
 * receiver_config_free takes whatever was added. */
static int
set_client_groups(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	struct receiver_client_cfg *cl = obj;
	const char *p = value;
	size_t cap = 0;

	(void)k;
	*expect = "'*' or space-separated group names (" CFG_NAME_EXPECT ")";
	if (strcmp(value, "*") == 0) {
		cl->all_groups = 1;
		return 0;
	}
	for (;;) {
		size_t len;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, " \t");
		if (!name_valid(p, len) || client_add_group(cl, p, len, &cap, expect) < 0)
			return -1;
		p += len;
	}
	return cl->ngroups > 0 ? 0 : -1;
}

/* ---- receiver ------------------------------------------------------------- */

/* A duration in whole seconds into an unsigned field, within [lo, hi] or 0
 * when zero_ok. */
static int
set_seconds_in(void *obj, const struct key_def *k, const char *value, uint64_t lo,
	       uint64_t hi, bool zero_ok)
{
	uint64_t v;

	if (parse_duration(value, &v) < 0 || ((v < lo || v > hi) && !(zero_ok && v == 0)))
		return -1;
	*CFG_FIELD(obj, k->off, unsigned) = (unsigned)v;
	return 0;
}

static int
set_handshake_timeout(void *obj, const struct key_def *k, const char *value,
		      const char **expect)
{
	*expect = "a duration from 1s to 10m";
	return set_seconds_in(obj, k, value, 1, 600, false);
}

static int
set_idle_timeout(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "0 (off) or a duration from 10s to 7d";
	return set_seconds_in(obj, k, value, 10, 7 * 86400, true);
}

static int
set_stall_timeout(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "0 (off) or a duration from 5s to 1d";
	return set_seconds_in(obj, k, value, 5, 86400, true);
}

static int
set_conn_cap(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	uint64_t v;

	if (parse_u64(value, &v) < 0 || v < 1 || v > 1048576) {
		*expect = "a count from 1 to 1048576";
		return -1;
	}
	*CFG_FIELD(obj, k->off, unsigned) = (unsigned)v;
	return 0;
}

static int
set_store_backend(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	bool *ceph = CFG_FIELD(obj, k->off, bool);

	if (strcmp(value, "local") == 0)
		*ceph = false;
	else if (strcmp(value, "ceph") == 0)
		*ceph = true;
	else {
		*expect = "local or ceph";
		return -1;
	}
	return 0;
}

static int
set_retention(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	return retention_parse(value, CFG_FIELD(obj, k->off, struct retention_policy), expect);
}

/* ---- history rules (issue 12, section 1; docs/retention.md) -------------- */

#define SKEW_MAX_S      86400ull            /* max_clock_skew: at most a day */
#define IMMUTABLE_MAX_S (3660ull * 86400)   /* immutable: at most ten years */
#define MIN_POINTS_MAX  100000ull

/* max_clock_skew 5m, immutable off, retention_min_points 3. */
static const struct receiver_history_cfg history_default = { 300, 0, 3 };

static int
set_seconds(void *obj, const struct key_def *k, const char *value, uint64_t min,
	    uint64_t max, const char *what, const char **expect)
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
set_skew(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	return set_seconds(obj, k, value, 1, SKEW_MAX_S,
			   "a duration from 1s to 1d such as 30s, 5m, 1h", expect);
}

static int
set_immutable(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	return set_seconds(obj, k, value, 0, IMMUTABLE_MAX_S,
			   "0 (off) or a duration up to 3660d such as 12h, 7d, 30d", expect);
}

static int
set_min_points(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	uint64_t v;

	if (parse_u64(value, &v) < 0 || v < 1 || v > MIN_POINTS_MAX) {
		*expect = "a number of points from 1 to 100000";
		return -1;
	}
	*CFG_FIELD(obj, k->off, uint64_t) = v;
	return 0;
}

/* ---- drill caps (issue 12, section 2; docs/drill.md) --------------------- */

#define DRILL_MAX_VCPUS   4096  /* libvirt's own ceiling for a QEMU guest */
#define DRILL_MAX_DEVICES 4096

/* "auto" is 0: decided on this host at drill time. */
static bool
set_auto(void *obj, const struct key_def *k, const char *value)
{
	if (strcmp(value, "auto") != 0)
		return false;
	*CFG_FIELD(obj, k->off, uint64_t) = 0;
	return true;
}

static int
set_drill_memory(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "auto or a size from 64M to 1P (suffix K, M, G, T)";
	return set_auto(obj, k, value) ? 0 : set_size_in(obj, k, value, 64ULL << 20, 1ULL << 50);
}

static int
set_drill_vcpus(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "auto or a number of vCPUs from 1 to 4096";
	return set_auto(obj, k, value) ? 0 : set_count_in(obj, k, value, DRILL_MAX_VCPUS);
}

static int
set_drill_devices(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "a number of devices from 1 to 4096";
	return set_count_in(obj, k, value, DRILL_MAX_DEVICES);
}

/* ---- monitoring and the dashboard (issue 16; docs/monitoring.md,
 * docs/dashboard.md) ----------------------------------------------------------- */

#define RPO_MAX_S (366ULL * 86400)

/* The RPO target of a group (dashboard, metrics, notify). */
static int
set_rpo(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	return set_seconds(obj, k, value, 1, RPO_MAX_S,
			   "a duration from 1s to 366d such as 30s, 5m, 1h", expect);
}

/* The webhook: checked here so that `nestor config check` refuses what
 * the receiver could not post to. */
static int
set_notify(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	struct httpurl u;

	if (httpurl_parse(value, &u, expect) < 0)
		return -1;
	return cfg_set_string(obj, k, value, expect);
}

static int
set_yes_no(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "yes or no";
	return parse_bool(value, CFG_FIELD(obj, k->off, bool));
}

static int
set_history_size(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	*expect = "a size from 4K to 64M (suffix K, M)";
	return set_size_in(obj, k, value, 4ULL << 10, 64ULL << 20);
}

/* Numeric loopback addresses and "localhost": what a dashboard may be
 * served on without auth by default. */
static bool
host_is_loopback(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;
	const char *h = host;
	char buf[64];
	size_t len = strlen(host);

	if (strcmp(host, "localhost") == 0)
		return true;
	if (len > 2 && len < sizeof(buf) && host[0] == '[' && host[len - 1] == ']') {
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
		h = buf;
	}
	if (inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, h, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* The dashboard shows every group's state to whoever reaches the metrics
 * listener: beyond loopback only with auth, or when asked for. */
static int
check_dashboard(const struct ini_doc *doc, const struct receiver_config *c, int line)
{
	if (!c->metrics_host || c->dashboard_auth || c->dashboard_public ||
	    host_is_loopback(c->metrics_host))
		return 0;
	cfg_err(doc, line,
		"metrics = %s:%u serves the dashboard beyond loopback without authentication: "
		"set dashboard_auth = FILE (docs/dashboard.md), dashboard_public = yes, or a "
		"loopback address", c->metrics_host, c->metrics_port);
	return -1;
}

static const struct key_def receiver_keys[] = {
	CFG_ENDPOINT("listen", struct receiver_config, listen_host, listen_port, true),
	CFG_STR("ca", cfg_set_string, struct receiver_config, ca, true),
	CFG_STR("cert", cfg_set_string, struct receiver_config, cert, true),
	CFG_STR("key", cfg_set_string, struct receiver_config, key, true),
	CFG_STR("store", cfg_set_string, struct receiver_config, store_dir, true),
	CFG_KEY("log_level", cfg_set_log_level, struct receiver_config, log_level, false),
	CFG_KEY("handshake_timeout", set_handshake_timeout, struct receiver_config,
		handshake_timeout_s, false),
	CFG_KEY("idle_timeout", set_idle_timeout, struct receiver_config, idle_timeout_s, false),
	CFG_KEY("stall_timeout", set_stall_timeout, struct receiver_config, stall_timeout_s, false),
	CFG_KEY("max_conns", set_conn_cap, struct receiver_config, max_conns, false),
	CFG_KEY("max_conns_per_client", set_conn_cap, struct receiver_config,
		max_conns_per_client, false),
	CFG_KEY("max_conns_per_address", set_conn_cap, struct receiver_config,
		max_conns_per_address, false),
	CFG_KEY("checkpoint_interval", set_checkpoint, struct receiver_config, checkpoint_bytes, false),
	CFG_ENDPOINT("metrics", struct receiver_config, metrics_host, metrics_port, false),
	CFG_KEY("store_backend", set_store_backend, struct receiver_config, store_ceph, false),
	CFG_STR("ceph_conf", cfg_set_string, struct receiver_config, ceph_conf, false),
	CFG_STR("ceph_client", cfg_set_name, struct receiver_config, ceph_client, false),
	CFG_STR("ceph_pool", cfg_set_name, struct receiver_config, ceph_pool, false),
	CFG_KEY("max_disk_size", set_max_disk_size, struct receiver_config, limits.max_disk_size, false),
	CFG_KEY("max_disks", set_max_disks, struct receiver_config, limits.max_disks, false),
	CFG_KEY("quota", set_quota, struct receiver_config, limits.quota, false),
	CFG_KEY("max_hash_bytes_per_query", set_max_hash_bytes, struct receiver_config,
		max_hash_bytes, false),
	CFG_KEY("session_output_max", set_output_max, struct receiver_config,
		session_output_max, false),
	CFG_KEY("max_nbd_total", set_nbd_total, struct receiver_config, max_nbd_total, false),
	CFG_KEY("max_nbd_per_session", set_max_disks, struct receiver_config,
		max_nbd_per_session, false),
	CFG_KEY("write_buffer_total", set_write_buffer_total, struct receiver_config,
		write_buffer_total, false),
	CFG_KEY("workers", set_workers, struct receiver_config, workers, false),
	CFG_KEY("work_queue_max", set_work_queue_max, struct receiver_config, work_queue_max,
		false),
	CFG_KEY("extents_in_flight", set_extents_in_flight, struct receiver_config,
		extents_in_flight, false),
	CFG_KEY("max_clock_skew", set_skew, struct receiver_config, history.max_clock_skew_s, false),
	CFG_KEY("immutable", set_immutable, struct receiver_config, history.immutable_s, false),
	CFG_KEY("retention_min_points", set_min_points, struct receiver_config,
		history.min_points, false),
	CFG_KEY("drill_max_memory", set_drill_memory, struct receiver_config, drill_max_memory,
		false),
	CFG_KEY("drill_max_vcpus", set_drill_vcpus, struct receiver_config, drill_max_vcpus,
		false),
	CFG_KEY("drill_max_devices", set_drill_devices, struct receiver_config,
		drill_max_devices, false),
	CFG_KEY("scrub_rate", set_scrub_rate, struct receiver_config, scrub_rate, false),
	CFG_KEY("retention", set_retention, struct receiver_config, retention, false),
	CFG_KEY("rpo", set_rpo, struct receiver_config, rpo_s, false),
	CFG_STR("notify", set_notify, struct receiver_config, notify_url, false),
	CFG_STR("notify_ca", cfg_set_string, struct receiver_config, notify_ca, false),
	CFG_STR("dashboard_auth", cfg_set_string, struct receiver_config, dashboard_auth, false),
	CFG_KEY("dashboard_public", set_yes_no, struct receiver_config, dashboard_public, false),
	CFG_KEY("rpo_history_size", set_history_size, struct receiver_config, rpo_history_size,
		false),
};

static const struct key_def client_keys[] = {
	{ "groups", set_client_groups, 0, true, 0, false },
};

static const struct key_def rx_group_keys[] = {
	CFG_KEY("retention", set_retention, struct receiver_group_cfg, retention, false),
	CFG_KEY("max_disk_size", set_max_disk_size, struct receiver_group_cfg, limits.max_disk_size, false),
	CFG_KEY("max_disks", set_max_disks, struct receiver_group_cfg, limits.max_disks, false),
	CFG_KEY("quota", set_quota, struct receiver_group_cfg, limits.quota, false),
	CFG_KEY("max_clock_skew", set_skew, struct receiver_group_cfg, max_clock_skew_s, false),
	CFG_KEY("immutable", set_immutable, struct receiver_group_cfg, immutable_s, false),
	CFG_KEY("retention_min_points", set_min_points, struct receiver_group_cfg, min_points,
		false),
	CFG_KEY("rpo", set_rpo, struct receiver_group_cfg, rpo_s, false),
};

void
receiver_config_free(struct receiver_config *c)
{
	if (c == NULL)
		return;
	/* Every string of [receiver] is a key's: its table says what to free. */
	cfg_keys_free(receiver_keys, CFG_NKEYS(receiver_keys), c);
	for (size_t i = 0; i < c->nclients; i++) {
		free(c->clients[i].peer);
		cfg_strv_free(c->clients[i].groups, c->clients[i].ngroups);
	}
	free(c->clients);
	free(c->groups);
	cfg_networks_free(c);
	free(c);
}

/* The client with certificate CN peer, the group called name: NULL if none. */
static const struct receiver_client_cfg *
rx_client_find(const struct receiver_config *c, const char *peer)
{
	for (size_t i = 0; i < c->nclients; i++)
		if (strcmp(c->clients[i].peer, peer) == 0)
			return &c->clients[i];
	return NULL;
}

static const struct receiver_group_cfg *
rx_group_find(const struct receiver_config *c, const char *name)
{
	for (size_t i = 0; i < c->ngroups; i++)
		if (strcmp(c->groups[i].name, name) == 0)
			return &c->groups[i];
	return NULL;
}

static int
receiver_main_section(void *ctx, const struct ini_doc *doc, size_t hdr, const struct word *w,
		      size_t *next)
{
	(void)w;
	return cfg_section_keys(doc, hdr, next, receiver_keys, CFG_NKEYS(receiver_keys), ctx);
}

static int
receiver_client_section(void *ctx, const struct ini_doc *doc, size_t hdr,
			const struct word *w, size_t *next)
{
	struct receiver_config *c = ctx;
	const struct ini_entry *h = ini_at(doc, hdr);
	struct receiver_client_cfg *nc, *cl;
	char cn[NAME_MAX_LEN + 1];

	if (cfg_section_name(doc, h, &w[1], "client", cn) < 0)
		return -1;
	if (rx_client_find(c, cn) != NULL) {
		cfg_err(doc, h->line, "duplicate client '%s'", cn);
		return -1;
	}
	nc = cfg_append(c->clients, c->nclients, sizeof(*nc));
	if (nc == NULL)
		goto oom;
	c->clients = nc;
	cl = &nc[c->nclients];
	cl->peer = strdup(cn);
	if (cl->peer == NULL)
		goto oom;
	c->nclients++;
	return cfg_section_keys(doc, hdr, next, client_keys,
			    CFG_NKEYS(client_keys), cl);
oom:
	cfg_err(doc, h->line, "out of memory");
	return -1;
}

static int
receiver_group_section(void *ctx, const struct ini_doc *doc, size_t hdr,
		       const struct word *w, size_t *next)
{
	struct receiver_config *c = ctx;
	const struct ini_entry *h = ini_at(doc, hdr);
	struct receiver_group_cfg *ng;
	char name[NAME_MAX_LEN + 1];

	if (cfg_section_name(doc, h, &w[1], "group", name) < 0)
		return -1;
	if (rx_group_find(c, name) != NULL) {
		cfg_err(doc, h->line, "duplicate group '%s'", name);
		return -1;
	}
	ng = cfg_append(c->groups, c->ngroups, sizeof(*ng));
	if (ng == NULL) {
		cfg_err(doc, h->line, "out of memory");
		return -1;
	}
	c->groups = ng;
	memcpy(ng[c->ngroups].name, name, sizeof(name));
	ng[c->ngroups].limits = (struct group_limits){ RX_INHERIT, RX_INHERIT,
						       RX_INHERIT };
	ng[c->ngroups].max_clock_skew_s = RX_INHERIT;
	ng[c->ngroups].immutable_s = RX_INHERIT;
	ng[c->ngroups].min_points = RX_INHERIT;
	ng[c->ngroups].rpo_s = RX_INHERIT;
	c->ngroups++;
	return cfg_section_keys(doc, hdr, next, rx_group_keys,
			    CFG_NKEYS(rx_group_keys),
			    &ng[c->ngroups - 1]);
}

static const struct section_def receiver_sections[] = {
	{ "receiver", 1, receiver_main_section },
	{ "client", 2, receiver_client_section },
	{ "group", 2, receiver_group_section },
	{ "network", 2, cfg_network_section },
};

/* out: struct receiver_config **, as cfg_load passes it. */
static int
receiver_from_doc(const struct ini_doc *doc, void *out)
{
	struct receiver_config *c = NULL;
	int receiver_line, rc = -1;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		cfg_err(doc, 0, "out of memory");
		goto out;
	}
	c->handshake_timeout_s = 10;
	c->idle_timeout_s = 3600;
	c->stall_timeout_s = 60;
	c->max_conns = 1024;
	c->max_conns_per_client = 16;
	c->max_conns_per_address = 64;
	c->log_level = LOG_LVL_INFO;
	c->checkpoint_bytes = 64ULL << 20;
	c->limits = (struct group_limits){ PROTO_MAX_DISK_SIZE, PROTO_MAX_DISKS, 0 };
	c->max_hash_bytes = 64ULL << 20;
	c->session_output_max = 4ULL << 20;
	c->max_nbd_total = 64;
	c->max_nbd_per_session = 4;
	c->write_buffer_total = 256ULL << 20;
	c->workers = 0;
	c->work_queue_max = 256;
	c->extents_in_flight = 4;
	c->history = history_default;
	c->drill_max_devices = 256;
	c->scrub_rate = 100ULL << 20;
	c->rpo_s = 300;
	c->rpo_history_size = 1ULL << 20;
	if (cfg_sections(doc, receiver_sections, CFG_NKEYS(receiver_sections),
			 "[receiver], [client CN], [group NAME] or [network NAME]", c,
			 &receiver_line) < 0 || cfg_networks_check(doc, c) < 0 ||
	    check_dashboard(doc, c, receiver_line) < 0)
		goto out;
	if (!c->store_ceph && (c->ceph_conf || c->ceph_client || c->ceph_pool)) {
		cfg_err(doc, receiver_line,
			"ceph_conf, ceph_client and ceph_pool need store_backend = ceph");
		goto out;
	}
	if (c->notify_ca && (!c->notify_url || strncmp(c->notify_url, "https://", 8) != 0)) {
		cfg_err(doc, receiver_line, "notify_ca needs an https:// notify");
		goto out;
	}
	*(struct receiver_config **)out = c;
	c = NULL;
	rc = 0;
out:
	receiver_config_free(c);
	return rc;
}

int
receiver_config_load(const char *path, struct receiver_config **out)
{
	return cfg_load(path, NULL, receiver_from_doc, out);
}

int
receiver_config_load_string(const char *name, const char *text,
			    struct receiver_config **out)
{
	return cfg_load(name, text, receiver_from_doc, out);
}

const struct receiver_network_cfg *
receiver_config_network_of(const struct receiver_config *c, const char *src)
{
	for (size_t i = 0; c && src && i < c->nnetworks; i++)
		for (size_t s = 0; s < c->networks[i].nsources; s++)
			if (!strcmp(c->networks[i].sources[s], src))
				return &c->networks[i];
	return NULL;
}

bool
receiver_config_has_client(const struct receiver_config *c, const char *peer)
{
	return c != NULL && peer != NULL && rx_client_find(c, peer) != NULL;
}

bool
receiver_config_allows(const struct receiver_config *c, const char *peer,
		       const char *group)
{
	const struct receiver_client_cfg *cl;

	if (c == NULL || peer == NULL || group == NULL)
		return false;
	cl = rx_client_find(c, peer);
	if (cl == NULL)
		return false;
	if (cl->all_groups)
		return true;
	for (size_t g = 0; g < cl->ngroups; g++)
		if (strcmp(cl->groups[g], group) == 0)
			return true;
	return false;
}

const struct retention_policy *
receiver_config_retention(const struct receiver_config *c, const char *group)
{
	const struct retention_policy *p = retention_default();
	const struct receiver_group_cfg *g;

	if (c == NULL || group == NULL)
		return NULL;
	g = rx_group_find(c, group);
	if (g != NULL && (g->retention.ntiers || g->retention.forever))
		p = &g->retention;
	else if (c->retention.ntiers || c->retention.forever)
		p = &c->retention;
	return p->forever ? NULL : p;
}

void
receiver_config_limits(const struct receiver_config *c, const char *group,
		       struct group_limits *out)
{
	const struct receiver_group_cfg *g = rx_group_find(c, group);

	*out = c->limits;
	if (g == NULL)
		return;
	if (g->limits.max_disk_size != RX_INHERIT)
		out->max_disk_size = g->limits.max_disk_size;
	if (g->limits.max_disks != RX_INHERIT)
		out->max_disks = g->limits.max_disks;
	if (g->limits.quota != RX_INHERIT)
		out->quota = g->limits.quota;
}

uint64_t
receiver_config_rpo(const struct receiver_config *c, const char *group)
{
	const struct receiver_group_cfg *g = c && group ? rx_group_find(c, group) : NULL;

	if (g && g->rpo_s != RX_INHERIT)
		return g->rpo_s;
	return c ? c->rpo_s : 300;
}

void
receiver_config_history(const struct receiver_config *c, const char *group,
			struct receiver_history_cfg *out)
{
	const struct receiver_group_cfg *g = c && group ? rx_group_find(c, group) : NULL;

	*out = c ? c->history : history_default;
	if (!g)
		return;
	if (g->max_clock_skew_s != RX_INHERIT)
		out->max_clock_skew_s = g->max_clock_skew_s;
	if (g->immutable_s != RX_INHERIT)
		out->immutable_s = g->immutable_s;
	if (g->min_points != RX_INHERIT)
		out->min_points = g->min_points;
}
