/* File helpers: durable atomic replace, bounded whole-file read, full I/O. */
#ifndef NESTOR_COMMON_FILEUTIL_H
#define NESTOR_COMMON_FILEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* Replace path with data durably: write "path.tmp" in the same directory,
 * fsync, rename over path, fsync the directory. mode is applied exactly
 * (umask does not narrow it). On failure before the rename the old file is
 * intact and the tmp file removed; if only the final directory fsync fails
 * the new content is in place but its durability is unknown. Callers must
 * serialise writers of one path. Logs once. 0 / -1. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* file_write_atomic in two steps, for a caller that can write ahead of the
 * moment the new content becomes valid: file_stage writes "path.tmp" and
 * fsyncs it (path untouched; on failure the tmp is removed); file_publish
 * renames it over path, and the caller fsyncs the directory (dir_fsync),
 * once for several files of one directory. file_unstage removes a staged
 * tmp that will not be published (absent is fine). Each logs once.
 * 0 / -1. */
int file_stage(const char *path, const void *data, size_t len, mode_t mode);
int file_publish(const char *path);
void file_unstage(const char *path);
/* fsync a directory so renames/creations in it are durable. Logs. 0 / -1. */
int dir_fsync(const char *dir);
/* mkdir -p; existing directories are fine, existing non-dirs are not.
 * Logs. 0 / -1. */
int mkdir_p(const char *path, mode_t mode);
/* Read a whole file of at most max bytes into a malloc'd buffer (caller
 * frees) with an extra NUL after the data, so text can be used as a string.
 * Larger files are refused. Logs. 0 / -1. */
int file_read_all(const char *path, size_t max, void **data, size_t *len);
/* file_read_all of a regular file that path names itself: a symlink
 * (ELOOP), a directory, FIFO or device (EINVAL) is refused. Logs. 0 / -1. */
int file_read_regular(const char *path, size_t max, void **data, size_t *len);
/* Write all len bytes, retrying short writes and EINTR. No logging; errno
 * is set. 0 / -1. */
int fd_write_all(int fd, const void *buf, size_t len);
/* pread exactly len bytes at off, retrying short reads and EINTR. EOF
 * before len is an error (errno = ENODATA). No logging. 0 / -1. */
int fd_pread_all(int fd, void *buf, size_t len, off_t off);

/* What tells one version of a file from the next (device, inode, size,
 * mtime, ctime): a rename over it, a write or a truncate changes it.
 * Absent is all zero. */
struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

/* path's identity: 1 exists / 0 absent / -1 (logged). */
int file_identity(const char *path, struct file_id *id);
/* The identity held in sb. */
void file_id_of(const struct stat *sb, struct file_id *id);
bool file_id_same(const struct file_id *a, const struct file_id *b);
#endif
