/* Unit tests for common/: ini, parse, names, fileutil, hash, dlsym, clock, strfmt, testhook. */
#include "common/clock.h"
#include "common/dlsym.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/hash.h"
#include "common/ini.h"
#include "common/names.h"
#include "common/parse.h"
#include "common/strfmt.h"
#include "common/testhook.h"

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "tests/unit/capture.h"

static char tmpdir[64];

static void
mk_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/nestor-test-XXXXXX");
	cr_assert(mkdtemp(tmpdir) != NULL);
}

static void
rm_tmpdir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	cr_assert(system(cmd) == 0);
}

static char *
tpath(const char *name)
{
	static char buf[4][256];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, name);
	return buf[k];
}

/* ---- ini ---------------------------------------------------------------- */

static void
assert_entry(const struct ini_doc *d, size_t i, const char *sec, const char *key,
	     const char *val, int line)
{
	const struct ini_entry *e = ini_at(d, i);

	cr_assert_not_null(e, "entry %zu", i);
	cr_assert_str_eq(e->section, sec, "entry %zu", i);
	if (key == NULL) {
		cr_assert_null(e->key, "entry %zu", i);
		cr_assert_null(e->value, "entry %zu", i);
	} else {
		cr_assert_str_eq(e->key, key, "entry %zu", i);
		cr_assert_str_eq(e->value, val, "entry %zu", i);
	}
	cr_assert_eq(e->line, line, "entry %zu line %d", i, e->line);
}

Test(ini, entries_in_order_with_lines)
{
	static const char text[] =
		"top = 1\n"                                   /* 1 */
		"; comment\n"                                 /* 2 */
		"[agent]\n"                                   /* 3 */
		"  name = host-a   ; inline comment\n"        /* 4 */
		"\n"                                          /* 5 */
		"# other comment\n"                           /* 6 */
		"[ group web ]\n"                             /* 7 */
		"[disk aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbb]\r\n" /* 8 */
		"path = /x y\r\n"                             /* 9 */
		"path=dup\n"                                  /* 10 */
		"url = a=b:c\n";                              /* 11 */
	struct ini_doc *d = NULL;

	cr_assert_eq(ini_load_string("t.ini", text, &d), 0);
	cr_assert_str_eq(ini_path(d), "t.ini");
	cr_assert_eq(ini_count(d), 8);
	assert_entry(d, 0, "", "top", "1", 1);
	assert_entry(d, 1, "agent", NULL, NULL, 3);
	assert_entry(d, 2, "agent", "name", "host-a", 4);
	assert_entry(d, 3, "group web", NULL, NULL, 7);
	assert_entry(d, 4, "disk aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbb",
		     NULL, NULL, 8);
	assert_entry(d, 5, ini_at(d, 4)->section, "path", "/x y", 9);
	assert_entry(d, 6, ini_at(d, 4)->section, "path", "dup", 10);
	assert_entry(d, 7, ini_at(d, 4)->section, "url", "a=b:c", 11);
	cr_assert_null(ini_at(d, 8));
	ini_free(d);
	ini_free(NULL);
}

Test(ini, indented_line_is_not_a_continuation)
{
	struct ini_doc *d = NULL;

	cr_assert_eq(ini_load_string("t", "[s]\na = 1\n   b = 2\n", &d), 0);
	cr_assert_eq(ini_count(d), 3);
	assert_entry(d, 2, "s", "b", "2", 3);
	ini_free(d);
}

static void
expect_ini_error(const char *text, const char *msg)
{
	struct ini_doc *d = NULL;
	char *log;

	cap_start();
	cr_assert_eq(ini_load_string("bad.ini", text, &d), -1, "accepted: %s", text);
	log = cap_stop();
	assert_logged(log, msg);
	cr_assert_null(d);
	free(log);
}

Test(ini, syntax_errors_name_the_line)
{
	char longline[300];

	expect_ini_error("[a]\nx = 1\n[b\n", "bad.ini:3: syntax error");
	expect_ini_error("[a]\n\njunk\n", "bad.ini:3: syntax error");
	expect_ini_error("[a] junk\n", "bad.ini:1: syntax error (text after ']')");
	expect_ini_error("[a]\n = v\n", "bad.ini:2: syntax error (empty key)");
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	memcpy(longline, "[a]\nk=", 6);
	expect_ini_error(longline, "bad.ini:2: syntax error (line too long)");
	/* The earliest problem wins even when inih and we see different ones. */
	expect_ini_error("junk\n[a] junk\n", "bad.ini:1: syntax error");
}

Test(ini, files, .init = mk_tmpdir, .fini = rm_tmpdir)
{
	static const char good[] = "[s]\nk = v\n";
	static const char nul[] = "[s]\nk = v\0w\n";
	struct ini_doc *d = NULL;
	char *log;

	cr_assert_eq(file_write_atomic(tpath("good.ini"), good, strlen(good), 0644), 0);
	cr_assert_eq(ini_load(tpath("good.ini"), &d), 0);
	cr_assert_str_eq(ini_path(d), tpath("good.ini"));
	cr_assert_eq(ini_count(d), 2);
	assert_entry(d, 1, "s", "k", "v", 2);
	ini_free(d);
	d = NULL;

	cap_start();
	cr_assert_eq(ini_load(tpath("missing.ini"), &d), -1);
	log = cap_stop();
	assert_logged(log, tpath("missing.ini"));
	assert_logged(log, "No such file or directory");
	free(log);

	cr_assert_eq(file_write_atomic(tpath("nul.ini"), nul, sizeof(nul) - 1, 0644), 0);
	cap_start();
	cr_assert_eq(ini_load(tpath("nul.ini"), &d), -1);
	log = cap_stop();
	assert_logged(log, ":2: syntax error (NUL byte)");
	free(log);
}

/* ---- parse -------------------------------------------------------------- */

/* Whatever a peer names itself, a log event stays one line and no control
 * byte reaches the operator's terminal. */
Test(log, control_bytes_are_escaped)
{
	char *out;

	cap_start();
	log_error("peer %s said %s", "evil\n12:00:00.000 nestor error: forged",
		  "\x1b[31mred\x1b[0m\r\t\x7f \xc2\x9b" "2J caf\xc3\xa9");
	out = cap_stop();
	cr_assert_eq(count_lines(out), 1, "%s", out);
	assert_logged(out, "peer evil\\x0a12:00:00.000 nestor error: forged said ");
	assert_logged(out, "\\x1b[31mred\\x1b[0m\\x0d\\x09\\x7f \\x9b" "2J caf\xc3\xa9\n");
	cr_assert_null(strchr(out, '\x1b'));
	free(out);
}

Test(parse, u64)
{
	static const char *const bad[] = {
		"", "-1", "+1", " 1", "1 ", "1x", "0x10", "18446744073709551616",
		"99999999999999999999",
	};
	uint64_t v = 7;

	cr_assert_eq(parse_u64("0", &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(parse_u64("0042", &v), 0);
	cr_assert_eq(v, 42);
	cr_assert_eq(parse_u64("18446744073709551615", &v), 0);
	cr_assert_eq(v, UINT64_MAX);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		cr_assert_eq(parse_u64(bad[i], &v), -1, "accepted '%s'", bad[i]);
		cr_assert_eq(v, 7, "output touched for '%s'", bad[i]);
	}
	cr_assert_eq(parse_u64(NULL, &v), -1);
}

Test(parse, size)
{
	static const char *const bad[] = { "", "M", "1P", "1MB", "1 M", "-1K", "16777216T", "1.5G" };
	static const struct {
		const char *text;
		uint64_t want;
	} good[] = {
		{ "64M", 64ULL << 20 }, { "1k", 1024 }, { "4G", 4ULL << 30 },
		{ "16T", 16ULL << 40 }, { "512", 512 }, { "16777215T", 16777215ULL << 40 },
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_assert_eq(parse_size(good[i].text, &v), 0, "rejected '%s'", good[i].text);
		cr_assert_eq(v, good[i].want, "'%s' is %llu", good[i].text, (unsigned long long)v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse_size(bad[i], &v), -1, "accepted '%s'", bad[i]);
}

Test(parse, bool_values)
{
	static const char *const t[] = { "yes", "true", "on", "1", "YES", "True" };
	static const char *const f[] = { "no", "false", "off", "0", "Off" };
	static const char *const bad[] = { "", "y", "2", "yes ", "nope", "enable" };
	bool b;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		b = false;
		cr_assert_eq(parse_bool(t[i], &b), 0, "%s", t[i]);
		cr_assert(b, "%s", t[i]);
	}
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		b = true;
		cr_assert_eq(parse_bool(f[i], &b), 0, "%s", f[i]);
		cr_assert(!b, "%s", f[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse_bool(bad[i], &b), -1, "accepted '%s'", bad[i]);
}

Test(parse, duration)
{
	static const char *const bad[] = { "", "s", "5x", "1.5h", "5 m", "-5s", "5ms",
					   "999999999999999999d" };
	uint64_t v;

	cr_assert_eq(parse_duration("90s", &v), 0);
	cr_assert_eq(v, 90);
	cr_assert_eq(parse_duration("5m", &v), 0);
	cr_assert_eq(v, 300);
	cr_assert_eq(parse_duration("2h", &v), 0);
	cr_assert_eq(v, 7200);
	cr_assert_eq(parse_duration("1d", &v), 0);
	cr_assert_eq(v, 86400);
	cr_assert_eq(parse_duration("10", &v), 0);
	cr_assert_eq(v, 10);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse_duration(bad[i], &v), -1, "accepted '%s'", bad[i]);
}

Test(parse, host_port)
{
	static const struct {
		const char *in, *host;
		uint16_t port;
	} good[] = {
		{ "127.0.0.1:7400", "127.0.0.1", 7400 },
		{ "[::1]:7400", "::1", 7400 },
		{ "[fe80::1:2]:1", "fe80::1:2", 1 },
		{ "receiver.example.com:65535", "receiver.example.com", 65535 },
		{ "name:7400", "name", 7400 },
	};
	static const char *const bad[] = {
		"", "host", "host:", ":7400", "host:0", "host:65536", "host:-1",
		"host:74x", "::1:7400", "[::1]7400", "[::1]:", "[]:7400",
		"[zz]:7400", "[::1:7400", "a b:7400", "-h:7400", "host:7400:1",
		"[127.0.0.1]:7400", "h/x:1",
	};
	char *host;
	uint16_t port;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		host = NULL;
		port = 0;
		cr_assert_eq(parse_host_port(good[i].in, &host, &port), 0, "%s", good[i].in);
		cr_assert_str_eq(host, good[i].host);
		cr_assert_eq(port, good[i].port);
		free(host);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		host = NULL;
		cr_assert_eq(parse_host_port(bad[i], &host, &port), -1, "accepted '%s'", bad[i]);
		cr_assert_null(host);
	}
}

/* ---- names -------------------------------------------------------------- */

#define NAME_OK(lit) name_valid((lit), sizeof(lit) - 1)

Test(names, valid_and_invalid)
{
	char n64[65], n65[66];

	cr_assert(NAME_OK("web"));
	cr_assert(NAME_OK("db-1.vol_0"));
	cr_assert(NAME_OK("A9"));
	cr_assert(NAME_OK("x.."));
	memset(n64, 'a', 64);
	n64[64] = '\0';
	cr_assert(name_valid(n64, 64));
	memset(n65, 'a', 65);
	n65[65] = '\0';
	cr_assert(!name_valid(n65, 65));

	cr_assert(!NAME_OK(""));
	cr_assert(!NAME_OK("/"));
	cr_assert(!NAME_OK("."));
	cr_assert(!NAME_OK(".."));
	cr_assert(!NAME_OK("a/b"));
	cr_assert(!NAME_OK("../etc"));
	cr_assert(!NAME_OK(".hidden"));
	cr_assert(!NAME_OK("-rf"));
	cr_assert(!NAME_OK("a b"));
	cr_assert(!NAME_OK("a\nb"));
	cr_assert(!NAME_OK("caf\xc3\xa9"));
	cr_assert(!NAME_OK("ab\0c"), "embedded NUL accepted");
	cr_assert(!NAME_OK("ab\0"), "trailing NUL inside length accepted");
	cr_assert(!name_valid(NULL, 3));
	/* The length, not the NUL, bounds the check. */
	cr_assert(name_valid("web/x", 3));
}

/* ---- fileutil ----------------------------------------------------------- */

static char *
read_str(const char *path)
{
	void *data = NULL;
	size_t len;

	cr_assert_eq(file_read_all(path, 1 << 20, &data, &len), 0, "%s", path);
	cr_assert_eq(strlen(data), len);
	return data;
}

Test(fileutil, atomic_write_replaces, .init = mk_tmpdir, .fini = rm_tmpdir)
{
	const char *p = tpath("catalog");
	struct stat st;
	char *s;

	cr_assert_eq(file_write_atomic(p, "first", 5, 0600), 0);
	s = read_str(p);
	cr_assert_str_eq(s, "first");
	free(s);
	cr_assert_eq(file_write_atomic(p, "second!", 7, 0640), 0);
	s = read_str(p);
	cr_assert_str_eq(s, "second!");
	free(s);
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0640);
	cr_assert_eq(access(tpath("catalog.tmp"), F_OK), -1, "tmp file left behind");
	/* Empty content is a valid file too. */
	cr_assert_eq(file_write_atomic(p, "", 0, 0600), 0);
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(st.st_size, 0);
}

Test(fileutil, atomic_write_failure_keeps_old, .init = mk_tmpdir, .fini = rm_tmpdir)
{
	const char *p = tpath("catalog");
	static char big[256 * 1024];
	struct rlimit rl = { 64 * 1024, 64 * 1024 };
	char *s, *log;

	cr_assert_eq(file_write_atomic(p, "old", 3, 0600), 0);

	/* Fail mid-write: the file size limit makes write() return EFBIG. */
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	memset(big, 'n', sizeof(big));
	cap_start();
	cr_assert_eq(file_write_atomic(p, big, sizeof(big), 0600), -1);
	log = cap_stop();
	assert_logged(log, p);
	assert_logged(log, "File too large");
	free(log);
	s = read_str(p);
	cr_assert_str_eq(s, "old");
	free(s);
	cr_assert_eq(access(tpath("catalog.tmp"), F_OK), -1, "tmp file left behind");

	/* Fail at create: the tmp name is taken by a directory. */
	cr_assert_eq(mkdir(tpath("catalog.tmp"), 0700), 0);
	cap_start();
	cr_assert_eq(file_write_atomic(p, "new", 3, 0600), -1);
	log = cap_stop();
	assert_logged(log, "create temporary file");
	free(log);
	s = read_str(p);
	cr_assert_str_eq(s, "old");
	free(s);

	/* Missing directory. */
	cap_start();
	cr_assert_eq(file_write_atomic(tpath("nodir/x"), "new", 3, 0600), -1);
	log = cap_stop();
	assert_logged(log, "No such file or directory");
	free(log);
}

/* path holds exactly want. */
static void
expect_content(const char *path, const char *want)
{
	char *s = read_str(path);

	cr_assert_str_eq(s, want, "%s", path);
	free(s);
}

/* The two steps of an atomic write: staged content is durable beside the
 * file but not in its place until published; a failed stage leaves
 * nothing; unstaging removes it, and unstaging nothing is fine. */
Test(fileutil, stage_then_publish, .init = mk_tmpdir, .fini = rm_tmpdir)
{
	char p[300];
	struct stat st;
	char *log;

	snprintf(p, sizeof(p), "%s", tpath("hashes")); /* tpath's ring turns */

	cr_assert_eq(file_write_atomic(p, "old", 3, 0600), 0);
	cr_assert_eq(file_stage(p, "new!", 4, 0640), 0);
	expect_content(p, "old");
	expect_content(tpath("hashes.tmp"), "new!");
	cr_assert_eq(file_publish(p), 0);
	cr_assert_eq(dir_fsync(tmpdir), 0);
	expect_content(p, "new!");
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0640);
	cr_assert_eq(access(tpath("hashes.tmp"), F_OK), -1, "renamed, not copied");

	/* Nothing staged: publishing fails (logged), the file stays. */
	cap_start();
	cr_assert_eq(file_publish(p), -1);
	log = cap_stop();
	assert_logged(log, "No such file or directory");
	free(log);
	expect_content(p, "new!");

	/* Staged, then dropped. */
	cr_assert_eq(file_stage(p, "dropped", 7, 0600), 0);
	file_unstage(p);
	cr_assert_eq(access(tpath("hashes.tmp"), F_OK), -1);
	file_unstage(p); /* nothing to drop: fine */

	/* A failed stage (missing directory) leaves nothing. */
	cap_start();
	cr_assert_eq(file_stage(tpath("nodir/x"), "x", 1, 0600), -1);
	log = cap_stop();
	assert_logged(log, "staged write");
	free(log);
	cr_assert_eq(access(tpath("nodir"), F_OK), -1);
}

Test(fileutil, read_all_limits, .init = mk_tmpdir, .fini = rm_tmpdir)
{
	static char data[100000];
	void *out = NULL;
	size_t len = 0;
	char *log;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7 + 1);
	cr_assert_eq(file_write_atomic(tpath("f"), data, sizeof(data), 0600), 0);
	cr_assert_eq(file_read_all(tpath("f"), sizeof(data), &out, &len), 0);
	cr_assert_eq(len, sizeof(data));
	cr_assert_eq(memcmp(out, data, len), 0);
	cr_assert_eq(((char *)out)[len], '\0');
	free(out);
	out = NULL;

	cap_start();
	cr_assert_eq(file_read_all(tpath("f"), sizeof(data) - 1, &out, &len), -1);
	log = cap_stop();
	assert_logged(log, "file too large");
	free(log);
	cr_assert_null(out);

	cr_assert_eq(file_write_atomic(tpath("empty"), "", 0, 0600), 0);
	cr_assert_eq(file_read_all(tpath("empty"), 0, &out, &len), 0);
	cr_assert_eq(len, 0);
	free(out);
}

Test(fileutil, mkdir_p_and_dir_fsync, .init = mk_tmpdir, .fini = rm_tmpdir)
{
	struct stat st;
	char *log;

	cr_assert_eq(mkdir_p(tpath("a/b/c"), 0755), 0);
	cr_assert_eq(stat(tpath("a/b/c"), &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(mkdir_p(tpath("a/b/c/"), 0755), 0, "existing dir refused");
	cr_assert_eq(dir_fsync(tpath("a/b")), 0);

	cr_assert_eq(file_write_atomic(tpath("a/file"), "x", 1, 0600), 0);
	cap_start();
	cr_assert_eq(mkdir_p(tpath("a/file/d"), 0755), -1);
	cr_assert_eq(dir_fsync(tpath("nope")), -1);
	log = cap_stop();
	assert_logged(log, "a/file");
	assert_logged(log, "nope");
	free(log);
}

Test(fileutil, fd_io, .init = mk_tmpdir, .fini = rm_tmpdir)
{
	char buf[16] = { 0 };
	int fd;

	fd = open(tpath("io"), O_RDWR | O_CREAT, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(fd_write_all(fd, "0123456789", 10), 0);
	cr_assert_eq(fd_pread_all(fd, buf, 4, 3), 0);
	cr_assert_eq(memcmp(buf, "3456", 4), 0);
	cr_assert_eq(fd_pread_all(fd, buf, 0, 100), 0);
	errno = 0;
	cr_assert_eq(fd_pread_all(fd, buf, 4, 8), -1, "EOF before len accepted");
	cr_assert_eq(errno, ENODATA);
	cr_assert_eq(fd_pread_all(fd, buf, 4, -1), -1);
	close(fd);
	cr_assert_eq(fd_write_all(fd, "x", 1), -1);
	cr_assert_eq(errno, EBADF);
}

/* ---- hash --------------------------------------------------------------- */

Test(hash, hash64_stable_and_alignment_free)
{
	static const char msg[] = "nestor block";
	unsigned char buf[64];

	/* Published XXH3-64 value of the empty input: pins the algorithm. */
	cr_assert_eq(hash64("", 0), 0x2D06800538D394C2ULL);
	for (size_t off = 0; off < 8; off++) {
		memset(buf, 0xAA, sizeof(buf));
		memcpy(buf + off, msg, sizeof(msg) - 1);
		cr_assert_eq(hash64(buf + off, sizeof(msg) - 1),
			     hash64(msg, sizeof(msg) - 1), "offset %zu", off);
	}
	cr_assert_neq(hash64("a", 1), hash64("b", 1));
	cr_assert_neq(hash64("a", 1), hash64("a\0", 2));
}

/* hash64 may take a vector path (AVX2) chosen at run time: it must give
 * the shared library's values for every length class XXH3 distinguishes
 * (0-16, 17-128, 129-240, long inputs with a partial last stripe/block)
 * and any alignment, or points replicated by two agents would disagree. */
Test(hash, hash64_matches_libxxhash)
{
	static const size_t lens[] = { 0, 1, 3, 4, 8, 9, 16, 17, 128, 129, 240, 241,
				       1023, 1024, 1025, 4096, 65535, 65536, 65536 + 777 };
	size_t cap = 65536 + 1024;
	unsigned char *buf = malloc(cap);

	cr_assert_not_null(buf);
	for (size_t i = 0; i < cap; i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 13);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (size_t off = 0; off < 4; off++)
			cr_assert_eq(hash64(buf + off, lens[i]), (uint64_t)XXH3_64bits(buf + off, lens[i]),
				     "length %zu offset %zu", lens[i], off);
	free(buf);
}

/* A block hashed in pieces through a small buffer (the receiver's large
 * hash blocks) must give hash64 of the whole: any split, any length class,
 * pieces of 0 bytes, and a reset stream reused. */
Test(hash, stream_matches_hash64)
{
	static const size_t lens[] = { 0, 1, 16, 17, 240, 241, 1024, 65536 + 777, (3u << 20) + 5 };
	static const size_t pieces[] = { 1, 7, 64, 1000, 4096, 1u << 20 };
	size_t cap = (3u << 20) + 5;
	unsigned char *buf = malloc(cap);
	struct hash_stream *h = hash_stream_new();

	cr_assert_not_null(buf);
	cr_assert_not_null(h);
	for (size_t i = 0; i < cap; i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 13);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
			if (lens[i] > 70000 && pieces[k] < 4096)
				continue; /* millions of updates: no new case */
			hash_stream_reset(h);
			hash_stream_update(h, buf, 0);
			for (size_t done = 0; done < lens[i];) {
				size_t n = lens[i] - done < pieces[k] ? lens[i] - done : pieces[k];

				hash_stream_update(h, buf + done, n);
				done += n;
			}
			cr_assert_eq(hash_stream_digest(h), hash64(buf, lens[i]),
				     "length %zu in pieces of %zu", lens[i], pieces[k]);
		}
	}
	hash_stream_free(h);
	hash_stream_free(NULL);
	free(buf);
}

Test(hash, buf_is_zero_any_length_and_offset)
{
	static unsigned char buf[200];

	cr_assert(buf_is_zero(buf, 0));
	cr_assert(buf_is_zero(NULL, 0));
	for (size_t off = 0; off < 8; off++) {
		for (size_t n = 0; n + off <= 100; n++) {
			cr_assert(buf_is_zero(buf + off, n), "off %zu n %zu", off, n);
			for (size_t k = 0; k < n; k++) {
				buf[off + k] = 1;
				cr_assert(!buf_is_zero(buf + off, n), "off %zu n %zu k %zu",
					  off, n, k);
				buf[off + k] = 0;
			}
			/* Dirt just outside the range must not count. */
			buf[off + n] = 0xff;
			cr_assert(buf_is_zero(buf + off, n));
			buf[off + n] = 0;
			if (off > 0) {
				buf[off - 1] = 0xff;
				cr_assert(buf_is_zero(buf + off, n));
				buf[off - 1] = 0;
			}
		}
	}
}

/* A 1000-byte "device" for range_is_zero: reads count calls, fail_at a
 * read at that offset fails. */
static unsigned char zdev[1000];
static int zreads;
static uint64_t zfail_at = UINT64_MAX;

static int
zdev_read(void *arg, void *buf, size_t n, uint64_t off)
{
	(void)arg;
	zreads++;
	cr_assert_leq(off + n, sizeof(zdev));
	if (off == zfail_at)
		return -1;
	memcpy(buf, zdev + off, n);
	return 0;
}

Test(hash, range_is_zero_reads_in_pieces_and_stops_early)
{
	unsigned char buf[64];

	memset(zdev, 0, sizeof(zdev));
	zreads = 0;
	cr_assert_eq(range_is_zero(zdev_read, NULL, 10, 990, buf, sizeof(buf)), 1);
	cr_assert_eq(zreads, 16, "990 bytes in 64-byte pieces");
	cr_assert_eq(range_is_zero(zdev_read, NULL, 0, 0, buf, sizeof(buf)), 1);
	zdev[999] = 1; /* the range's last byte */
	cr_assert_eq(range_is_zero(zdev_read, NULL, 10, 990, buf, sizeof(buf)), 0);
	cr_assert_eq(range_is_zero(zdev_read, NULL, 10, 989, buf, sizeof(buf)), 1);
	zdev[100] = 1;
	zreads = 0;
	cr_assert_eq(range_is_zero(zdev_read, NULL, 0, 1000, buf, sizeof(buf)), 0);
	cr_assert_eq(zreads, 2, "stops at the first nonzero piece");
	memset(zdev, 0, sizeof(zdev));
	zfail_at = 128;
	cr_assert_eq(range_is_zero(zdev_read, NULL, 0, 1000, buf, sizeof(buf)), -1);
	zfail_at = UINT64_MAX;
}

Test(hash, buf_is_zero_large)
{
	size_t n = (1 << 20) + 3;
	unsigned char *b = calloc(1, n + 1);

	cr_assert_not_null(b);
	cr_assert(buf_is_zero(b + 1, n));
	b[n] = 0x80;
	cr_assert(!buf_is_zero(b + 1, n));
	free(b);
}

/* ---- dlsym -------------------------------------------------------------- */

#define T_LIBC_SYMS(X) X(getpid) X(getppid)
T_LIBC_SYMS(DLSYM_DEFINE)
static const struct dlsym_entry t_libc_syms[] = { T_LIBC_SYMS(DLSYM_ENTRY) };

Test(dlsym, missing_library_fails_cleanly_every_time)
{
	static struct dlsym_lib lib =
		DLSYM_LIB("libnestor-absent.so.7", "nestor-absent7", RTLD_LOCAL,
			  t_libc_syms);

	for (int i = 0; i < 2; i++) {
		char *log;
		int r;

		cap_start();
		r = dlsym_lib_load(&lib);
		log = cap_stop();
		cr_assert_eq(r, -1);
		assert_logged(log, "libnestor-absent.so.7: cannot open shared object file");
		assert_logged(log, "(install the Debian package nestor-absent7)");
		cr_assert_eq(count_lines(log), 1, "one error per failure:\n%s", log);
		free(log);
		cr_assert_null(sym_getpid);
		cr_assert_null(sym_getppid);
	}
}

Test(dlsym, real_library_resolves_once)
{
	static struct dlsym_lib lib =
		DLSYM_LIB("libc.so.6", "libc6", RTLD_LOCAL, t_libc_syms);
	char *log;

	cap_start();
	cr_assert_eq(dlsym_lib_load(&lib), 0);
	cr_assert_eq(dlsym_lib_load(&lib), 0);
	log = cap_stop();
	cr_assert_str_empty(log);
	free(log);
	cr_assert_not_null(sym_getpid);
	cr_assert_eq(sym_getpid(), getpid());
	cr_assert_eq(sym_getppid(), getppid());
}

/* getpid resolves before the missing name fails: it must not stay set. */
static __typeof__(&getpid) t_missing;
static const struct dlsym_entry t_missing_syms[] = {
	DLSYM_ENTRY(getpid)
	{ "nestor_no_such_function", (void **)&t_missing },
};

Test(dlsym, missing_symbol_publishes_nothing)
{
	static struct dlsym_lib bad =
		DLSYM_LIB("libc.so.6", "libc6", RTLD_LOCAL, t_missing_syms);
	static struct dlsym_lib good =
		DLSYM_LIB("libc.so.6", "libc6", RTLD_LOCAL, t_libc_syms);
	char *log;

	cap_start();
	cr_assert_eq(dlsym_lib_load(&bad), -1);
	log = cap_stop();
	assert_logged(log, "undefined symbol: nestor_no_such_function");
	assert_logged(log, "package libc6 is too old");
	cr_assert_eq(count_lines(log), 1, "one error:\n%s", log);
	free(log);
	cr_assert_null(sym_getpid);
	cr_assert_null(t_missing);
	/* Nothing broken for later calls, of this table or another. */
	cr_assert_eq(dlsym_lib_load(&bad), -1);
	cr_assert_eq(dlsym_lib_load(&good), 0);
	cr_assert_eq(sym_getpid(), getpid());
}

#define T_THREADS 8
static struct dlsym_lib t_race_lib =
	DLSYM_LIB("libc.so.6", "libc6", RTLD_LOCAL, t_libc_syms);

static void *
t_race(void *arg)
{
	int *r = arg;

	*r = dlsym_lib_load(&t_race_lib);
	if (*r == 0 && sym_getpid() != getpid())
		*r = -2;
	return NULL;
}

Test(dlsym, concurrent_first_calls)
{
	pthread_t t[T_THREADS];
	int r[T_THREADS];

	for (int i = 0; i < T_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, t_race, &r[i]), 0);
	for (int i = 0; i < T_THREADS; i++) {
		cr_assert_eq(pthread_join(t[i], NULL), 0);
		cr_assert_eq(r[i], 0, "thread %d: %d", i, r[i]);
	}
}

Test(clock, iso8601_utc)
{
	char buf[CLOCK_ISO_LEN], small[8] = "junk";

	clock_iso8601(0, buf, sizeof(buf));
	cr_assert_str_eq(buf, "1970-01-01T00:00:00Z");
	clock_iso8601(1769903999ull * 1000000000ull + 999999999ull, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2026-01-31T23:59:59Z");
	clock_iso8601(0, small, sizeof(small));
	cr_assert_str_eq(small, "");
}

Test(clock, clocks_advance)
{
	uint64_t w0 = clock_now_ns(), m0 = clock_mono_ns();
	double s0 = clock_mono_s();

	cr_assert_gt(w0, 1600000000ull * 1000000000ull, "wall clock is epoch-based");
	clock_nap_ms(20);
	cr_assert_geq(clock_mono_ns() - m0, 20000000ull);
	cr_assert_geq(clock_mono_s() - s0, 0.02);
	cr_assert_geq(clock_now_ns(), w0);
}

Test(strfmt, formats_into_a_new_string)
{
	char *s = strfmt("%s/%s/%" PRIu64 ".qcow2", "/store", "g1", (uint64_t)42);
	char big[5000];

	cr_assert_not_null(s);
	cr_assert_str_eq(s, "/store/g1/42.qcow2");
	free(s);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	s = strfmt("<%s>", big);
	cr_assert_not_null(s);
	cr_assert_eq(strlen(s), sizeof(big) + 1);
	free(s);
}

/* testhook_at in a child with NESTOR_TEST_PAUSE=want: whether it stopped. */
static bool
testhook_stops(const char *want, const char *point)
{
	int st = 0;
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		if (want)
			setenv("NESTOR_TEST_PAUSE", want, 1);
		else
			unsetenv("NESTOR_TEST_PAUSE");
		testhook_at(point);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, WUNTRACED), pid);
	if (WIFSTOPPED(st)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return true;
	}
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return false;
}

Test(testhook, at_stops_only_at_the_named_point)
{
	cr_assert(!testhook_stops(NULL, "commit"));
	cr_assert(!testhook_stops("", "commit"));
	cr_assert(!testhook_stops("commit-data", "commit"));
	cr_assert(!testhook_stops("commit", "commit-data"));
	cr_assert(testhook_stops("commit", "commit"));
}

Test(parse, ipv4)
{
	static const char *bad[] = { "", "10.1.0", "10.1.0.256", "010.1.0.1", "10.1.0.1 ",
				     "::1", "10.1.0.1/24", "a.b.c.d", "1.2.3.4.5" };
	uint32_t v = 7;

	cr_assert_eq(parse_ipv4("10.1.0.5", 8, &v), 0);
	cr_assert_eq(v, 0x0a010005);
	/* only the len bytes count: the prefix of a CIDR */
	cr_assert_eq(parse_ipv4("192.168.1.0/24", 11, &v), 0);
	cr_assert_eq(v, 0xc0a80100);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		cr_assert_eq(parse_ipv4(bad[i], strlen(bad[i]), &v), -1, "accepted '%s'", bad[i]);
		cr_assert_eq(v, 7);
	}
}
