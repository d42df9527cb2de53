/* The dashboard's report files (replicator/receiver/dashreport.h). Names
 * come from whoever reaches the listener: only a run's own record, and the
 * HTML report it names, are ever opened, by a path built here from
 * validated names, the last component opened without following links. */
#define _GNU_SOURCE /* memmem */
#include "replicator/receiver/dashreport.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "common/fileutil.h"
#include "common/jsonfile.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "replicator/receiver/groupstate.h"

/* A run's record is small (failover/report.c saves at most 4 MiB). */
#define RECORD_MAX (4u << 20)

static bool
has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len > n && memcmp(s + len - n, suffix, n) == 0;
}

bool
dashreport_name_valid(const char *s, size_t len)
{
	return name_valid(s, len) && !memmem(s, len, "..", 2) &&
	       (has_suffix(s, len, ".json") || has_suffix(s, len, ".html"));
}

/* The component of p up to the next '/' (or its end) into buf, a valid
 * name: the rest of p after it, or NULL. */
static const char *
take_name(const char *p, char buf[NAME_MAX_LEN + 1], bool last)
{
	const char *end = strchr(p, '/');
	size_t len = end ? (size_t)(end - p) : strlen(p);

	if ((end != NULL) == last || !name_valid(p, len))
		return NULL;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return end ? end + 1 : p + len;
}

int
dashreport_parse(const char *path, struct dashreport_ref *ref)
{
	char kind[NAME_MAX_LEN + 1];
	const char *p;

	if (strncmp(path, "/report/", 8) != 0)
		return 0;
	memset(ref, 0, sizeof(*ref));
	p = take_name(path + 8, ref->group, false);
	if (p)
		p = take_name(p, kind, false);
	if (!p || (strcmp(kind, "drills") != 0 && strcmp(kind, "failover") != 0))
		return -1;
	ref->failover = kind[0] == 'f';
	if (!take_name(p, ref->file, true) || !dashreport_name_valid(ref->file, strlen(ref->file)))
		return -1;
	return 1;
}

char *
dashreport_url(const char *group, bool failover, const char *path)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

	if (!name_valid(group, strlen(group)) || !dashreport_name_valid(base, strlen(base)))
		return NULL;
	return strfmt("/report/%s/%s/%s", group, failover ? "failover" : "drills", base);
}

/* Does the run record of ref's id name ref's file? Its record itself does;
 * an HTML report must be the record's "html_report". 1 / 0 (no such
 * record, or not that file) / -1 (unreadable, logged). */
static int
record_names(const char *store_dir, const struct dashreport_ref *ref)
{
	size_t idlen = strlen(ref->file) - 5;
	char *id = strndup(ref->file, idlen), *rec = NULL;
	const char *html, *base;
	json_error_t jerr;
	json_t *r = NULL;
	int rc = -1;

	if (id)
		rec = groupstate_report_path(store_dir, ref->group, ref->failover, id);
	if (!rec)
		goto out;
	rc = jsonfile_read(rec, RECORD_MAX, 0, &r, &jerr);
	if (rc != 0) {
		rc = rc == -1 ? -1 : 0;
		goto out;
	}
	rc = 1;
	if (has_suffix(ref->file, strlen(ref->file), ".html")) {
		html = json_string_value(json_object_get(r, "html_report"));
		base = html && strrchr(html, '/') ? strrchr(html, '/') + 1 : html;
		rc = base && strcmp(base, ref->file) == 0;
	}
out:
	json_decref(r);
	free(rec);
	free(id);
	return rc;
}

int
dashreport_load(const char *store_dir, const struct dashreport_ref *ref, char **body,
		size_t *len, const char **type)
{
	char *path = NULL;
	void *data = NULL;
	struct stat sb;
	int status, named;

	if (!groupstate_is_group(store_dir, ref->group))
		return 404;
	named = record_names(store_dir, ref);
	if (named <= 0)
		return named < 0 ? 500 : 404;
	status = 500;
	path = strfmt("%s/%s/%s/%s", store_dir, ref->group, ref->failover ? "failover" : "drills",
		      ref->file);
	if (!path)
		goto out;
	status = 404;
	if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
		goto out;
	status = 500;
	if (file_read_regular(path, DASH_REPORT_MAX, &data, len) < 0)
		goto out;
	*body = data;
	*type = has_suffix(ref->file, strlen(ref->file), ".html") ? "text/html; charset=utf-8"
								   : "application/json";
	status = 0;
out:
	free(path);
	return status;
}
