/* The new disks of a target (store-target-new.h): made under a durable
 * record, so that an abort removes exactly what was made and nothing else
 * (store_target_unmake in store-target.h). */
#define _GNU_SOURCE /* renameat2 */
#include "replicator/receiver/store-target-new.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fileutil.h"
#include "common/jsonfile.h"
#include "common/log.h"
#include "common/qcow2new.h"
#include "common/strfmt.h"
#include "replicator/receiver/store-target.h"

#define MADE_MAX_BYTES (16u * 1024u)
#define MADE_PREFIX "made-"
#define MADE_SUFFIX ".json"

/* One record, gdir/made-<disk>.json. */
struct made {
	char *file;
	char *path;       /* the new disk */
	char *temp;       /* where its image is made: .<base>.nestor-new beside it */
	bool given_empty; /* path was an empty file the operator gave */
	bool made;        /* the image exists: dev and ino are the temp's */
	uint64_t dev, ino;
};

static void
made_clear(struct made *m)
{
	free(m->file);
	free(m->path);
	free(m->temp);
	*m = (struct made){ 0 };
}

/* The directory of absolute path (malloc'd, NULL logged). */
static char *
dir_of(const char *path, const char *ctx)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));

	if (!dir)
		log_error("%s: out of memory", ctx);
	return dir;
}

/* 1 / 0 (logged) / -1 (logged) ... the record in m->file into m: 1 read,
 * 0 absent, -1 unreadable or malformed. */
static int
made_load(struct made *m, const char *ctx)
{
	json_t *root = NULL, *dev, *ino;
	const char *path, *temp;
	int k = jsonfile_load(m->file, MADE_MAX_BYTES, JSON_REJECT_DUPLICATES, &root), ret = -1;

	if (k != 0) {
		ret = k == 1 ? 0 : -1;
		goto out;
	}
	path = json_string_value(json_object_get(root, "path"));
	temp = json_string_value(json_object_get(root, "temp"));
	dev = json_object_get(root, "dev");
	ino = json_object_get(root, "ino");
	if (!path || path[0] != '/' || !temp || temp[0] != '/' ||
	    !json_is_boolean(json_object_get(root, "given_empty")) ||
	    (dev && !json_is_integer(dev)) || (ino && !json_is_integer(ino)) || !dev != !ino) {
		log_error("%s: %s: not a record of a new disk", ctx, m->file);
		goto out;
	}
	if (!(m->path = strdup(path)) || !(m->temp = strdup(temp))) {
		log_error("%s: out of memory", ctx);
		goto out;
	}
	m->given_empty = json_is_true(json_object_get(root, "given_empty"));
	m->made = dev != NULL;
	/* Stored as JSON's signed integers: the cast back is exact. */
	m->dev = m->made ? (uint64_t)json_integer_value(dev) : 0;
	m->ino = m->made ? (uint64_t)json_integer_value(ino) : 0;
	ret = 1;
out:
	json_decref(root);
	return ret;
}

/* m into its record, durably. 0 / -1 (logged). */
static int
made_save(const struct made *m, const char *ctx)
{
	json_t *root = json_pack("{s:i, s:s, s:s, s:b}", "version", 1, "path", m->path, "temp",
				 m->temp, "given_empty", m->given_empty);
	int rc = -1;

	if (root && m->made &&
	    (json_object_set_new(root, "dev", json_integer((json_int_t)m->dev)) < 0 ||
	     json_object_set_new(root, "ino", json_integer((json_int_t)m->ino)) < 0)) {
		json_decref(root);
		root = NULL;
	}
	if (!root)
		log_error("%s: out of memory", ctx);
	else
		rc = jsonfile_save(m->file, root, JSON_INDENT(2), 0640);
	json_decref(root);
	return rc;
}

/* Whether path is the image m made: 1 yes, 0 no (or absent), -1 (logged). */
static int
is_made(const struct made *m, const char *path, const char *ctx)
{
	struct stat sb;

	if (lstat(path, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		log_error("%s: %s: %m", ctx, path);
		return -1;
	}
	return S_ISREG(sb.st_mode) && (uint64_t)sb.st_dev == m->dev &&
	       (uint64_t)sb.st_ino == m->ino;
}

/* The made image from m->temp to m->path: over the empty file the
 * operator gave, else only where nothing is. 0 / -1 (logged). */
static int
made_place(const struct made *m, const char *ctx)
{
	struct stat sb;
	char *dir = NULL;
	int rc = -1;

	if (m->given_empty) {
		if (lstat(m->path, &sb) == 0 && (!S_ISREG(sb.st_mode) || sb.st_size > 0)) {
			log_error("%s: new disk %s is not the empty file it was: refused, nothing is "
				  "overwritten", ctx, m->path);
			return -1;
		}
		if (rename(m->temp, m->path) < 0) {
			log_error("%s: new disk %s: rename %s: %m", ctx, m->path, m->temp);
			return -1;
		}
	} else if (renameat2(AT_FDCWD, m->temp, AT_FDCWD, m->path, RENAME_NOREPLACE) < 0) {
		log_error("%s: new disk %s: rename %s: %m%s", ctx, m->path, m->temp,
			  errno == EEXIST ? " (a file appeared there: nothing is overwritten)" : "");
		return -1;
	}
	if ((dir = dir_of(m->path, ctx)) && dir_fsync(dir) == 0)
		rc = 0;
	free(dir);
	return rc;
}

/* An empty image of size bytes in m->temp, made afresh; its identity into
 * m. 0 / -1 (logged). */
static int
made_image(struct made *m, const char *format, uint64_t size, const char *ctx)
{
	struct stat sb;
	int fd = -1, rc = -1;

	if (unlink(m->temp) < 0 && errno != ENOENT) { /* an earlier attempt's: ours */
		log_error("%s: new disk %s: remove %s: %m", ctx, m->path, m->temp);
		return -1;
	}
	fd = open(m->temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		log_error("%s: new disk %s: %s: %m", ctx, m->path, m->temp);
		goto out;
	}
	if (strcmp(format, "qcow2") == 0) {
		if (qcow2new_create(ctx, m->temp, size, NULL, NULL) < 0)
			goto out;
	} else if (ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0) {
		log_error("%s: new disk %s: size %llu: %m", ctx, m->temp, (unsigned long long)size);
		goto out;
	}
	m->made = true;
	m->dev = (uint64_t)sb.st_dev;
	m->ino = (uint64_t)sb.st_ino;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* What path holds before anything is made there: absent (0), the empty
 * file the operator gave (1), anything else refused (-1, logged). */
static int
given(const char *path, const char *ctx)
{
	struct stat sb;

	if (lstat(path, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		log_error("%s: new disk %s: %m", ctx, path);
		return -1;
	}
	if (S_ISREG(sb.st_mode) && sb.st_size == 0)
		return 1;
	log_error("%s: new disk %s exists and is not the image this failback made: refused, "
		  "nothing is overwritten", ctx, path);
	return -1;
}

int
store_target_make(const char *gdir, const char *name, const char *path, const char *format,
		  uint64_t size, const char *ctx)
{
	struct made m = { 0 };
	struct stat sb;
	bool recorded;
	int k, ret = -1;

	if (!(m.file = strfmt("%s/" MADE_PREFIX "%s" MADE_SUFFIX, gdir, name)) ||
	    (k = made_load(&m, ctx)) < 0)
		goto out;
	recorded = k == 1;
	if (k == 1 && strcmp(m.path, path) != 0) {
		log_error("%s: %s names new disk %s, not %s: refused", ctx, m.file, m.path, path);
		goto out;
	}
	if (k == 1 && m.made) {
		if ((k = is_made(&m, path, ctx)) != 0) { /* a later begin: taken as it is */
			ret = k < 0 ? -1 : 0;
			goto out;
		}
		if ((k = is_made(&m, m.temp, ctx)) < 0)
			goto out;
		if (k == 0) {
			log_error("%s: new disk %s is not the image this failback made (%s): refused; "
				  "nestor failback abort removes what it made", ctx, path, m.file);
			goto out;
		}
	} else {
		/* Nothing made yet, or an image whose identity was never
		 * recorded (its temp is ours: made again). */
		if ((k = given(path, ctx)) < 0)
			goto out;
		m.given_empty = k == 1;
		if (!m.path && (!(m.path = strdup(path)) || !(m.temp = strfmt("%.*s/.%s.nestor-new",
				(int)(strrchr(path, '/') - path), path, strrchr(path, '/') + 1)))) {
			log_error("%s: out of memory", ctx);
			goto out;
		}
		if (!recorded && lstat(m.temp, &sb) == 0) {
			log_error("%s: %s exists and no failback made it: remove it", ctx, m.temp);
			goto out;
		}
		/* The record before the image: an abort after any crash from
		 * here on knows the temp is ours. */
		if (made_save(&m, ctx) < 0 || made_image(&m, format, size, ctx) < 0 ||
		    made_save(&m, ctx) < 0)
			goto out;
	}
	if (made_place(&m, ctx) < 0)
		goto out;
	log_info("%s: new disk %s (%s, %llu bytes) made empty", ctx, path, format,
		 (unsigned long long)size);
	ret = 0;
out:
	made_clear(&m);
	return ret;
}

/* Undo one record's image. 0 / -1 (logged). */
static int
unmake_one(struct made *m, const char *ctx)
{
	char *dir = NULL;
	int k, fd = -1, rc = -1;

	if ((k = made_load(m, ctx)) <= 0)
		return k;
	if (!m->made || (k = is_made(m, m->temp, ctx)) == 1) {
		if (unlink(m->temp) < 0 && errno != ENOENT) {
			log_error("%s: remove %s: %m", ctx, m->temp);
			goto out;
		}
	} else if (k < 0) {
		goto out;
	}
	if (!m->made || (k = is_made(m, m->path, ctx)) == 0) {
		struct stat sb;

		/* (the empty file given, put back by an earlier abort: quiet) */
		if (m->made && lstat(m->path, &sb) == 0 &&
		    !(m->given_empty && S_ISREG(sb.st_mode) && sb.st_size == 0))
			log_warn("%s: %s is not the image the failback made: left as it is", ctx,
				 m->path);
	} else if (k < 0) {
		goto out;
	} else if (m->given_empty) {
		/* The operator's empty file back, in one rename over the image
		 * (the temp's name is ours: an interrupted attempt's goes). */
		if (unlink(m->temp) == 0 || errno == ENOENT)
			fd = open(m->temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || fsync(fd) < 0 || rename(m->temp, m->path) < 0) {
			log_error("%s: new disk %s: an empty file again: %m", ctx, m->path);
			goto out;
		}
		log_info("%s: new disk %s: the image the failback made is gone, the empty file "
			 "given is back", ctx, m->path);
	} else {
		if (unlink(m->path) < 0) {
			log_error("%s: remove %s: %m", ctx, m->path);
			goto out;
		}
		log_info("%s: new disk %s removed (the failback made it)", ctx, m->path);
	}
	if ((dir = dir_of(m->path, ctx)) && dir_fsync(dir) == 0)
		rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

int
store_target_unmake(const char *gdir, const char *ctx)
{
	DIR *d = opendir(gdir);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		if (errno == ENOENT)
			return 0;
		log_error("%s: %s: %m", ctx, gdir);
		return -1;
	}
	while (rc == 0 && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		struct made m = { 0 };

		if (strncmp(e->d_name, MADE_PREFIX, strlen(MADE_PREFIX)) != 0 ||
		    len <= strlen(MADE_SUFFIX) ||
		    strcmp(e->d_name + len - strlen(MADE_SUFFIX), MADE_SUFFIX) != 0)
			continue;
		if (!(m.file = strfmt("%s/%s", gdir, e->d_name)))
			rc = -1;
		else
			rc = unmake_one(&m, ctx);
		made_clear(&m);
	}
	closedir(d);
	return rc;
}
