/* INI loading on top of inih. inih is fed through our own line reader so
 * that we see every raw line: that gives us line numbers, full-length section
 * names (inih truncates them at 50 bytes), empty sections (inih reports only
 * keys) and a chance to refuse input inih would silently mangle. */
#include "common/ini.h"

#include "common/fileutil.h"
#include "common/log.h"

#include <ini.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ini_item {
	struct ini_entry e;
	char *mem; /* section, key and value strings, one allocation */
};

struct ini_doc {
	char *path;
	struct ini_item *items;
	size_t n, cap;

	/* Parse state, only meaningful during loading. */
	const char *text;
	size_t len, pos;
	int lineno;
	const char *section; /* current section name, owned by an item */
	int err_line;        /* first error we detected ourselves, 0 = none */
	const char *err_what;
	bool oom;
};

size_t
ini_count(const struct ini_doc *doc)
{
	return doc ? doc->n : 0;
}

const struct ini_entry *
ini_at(const struct ini_doc *doc, size_t i)
{
	if (doc == NULL || i >= doc->n)
		return NULL;
	return &doc->items[i].e;
}

const char *
ini_path(const struct ini_doc *doc)
{
	return doc ? doc->path : NULL;
}

void
ini_free(struct ini_doc *doc)
{
	if (doc == NULL)
		return;
	for (size_t i = 0; i < doc->n; i++)
		free(doc->items[i].mem);
	free(doc->items);
	free(doc->path);
	free(doc);
}

/* Append an entry; key/value NULL for a section header. */
static int
doc_add(struct ini_doc *doc, const char *section, size_t slen, const char *key,
	const char *value)
{
	size_t klen = key ? strlen(key) : 0, vlen = value ? strlen(value) : 0;
	size_t total;
	struct ini_item *it;
	char *mem;

	if (doc->n == doc->cap) {
		size_t ncap = doc->cap ? doc->cap * 2 : 16;
		struct ini_item *n;

		if (ncap > SIZE_MAX / sizeof(*n))
			goto oom;
		n = realloc(doc->items, ncap * sizeof(*n));
		if (n == NULL)
			goto oom;
		doc->items = n;
		doc->cap = ncap;
	}
	/* Lengths are bounded by the line length, but keep the habit. */
	if (__builtin_add_overflow(slen, klen, &total) ||
	    __builtin_add_overflow(total, vlen + 3, &total))
		goto oom;
	mem = malloc(total);
	if (mem == NULL)
		goto oom;
	it = &doc->items[doc->n++];
	it->mem = mem;
	memcpy(mem, section, slen);
	mem[slen] = '\0';
	it->e.section = mem;
	it->e.key = NULL;
	it->e.value = NULL;
	if (key != NULL) {
		char *k = mem + slen + 1, *v = k + klen + 1;

		memcpy(k, key, klen + 1);
		memcpy(v, value ? value : "", vlen + 1);
		it->e.key = k;
		it->e.value = v;
	}
	it->e.line = doc->lineno;
	return 0;
oom:
	doc->oom = true;
	return -1;
}

static void
doc_error(struct ini_doc *doc, const char *what)
{
	if (doc->err_line == 0) {
		doc->err_line = doc->lineno;
		doc->err_what = what;
	}
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* A "[name]" line: record the header ourselves. */
static int
doc_section(struct ini_doc *doc, const char *p, size_t l)
{
	const char *close = memchr(p, ']', l), *s, *e, *rest;

	if (close == NULL)
		return 0; /* inih reports the syntax error at this line */
	for (rest = close + 1; rest < p + l && is_blank(*rest); rest++)
		;
	if (rest < p + l && *rest != ';' && *rest != '#') {
		doc_error(doc, "text after ']'");
		return -1;
	}
	for (s = p + 1; s < close && is_blank(*s); s++)
		;
	for (e = close; e > s && is_blank(e[-1]); e--)
		;
	if (doc_add(doc, s, (size_t)(e - s), NULL, NULL) < 0)
		return -1;
	doc->section = doc->items[doc->n - 1].e.section;
	return 0;
}

/* inih's fgets-style reader: one raw line per call, leading blanks removed
 * (which also turns off inih's multi-line continuation values). Returning
 * NULL ends parsing, which is how our own errors stop it. */
static char *
doc_reader(char *str, int num, void *stream)
{
	struct ini_doc *doc = stream;
	const char *p, *nl;
	size_t l;

	if (doc->err_line != 0 || doc->oom || doc->pos >= doc->len || num < 2)
		return NULL;
	p = doc->text + doc->pos;
	nl = memchr(p, '\n', doc->len - doc->pos);
	l = nl ? (size_t)(nl - p) : doc->len - doc->pos;
	doc->pos += l + (nl ? 1 : 0);
	doc->lineno++;
	if (doc->lineno == 1 && l >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
		p += 3;
		l -= 3;
	}
	while (l > 0 && is_blank(*p)) {
		p++;
		l--;
	}
	if (memchr(p, '\0', l) != NULL) {
		doc_error(doc, "NUL byte");
		return NULL;
	}
	if (l >= (size_t)num - 1) {
		doc_error(doc, "line too long");
		return NULL;
	}
	if (l > 0 && p[0] == '[' && doc_section(doc, p, l) < 0)
		return NULL;
	memcpy(str, p, l);
	str[l] = '\0';
	return str;
}

static int
doc_handler(void *user, const char *section, const char *name, const char *value)
{
	struct ini_doc *doc = user;
	const char *sec = doc->section ? doc->section : "";

	(void)section; /* possibly truncated by inih; ours is complete */
	if (name[0] == '\0') {
		doc_error(doc, "empty key");
		return 1;
	}
	if (doc_add(doc, sec, strlen(sec), name, value) < 0)
		return 0;
	return 1;
}

static int
doc_parse(const char *name, const char *text, size_t len, struct ini_doc **out)
{
	struct ini_doc *doc = NULL;
	int r, rc = -1;

	doc = calloc(1, sizeof(*doc));
	if (doc == NULL || (doc->path = strdup(name)) == NULL) {
		log_error("%s: out of memory", name);
		goto out;
	}
	doc->text = text;
	doc->len = len;
	r = ini_parse_stream(doc_reader, doc, doc_handler, doc);
	if (doc->oom || r == -2) {
		log_error("%s: out of memory", name);
		goto out;
	}
	/* inih keeps going after its first error and we stop at ours: the
	 * earlier line is the one the user should look at. */
	if (r > 0 && (doc->err_line == 0 || r <= doc->err_line)) {
		log_error("%s:%d: syntax error", name, r);
		goto out;
	}
	if (doc->err_line != 0) {
		log_error("%s:%d: syntax error (%s)", name, doc->err_line,
			  doc->err_what);
		goto out;
	}
	if (r != 0) {
		log_error("%s: parse failed", name);
		goto out;
	}
	doc->text = NULL;
	doc->section = NULL;
	*out = doc;
	doc = NULL;
	rc = 0;
out:
	ini_free(doc);
	return rc;
}

int
ini_load_string(const char *name, const char *text, struct ini_doc **out)
{
	size_t len = strlen(text);

	if (len > INI_MAX_FILE) {
		log_error("%s: too large (more than %d bytes)", name, INI_MAX_FILE);
		return -1;
	}
	return doc_parse(name, text, len, out);
}

int
ini_load(const char *path, struct ini_doc **out)
{
	void *data = NULL;
	size_t len;
	int rc;

	if (file_read_all(path, INI_MAX_FILE, &data, &len) < 0)
		return -1;
	rc = doc_parse(path, data, len, out);
	free(data);
	return rc;
}
