/* The config loaders' shared machinery (see config-keys.h): errors, the
 * setters both files use, the walk over a section's keys, section names. */
#include "replicator/config-keys.h"

#include "common/ini.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
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

/* ---- shared setters ----------------------------------------------------- */

int
cfg_set_string(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	char **f = CFG_FIELD(obj, k->off, char *);
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

int
cfg_set_name(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	if (!name_valid(value, strlen(value))) {
		*expect = CFG_NAME_EXPECT;
		return -1;
	}
	return cfg_set_string(obj, k, value, expect);
}

int
cfg_set_log_level(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	if (log_level_parse(value, CFG_FIELD(obj, k->off, enum log_level)) < 0) {
		*expect = "error, warn, info or debug";
		return -1;
	}
	return 0;
}

int
cfg_set_endpoint(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	char *host = NULL;
	uint16_t port;

	if (parse_host_port(value, &host, &port) < 0) {
		*expect = "host:port or [ipv6]:port with port 1..65535";
		return -1;
	}
	free(*CFG_FIELD(obj, k->off, char *));
	*CFG_FIELD(obj, k->off, char *) = host;
	*CFG_FIELD(obj, k->off2, uint16_t) = port;
	return 0;
}

void *
cfg_append(void *arr, size_t n, size_t size)
{
	char *a = reallocarray(arr, n + 1, size);

	if (a != NULL)
		memset(a + n * size, 0, size);
	return a;
}

void
cfg_keys_free(const struct key_def *defs, size_t ndefs, void *obj)
{
	for (size_t k = 0; k < ndefs; k++)
		if (defs[k].owned)
			free(*CFG_FIELD(obj, defs[k].off, char *));
}

void
cfg_strv_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- sections ------------------------------------------------------------ */

/* One key entry e of section h: known, not seen before, value accepted. */
static int
cfg_apply_key(const struct ini_doc *doc, const struct ini_entry *h,
	      const struct ini_entry *e, const struct key_def *defs, size_t ndefs,
	      int *seen, void *obj)
{
	const char *expect = NULL;
	size_t k;

	for (k = 0; k < ndefs; k++)
		if (strcmp(e->key, defs[k].key) == 0)
			break;
	if (k == ndefs) {
		cfg_err(doc, e->line, "unknown key '%s' in [%s]", e->key, h->section);
		return -1;
	}
	if (seen[k]) {
		cfg_err(doc, e->line, "duplicate key '%s' in [%s] (first on line %d)",
			e->key, h->section, seen[k]);
		return -1;
	}
	seen[k] = e->line;
	if (defs[k].set(obj, &defs[k], e->value, &expect) < 0) {
		if (expect != NULL)
			cfg_err(doc, e->line, "bad value '%s' for '%s' in [%s]: expected %s",
				e->value, e->key, h->section, expect);
		else
			cfg_err(doc, e->line, "out of memory");
		return -1;
	}
	return 0;
}

int
cfg_section_keys(const struct ini_doc *doc, size_t hdr, size_t *next,
		 const struct key_def *defs, size_t ndefs, void *obj)
{
	const struct ini_entry *h = ini_at(doc, hdr);
	/* the line each key was first seen on, per table row: as many as the
	 * table has, so that a table can grow without a bound to raise */
	int *seen = calloc(ndefs ? ndefs : 1, sizeof(*seen));
	int ret = -1;
	size_t i;

	if (seen == NULL) {
		cfg_err(doc, h->line, "out of memory");
		return -1;
	}
	for (i = hdr + 1; i < ini_count(doc); i++) {
		const struct ini_entry *e = ini_at(doc, i);

		if (e->key == NULL)
			break;
		if (cfg_apply_key(doc, h, e, defs, ndefs, seen, obj) < 0)
			goto out;
	}
	*next = i;
	for (size_t k = 0; k < ndefs; k++) {
		if (defs[k].required && !seen[k]) {
			cfg_err(doc, h->line, "missing required key '%s' in [%s]",
				defs[k].key, h->section);
			goto out;
		}
	}
	ret = 0;
out:
	free(seen);
	return ret;
}

size_t
cfg_split_words(const char *s, struct word *w, size_t max)
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

bool
cfg_word_is(const struct word *w, const char *s)
{
	return w->len == strlen(s) && memcmp(w->p, s, w->len) == 0;
}

int
cfg_section_name(const struct ini_doc *doc, const struct ini_entry *h,
		 const struct word *w, const char *what, char *dst)
{
	if (!name_valid(w->p, w->len)) {
		cfg_err(doc, h->line, "invalid %s name '%.*s' in [%s]: expected "
			CFG_NAME_EXPECT, what, (int)w->len, w->p, h->section);
		return -1;
	}
	memcpy(dst, w->p, w->len);
	dst[w->len] = '\0';
	return 0;
}

/* Before the first header there can only be stray keys. */
static int
cfg_stray_key(const struct ini_doc *doc, const struct ini_entry *e)
{
	cfg_err(doc, e->line, "key '%s' outside any section", e->key);
	return -1;
}

int
cfg_sections(const struct ini_doc *doc, const struct section_def *defs, size_t ndefs,
	     const char *expected, void *ctx, int *main_line)
{
	size_t i = 0;

	*main_line = 0;
	while (i < ini_count(doc)) {
		const struct ini_entry *h = ini_at(doc, i);
		struct word w[CFG_MAX_WORDS];
		size_t nw, d;

		if (h->key != NULL)
			return cfg_stray_key(doc, h);
		nw = cfg_split_words(h->section, w, CFG_MAX_WORDS);
		for (d = 0; d < ndefs; d++)
			if (nw == defs[d].nwords && cfg_word_is(&w[0], defs[d].word))
				break;
		if (d == ndefs) {
			cfg_err(doc, h->line, "unknown section [%s] (expected %s)", h->section,
				expected);
			return -1;
		}
		if (d == 0) {
			if (*main_line != 0) {
				cfg_err(doc, h->line, "duplicate section [%s] (first on line %d)",
					defs[0].word, *main_line);
				return -1;
			}
			*main_line = h->line;
		}
		if (defs[d].load(ctx, doc, i, w, &i) < 0)
			return -1;
	}
	if (*main_line == 0) {
		cfg_err(doc, 0, "missing section [%s]", defs[0].word);
		return -1;
	}
	return 0;
}

int
cfg_load(const char *path, const char *text,
	 int (*from_doc)(const struct ini_doc *doc, void *out), void *out)
{
	struct ini_doc *doc = NULL;
	int rc;

	if ((text ? ini_load_string(path, text, &doc) : ini_load(path, &doc)) < 0)
		return -1;
	rc = from_doc(doc, out);
	ini_free(doc);
	return rc;
}
