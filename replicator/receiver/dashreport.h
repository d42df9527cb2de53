/* The saved reports of drills and failovers as the dashboard serves them
 * (docs/dashboard.md): /report/GROUP/drills/FILE and
 * /report/GROUP/failover/FILE, read-only from <store>/GROUP/drills/ and
 * <store>/GROUP/failover/, FILE a run's record <id>.json or the HTML
 * report <id>.html that record names; nothing else of the store. */
#ifndef NESTOR_RECEIVER_DASHREPORT_H
#define NESTOR_RECEIVER_DASHREPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/names.h"

/* The largest report served: below the listener's 8 MiB answer bound. */
#define DASH_REPORT_MAX (6u << 20)

/* Where a report is: plain data. */
struct dashreport_ref {
	char group[NAME_MAX_LEN + 1];
	bool failover;              /* in failover/, else in drills/ */
	char file[NAME_MAX_LEN + 1];
};

/* Is s[0..len) a report's file name: <id>.json or <id>.html, all of it a
 * name (names.h: [A-Za-z0-9._-], not starting with '.' or '-', so no '/'
 * and no NUL) without "..". Pure. */
bool dashreport_name_valid(const char *s, size_t len);

/* path "/report/GROUP/drills/FILE" or "/report/GROUP/failover/FILE" into
 * ref: 1. 0 when path is not under /report/ (not a report's); -1 when it
 * is but anything in it is not a valid name (answer 400). Pure. */
int dashreport_parse(const char *path, struct dashreport_ref *ref);

/* The dashboard's URL of the report at path (its last component) of
 * group's drill or failover: malloc'd, caller frees; NULL when that name
 * is not one the dashboard serves, or out of memory. */
char *dashreport_url(const char *group, bool failover, const char *path);

/* Read the report ref names in the store at store_dir: 0 with *body
 * (malloc'd, caller frees) of *len bytes and its Content-Type (static) in
 * *type. Else the HTTP status to answer: 404 when no run's record names
 * the file or it is not a regular file (a symlink is refused), 500 when
 * it cannot be read or is larger than DASH_REPORT_MAX (logged). */
int dashreport_load(const char *store_dir, const struct dashreport_ref *ref, char **body,
		    size_t *len, const char **type);

#endif
