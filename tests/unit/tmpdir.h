/* Test helper shared by the unit suites: a scratch directory per test,
 * removed with everything in it. Needs <criterion/criterion.h>. */
#ifndef NESTOR_TESTS_UNIT_TMPDIR_H
#define NESTOR_TESTS_UNIT_TMPDIR_H

#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* An empty file at dir/rel, as a crash leaves it. */
static inline void
tmpdir_touch(const char *dir, const char *rel)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	f = fopen(p, "w");
	cr_assert_not_null(f, "%s", p);
	fclose(f);
}

static inline bool
tmpdir_exists(const char *dir, const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return access(p, F_OK) == 0;
}

/* Suite NAME whose every test gets a fresh scratch directory /tmp/PREFIX-*
 * in the static char VAR[64]; the suite's fixtures are generated. */
#define TMPDIR_SUITE(name, var, prefix)                                       \
	static char var[64];                                                  \
	static void name##_tmpdir_init(void)                                  \
	{                                                                     \
		tmpdir_make(var, sizeof(var), prefix);                        \
	}                                                                     \
	static void name##_tmpdir_fini(void)                                  \
	{                                                                     \
		tmpdir_remove(var);                                           \
	}                                                                     \
	TestSuite(name, .init = name##_tmpdir_init, .fini = name##_tmpdir_fini)

#endif
