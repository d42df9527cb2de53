/* Test-only pause points: a process stops itself (SIGSTOP) at a named
 * moment when NESTOR_TEST_PAUSE names it, so an integration test can kill
 * it exactly there (kill -9 of a stopped process). Unset: no effect. */
#ifndef NESTOR_COMMON_TESTHOOK_H
#define NESTOR_COMMON_TESTHOOK_H

#include <stdbool.h>

/* Whether NESTOR_TEST_PAUSE equals the point printf(fmt, ...) names. */
bool testhook_armed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log the point and the pid, then stop the whole process until SIGCONT. */
void testhook_pause(const char *point);
/* testhook_pause(point) if NESTOR_TEST_PAUSE names it (a fixed point). */
void testhook_at(const char *point);

#endif
