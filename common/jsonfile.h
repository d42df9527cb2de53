/* JSON files: load with a size cap, save durably (file_write_atomic), read
 * bounded integers with a message naming the file and the key. */
#ifndef NESTOR_COMMON_JSONFILE_H
#define NESTOR_COMMON_JSONFILE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Parse path (at most max bytes) into *root, which must be an object;
 * flags are jansson's decode flags (JSON_REJECT_DUPLICATES). The caller
 * owns *root (json_decref). Returns 0; 1 when path does not exist (not
 * logged, *root NULL); -1 on anything else (logged once, naming path). */
int jsonfile_load(const char *path, size_t max, size_t flags, json_t **root);
/* jsonfile_load for a caller that words its own message about a malformed
 * file: the same, but a file that is not a JSON object is -2, not logged,
 * with jansson's message in *jerr (text "" when the JSON parsed but is not
 * an object). A missing file is still 1 and a read error -1 (logged). */
int jsonfile_read(const char *path, size_t max, size_t flags, json_t **root,
		  json_error_t *jerr);

/* Encode root with jansson's encode flags (JSON_INDENT(2) ...) and replace
 * path with it durably at mode. Logs once. 0 / -1. */
int jsonfile_save(const char *path, const json_t *root, size_t flags, mode_t mode);

/* obj[key] as an integer within [0, max] / [min, max]. A missing key, a
 * non-integer or a value out of range is -1, logged as "FILE: KEY: ..."
 * when file is set; with file NULL not logged (the caller says what was
 * malformed). *out is untouched on error. 0 / -1. */
int jsonfile_u64(const json_t *obj, const char *key, uint64_t max, uint64_t *out,
		 const char *file);
int jsonfile_int(const json_t *obj, const char *key, int64_t min, int64_t max,
		 int64_t *out, const char *file);

#endif
