/* Per-extent checksum files of committed points: the format, appending
 * while a point is received, whole-file load and save, the merge a
 * removal makes, pruning (sums.h). */
#define _GNU_SOURCE
#include "replicator/receiver/sums.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/strfmt.h"

#define WRITER_BUF 256 /* records buffered between writes */
#define LOAD_CHUNK 4096 /* records read at a time when truncating */

/* ---- format ------------------------------------------------------------------ */

/* n little-endian bytes of v at p, and back. */
static void
put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t
sums_max_records(uint64_t disk_size)
{
	return disk_size / 512 + 65536;
}

char *
sums_root(const char *gdir)
{
	return strfmt("%s/sums", gdir);
}

char *
sums_dir(const char *gdir, uint64_t point)
{
	return strfmt("%s/sums/%" PRIu64, gdir, point);
}

char *
sums_path(const char *gdir, uint64_t point, const char *disk)
{
	return strfmt("%s/sums/%" PRIu64 "/%s.sums", gdir, point, disk);
}

void
sums_encode(const struct sums_rec *r, unsigned char out[SUMS_RECORD_SIZE])
{
	put_le(out, r->offset, 8);
	put_le(out + 8,
	       (r->length & SUMS_LEN_MASK) | (r->zero ? SUMS_FLAG_ZERO : 0) |
		       (r->unknown ? SUMS_FLAG_UNKNOWN : 0),
	       8);
	put_le(out + 16, r->zero || r->unknown ? 0 : r->hash, 8);
}

static bool
rec_valid(const struct sums_rec *r)
{
	uint64_t end;

	if (r->length == 0 || r->length > SUMS_LEN_MASK ||
	    __builtin_add_overflow(r->offset, r->length, &end))
		return false;
	if (r->zero && r->unknown)
		return false;
	return r->zero || r->unknown ? r->hash == 0 : r->length <= SUMS_MAX_DATA;
}

int
sums_decode(const unsigned char in[SUMS_RECORD_SIZE], struct sums_rec *r)
{
	uint64_t lf = get_le(in + 8, 8);

	if (lf & ~(SUMS_FLAG_ZERO | SUMS_FLAG_UNKNOWN | SUMS_LEN_MASK))
		return -1;
	r->offset = get_le(in, 8);
	r->length = lf & SUMS_LEN_MASK;
	r->zero = (lf & SUMS_FLAG_ZERO) != 0;
	r->unknown = (lf & SUMS_FLAG_UNKNOWN) != 0;
	r->hash = get_le(in + 16, 8);
	return rec_valid(r) ? 0 : -1;
}

static void
header_encode(unsigned char h[SUMS_HEADER_SIZE])
{
	memcpy(h, SUMS_MAGIC, 8);
	put_le(h + 8, SUMS_VERSION, 4);
	put_le(h + 12, SUMS_RECORD_SIZE, 4);
}

static bool
header_ok(const unsigned char h[SUMS_HEADER_SIZE])
{
	return memcmp(h, SUMS_MAGIC, 8) == 0 && get_le(h + 8, 4) == SUMS_VERSION &&
	       get_le(h + 12, 4) == SUMS_RECORD_SIZE;
}

/* ---- appending ------------------------------------------------------------------ */

struct sums_writer {
	int fd;
	uint64_t count;  /* records in the file */
	uint64_t max;
	size_t nbuf;
	bool dirty;      /* written since its last fdatasync */
	char ctx[160];
	unsigned char buf[WRITER_BUF * SUMS_RECORD_SIZE];
};

/* How many leading records of the file (nrec of them) are whole and end
 * at or before keep_end. -1 for a read error (logged). */
static int64_t
writer_keep(struct sums_writer *w, uint64_t nrec, uint64_t keep_end)
{
	unsigned char *chunk = malloc((size_t)LOAD_CHUNK * SUMS_RECORD_SIZE);
	uint64_t i = 0;
	int64_t ret = -1;

	if (!chunk) {
		log_error("%s: out of memory", w->ctx);
		return -1;
	}
	while (i < nrec) {
		size_t k = nrec - i < LOAD_CHUNK ? (size_t)(nrec - i) : LOAD_CHUNK;

		if (fd_pread_all(w->fd, chunk, k * SUMS_RECORD_SIZE,
				 (off_t)(SUMS_HEADER_SIZE + i * SUMS_RECORD_SIZE)) < 0) {
			log_error("%s: read: %m", w->ctx);
			goto out;
		}
		for (size_t j = 0; j < k; j++, i++) {
			struct sums_rec r;

			/* Past the durable records a lost write may have left
			 * anything (a power cut): the first record that is not
			 * whole and durable ends what is kept. */
			if (sums_decode(chunk + j * SUMS_RECORD_SIZE, &r) < 0) {
				log_warn("%s: record %" PRIu64 " is malformed: kept the %" PRIu64
					 " before it", w->ctx, i, i);
				ret = (int64_t)i;
				goto out;
			}
			if (r.offset + r.length > keep_end) {
				ret = (int64_t)i;
				goto out;
			}
		}
	}
	ret = (int64_t)nrec;
out:
	free(chunk);
	return ret;
}

/* An existing file: check its header, keep what keep_end says, drop a torn
 * tail, position at the end. 0 / -1 (logged). */
static int
writer_reopen(struct sums_writer *w, uint64_t size, uint64_t keep_end)
{
	unsigned char h[SUMS_HEADER_SIZE];
	uint64_t nrec = (size - SUMS_HEADER_SIZE) / SUMS_RECORD_SIZE;
	int64_t keep = (int64_t)nrec;

	if (fd_pread_all(w->fd, h, sizeof(h), 0) < 0) {
		log_error("%s: read: %m", w->ctx);
		return -1;
	}
	if (!header_ok(h)) {
		log_error("%s: not a checksum file (bad header)", w->ctx);
		return -1;
	}
	if (keep_end != UINT64_MAX && (keep = writer_keep(w, nrec, keep_end)) < 0)
		return -1;
	w->dirty = true;
	if (ftruncate(w->fd, (off_t)(SUMS_HEADER_SIZE + (uint64_t)keep * SUMS_RECORD_SIZE)) < 0) {
		log_error("%s: truncate: %m", w->ctx);
		return -1;
	}
	if ((uint64_t)keep != nrec || size != SUMS_HEADER_SIZE + nrec * SUMS_RECORD_SIZE)
		log_info("%s: kept %" PRId64 " of %" PRIu64 " checksum records (resume)", w->ctx,
			 keep, nrec);
	w->count = (uint64_t)keep;
	return 0;
}

/* A new (or never completed) file: just the header. 0 / -1 (logged). */
static int
writer_fresh(struct sums_writer *w)
{
	unsigned char h[SUMS_HEADER_SIZE];

	header_encode(h);
	w->dirty = true;
	if (ftruncate(w->fd, 0) < 0 || fd_write_all(w->fd, h, sizeof(h)) < 0) {
		log_error("%s: write header: %m", w->ctx);
		return -1;
	}
	w->count = 0;
	return 0;
}

struct sums_writer *
sums_writer_open(const char *path, uint64_t keep_end, uint64_t max_records, const char *ctx,
		 bool *was_created)
{
	struct sums_writer *w = calloc(1, sizeof(*w));
	struct stat sb;
	bool created;

	if (!w) {
		log_error("%s: out of memory", ctx);
		return NULL;
	}
	snprintf(w->ctx, sizeof(w->ctx), "%s: checksums %s", ctx, path);
	w->max = max_records;
	w->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	created = w->fd >= 0;
	if (!created && errno == EEXIST)
		w->fd = open(path, O_RDWR | O_CLOEXEC);
	if (w->fd < 0 || fstat(w->fd, &sb) < 0) {
		log_error("%s: open: %m", w->ctx);
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		log_error("%s: not a regular file", w->ctx);
		goto fail;
	}
	if ((uint64_t)sb.st_size < SUMS_HEADER_SIZE || keep_end == 0) {
		if (writer_fresh(w) < 0)
			goto fail;
	} else if (writer_reopen(w, (uint64_t)sb.st_size, keep_end) < 0) {
		goto fail;
	}
	if (lseek(w->fd, 0, SEEK_END) < 0) {
		log_error("%s: seek: %m", w->ctx);
		goto fail;
	}
	/* The new name is durable before any progress can count on the file:
	 * the caller fsyncs the directory once for all its new files
	 * (*created). */
	if (created && fdatasync(w->fd) < 0) {
		log_error("%s: cannot make the new file durable: %m", w->ctx);
		goto fail;
	}
	w->dirty = !created;
	if (was_created)
		*was_created = created;
	return w;
fail:
	sums_writer_free(w);
	return NULL;
}

static int
writer_flush(struct sums_writer *w)
{
	if (w->nbuf == 0)
		return 0;
	w->dirty = true;
	if (fd_write_all(w->fd, w->buf, w->nbuf * SUMS_RECORD_SIZE) < 0) {
		log_error("%s: write: %m", w->ctx);
		return -1;
	}
	w->count += w->nbuf;
	w->nbuf = 0;
	return 0;
}

int
sums_writer_add(struct sums_writer *w, const struct sums_rec *r)
{
	if (!rec_valid(r)) {
		log_error("%s: bad extent %" PRIu64 "+%" PRIu64 " for a checksum record", w->ctx,
			  r->offset, r->length);
		errno = E2BIG;
		return -1;
	}
	if (w->count + w->nbuf >= w->max) {
		log_error("%s: too many extents (at most %" PRIu64 " for this disk)", w->ctx,
			  w->max);
		errno = E2BIG;
		return -1;
	}
	sums_encode(r, w->buf + w->nbuf * SUMS_RECORD_SIZE);
	if (++w->nbuf == WRITER_BUF)
		return writer_flush(w);
	return 0;
}

int
sums_writer_sync(struct sums_writer *w)
{
	if (writer_flush(w) < 0)
		return -1;
	/* Nothing new since the last one: an fdatasync would still cost a
	 * device cache flush (a disk done and its commit, or a disk that got
	 * no extents: issue 17, bench/README.md). */
	if (!w->dirty)
		return 0;
	if (fdatasync(w->fd) < 0) {
		log_error("%s: fdatasync: %m", w->ctx);
		return -1;
	}
	w->dirty = false;
	return 0;
}

uint64_t
sums_writer_count(const struct sums_writer *w)
{
	return w->count + w->nbuf;
}

void
sums_writer_free(struct sums_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	free(w);
}

/* ---- whole files ------------------------------------------------------------------ */

int
sums_load(const char *path, uint64_t max_records, struct sums_rec **recs, size_t *n)
{
	uint64_t cap = max_records < (SIZE_MAX / 2) / SUMS_RECORD_SIZE
		? SUMS_HEADER_SIZE + max_records * SUMS_RECORD_SIZE + SUMS_RECORD_SIZE - 1
		: SIZE_MAX / 2;
	unsigned char *data = NULL;
	struct sums_rec *out = NULL;
	size_t len = 0, nrec;
	int rc = -1;

	*recs = NULL;
	*n = 0;
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 1;
	if (file_read_all(path, (size_t)cap, (void **)&data, &len) < 0)
		return -1;
	if (len < SUMS_HEADER_SIZE || !header_ok(data)) {
		log_error("checksums %s: not a checksum file (bad header)", path);
		goto out;
	}
	nrec = (len - SUMS_HEADER_SIZE) / SUMS_RECORD_SIZE;
	out = calloc(nrec ? nrec : 1, sizeof(*out));
	if (!out) {
		log_error("checksums %s: out of memory", path);
		goto out;
	}
	for (size_t i = 0; i < nrec; i++) {
		if (sums_decode(data + SUMS_HEADER_SIZE + i * SUMS_RECORD_SIZE, &out[i]) < 0) {
			log_error("checksums %s: record %zu is malformed", path, i);
			goto out;
		}
	}
	*recs = out;
	*n = nrec;
	out = NULL;
	rc = 0;
out:
	free(out);
	free(data);
	return rc;
}

int
sums_save(const char *path, const struct sums_rec *recs, size_t n)
{
	size_t len = SUMS_HEADER_SIZE + n * SUMS_RECORD_SIZE;
	unsigned char *buf;
	int rc;

	if (n > (SIZE_MAX - SUMS_HEADER_SIZE) / SUMS_RECORD_SIZE || !(buf = malloc(len))) {
		log_error("checksums %s: out of memory", path);
		return -1;
	}
	header_encode(buf);
	for (size_t i = 0; i < n; i++)
		sums_encode(&recs[i], buf + SUMS_HEADER_SIZE + i * SUMS_RECORD_SIZE);
	rc = file_write_atomic(path, buf, len, 0640);
	free(buf);
	return rc;
}

static int
rec_cmp(const void *a, const void *b)
{
	const struct sums_rec *x = a, *y = b;

	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	if (x->length != y->length)
		return x->length < y->length ? -1 : 1;
	return 0;
}

void
sums_sort(struct sums_rec *recs, size_t n)
{
	if (n > 1)
		qsort(recs, n, sizeof(*recs), rec_cmp);
}

/* ---- coverage and merging ------------------------------------------------------------ */

int
sums_cover(const struct sums_rec *recs, size_t n, bool known_only, struct sums_span **spans,
	   size_t *ns)
{
	struct sums_span *s = NULL;
	size_t k = 0;

	*spans = NULL;
	*ns = 0;
	if (n == 0)
		return 0;
	if (!(s = calloc(n, sizeof(*s)))) {
		log_error("checksums: out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t end = recs[i].offset + recs[i].length;

		if (known_only && recs[i].unknown)
			continue;
		if (k > 0 && recs[i].offset <= s[k - 1].end) {
			if (end > s[k - 1].end)
				s[k - 1].end = end;
			continue;
		}
		s[k].off = recs[i].offset;
		s[k].end = end;
		k++;
	}
	if (k == 0) {
		free(s);
		s = NULL;
	}
	*spans = s;
	*ns = k;
	return 0;
}

int
sums_uncovered(const struct sums_span *cover, size_t nc, uint64_t off, uint64_t len,
	       int (*fn)(void *arg, uint64_t off, uint64_t len), void *arg)
{
	uint64_t end = off + len, pos = off;
	size_t lo = 0, hi = nc;

	/* The first span that ends after off. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cover[mid].end <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < nc && pos < end && cover[i].off < end; i++) {
		if (cover[i].off > pos && fn(arg, pos, cover[i].off - pos) < 0)
			return -1;
		if (cover[i].end > pos)
			pos = cover[i].end;
	}
	if (pos < end && fn(arg, pos, end - pos) < 0)
		return -1;
	return 0;
}

struct merge_out {
	struct sums_rec *recs;
	size_t n, cap;
	uint64_t limit;    /* the child's disk size */
	uint64_t pieces;   /* uncovered pieces seen of the current record */
	uint64_t covered;  /* their bytes */
};

static int
merge_push(struct merge_out *m, const struct sums_rec *r)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct sums_rec *p = reallocarray(m->recs, cap, sizeof(*p));

		if (!p) {
			log_error("checksums: out of memory");
			return -1;
		}
		m->recs = p;
		m->cap = cap;
	}
	m->recs[m->n++] = *r;
	return 0;
}

/* r (a ZERO or UNKNOWN piece) clipped to the disk, if any of it is inside. */
static int
merge_push_clipped(struct merge_out *m, struct sums_rec r)
{
	if (r.offset >= m->limit)
		return 0;
	if (r.length > m->limit - r.offset)
		r.length = m->limit - r.offset;
	return merge_push(m, &r);
}

/* An uncovered piece of a ZERO record: kept, within the disk. */
static int
merge_zero_piece(void *arg, uint64_t off, uint64_t len)
{
	return merge_push_clipped(arg, (struct sums_rec){ .offset = off, .length = len,
							  .zero = true });
}

/* An uncovered piece of a DATA record that cannot be kept whole, or of an
 * UNKNOWN record: an UNKNOWN record, within the disk. */
static int
merge_unknown_piece(void *arg, uint64_t off, uint64_t len)
{
	return merge_push_clipped(arg, (struct sums_rec){ .offset = off, .length = len,
							  .unknown = true });
}

/* Touching UNKNOWN records (sorted) joined: merge after merge, the pieces
 * of one old record would otherwise keep adding records. */
static void
merge_join_unknown(struct merge_out *m)
{
	size_t k = 0;

	for (size_t i = 0; i < m->n; i++) {
		struct sums_rec *prev = k ? &m->recs[k - 1] : NULL;
		const struct sums_rec *r = &m->recs[i];

		if (prev && prev->unknown && r->unknown && r->offset <= prev->offset + prev->length) {
			uint64_t end = r->offset + r->length;

			if (end > prev->offset + prev->length && end - prev->offset <= SUMS_LEN_MASK)
				prev->length = end - prev->offset;
			if (end <= prev->offset + prev->length)
				continue;
		}
		m->recs[k++] = *r;
	}
	m->n = k;
}

/* An uncovered piece of a DATA record: only counted. */
static int
merge_data_piece(void *arg, uint64_t off, uint64_t len)
{
	struct merge_out *m = arg;

	(void)off;
	m->pieces++;
	m->covered += len;
	return 0;
}

int
sums_merge(const struct sums_rec *child, size_t nc, const struct sums_rec *parent,
	   size_t np, uint64_t disk_size, struct sums_rec **out, size_t *nout)
{
	struct merge_out m = { .limit = disk_size };
	struct sums_span *cover = NULL;
	size_t ns = 0;
	int rc = -1;

	*out = NULL;
	*nout = 0;
	for (size_t i = 0; i < nc; i++)
		if (merge_push(&m, &child[i]) < 0)
			goto out;
	sums_sort(m.recs, m.n);
	if (sums_cover(m.recs, m.n, false, &cover, &ns) < 0)
		goto out;
	for (size_t i = 0; i < np; i++) {
		const struct sums_rec *p = &parent[i];
		bool whole;

		if (p->zero || p->unknown) {
			if (sums_uncovered(cover, ns, p->offset, p->length,
					   p->zero ? merge_zero_piece : merge_unknown_piece, &m) < 0)
				goto out;
			continue;
		}
		m.pieces = m.covered = 0;
		(void)sums_uncovered(cover, ns, p->offset, p->length, merge_data_piece, &m);
		/* Whole and inside the disk, or its uncovered pieces UNKNOWN: the
		 * hash is of all of it, and an older record of the pieces the
		 * child does not cover would describe bytes p replaced. */
		whole = m.pieces == 1 && m.covered == p->length && p->offset < disk_size &&
			p->length <= disk_size - p->offset;
		if (whole ? merge_push(&m, p) < 0
			  : sums_uncovered(cover, ns, p->offset, p->length, merge_unknown_piece,
					   &m) < 0)
			goto out;
	}
	sums_sort(m.recs, m.n);
	merge_join_unknown(&m);
	*out = m.recs;
	*nout = m.n;
	m.recs = NULL;
	rc = 0;
out:
	free(m.recs);
	free(cover);
	return rc;
}

/* ---- removal ------------------------------------------------------------------------ */

/* Remove the files in dir (a point's sums directory) and dir itself, or
 * with tmps_only the temp files of an interrupted sums_save there. An
 * absent dir is fine. 0 / -1 (logged). */
static int
remove_files(const char *dir, bool tmps_only)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		if (errno == ENOENT)
			return 0;
		log_error("checksums: opendir %s: %m", dir);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    (tmps_only && !(len > 4 && !strcmp(e->d_name + len - 4, ".tmp"))))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT) {
			log_error("checksums: unlink %s/%s: %m", dir, e->d_name);
			rc = -1;
		}
	}
	closedir(d);
	if (rc == 0 && !tmps_only && rmdir(dir) < 0 && errno != ENOENT) {
		log_error("checksums: rmdir %s: %m", dir);
		rc = -1;
	}
	return rc;
}

int
sums_prune(const char *gdir, bool (*keep)(void *arg, uint64_t id), void *arg)
{
	char *root = sums_root(gdir), *sub = NULL;
	DIR *d = NULL;
	struct dirent *e;
	bool removed = false;
	int rc = -1;

	if (!root)
		return -1;
	if (!(d = opendir(root))) {
		rc = errno == ENOENT ? 0 : -1;
		if (rc < 0)
			log_error("checksums: opendir %s: %m", root);
		goto out;
	}
	rc = 0;
	while ((e = readdir(d)) != NULL) {
		uint64_t id;

		if (parse_u64(e->d_name, &id) < 0 || id == 0)
			continue;
		free(sub);
		if (!(sub = strfmt("%s/%s", root, e->d_name))) {
			rc = -1;
			break;
		}
		if (keep(arg, id)) {
			if (remove_files(sub, true) < 0)
				rc = -1;
		} else if (remove_files(sub, false) < 0) {
			rc = -1;
		} else {
			removed = true;
			log_info("store: removed stray checksums %s", sub);
		}
	}
	if (removed && dir_fsync(root) < 0)
		rc = -1;
out:
	if (d)
		closedir(d);
	free(sub);
	free(root);
	return rc;
}

int
sums_remove_point(const char *gdir, uint64_t point)
{
	char *dir = sums_dir(gdir, point), *root = sums_root(gdir);
	int rc = -1;

	if (dir && root && remove_files(dir, false) == 0 && (access(root, F_OK) < 0 || dir_fsync(root) == 0))
		rc = 0;
	free(dir);
	free(root);
	return rc;
}
