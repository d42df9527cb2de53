/* catalog.log: the catalog's append-only journal (catlog.h): replay with
 * the torn-tail and seq rules, one-line appends and compaction. */
#define _GNU_SOURCE
#include "replicator/receiver/catlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fileutil.h"
#include "common/jsonfile.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "common/testhook.h"

/* ---- replay ----------------------------------------------------------------- */

/* The journal from byte from on (the whole is at most CATLOG_MAX bytes)
 * into *buf (NUL added); a missing one, or one not longer than from, is
 * empty. 0 / -1 (logged). */
static int
log_read(const char *path, uint64_t from, char **buf, size_t *len)
{
	struct stat sb;
	size_t got = 0, want;
	int fd, rc = -1;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		log_error("store: open %s: %m", path);
		return -1;
	}
	if (fstat(fd, &sb) < 0) {
		log_error("store: stat %s: %m", path);
		goto out;
	}
	if (sb.st_size < 0 || (uint64_t)sb.st_size > CATLOG_MAX) {
		log_error("store: %s: file too large (more than %u bytes)", path, CATLOG_MAX);
		goto out;
	}
	want = (uint64_t)sb.st_size > from ? (size_t)((uint64_t)sb.st_size - from) : 0;
	if (!(*buf = malloc(want + 1))) {
		log_error("store: out of memory reading %s", path);
		goto out;
	}
	/* A writer may append meanwhile: what fstat saw is enough (an append
	 * not seen is a change after this read). */
	while (got < want) {
		ssize_t r = pread(fd, *buf + got, want - got, (off_t)(from + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			log_error("store: read %s: %m", path);
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	(*buf)[got] = '\0';
	*len = got;
	rc = 0;
out:
	if (rc < 0) {
		free(*buf);
		*buf = NULL;
	}
	close(fd);
	return rc;
}

static int
apply_commit(const json_t *rec, const char *path, size_t line, struct catalog *cat)
{
	struct store_disk_info room[STORE_MAX_DISKS];
	struct store_point_info pi;
	ssize_t idx;

	if (catalog_point_from_json(json_object_get(rec, "point"), path, line, &pi, room) < 0)
		return -1;
	idx = catalog_index(cat, pi.id);
	if (idx >= 0) {
		if (catalog_point_same(&cat->pts[idx], &pi))
			return 0;
		log_error("store: %s: line %zu commits point %" PRIu64 " again, differently",
			  path, line, pi.id);
		return -1;
	}
	if (pi.id <= catalog_last(cat)) {
		log_error("store: %s: line %zu commits point %" PRIu64 ", older than the newest %"
			  PRIu64, path, line, pi.id, catalog_last(cat));
		return -1;
	}
	return catalog_append(cat, &pi);
}

static int
apply_remove(const json_t *rec, const char *path, size_t line, struct catalog *cat)
{
	uint64_t id;
	ssize_t idx;

	if (jsonfile_u64(rec, "id", CATALOG_U64_MAX, &id, NULL) < 0 || id == 0) {
		log_error("store: %s: line %zu: bad point id", path, line);
		return -1;
	}
	idx = catalog_index(cat, id);
	if (idx < 0)
		return 0;
	if ((size_t)idx == cat->n - 1) {
		log_error("store: %s: line %zu removes the newest point %" PRIu64, path, line, id);
		return -1;
	}
	return catalog_drop(cat, (size_t)idx);
}

/* One record (line counts from 1). 0 / 1 = does not follow / -1. */
static int
apply(const json_t *rec, const char *path, size_t line, struct catalog *cat)
{
	const char *op = json_string_value(json_object_get(rec, "op"));
	uint64_t seq;
	int r;

	if (!json_is_object(rec) || !op ||
	    jsonfile_u64(rec, "seq", CATALOG_U64_MAX, &seq, NULL) < 0 || seq == 0) {
		log_error("store: %s: line %zu: missing seq or op", path, line);
		return -1;
	}
	if (seq <= cat->seq)
		return 0; /* the snapshot holds it already */
	if (seq != cat->seq + 1)
		return 1;
	if (strcmp(op, "commit") == 0) {
		r = apply_commit(rec, path, line, cat);
	} else if (strcmp(op, "remove") == 0) {
		r = apply_remove(rec, path, line, cat);
	} else {
		log_error("store: %s: line %zu: unknown op", path, line);
		r = -1;
	}
	if (r == 0)
		cat->seq = seq;
	return r;
}

/* Replay the records from byte from of the journal on, line numbers
 * counting on from cat->log_records. */
static int
replay_from(const char *gdir, struct catalog *cat, uint64_t from)
{
	char *path = strfmt("%s/catalog.log", gdir), *buf = NULL;
	size_t len = 0, off = 0, line = cat->log_records;
	int rc = -1;

	if (!path || log_read(path, from, &buf, &len) < 0)
		goto out;
	while (off < len) {
		const char *start = buf + off, *nl = memchr(start, '\n', len - off);
		size_t llen = nl ? (size_t)(nl - start) : 0;
		json_error_t e;
		json_t *rec;
		int r;

		if (!nl)
			break; /* torn: an append cut short */
		line++;
		if (llen > CATLOG_RECORD_MAX) {
			log_error("store: %s: line %zu: record larger than %u bytes", path, line,
				  CATLOG_RECORD_MAX);
			goto out;
		}
		rec = json_loadb(start, llen, JSON_REJECT_DUPLICATES, &e);
		if (!rec && (size_t)(nl + 1 - buf) == len)
			break; /* torn too: the last line, never acknowledged */
		if (!rec) {
			log_error("store: %s: line %zu: invalid JSON: %s", path, line, e.text);
			goto out;
		}
		r = apply(rec, path, line, cat);
		json_decref(rec);
		if (r != 0) {
			rc = r;
			goto out;
		}
		off = (size_t)(nl + 1 - buf);
		cat->log_records++;
	}
	cat->log_end = from + off;
	cat->log_size = from + len;
	rc = 0;
out:
	free(buf);
	free(path);
	return rc;
}

int
catlog_replay(const char *gdir, struct catalog *cat)
{
	cat->log_records = 0;
	return replay_from(gdir, cat, 0);
}

int
catlog_replay_tail(const char *gdir, struct catalog *cat)
{
	return replay_from(gdir, cat, cat->log_end);
}

/* ---- writing ---------------------------------------------------------------- */

void
catlog_truncate(const char *gdir)
{
	char *path = strfmt("%s/catalog.log", gdir);
	int fd = path ? open(path, O_WRONLY | O_CLOEXEC) : -1;

	if (fd < 0 && path && errno == ENOENT)
		goto out;
	if (fd < 0 || ftruncate(fd, 0) < 0 || fsync(fd) < 0)
		log_warn("store: %s: not emptied (%m): the snapshot holds its records, "
			 "replay skips them", path ? path : gdir);
out:
	if (fd >= 0)
		close(fd);
	free(path);
}

static bool
log_full(const struct catalog *cat, size_t len)
{
	size_t max_records = cat->n / 4 > CATLOG_COMPACT_RECORDS ? cat->n / 4 :
								   CATLOG_COMPACT_RECORDS;

	return !cat->snapshot || cat->log_records + 1 > max_records ||
	       cat->log_end + len > CATLOG_COMPACT_BYTES;
}

/* Append line (len bytes, ending in '\n') at cat->log_end, cutting a torn
 * tail first, and make it durable. 0 / -1 (logged; the line cut again). */
static int
log_append(const char *gdir, struct catalog *cat, const char *line, size_t len)
{
	char *path = strfmt("%s/catalog.log", gdir);
	bool created = false;
	struct stat sb;
	int fd = -1, rc = -1;
	const char *what = "open";

	if (!path)
		return -1;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		created = fd >= 0;
	}
	if (fd < 0)
		goto out;
	what = "cut the torn tail of";
	if (fstat(fd, &sb) < 0 ||
	    ((uint64_t)sb.st_size != cat->log_end && ftruncate(fd, (off_t)cat->log_end) < 0))
		goto out;
	what = "append to";
	if (pwrite(fd, line, len, (off_t)cat->log_end) != (ssize_t)len)
		goto out;
	testhook_at("catalog-append"); /* written, not yet durable */
	what = "fdatasync";
	if (fdatasync(fd) < 0)
		goto out;
	if (created && dir_fsync(gdir) < 0)
		goto out_logged;
	cat->log_end += len;
	cat->log_size = cat->log_end;
	cat->log_records++;
	rc = 0;
	goto out_logged;
out:
	log_error("store: %s %s: %m", what, path);
out_logged:
	if (rc < 0 && fd >= 0 && ftruncate(fd, (off_t)cat->log_end) < 0)
		log_warn("store: %s: a failed record stays as a torn tail", path);
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

/* The change is in cat already (seq not yet counted): record it. rec is
 * stolen. */
static int
record(const char *gdir, struct catalog *cat, json_t *rec)
{
	char *text = NULL, *line = NULL;
	size_t len;
	int rc = -1;

	cat->seq++;
	if (!rec || json_object_set_new(rec, "seq", json_integer((json_int_t)cat->seq)) < 0 ||
	    !(text = json_dumps(rec, JSON_COMPACT)) || !(line = strfmt("%s\n", text))) {
		log_error("store: out of memory building a catalog record");
		goto out;
	}
	len = strlen(line);
	if (len > CATLOG_RECORD_MAX) { /* cannot happen with STORE_MAX_DISKS */
		log_error("store: %s: a catalog record of %zu bytes", gdir, len);
		goto out;
	}
	if (log_full(cat, len)) {
		rc = catalog_save(gdir, cat);
		if (rc == 0) {
			cat->snapshot = true;
			cat->log_end = cat->log_size = 0;
			cat->log_records = 0;
		}
	} else {
		rc = log_append(gdir, cat, line, len);
	}
out:
	json_decref(rec);
	free(text);
	free(line);
	return rc;
}

int
catlog_commit(const char *gdir, struct catalog *cat, const struct store_point_info *pi)
{
	json_t *p;

	if (pi->id <= catalog_last(cat)) {
		log_error("store: %s: point %" PRIu64 " is not newer than %" PRIu64, gdir, pi->id,
			  catalog_last(cat));
		return -1;
	}
	p = catalog_point_to_json(pi);
	if (!p || catalog_append(cat, pi) < 0) {
		json_decref(p);
		log_error("store: out of memory building a catalog record");
		return -1;
	}
	return record(gdir, cat, json_pack("{s:s, s:o}", "op", "commit", "point", p));
}

int
catlog_remove(const char *gdir, struct catalog *cat, uint64_t id)
{
	ssize_t idx = catalog_index(cat, id);

	if (idx < 0 || (size_t)idx + 1 >= cat->n) {
		log_error("store: %s: point %" PRIu64 " is not a listed point older than the newest",
			  gdir, id);
		return -1;
	}
	if (catalog_drop(cat, (size_t)idx) < 0)
		return -1;
	return record(gdir, cat, json_pack("{s:s, s:I}", "op", "remove", "id", (json_int_t)id));
}
