/* printf into a new string: the one allocating formatter paths, names and
 * XML snippets are built with. */
#ifndef NESTOR_COMMON_STRFMT_H
#define NESTOR_COMMON_STRFMT_H

/* vasprintf that logs "out of memory" once. The caller frees the result;
 * NULL on failure. */
char *strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
