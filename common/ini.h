/* INI files (via inih) loaded into an ordered list of entries with line
 * numbers, so config code can give "path:line: message" errors. */
#ifndef NESTOR_COMMON_INI_H
#define NESTOR_COMMON_INI_H

#include <stddef.h>

struct ini_doc;

/* One line of meaning. A "[section]" header yields an entry with key and
 * value NULL (so empty sections are visible and their line known); each
 * "key = value" yields an entry with the section it is in ("" before any
 * header). Section names are trimmed of surrounding blanks; values have
 * blanks and inline " ;comments" stripped. Repeated keys are kept. */
struct ini_entry {
	const char *section;
	const char *key;
	const char *value;
	int line;
};

/* Files larger than this are refused. */
#define INI_MAX_FILE (1024 * 1024)

/* Load path. Errors are logged once ("path: ..." or "path:LINE: syntax
 * error") and -1 returned. Leading blanks are ignored, so there are no
 * multi-line values. Lines longer than inih's limit (198 characters), NUL
 * bytes, empty keys and text after "]" are refused rather than silently
 * mangled. *out is owned by the caller (ini_free). */
int ini_load(const char *path, struct ini_doc **out);
/* Same from a string; name is used in messages and returned by ini_path. */
int ini_load_string(const char *name, const char *text, struct ini_doc **out);

size_t ini_count(const struct ini_doc *doc);
/* Entry i < ini_count(doc); valid until ini_free. */
const struct ini_entry *ini_at(const struct ini_doc *doc, size_t i);
/* The path (or name) the document was loaded from. */
const char *ini_path(const struct ini_doc *doc);
void ini_free(struct ini_doc *doc);

#endif
