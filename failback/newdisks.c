/* The new-disks mapping of a failback (newdisks.h): parsed, checked once,
 * recorded beside the target's points, read back by every later step. */
#include "failback/newdisks.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/jsonfile.h"
#include "common/log.h"
#include "common/strfmt.h"

#define NEWDISKS_MAX_BYTES (64u * 1024u)

/* The index of disk name in g, or -1. */
static int
disk_index(const struct agent_group_cfg *g, const char *name, size_t len)
{
	for (size_t i = 0; i < g->ndisks; i++)
		if (strlen(g->disks[i].name) == len && strncmp(g->disks[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

static bool
ends_with(const char *s, size_t len, const char *tail)
{
	size_t t = strlen(tail);

	return len >= t && strncmp(s + len - t, tail, t) == 0;
}

/* Disk i of out: the first len bytes of path, format fmt. 0 / -1 (logged). */
static int
set_disk(const struct agent_group_cfg *g, size_t i, const char *path, size_t len,
	 const char *fmt, struct failback_disks *out)
{
	if (!(out->path[i] = strndup(path, len))) {
		log_error("failback: out of memory");
		return -1;
	}
	snprintf(out->format[i], sizeof(out->format[i]), "%s", fmt);
	out->v[i] = (struct store_target_disk){ g->disks[i].name, out->path[i], out->format[i],
						true };
	return 0;
}

/* "PATH[:FORMAT]" of disk i into out (path owned). 0 / -1 (logged). */
static int
parse_target(const struct agent_group_cfg *g, size_t i, const char *s,
	     struct failback_disks *out)
{
	size_t len = strlen(s);
	const char *fmt = NULL;

	if (ends_with(s, len, ":qcow2") || ends_with(s, len, ":raw")) {
		fmt = strrchr(s, ':') + 1;
		len = (size_t)(fmt - 1 - s);
	} else if (ends_with(s, len, ".qcow2")) {
		fmt = "qcow2";
	} else if (ends_with(s, len, ".raw") || ends_with(s, len, ".img")) {
		fmt = "raw";
	}
	if (len == 0 || s[0] != '/' || len >= PATH_MAX) {
		log_error("failback: group %s disk %s: new disk \"%s\": an absolute path is needed",
			  g->name, g->disks[i].name, s);
		return -1;
	}
	if (!fmt) {
		log_error("failback: group %s disk %s: new disk %s: its format is not told by its "
			  "name (.qcow2, .raw, .img): add :raw or :qcow2", g->name,
			  g->disks[i].name, s);
		return -1;
	}
	return set_disk(g, i, s, len, fmt, out);
}

/* Every disk of g mapped once, no path twice. */
static int
check_complete(const struct agent_group_cfg *g, const struct failback_disks *d)
{
	for (size_t i = 0; i < g->ndisks; i++) {
		if (!d->path[i]) {
			log_error("failback: group %s: --new-disks names no new disk for disk %s: "
				  "every disk of the group needs one", g->name, g->disks[i].name);
			return -1;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(d->path[i], d->path[j]) == 0) {
				log_error("failback: group %s: disks %s and %s: the same new disk %s",
					  g->name, g->disks[j].name, g->disks[i].name, d->path[i]);
				return -1;
			}
	}
	return 0;
}

int
failback_newdisks_parse(const struct agent_group_cfg *g, const char *spec,
			struct failback_disks *out)
{
	char *copy = spec ? strdup(spec) : NULL, *save = NULL, *part;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (g->domains || g->ndisks == 0 || g->ndisks > STORE_MAX_DISKS) {
		log_error("failback: group %s: new disks are for a group of 1 to %d image files",
			  g->name, STORE_MAX_DISKS);
		goto out;
	}
	if (!copy) {
		log_error("failback: out of memory");
		goto out;
	}
	out->n = g->ndisks; /* clear frees what is set */
	for (part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(part, '=');
		int i = eq ? disk_index(g, part, (size_t)(eq - part)) : -1;

		if (i < 0 || out->path[i] || !g->disks[i].path) {
			log_error("failback: group %s: --new-disks \"%s\": %s", g->name, part,
				  !eq ? "expected NAME=PATH" : i < 0 ? "no such disk in the group"
				  : out->path[i] ? "the disk is named twice"
				  : "an RBD disk: not supported yet");
			goto out;
		}
		if (parse_target(g, (size_t)i, eq + 1, out) < 0)
			goto out;
	}
	ret = check_complete(g, out);
out:
	if (ret < 0)
		failback_disks_clear(out);
	free(copy);
	return ret;
}

/* Disk i's new path made canonical (its directory's real path), as the
 * configuration's will be compared with it. 0 / -1 (logged: the
 * directory is missing). */
static int
path_canon(const char *group, struct failback_disks *d, size_t i)
{
	char *path = d->path[i], *slash = strrchr(path, '/'), *dir, *canon = NULL;
	struct stat sb;

	*slash = '\0'; /* absolute: there is one */
	dir = realpath(path[0] ? path : "/", NULL);
	*slash = '/';
	if (!dir || stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		log_error("failback: group %s disk %s: new disk %s: its directory is missing",
			  group, d->v[i].name, path);
	} else if ((canon = strfmt("%s/%s", strcmp(dir, "/") == 0 ? "" : dir, slash + 1))) {
		free(d->path[i]);
		d->path[i] = canon;
		d->v[i].path = canon;
	}
	free(dir);
	return canon ? 0 : -1;
}

/* Disk i's (canonical) new path may be taken: absent, or an empty
 * regular file. 0 / -1 (logged). */
static int
path_free(const char *group, const struct failback_disks *d, size_t i)
{
	struct stat sb;

	if (stat(d->path[i], &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		log_error("failback: group %s disk %s: new disk %s: %m", group, d->v[i].name,
			  d->path[i]);
		return -1;
	}
	if (S_ISREG(sb.st_mode) && sb.st_size == 0)
		return 0;
	log_error("failback: group %s disk %s: new disk %s exists and is not an empty file "
		  "(%lld bytes): refused, nothing is overwritten; remove it or give another path",
		  group, d->v[i].name, d->path[i], (long long)sb.st_size);
	return -1;
}

static json_t *
record_json(const struct agent_group_cfg *g, const struct failback_disks *d)
{
	json_t *arr = json_array(), *root;

	for (size_t i = 0; arr && i < d->n; i++)
		if (json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "name", d->v[i].name,
							 "path", d->path[i], "format",
							 d->format[i])) < 0) {
			json_decref(arr);
			return NULL;
		}
	root = arr ? json_pack("{s:i, s:s, s:o}", "version", 1, "group", g->name, "disks", arr)
		   : NULL;
	if (!root)
		log_error("failback: out of memory");
	return root;
}

static bool
same_disks(const struct failback_disks *a, const struct failback_disks *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->path[i], b->path[i]) != 0 || strcmp(a->format[i], b->format[i]) != 0)
			return false;
	return true;
}

/* The target holds something of a failback over the on-prem disks. */
static bool
target_used(const char *gdir)
{
	static const char *const names[] = { "disks", "catalog.json", "pending.json" };
	bool used = false;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !used; i++) {
		char *p = strfmt("%s/%s", gdir, names[i]);

		used = !p || access(p, F_OK) == 0;
		free(p);
	}
	return used;
}

int
failback_newdisks_record(const struct agent_group_cfg *g, const char *gdir, const char *spec)
{
	struct failback_disks want = { 0 }, had = { 0 };
	char *path = NULL;
	json_t *root = NULL;
	int k, ret = -1;

	if (failback_newdisks_parse(g, spec, &want) < 0 ||
	    (k = failback_newdisks_load(g, gdir, &had)) < 0)
		goto out;
	for (size_t i = 0; i < want.n; i++)
		if (path_canon(g->name, &want, i) < 0)
			goto out;
	if (k == 1) {
		if (same_disks(&want, &had))
			ret = 0;
		else
			log_error("failback: group %s: its failback goes to other new disks already "
				  "(%s/%s): give the same --new-disks, or abort it first", g->name,
				  gdir, FAILBACK_NEWDISKS_FILE);
		goto out;
	}
	if (target_used(gdir)) {
		log_error("failback: group %s: its failback target lies over the on-prem disks "
			  "already: run nestor failback abort %s first", g->name, g->name);
		goto out;
	}
	for (size_t i = 0; i < want.n; i++)
		if (path_free(g->name, &want, i) < 0)
			goto out;
	path = strfmt("%s/%s", gdir, FAILBACK_NEWDISKS_FILE);
	if (!path || !(root = record_json(g, &want)) ||
	    jsonfile_save(path, root, JSON_INDENT(2), 0640) < 0)
		goto out;
	for (size_t i = 0; i < want.n; i++)
		log_info("failback: group %s disk %s: new disk %s (%s)", g->name, want.v[i].name,
			 want.path[i], want.format[i]);
	ret = 0;
out:
	json_decref(root);
	free(path);
	failback_disks_clear(&want);
	failback_disks_clear(&had);
	return ret;
}

/* Record entry e as disk i of g into out. 0 / -1 (logged with file). */
static int
load_disk(const struct agent_group_cfg *g, json_t *e, const char *file,
	  struct failback_disks *out)
{
	const char *name = json_string_value(json_object_get(e, "name"));
	const char *path = json_string_value(json_object_get(e, "path"));
	const char *fmt = json_string_value(json_object_get(e, "format"));
	int i = name ? disk_index(g, name, strlen(name)) : -1;

	if (i < 0 || out->path[i] || !path || path[0] != '/' || !fmt ||
	    (strcmp(fmt, "raw") != 0 && strcmp(fmt, "qcow2") != 0)) {
		log_error("failback: %s: disk %s: not a new disk of group %s", file,
			  name ? name : "(none)", g->name);
		return -1;
	}
	return set_disk(g, (size_t)i, path, strlen(path), fmt, out);
}

int
failback_newdisks_load(const struct agent_group_cfg *g, const char *gdir,
		       struct failback_disks *out)
{
	char *file = strfmt("%s/%s", gdir, FAILBACK_NEWDISKS_FILE);
	json_t *root = NULL, *disks, *e;
	size_t i;
	int k, ret = -1;

	memset(out, 0, sizeof(*out));
	if (!file || (k = jsonfile_load(file, NEWDISKS_MAX_BYTES, JSON_REJECT_DUPLICATES,
					 &root)) < 0)
		goto out;
	if (k == 1) {
		ret = 0;
		goto out;
	}
	disks = json_object_get(root, "disks");
	if (!json_is_array(disks) || json_array_size(disks) != g->ndisks ||
	    g->ndisks > STORE_MAX_DISKS) {
		log_error("failback: %s: not the %zu disks of group %s", file, g->ndisks, g->name);
		goto out;
	}
	out->n = g->ndisks;
	json_array_foreach(disks, i, e)
		if (load_disk(g, e, file, out) < 0)
			goto out;
	ret = 1;
out:
	if (ret < 0)
		failback_disks_clear(out);
	json_decref(root);
	free(file);
	return ret;
}

int
failback_newdisks_configured(const struct agent_group_cfg *g, const char *gdir)
{
	struct failback_disks nd = { 0 };
	int k = failback_newdisks_load(g, gdir, &nd), ret = k < 0 ? -1 : 0;

	for (size_t i = 0; k == 1 && i < nd.n; i++) {
		const struct agent_disk_cfg *d = &g->disks[i];
		char *real = d->path ? realpath(d->path, NULL) : NULL;

		if (!real || strcmp(real, nd.path[i]) != 0 ||
		    (d->format && strcmp(d->format, nd.format[i]) != 0)) {
			log_error("failback: group %s disk %s: the agent's configuration names %s "
				  "(%s), the failback's new disk is %s (%s): set path = %s and format "
				  "= %s in its [disk] section before the cutover, so that forward "
				  "replication protects the new disk", g->name, d->name,
				  d->path ? d->path : "an RBD image", d->format ? d->format : "probed",
				  nd.path[i], nd.format[i], nd.path[i], nd.format[i]);
			ret = -1;
		}
		free(real);
	}
	failback_disks_clear(&nd);
	return ret;
}
