/* Test helper shared by the unit suites: a scratch directory per test,
 * removed with everything in it. Needs <criterion/criterion.h>. */
#ifndef NESTOR_TESTS_UNIT_TMPDIR_H
#define NESTOR_TESTS_UNIT_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int
tmpdir_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Make /tmp/<prefix>-XXXXXX into buf. */
static inline void
tmpdir_make(char *buf, size_t cap, const char *prefix)
{
	snprintf(buf, cap, "/tmp/%s-XXXXXX", prefix);
	cr_assert_not_null(mkdtemp(buf), "mkdtemp %s", buf);
}

/* Remove dir and everything below it (symlinks not followed). */
static inline void
tmpdir_remove(const char *dir)
{
	nftw(dir, tmpdir_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
