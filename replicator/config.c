/* Agent and receiver config loading: INI entries -> typed structs, with every
 * mistake reported once as "path:line: message" and nothing unknown ignored. */
#include "replicator/config.h"

#include "common/ini.h"
#include "common/names.h"
#include "common/parse.h"

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME_EXPECT "1-64 characters of [A-Za-z0-9._-], not starting with '.' or '-'"

__attribute__((format(printf, 3, 4))) static void
cfg_err(const struct ini_doc *doc, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		log_error("%s:%d: %s", ini_path(doc), line, msg);
	else
		log_error("%s: %s", ini_path(doc), msg);
}

/* ---- key tables --------------------------------------------------------- */

/* Setter for one key: -1 with *expect describing valid values, or -1 with
 * *expect NULL when out of memory. off locates the field inside obj. */
typedef int (*key_setter)(void *obj, size_t off, const char *value,
			  const char **expect);

struct key_def {
	const char *key;
	key_setter set;
	size_t off;
	bool required;
};

#define MAX_KEYS 16

#define FIELD(obj, off, type) ((type *)(void *)((char *)(obj) + (off)))

static int
set_string(void *obj, size_t off, const char *value, const char **expect)
{
	char **f = FIELD(obj, off, char *);
	char *s;

	if (value[0] == '\0') {
		*expect = "a non-empty value";
		return -1;
	}
	s = strdup(value);
	if (s == NULL)
		return -1;
	free(*f);
	*f = s;
	return 0;
}

static int
set_name(void *obj, size_t off, const char *value, const char **expect)
{
	if (!name_valid(value, strlen(value))) {
		*expect = NAME_EXPECT;
		return -1;
	}
	return set_string(obj, off, value, expect);
}

static int
set_log_level(void *obj, size_t off, const char *value, const char **expect)
{
	if (log_level_parse(value, FIELD(obj, off, enum log_level)) < 0) {
		*expect = "error, warn, info or debug";
		return -1;
	}
	return 0;
}

static int
set_format(void *obj, size_t off, const char *value, const char **expect)
{
	if (strcmp(value, "qcow2") != 0 && strcmp(value, "raw") != 0) {
		*expect = "qcow2 or raw";
		return -1;
	}
	return set_string(obj, off, value, expect);
}

static int
set_duration(void *obj, size_t off, const char *value, const char **expect)
{
	uint64_t v;

	if (parse_duration(value, &v) < 0 || v > 365ull * 86400) {
		*expect = "a duration such as 30s, 5m, 1h (at most a year)";
		return -1;
	}
	*FIELD(obj, off, uint64_t) = v;
	return 0;
}

/* Bytes per second: "20M" = 20 MiB/s; 64K .. 100G, or 0 for no limit. */
static int
set_bandwidth(void *obj, size_t off, const char *value, const char **expect)
{
	uint64_t v;

	if (parse_size(value, &v) < 0 || (v != 0 && (v < 65536 || v > (100ull << 30)))) {
		*expect = "bytes per second such as 20M (64K..100G, 0 = unlimited)";
		return -1;
	}
	*FIELD(obj, off, uint64_t) = v;
	return 0;
}

static int
set_compress_level(void *obj, size_t off, const char *value, const char **expect)
{
	uint64_t v;
	bool neg = value[0] == '-';

	/* -7..-1: zstd's fast levels (zstd --fast=N). */
	if (parse_u64(value + neg, &v) < 0 || v > (neg ? 7 : 19) || (neg && v == 0)) {
		*expect = "an integer -7..19 (0 = no compression, below 0 = zstd --fast)";
		return -1;
	}
	*FIELD(obj, off, int) = neg ? -(int)v : (int)v;
	return 0;
}

static int
set_checkpoint(void *obj, size_t off, const char *value, const char **expect)
{
	uint64_t v;

	if (parse_size(value, &v) < 0 || v < (1ULL << 20) || v > (4ULL << 30)) {
		*expect = "a size from 1M to 4G (suffix K, M, G)";
		return -1;
	}
	*FIELD(obj, off, uint64_t) = v;
	return 0;
}

/* host:port into a char * field at off and a uint16_t at off2; the pair is
 * described by the struct below so one setter serves agent and receiver. */
struct endpoint_off {
	size_t host, port;
};

static int
set_endpoint(void *obj, const struct endpoint_off *eo, const char *value,
	     const char **expect)
{
	char *host = NULL;
	uint16_t port;

	if (parse_host_port(value, &host, &port) < 0) {
		*expect = "host:port or [ipv6]:port with port 1..65535";
		return -1;
	}
	free(*FIELD(obj, eo->host, char *));
	*FIELD(obj, eo->host, char *) = host;
	*FIELD(obj, eo->port, uint16_t) = port;
	return 0;
}

static int
set_agent_receiver(void *obj, size_t off, const char *value, const char **expect)
{
	static const struct endpoint_off eo = {
		offsetof(struct agent_config, receiver_host),
		offsetof(struct agent_config, receiver_port),
	};

	(void)off;
	return set_endpoint(obj, &eo, value, expect);
}

static int
set_agent_metrics(void *obj, size_t off, const char *value, const char **expect)
{
	static const struct endpoint_off eo = {
		offsetof(struct agent_config, metrics_host),
		offsetof(struct agent_config, metrics_port),
	};

	(void)off;
	return set_endpoint(obj, &eo, value, expect);
}

static int
set_receiver_listen(void *obj, size_t off, const char *value, const char **expect)
{
	static const struct endpoint_off eo = {
		offsetof(struct receiver_config, listen_host),
		offsetof(struct receiver_config, listen_port),
	};

	(void)off;
	return set_endpoint(obj, &eo, value, expect);
}

static int
set_receiver_metrics(void *obj, size_t off, const char *value, const char **expect)
{
	static const struct endpoint_off eo = {
		offsetof(struct receiver_config, metrics_host),
		offsetof(struct receiver_config, metrics_port),
	};

	(void)off;
	return set_endpoint(obj, &eo, value, expect);
}

static void
strv_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* groups = "*" or space-separated distinct names. */
static int
set_client_groups(void *obj, size_t off, const char *value, const char **expect)
{
	struct receiver_client_cfg *cl = obj;
	char **v = NULL;
	size_t n = 0, cap = 0;
	const char *p = value;
	int rc = -1;

	(void)off;
	*expect = "'*' or space-separated group names (" NAME_EXPECT ")";
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
		if (!name_valid(p, len))
			goto out;
		for (size_t i = 0; i < n; i++) {
			if (strlen(v[i]) == len && memcmp(v[i], p, len) == 0) {
				*expect = "distinct group names";
				goto out;
			}
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			char **nv = reallocarray(v, ncap, sizeof(*nv));

			if (nv == NULL) {
				*expect = NULL;
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		v[n] = strndup(p, len);
		if (v[n] == NULL) {
			*expect = NULL;
			goto out;
		}
		n++;
		p += len;
	}
	if (n == 0)
		goto out;
	cl->groups = v;
	cl->ngroups = n;
	v = NULL;
	rc = 0;
out:
	strv_free(v, n);
	return rc;
}

/* Apply the key entries after header entry hdr (up to the next header) to obj;
 * *next is the index of the next header. Checks unknown, duplicate and
 * missing required keys. */
static int
section_keys(const struct ini_doc *doc, size_t hdr, size_t *next,
	     const struct key_def *defs, size_t ndefs, void *obj)
{
	const struct ini_entry *h = ini_at(doc, hdr);
	int seen[MAX_KEYS] = { 0 };
	size_t i;

	for (i = hdr + 1; i < ini_count(doc); i++) {
		const struct ini_entry *e = ini_at(doc, i);
		const char *expect = NULL;
		size_t k;

		if (e->key == NULL)
			break;
		for (k = 0; k < ndefs; k++)
			if (strcmp(e->key, defs[k].key) == 0)
				break;
		if (k == ndefs) {
			cfg_err(doc, e->line, "unknown key '%s' in [%s]", e->key,
				h->section);
			return -1;
		}
		if (seen[k]) {
			cfg_err(doc, e->line,
				"duplicate key '%s' in [%s] (first on line %d)",
				e->key, h->section, seen[k]);
			return -1;
		}
		seen[k] = e->line;
		if (defs[k].set(obj, defs[k].off, e->value, &expect) < 0) {
			if (expect != NULL)
				cfg_err(doc, e->line,
					"bad value '%s' for '%s' in [%s]: expected %s",
					e->value, e->key, h->section, expect);
			else
				cfg_err(doc, e->line, "out of memory");
			return -1;
		}
	}
	*next = i;
	for (size_t k = 0; k < ndefs; k++) {
		if (defs[k].required && !seen[k]) {
			cfg_err(doc, h->line, "missing required key '%s' in [%s]",
				defs[k].key, h->section);
			return -1;
		}
	}
	return 0;
}

/* Split a section name on blanks into at most max words; returns the word
 * count, or max + 1 if there are more. */
struct word {
	const char *p;
	size_t len;
};

static size_t
split_words(const char *s, struct word *w, size_t max)
{
	size_t n = 0;

	for (;;) {
		size_t len;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			return n;
		if (n == max)
			return max + 1;
		len = strcspn(s, " \t");
		w[n].p = s;
		w[n].len = len;
		n++;
		s += len;
	}
}

static bool
word_is(const struct word *w, const char *s)
{
	return w->len == strlen(s) && memcmp(w->p, s, w->len) == 0;
}

/* Validate a name word of section h and copy it into dst[65]. */
static int
section_name(const struct ini_doc *doc, const struct ini_entry *h,
	     const struct word *w, const char *what, char *dst)
{
	if (!name_valid(w->p, w->len)) {
		cfg_err(doc, h->line, "invalid %s name '%.*s' in [%s]: expected "
			NAME_EXPECT, what, (int)w->len, w->p, h->section);
		return -1;
	}
	memcpy(dst, w->p, w->len);
	dst[w->len] = '\0';
	return 0;
}

/* Before the first header there can only be stray keys. */
static int
stray_key(const struct ini_doc *doc, const struct ini_entry *e)
{
	cfg_err(doc, e->line, "key '%s' outside any section", e->key);
	return -1;
}

/* ---- agent ---------------------------------------------------------------- */

static const struct key_def agent_keys[] = {
	{ "name", set_name, offsetof(struct agent_config, name), false },
	{ "receiver", set_agent_receiver, 0, true },
	{ "server_name", set_string, offsetof(struct agent_config, server_name), false },
	{ "ca", set_string, offsetof(struct agent_config, ca), true },
	{ "cert", set_string, offsetof(struct agent_config, cert), true },
	{ "key", set_string, offsetof(struct agent_config, key), true },
	{ "state_dir", set_string, offsetof(struct agent_config, state_dir), true },
	{ "compress_level", set_compress_level, offsetof(struct agent_config, compress_level), false },
	{ "log_level", set_log_level, offsetof(struct agent_config, log_level), false },
	{ "retry_max", set_duration, offsetof(struct agent_config, retry_max_s), false },
	{ "bandwidth", set_bandwidth, offsetof(struct agent_config, bandwidth), false },
	{ "metrics", set_agent_metrics, 0, false },
};

static const struct key_def group_keys[] = {
	{ "domain_xml", set_string, offsetof(struct agent_group_cfg, domain_xml), false },
	{ "domains", set_string, offsetof(struct agent_group_cfg, domains), false },
	{ "libvirt_uri", set_string, offsetof(struct agent_group_cfg, libvirt_uri), false },
	{ "ceph_conf", set_string, offsetof(struct agent_group_cfg, ceph_conf), false },
	{ "ceph_client", set_string, offsetof(struct agent_group_cfg, ceph_client), false },
	{ "rpo", set_duration, offsetof(struct agent_group_cfg, rpo_s), false },
	{ "min_interval", set_duration, offsetof(struct agent_group_cfg, min_interval_s), false },
	{ "bandwidth", set_bandwidth, offsetof(struct agent_group_cfg, bandwidth), false },
};

/* "pool/image": two names as Ceph allows them, bounded and without '@'
 * (a snapshot is never the source). */
static int
set_rbd_spec(void *obj, size_t off, const char *value, const char **expect)
{
	const char *slash = strchr(value, '/');

	*expect = "POOL/IMAGE (letters, digits, '.', '_', '-')";
	if (!slash || slash == value || !slash[1] || strchr(slash + 1, '/') ||
	    !name_valid(value, (size_t)(slash - value)) ||
	    !name_valid(slash + 1, strlen(slash + 1)))
		return -1;
	return set_string(obj, off, value, expect);
}

static const struct key_def disk_keys[] = {
	{ "path", set_string, offsetof(struct agent_disk_cfg, path), false },
	{ "format", set_format, offsetof(struct agent_disk_cfg, format), false },
	{ "rbd", set_rbd_spec, offsetof(struct agent_disk_cfg, rbd), false },
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

static void
disk_cfg_clear(struct agent_disk_cfg *d)
{
	free(d->path);
	free(d->format);
	free(d->rbd);
}

void
agent_config_free(struct agent_config *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c->receiver_host);
	free(c->metrics_host);
	free(c->server_name);
	free(c->ca);
	free(c->cert);
	free(c->key);
	free(c->state_dir);
	for (size_t g = 0; g < c->ngroups; g++) {
		for (size_t d = 0; d < c->groups[g].ndisks; d++)
			disk_cfg_clear(&c->groups[g].disks[d]);
		free(c->groups[g].disks);
		free(c->groups[g].domain_xml);
		free(c->groups[g].domains);
		free(c->groups[g].libvirt_uri);
		free(c->groups[g].ceph_conf);
		free(c->groups[g].ceph_client);
	}
	free(c->groups);
	free(c);
}

static int
agent_group_section(struct agent_load *L, size_t hdr, const struct word *w,
		    size_t *next)
{
	const struct ini_entry *h = ini_at(L->doc, hdr);
	struct agent_config *c = L->c;
	struct agent_group_cfg *ng;
	char name[NAME_MAX_LEN + 1];
	int *nl;

	if (section_name(L->doc, h, &w[1], "group", name) < 0)
		return -1;
	for (size_t g = 0; g < c->ngroups; g++) {
		if (strcmp(c->groups[g].name, name) == 0) {
			cfg_err(L->doc, h->line, "duplicate group '%s' (first on line %d)",
				name, L->group_lines[g]);
			return -1;
		}
	}
	ng = reallocarray(c->groups, c->ngroups + 1, sizeof(*ng));
	if (ng == NULL)
		goto oom;
	c->groups = ng;
	nl = reallocarray(L->group_lines, c->ngroups + 1, sizeof(*nl));
	if (nl == NULL)
		goto oom;
	L->group_lines = nl;
	memset(&ng[c->ngroups], 0, sizeof(*ng));
	ng[c->ngroups].rpo_s = 300;
	memcpy(ng[c->ngroups].name, name, sizeof(name));
	nl[c->ngroups] = h->line;
	c->ngroups++;
	return section_keys(L->doc, hdr, next, group_keys,
			    sizeof(group_keys) / sizeof(group_keys[0]), &ng[c->ngroups - 1]);
oom:
	cfg_err(L->doc, h->line, "out of memory");
	return -1;
}

static int
agent_disk_section(struct agent_load *L, size_t hdr, const struct word *w,
		   size_t *next)
{
	const struct ini_entry *h = ini_at(L->doc, hdr);
	struct pending_disk *nd, *pd;

	nd = reallocarray(L->disks, L->ndisks + 1, sizeof(*nd));
	if (nd == NULL) {
		cfg_err(L->doc, h->line, "out of memory");
		return -1;
	}
	L->disks = nd;
	pd = &nd[L->ndisks];
	memset(pd, 0, sizeof(*pd));
	pd->line = h->line;
	if (section_name(L->doc, h, &w[1], "group", pd->group) < 0 ||
	    section_name(L->doc, h, &w[2], "disk", pd->d.name) < 0)
		return -1;
	for (size_t i = 0; i < L->ndisks; i++) {
		if (strcmp(nd[i].group, pd->group) == 0 &&
		    strcmp(nd[i].d.name, pd->d.name) == 0) {
			cfg_err(L->doc, h->line,
				"duplicate disk '%s' in group '%s' (first on line %d)",
				pd->d.name, pd->group, nd[i].line);
			return -1;
		}
	}
	/* Counted before its keys so cleanup frees whatever they allocate. */
	L->ndisks++;
	if (section_keys(L->doc, hdr, next, disk_keys,
			 sizeof(disk_keys) / sizeof(disk_keys[0]), &pd->d) < 0)
		return -1;
	if (!pd->d.path == !pd->d.rbd) {
		cfg_err(L->doc, h->line, "[%s] needs exactly one of 'path' and 'rbd'",
			h->section);
		return -1;
	}
	if (pd->d.rbd && pd->d.format) {
		cfg_err(L->doc, h->line, "[%s]: 'format' applies to 'path' only",
			h->section);
		return -1;
	}
	return 0;
}

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
				NAME_EXPECT ")", host);
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

static int
agent_from_doc(const struct ini_doc *doc, struct agent_config **out)
{
	struct agent_load L = { .doc = doc };
	int agent_line = 0, rc = -1;
	size_t i = 0;

	L.c = calloc(1, sizeof(*L.c));
	if (L.c == NULL) {
		cfg_err(doc, 0, "out of memory");
		goto out;
	}
	L.c->compress_level = 3;
	L.c->retry_max_s = 300;
	L.c->log_level = LOG_LVL_INFO;
	while (i < ini_count(doc)) {
		const struct ini_entry *h = ini_at(doc, i);
		struct word w[3];
		size_t nw;
		int r;

		if (h->key != NULL) {
			stray_key(doc, h);
			goto out;
		}
		nw = split_words(h->section, w, 3);
		if (nw == 1 && word_is(&w[0], "agent")) {
			if (agent_line != 0) {
				cfg_err(doc, h->line,
					"duplicate section [agent] (first on line %d)",
					agent_line);
				goto out;
			}
			agent_line = h->line;
			r = section_keys(doc, i, &i, agent_keys,
					 sizeof(agent_keys) / sizeof(agent_keys[0]), L.c);
		} else if (nw == 2 && word_is(&w[0], "group")) {
			r = agent_group_section(&L, i, w, &i);
		} else if (nw == 3 && word_is(&w[0], "disk")) {
			r = agent_disk_section(&L, i, w, &i);
		} else {
			cfg_err(doc, h->line,
				"unknown section [%s] (expected [agent], [group NAME] or [disk GROUP DISK])",
				h->section);
			goto out;
		}
		if (r < 0)
			goto out;
	}
	if (agent_line == 0) {
		cfg_err(doc, 0, "missing section [agent]");
		goto out;
	}
	if (L.c->ngroups == 0) {
		cfg_err(doc, 0, "no protection group: add [group NAME] and [disk NAME DISK] sections");
		goto out;
	}
	if (agent_attach_disks(&L) < 0 || agent_defaults(&L) < 0)
		goto out;
	*out = L.c;
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
	struct ini_doc *doc = NULL;
	int rc;

	if (ini_load(path, &doc) < 0)
		return -1;
	rc = agent_from_doc(doc, out);
	ini_free(doc);
	return rc;
}

int
agent_config_load_string(const char *name, const char *text,
			 struct agent_config **out)
{
	struct ini_doc *doc = NULL;
	int rc;

	if (ini_load_string(name, text, &doc) < 0)
		return -1;
	rc = agent_from_doc(doc, out);
	ini_free(doc);
	return rc;
}

/* ---- receiver ------------------------------------------------------------- */

static int
set_store_backend(void *obj, size_t off, const char *value, const char **expect)
{
	bool *ceph = FIELD(obj, off, bool);

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

static const struct key_def receiver_keys[] = {
	{ "listen", set_receiver_listen, 0, true },
	{ "ca", set_string, offsetof(struct receiver_config, ca), true },
	{ "cert", set_string, offsetof(struct receiver_config, cert), true },
	{ "key", set_string, offsetof(struct receiver_config, key), true },
	{ "store", set_string, offsetof(struct receiver_config, store_dir), true },
	{ "log_level", set_log_level, offsetof(struct receiver_config, log_level), false },
	{ "checkpoint_interval", set_checkpoint, offsetof(struct receiver_config, checkpoint_bytes), false },
	{ "metrics", set_receiver_metrics, 0, false },
	{ "store_backend", set_store_backend, offsetof(struct receiver_config, store_ceph), false },
	{ "ceph_conf", set_string, offsetof(struct receiver_config, ceph_conf), false },
	{ "ceph_client", set_name, offsetof(struct receiver_config, ceph_client), false },
	{ "ceph_pool", set_name, offsetof(struct receiver_config, ceph_pool), false },
};

static const struct key_def client_keys[] = {
	{ "groups", set_client_groups, 0, true },
};

static int
set_retention(void *obj, size_t off, const char *value, const char **expect)
{
	return retention_parse(value, FIELD(obj, off, struct retention_policy), expect);
}

static const struct key_def rx_group_keys[] = {
	{ "retention", set_retention, offsetof(struct receiver_group_cfg, retention), false },
};

void
receiver_config_free(struct receiver_config *c)
{
	if (c == NULL)
		return;
	free(c->listen_host);
	free(c->metrics_host);
	free(c->ca);
	free(c->cert);
	free(c->key);
	free(c->store_dir);
	free(c->ceph_conf);
	free(c->ceph_client);
	free(c->ceph_pool);
	for (size_t i = 0; i < c->nclients; i++) {
		free(c->clients[i].peer);
		strv_free(c->clients[i].groups, c->clients[i].ngroups);
	}
	free(c->clients);
	free(c->groups);
	free(c);
}

static int
receiver_client_section(const struct ini_doc *doc, struct receiver_config *c,
			size_t hdr, const struct word *w, size_t *next)
{
	const struct ini_entry *h = ini_at(doc, hdr);
	struct receiver_client_cfg *nc, *cl;
	char cn[NAME_MAX_LEN + 1];

	if (section_name(doc, h, &w[1], "client", cn) < 0)
		return -1;
	for (size_t i = 0; i < c->nclients; i++) {
		if (strcmp(c->clients[i].peer, cn) == 0) {
			cfg_err(doc, h->line, "duplicate client '%s'", cn);
			return -1;
		}
	}
	nc = reallocarray(c->clients, c->nclients + 1, sizeof(*nc));
	if (nc == NULL)
		goto oom;
	c->clients = nc;
	cl = &nc[c->nclients];
	memset(cl, 0, sizeof(*cl));
	cl->peer = strdup(cn);
	if (cl->peer == NULL)
		goto oom;
	c->nclients++;
	return section_keys(doc, hdr, next, client_keys,
			    sizeof(client_keys) / sizeof(client_keys[0]), cl);
oom:
	cfg_err(doc, h->line, "out of memory");
	return -1;
}

static int
receiver_group_section(const struct ini_doc *doc, struct receiver_config *c,
		       size_t hdr, const struct word *w, size_t *next)
{
	const struct ini_entry *h = ini_at(doc, hdr);
	struct receiver_group_cfg *ng;
	char name[NAME_MAX_LEN + 1];

	if (section_name(doc, h, &w[1], "group", name) < 0)
		return -1;
	for (size_t i = 0; i < c->ngroups; i++) {
		if (strcmp(c->groups[i].name, name) == 0) {
			cfg_err(doc, h->line, "duplicate group '%s'", name);
			return -1;
		}
	}
	ng = reallocarray(c->groups, c->ngroups + 1, sizeof(*ng));
	if (ng == NULL) {
		cfg_err(doc, h->line, "out of memory");
		return -1;
	}
	c->groups = ng;
	memset(&ng[c->ngroups], 0, sizeof(*ng));
	memcpy(ng[c->ngroups].name, name, sizeof(name));
	c->ngroups++;
	return section_keys(doc, hdr, next, rx_group_keys,
			    sizeof(rx_group_keys) / sizeof(rx_group_keys[0]),
			    &ng[c->ngroups - 1]);
}

static int
receiver_from_doc(const struct ini_doc *doc, struct receiver_config **out)
{
	struct receiver_config *c = NULL;
	int receiver_line = 0, rc = -1;
	size_t i = 0;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		cfg_err(doc, 0, "out of memory");
		goto out;
	}
	c->log_level = LOG_LVL_INFO;
	c->checkpoint_bytes = 64ULL << 20;
	while (i < ini_count(doc)) {
		const struct ini_entry *h = ini_at(doc, i);
		struct word w[2];
		size_t nw;
		int r;

		if (h->key != NULL) {
			stray_key(doc, h);
			goto out;
		}
		nw = split_words(h->section, w, 2);
		if (nw == 1 && word_is(&w[0], "receiver")) {
			if (receiver_line != 0) {
				cfg_err(doc, h->line,
					"duplicate section [receiver] (first on line %d)",
					receiver_line);
				goto out;
			}
			receiver_line = h->line;
			r = section_keys(doc, i, &i, receiver_keys,
					 sizeof(receiver_keys) / sizeof(receiver_keys[0]), c);
		} else if (nw == 2 && word_is(&w[0], "client")) {
			r = receiver_client_section(doc, c, i, w, &i);
		} else if (nw == 2 && word_is(&w[0], "group")) {
			r = receiver_group_section(doc, c, i, w, &i);
		} else {
			cfg_err(doc, h->line,
				"unknown section [%s] (expected [receiver], [client CN] or [group NAME])",
				h->section);
			goto out;
		}
		if (r < 0)
			goto out;
	}
	if (receiver_line == 0) {
		cfg_err(doc, 0, "missing section [receiver]");
		goto out;
	}
	if (!c->store_ceph && (c->ceph_conf || c->ceph_client || c->ceph_pool)) {
		cfg_err(doc, receiver_line,
			"ceph_conf, ceph_client and ceph_pool need store_backend = ceph");
		goto out;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	receiver_config_free(c);
	return rc;
}

int
receiver_config_load(const char *path, struct receiver_config **out)
{
	struct ini_doc *doc = NULL;
	int rc;

	if (ini_load(path, &doc) < 0)
		return -1;
	rc = receiver_from_doc(doc, out);
	ini_free(doc);
	return rc;
}

int
receiver_config_load_string(const char *name, const char *text,
			    struct receiver_config **out)
{
	struct ini_doc *doc = NULL;
	int rc;

	if (ini_load_string(name, text, &doc) < 0)
		return -1;
	rc = receiver_from_doc(doc, out);
	ini_free(doc);
	return rc;
}

bool
receiver_config_allows(const struct receiver_config *c, const char *peer,
		       const char *group)
{
	if (c == NULL || peer == NULL || group == NULL)
		return false;
	for (size_t i = 0; i < c->nclients; i++) {
		const struct receiver_client_cfg *cl = &c->clients[i];

		if (strcmp(cl->peer, peer) != 0)
			continue;
		if (cl->all_groups)
			return true;
		for (size_t g = 0; g < cl->ngroups; g++)
			if (strcmp(cl->groups[g], group) == 0)
				return true;
		return false;
	}
	return false;
}

const struct retention_policy *
receiver_config_retention(const struct receiver_config *c, const char *group)
{
	if (c == NULL || group == NULL)
		return NULL;
	for (size_t i = 0; i < c->ngroups; i++)
		if (strcmp(c->groups[i].name, group) == 0)
			return c->groups[i].retention.ntiers ? &c->groups[i].retention : NULL;
	return NULL;
}
