/* Test helper shared by the unit suites: capture stderr (the log) around a
 * call, since log lines are part of the contract. One capture at a time per
 * process; needs <criterion/criterion.h> and common/fileutil.h. */
#ifndef NESTOR_TESTS_UNIT_CAPTURE_H
#define NESTOR_TESTS_UNIT_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cap_saved = -1;
static char cap_path[64];

static inline void
cap_start(void)
{
	int fd;

	fflush(stderr);
	snprintf(cap_path, sizeof(cap_path), "/tmp/nestor-test-stderr-XXXXXX");
	fd = mkstemp(cap_path);
	cr_assert(fd >= 0);
	cap_saved = dup(2);
	cr_assert(cap_saved >= 0);
	cr_assert(dup2(fd, 2) == 2);
	close(fd);
}

/* Returns what was logged since cap_start (malloc'd). */
static inline char *
cap_stop(void)
{
	void *data = NULL;
	size_t len;

	fflush(stderr);
	dup2(cap_saved, 2);
	close(cap_saved);
	cr_assert(file_read_all(cap_path, 1 << 20, &data, &len) == 0);
	unlink(cap_path);
	return data;
}

#define assert_logged(text, needle) \
	cr_assert(strstr((text), (needle)) != NULL, "log lacks \"%s\":\n%s", (needle), (text))

/* Lines in a captured log. */
static inline size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The captured log is one line holding needle; freed. */
static inline void
assert_logged_once(char *log, const char *needle)
{
	assert_logged(log, needle);
	cr_assert_eq(count_lines(log), 1, "not one line:\n%s", log);
	free(log);
}

#endif
