/* What the agent and receiver config loaders share (internal to
 * replicator/config-*.c): "path:line: message" errors, tables of keys with
 * their setter and target field, and the walk over a section's keys that
 * rejects unknown, duplicate and missing ones. */
#ifndef NESTOR_REPLICATOR_CONFIG_KEYS_H
#define NESTOR_REPLICATOR_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>

struct ini_doc;
struct ini_entry;

#define CFG_NAME_EXPECT "1-64 characters of [A-Za-z0-9._-], not starting with '.' or '-'"

/* Log "path:line: message" once (line 0: "path: message"). */
void cfg_err(const struct ini_doc *doc, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct key_def;

/* Setter for one key into obj at k->off (and k->off2 for keys that fill two
 * fields): -1 with *expect describing valid values, or -1 with *expect
 * NULL when out of memory. */
typedef int (*key_setter)(void *obj, const struct key_def *k, const char *value,
			  const char **expect);

struct key_def {
	const char *key;
	key_setter set;
	size_t off;
	bool required;
	size_t off2; /* second field, for cfg_set_endpoint: the port */
	bool owned;  /* the field at off is a char * the config owns */
};

/* Table rows: a key into one field, into a string the config owns (freed
 * by cfg_keys_free), and host:port into a string and a port. */
#define CFG_KEY(key, set, type, field, required) \
	{ (key), (set), offsetof(type, field), (required), 0, false }
#define CFG_STR(key, set, type, field, required) \
	{ (key), (set), offsetof(type, field), (required), 0, true }
#define CFG_ENDPOINT(key, type, host, port, required) \
	{ (key), cfg_set_endpoint, offsetof(type, host), (required), offsetof(type, port), true }
#define CFG_NKEYS(defs) (sizeof(defs) / sizeof((defs)[0]))
#define CFG_FIELD(obj, off, type) ((type *)(void *)((char *)(obj) + (off)))

/* Setters shared by both files: a non-empty string (strdup'd, char *), a
 * name (CFG_NAME_EXPECT, char *), a log level (enum log_level), host:port
 * into a char * at off and a uint16_t at off2. */
int cfg_set_string(void *obj, const struct key_def *k, const char *value, const char **expect);
int cfg_set_name(void *obj, const struct key_def *k, const char *value, const char **expect);
int cfg_set_log_level(void *obj, const struct key_def *k, const char *value,
		      const char **expect);
int cfg_set_endpoint(void *obj, const struct key_def *k, const char *value,
		     const char **expect);

/* Apply the key entries after header entry hdr (up to the next header) to
 * obj; *next is the index of the next header. 0 / -1 (logged). */
int cfg_section_keys(const struct ini_doc *doc, size_t hdr, size_t *next,
		     const struct key_def *defs, size_t ndefs, void *obj);

/* A blank-separated word of a section name. */
struct word {
	const char *p;
	size_t len;
};

/* Split s on blanks into at most max words; the word count, or max + 1 if
 * there are more. */
size_t cfg_split_words(const char *s, struct word *w, size_t max);
bool cfg_word_is(const struct word *w, const char *s);
/* Validate a name word of section h and copy it into dst[65]; what says
 * which name it is in the error. 0 / -1 (logged). */
int cfg_section_name(const struct ini_doc *doc, const struct ini_entry *h,
		     const struct word *w, const char *what, char *dst);

/* A kind of section: the first word of its header, how many words the
 * header has (that one included), and what loads it. */
struct section_def {
	const char *word;
	size_t nwords;
	/* Load the section whose header is entry hdr (words w) into ctx;
	 * *next: the index of the next header. 0 / -1 (logged). */
	int (*load)(void *ctx, const struct ini_doc *doc, size_t hdr, const struct word *w,
		    size_t *next);
};

#define CFG_MAX_WORDS 3

/* Load every section of doc with the def its header matches. defs[0] is
 * the main section ([agent], [receiver]): required, and only once; its
 * header line goes to *main_line. A key before the first header or a
 * header no def matches is an error ("unknown section [..] (expected
 * <expected>)"). 0 / -1 (logged). */
int cfg_sections(const struct ini_doc *doc, const struct section_def *defs, size_t ndefs,
		 const char *expected, void *ctx, int *main_line);
/* arr (n elements of size bytes, NULL if n is 0) grown by one zeroed
 * element at index n: the new array, or NULL (out of memory; arr is
 * untouched and still the caller's). */
void *cfg_append(void *arr, size_t n, size_t size);
/* Free the strings obj owns by the rows of its key table. */
void cfg_keys_free(const struct key_def *defs, size_t ndefs, void *obj);
/* Free n strings and the array. NULL ok. */
void cfg_strv_free(char **v, size_t n);

/* Load path (text NULL) or text named path, and hand the document to
 * from_doc, whose result is returned; out is from_doc's. */
int cfg_load(const char *path, const char *text,
	     int (*from_doc)(const struct ini_doc *doc, void *out), void *out);

#endif
