/* catalog.idx (catidx.h): the binary form of a catalog, bounded and
 * checked on read, and its durable write.
 *
 * Layout, integers little-endian 64-bit:
 *   header (IDX_HDR bytes): magic, version, points n, disk entries nd, seq,
 *     snapshot present, catalog.json's identity (dev, ino, size, mtime s/ns,
 *     ctime s/ns), catalog.log's (dev, ino), the journal prefix held
 *     (log_end, its records, the offset of its last record, the XXH3 of that
 *     record's bytes);
 *   n points of IDX_REC bytes: id, base, time_ns, received_ns, committed_ns,
 *     bytes, consistency, ndisks, first disk entry;
 *   nd disk entries of IDX_DISK bytes: name (NUL-padded), size;
 *   the XXH3 of everything before it. */
#define _GNU_SOURCE
#include "replicator/receiver/catidx.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/consistency.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/names.h"
#include "common/strfmt.h"
#include "common/testhook.h"
#include "replicator/receiver/catlog.h"

#define IDX_MAGIC   "NSTRCIDX"
#define IDX_VERSION 1
#define IDX_HDR     160
#define IDX_REC     72
#define IDX_NAME    72 /* STORE_NAME_MAX + 1, padded */
#define IDX_DISK    (IDX_NAME + 8)

_Static_assert(IDX_NAME >= STORE_NAME_MAX + 1, "a disk name fits its entry");

/* Header fields (byte offsets). */
enum {
	H_VERSION = 8, H_N = 16, H_ND = 24, H_SEQ = 32, H_SNAPSHOT = 40,
	H_SNAP_DEV = 48, H_SNAP_INO = 56, H_SNAP_SIZE = 64, H_SNAP_MS = 72, H_SNAP_MNS = 80,
	H_SNAP_CS = 88, H_SNAP_CNS = 96, H_LOG_DEV = 104, H_LOG_INO = 112, H_LOG_END = 120,
	H_LOG_RECORDS = 128, H_LAST_OFF = 136, H_LAST_HASH = 144,
};

static uint64_t
get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static void
put64(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static void
ids_put(unsigned char *h, const struct file_id *snap, const struct file_id *log)
{
	put64(h + H_SNAP_DEV, (uint64_t)snap->dev);
	put64(h + H_SNAP_INO, (uint64_t)snap->ino);
	put64(h + H_SNAP_SIZE, (uint64_t)snap->size);
	put64(h + H_SNAP_MS, (uint64_t)snap->mtime.tv_sec);
	put64(h + H_SNAP_MNS, (uint64_t)snap->mtime.tv_nsec);
	put64(h + H_SNAP_CS, (uint64_t)snap->ctime.tv_sec);
	put64(h + H_SNAP_CNS, (uint64_t)snap->ctime.tv_nsec);
	put64(h + H_LOG_DEV, (uint64_t)log->dev);
	put64(h + H_LOG_INO, (uint64_t)log->ino);
}

/* Whether header h was built from catalog.json = snap and a journal that
 * catalog.log = log still holds (the same file, not shorter; only the
 * device and inode count when the index holds none of it). */
static bool
ids_match(const unsigned char *h, const struct file_id *snap, const struct file_id *log)
{
	unsigned char want[IDX_HDR] = { 0 };
	uint64_t log_end = get64(h + H_LOG_END);

	ids_put(want, snap, log);
	if (memcmp(want + H_SNAP_DEV, h + H_SNAP_DEV, H_LOG_DEV - H_SNAP_DEV) != 0)
		return false;
	if (log_end == 0)
		return true;
	return memcmp(want + H_LOG_DEV, h + H_LOG_DEV, 16) == 0 && log->size >= 0 &&
	       (uint64_t)log->size >= log_end;
}

static char *
idx_path(const char *gdir)
{
	char *p = strfmt("%s/" CATIDX_NAME, gdir);

	if (!p)
		log_error("store: out of memory building a path");
	return p;
}

/* ---- reading ------------------------------------------------------------------ */

/* Point i of the index at r (disk entries at disks, nd of them) into pi
 * and room; NULL when fine, else what is wrong. */
static const char *
point_decode(const unsigned char *r, const unsigned char *disks, uint64_t nd,
	     struct store_point_info *pi, struct store_disk_info *room)
{
	uint64_t v[9], first;

	for (size_t k = 0; k < 9; k++)
		v[k] = get64(r + 8 * k);
	for (size_t k = 0; k < 6; k++)
		if (v[k] > CATALOG_U64_MAX)
			return "a value out of range";
	if (v[0] == 0 || v[1] >= v[0])
		return "a bad id or base";
	if (v[6] > CONS_APP)
		return "an unknown consistency";
	if (v[7] == 0 || v[7] > STORE_MAX_DISKS || v[8] > nd || v[7] > nd - v[8])
		return "a bad disk list";
	*pi = (struct store_point_info){ .id = v[0], .base_id = v[1], .time_ns = v[2],
					 .received_ns = v[3], .committed_ns = v[4],
					 .bytes_received = v[5], .consistency = (int)v[6],
					 .ndisks = (size_t)v[7], .disks = room };
	first = v[8];
	for (size_t j = 0; j < pi->ndisks; j++) {
		const unsigned char *d = disks + (first + j) * IDX_DISK;
		size_t len = strnlen((const char *)d, IDX_NAME);

		if (len > STORE_NAME_MAX || !name_valid((const char *)d, len))
			return "a bad disk name";
		memcpy(room[j].name, d, len);
		room[j].name[len] = '\0';
		room[j].size = get64(d + IDX_NAME);
		if (room[j].size == 0 || room[j].size > STORE_MAX_DISK_SIZE)
			return "a bad disk size";
		for (size_t k = 0; k < j; k++)
			if (strcmp(room[k].name, room[j].name) == 0)
				return "a disk listed twice";
	}
	return NULL;
}

/* The index in buf (len bytes) into cat; NULL when it is the catalog of
 * snap and a prefix of log, else why not. */
static const char *
decode(const unsigned char *buf, size_t len, const struct file_id *snap,
       const struct file_id *log, struct catalog *cat)
{
	struct store_disk_info room[STORE_MAX_DISKS];
	struct store_point_info pi;
	const unsigned char *recs = buf + IDX_HDR, *disks;
	uint64_t n, nd, log_end, last_off;
	const char *why;

	if (len < IDX_HDR + 8 || memcmp(buf, IDX_MAGIC, 8) != 0)
		return "not an index";
	if (hash64(buf, len - 8) != get64(buf + len - 8))
		return "its checksum does not match (torn or damaged)";
	if (get64(buf + H_VERSION) != IDX_VERSION)
		return "another version";
	n = get64(buf + H_N);
	nd = get64(buf + H_ND);
	/* n and nd below CATIDX_MAX: the products cannot overflow. */
	if (n > CATIDX_MAX || nd > CATIDX_MAX ||
	    IDX_HDR + n * IDX_REC + nd * IDX_DISK + 8 != len)
		return "its size does not match its counts";
	if (!ids_match(buf, snap, log))
		return "the catalog changed since it was written";
	log_end = get64(buf + H_LOG_END);
	last_off = get64(buf + H_LAST_OFF);
	if (get64(buf + H_SEQ) > CATALOG_U64_MAX || get64(buf + H_SNAPSHOT) > 1 ||
	    log_end > CATLOG_MAX || last_off > log_end ||
	    log_end - last_off > CATLOG_RECORD_MAX + 1 || (log_end > 0 && last_off == log_end) ||
	    get64(buf + H_LOG_RECORDS) > log_end || (log_end > 0) != (get64(buf + H_LOG_RECORDS) > 0))
		return "a bad header";
	disks = recs + n * IDX_REC;
	for (uint64_t i = 0; i < n; i++) {
		why = point_decode(recs + i * IDX_REC, disks, nd, &pi, room);
		if (!why && i > 0 && pi.id <= cat->pts[cat->n - 1].id)
			why = "ids out of order";
		if (why)
			return why;
		if (catalog_append(cat, &pi) < 0)
			return "out of memory";
	}
	cat->seq = get64(buf + H_SEQ);
	cat->snapshot = get64(buf + H_SNAPSHOT) == 1;
	cat->log_end = cat->log_size = log_end;
	cat->log_records = (size_t)get64(buf + H_LOG_RECORDS);
	return NULL;
}

/* Whether catalog.log's bytes [off, end) still hash to h (the last record
 * the index holds). */
static bool
last_record_same(const char *gdir, uint64_t off, uint64_t end, uint64_t h)
{
	char *path = strfmt("%s/catalog.log", gdir);
	void *buf = malloc(end - off + 1);
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	bool same = fd >= 0 && buf && fd_pread_all(fd, buf, end - off, (off_t)off) == 0 &&
		    hash64(buf, end - off) == h;

	if (fd >= 0)
		close(fd);
	free(buf);
	free(path);
	return same;
}

int
catidx_read(const char *gdir, const struct file_id *snap, const struct file_id *log,
	    struct catalog *cat, size_t *lag)
{
	char *path = idx_path(gdir);
	unsigned char *buf = NULL;
	const char *why = "cannot be read";
	struct stat sb;
	size_t before;
	int fd = -1, rc = 1;

	memset(cat, 0, sizeof(*cat));
	*lag = 0;
	if (!path)
		return 1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		why = errno == ENOENT ? "missing" : "cannot be opened";
		goto out;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size < IDX_HDR + 8 ||
	    sb.st_size > CATIDX_MAX) {
		why = "not a regular file of a possible size";
		goto out;
	}
	buf = malloc((size_t)sb.st_size);
	if (!buf || fd_pread_all(fd, buf, (size_t)sb.st_size, 0) < 0)
		goto out;
	why = decode(buf, (size_t)sb.st_size, snap, log, cat);
	if (why)
		goto out;
	if (cat->log_end > 0 &&
	    !last_record_same(gdir, get64(buf + H_LAST_OFF), cat->log_end,
			      get64(buf + H_LAST_HASH))) {
		why = "the journal changed since it was written";
		goto out;
	}
	/* The records after it, by the journal's rules (seq must follow). */
	before = cat->log_records;
	rc = catlog_replay_tail(gdir, cat);
	why = "the journal does not follow it";
	if (rc == 0)
		*lag = cat->log_records - before;
out:
	if (rc != 0) {
		log_debug("store: %s: %s: the catalog is read instead", path, why);
		catalog_free(cat);
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	free(path);
	return rc < 0 ? -1 : rc;
}

int
catidx_due(const char *gdir, const struct file_id *snap, const struct file_id *log,
	   const struct catalog *cat)
{
	unsigned char h[IDX_HDR];
	char *path = idx_path(gdir);
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	bool due = fd < 0 || fd_pread_all(fd, h, sizeof(h), 0) < 0 ||
		   memcmp(h, IDX_MAGIC, 8) != 0 || get64(h + H_VERSION) != IDX_VERSION ||
		   !ids_match(h, snap, log) || get64(h + H_LOG_RECORDS) > cat->log_records ||
		   cat->log_records - get64(h + H_LOG_RECORDS) > CATIDX_LAG_MAX;

	if (fd >= 0)
		close(fd);
	free(path);
	return due;
}

/* ---- writing ------------------------------------------------------------------ */

/* Make catalog.log durable up to log_end and find its last record
 * [*off, log_end) and that record's hash. 0 / -1 (logged). */
static int
journal_tail(const char *gdir, uint64_t log_end, uint64_t *off, uint64_t *h)
{
	char *path = strfmt("%s/catalog.log", gdir);
	size_t len = log_end < CATLOG_RECORD_MAX + 1 ? (size_t)log_end : CATLOG_RECORD_MAX + 1;
	char *buf = malloc(len + 1), *nl;
	int fd = -1, rc = -1;

	*off = 0;
	*h = hash64("", 0);
	if (log_end == 0) {
		rc = 0;
		goto out;
	}
	if (!path || !buf) {
		log_error("store: out of memory");
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	/* What a writer appended is durable once its COMMITTED went out; a
	 * record read before its writer's fdatasync returned is made durable
	 * here, so the index never names one a power cut takes back. */
	if (fd < 0 || fdatasync(fd) < 0 || fd_pread_all(fd, buf, len, (off_t)(log_end - len)) < 0) {
		log_error("store: %s: %m", path);
		goto out;
	}
	if (buf[len - 1] != '\n') {
		log_error("store: %s: no whole record ends at byte %" PRIu64, path, log_end);
		goto out;
	}
	buf[len - 1] = '\0';
	nl = memrchr(buf, '\n', len - 1);
	if (!nl && len < log_end) {
		log_error("store: %s: a record longer than %u bytes", path, CATLOG_RECORD_MAX);
		goto out;
	}
	*off = log_end - len + (nl ? (uint64_t)(nl + 1 - buf) : 0);
	buf[len - 1] = '\n';
	*h = hash64(buf + (*off - (log_end - len)), (size_t)(log_end - *off));
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(path);
	return rc;
}

/* cat as an index (malloc'd, *len bytes). NULL when out of memory. */
static unsigned char *
encode(const struct catalog *cat, const struct file_id *snap, const struct file_id *log,
       uint64_t last_off, uint64_t last_hash, size_t *len)
{
	size_t nd = 0, d = 0, first = 0;
	unsigned char *buf, *recs, *disks;

	for (size_t i = 0; i < cat->n; i++)
		if (i == 0 || cat->pts[i].disks != cat->pts[i - 1].disks)
			nd += cat->pts[i].ndisks;
	*len = IDX_HDR + cat->n * IDX_REC + nd * IDX_DISK + 8;
	buf = calloc(1, *len);
	if (!buf)
		return NULL;
	memcpy(buf, IDX_MAGIC, 8);
	put64(buf + H_VERSION, IDX_VERSION);
	put64(buf + H_N, cat->n);
	put64(buf + H_ND, nd);
	put64(buf + H_SEQ, cat->seq);
	put64(buf + H_SNAPSHOT, cat->snapshot);
	ids_put(buf, snap, log);
	put64(buf + H_LOG_END, cat->log_end);
	put64(buf + H_LOG_RECORDS, cat->log_records);
	put64(buf + H_LAST_OFF, last_off);
	put64(buf + H_LAST_HASH, last_hash);
	recs = buf + IDX_HDR;
	disks = recs + cat->n * IDX_REC;
	for (size_t i = 0; i < cat->n; i++) {
		const struct store_point_info *p = &cat->pts[i];
		unsigned char *r = recs + i * IDX_REC;

		if (i == 0 || p->disks != cat->pts[i - 1].disks) {
			first = d;
			for (size_t j = 0; j < p->ndisks; j++, d++) {
				memcpy(disks + d * IDX_DISK, p->disks[j].name,
				       strnlen(p->disks[j].name, STORE_NAME_MAX));
				put64(disks + d * IDX_DISK + IDX_NAME, p->disks[j].size);
			}
		}
		put64(r, p->id);
		put64(r + 8, p->base_id);
		put64(r + 16, p->time_ns);
		put64(r + 24, p->received_ns);
		put64(r + 32, p->committed_ns);
		put64(r + 40, p->bytes_received);
		put64(r + 48, (uint64_t)p->consistency);
		put64(r + 56, p->ndisks);
		put64(r + 64, first);
	}
	put64(buf + *len - 8, hash64(buf, *len - 8));
	return buf;
}

int
catidx_save(const char *gdir, const struct catalog *cat, const struct file_id *snap,
	    const struct file_id *log)
{
	char *path = idx_path(gdir), *tmp = strfmt("%s/.%s.XXXXXX", gdir, CATIDX_NAME);
	unsigned char *buf = NULL;
	uint64_t last_off, last_hash;
	size_t len = 0;
	int fd = -1, rc = -1;

	if (!path || !tmp) {
		log_error("store: out of memory building a path");
		goto out;
	}
	if (cat->log_end != cat->log_size || (log->size > 0 ? (uint64_t)log->size : 0) != cat->log_end) {
		log_debug("store: %s: the journal has a torn tail or grew: not indexed now", gdir);
		goto out;
	}
	if (journal_tail(gdir, cat->log_end, &last_off, &last_hash) < 0)
		goto out;
	buf = encode(cat, snap, log, last_off, last_hash, &len);
	if (!buf) {
		log_error("store: %s: out of memory building the index", gdir);
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		if (errno == EACCES || errno == EROFS || errno == EPERM)
			log_debug("store: %s: cannot write its index (%m)", gdir);
		else
			log_error("store: %s: %m", tmp);
		goto out;
	}
	if (fchmod(fd, 0640) < 0 || fd_write_all(fd, buf, len) < 0 || fsync(fd) < 0) {
		log_error("store: write %s: %m", tmp);
		goto out;
	}
	testhook_at("catidx-written"); /* durable under its temporary name */
	if (rename(tmp, path) < 0) {
		log_error("store: rename %s: %m", tmp);
		goto out;
	}
	rc = dir_fsync(gdir);
out:
	if (fd >= 0) {
		close(fd);
		if (rc < 0 && unlink(tmp) < 0 && errno != ENOENT)
			log_warn("store: %s left behind: %m", tmp);
	}
	free(buf);
	free(tmp);
	free(path);
	return rc;
}
