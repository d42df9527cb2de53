/* Unit tests for replicator/receiver/dashreport: the names a client may ask
 * for (no '/', no "..", no NUL, only a run's .json or .html), the paths
 * that parse, and that only a run's record and the HTML report it names
 * are read, never through a symlink, a FIFO or past the size bound. */
#define _GNU_SOURCE /* nftw */
#include "replicator/receiver/dashreport.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "tmpdir.h"

TMPDIR_SUITE(dashreport, dir, "nestor-dashreport");

#define NAME_OK(s) dashreport_name_valid(s, strlen(s))

Test(dashreport, names)
{
	cr_assert(NAME_OK("20261206T195959-ab12.html"));
	cr_assert(NAME_OK("20261206T195959-ab12.json"));
	cr_assert(NAME_OK("a.json"));
	cr_assert_not(NAME_OK(""));
	cr_assert_not(NAME_OK(".json"), "nothing before the suffix, a dot first");
	cr_assert_not(NAME_OK("x.qcow2"), "only reports");
	cr_assert_not(NAME_OK("x.html.bak"));
	cr_assert_not(NAME_OK("catalog"));
	cr_assert_not(NAME_OK("../catalog.json"));
	cr_assert_not(NAME_OK("..json"));
	cr_assert_not(NAME_OK("a..html"), "no \"..\" anywhere");
	cr_assert_not(NAME_OK("a/b.html"));
	cr_assert_not(NAME_OK("/etc/passwd.json"));
	cr_assert_not(NAME_OK("a%2f.html"), "not decoded, and not a name");
	cr_assert_not(NAME_OK("-x.html"));
	cr_assert_not(NAME_OK("a b.html"));
	cr_assert_not(dashreport_name_valid("a\0/../x.html", 12), "an embedded NUL");
	cr_assert_not(dashreport_name_valid("ab.html", 3), "the length counts, not the NUL");
	char big[80];
	memset(big, 'a', sizeof(big));
	memcpy(big + sizeof(big) - 5, ".html", 5);
	cr_assert_not(dashreport_name_valid(big, sizeof(big)), "longer than a name");
}

Test(dashreport, paths)
{
	struct dashreport_ref r;

	cr_assert_eq(dashreport_parse("/report/web/drills/d1.html", &r), 1);
	cr_assert_str_eq(r.group, "web");
	cr_assert_not(r.failover);
	cr_assert_str_eq(r.file, "d1.html");
	cr_assert_eq(dashreport_parse("/report/web/failover/f1.json", &r), 1);
	cr_assert(r.failover);
	cr_assert_str_eq(r.file, "f1.json");
	cr_assert_eq(dashreport_parse("/", &r), 0, "not a report's path");
	cr_assert_eq(dashreport_parse("/group/web", &r), 0);
	cr_assert_eq(dashreport_parse("/reports/web/drills/d1.html", &r), 0);
	static const char *const bad[] = {
		"/report/", "/report/web", "/report/web/drills", "/report/web/drills/",
		"/report/web/meta/1.json", "/report/web/disks/d1.html",
		"/report/../drills/x.html", "/report/web/../catalog.json",
		"/report/web/drills/../../etc/passwd", "/report/web/drills/..%2fcatalog.json",
		"/report/web/drills/d1.html/", "/report/web/drills/x/d1.html",
		"/report/web//drills/d1.html", "/report/.web/drills/d1.html",
		"/report/web/drills/d1", "/report/web/failover/failover.json/x", NULL,
	};
	for (const char *const *p = bad; *p; p++)
		cr_assert_eq(dashreport_parse(*p, &r), -1, "%s", *p);
}

Test(dashreport, urls)
{
	char *u = dashreport_url("web", false, "/s/web/drills/d1.html");

	cr_assert_str_eq(u, "/report/web/drills/d1.html");
	free(u);
	u = dashreport_url("web", true, "f1.json");
	cr_assert_str_eq(u, "/report/web/failover/f1.json");
	free(u);
	cr_assert_null(dashreport_url("web", false, "/s/web/drills/x.png"));
	cr_assert_null(dashreport_url("../x", false, "/s/d1.html"));
}

/* path holds text (common/fileutil's durable write: 0 / -1). */
#define put(path, text) \
	cr_assert_eq(file_write_atomic(path, text, strlen(text), 0644), 0, "%s", path)

/* load "/report/..." p: the status, and the body (freed) equals want. */
static int
load(const char *p, const char *want)
{
	struct dashreport_ref r;
	const char *type = NULL;
	char *body = NULL;
	size_t len = 0;
	int st;

	cr_assert_eq(dashreport_parse(p, &r), 1, "%s", p);
	st = dashreport_load(dir, &r, &body, &len, &type);
	if (st == 0) {
		cr_assert_eq(len, strlen(want), "%s", p);
		cr_assert_eq(memcmp(body, want, len), 0, "%s", p);
		cr_assert_not_null(type);
	}
	free(body);
	return st;
}

/* A store with group web: drill d1 (JSON and the HTML it names), d2 whose
 * record names no HTML, failover f1; the working directory is the
 * store's. */
static void
store(void)
{
	cr_assert_eq(chdir(dir), 0); /* each test runs in a process of its own */
	cr_assert_eq(mkdir("web", 0755), 0);
	cr_assert_eq(mkdir("web/drills", 0755), 0);
	cr_assert_eq(mkdir("web/failover", 0755), 0);
	put("web/catalog.json", "{}");
	put("web/drills/d1.json", "{\"drill\":\"d1\",\"html_report\":\"/elsewhere/web/drills/d1.html\"}");
	put("web/drills/d1.html", "<!DOCTYPE html><p>drill d1</p>\n");
	put("web/drills/d2.json", "{\"drill\":\"d2\"}");
	put("web/drills/d2.html", "<p>not named</p>");
	put("web/failover/f1.json", "{\"drill\":\"f1\",\"html_report\":\"f1.html\"}");
	put("web/failover/f1.html", "<p>failover f1</p>");
}

Test(dashreport, serves_only_what_a_record_names)
{
	store();
	cr_assert_eq(load("/report/web/drills/d1.html", "<!DOCTYPE html><p>drill d1</p>\n"), 0);
	cr_assert_eq(load("/report/web/drills/d1.json",
			  "{\"drill\":\"d1\",\"html_report\":\"/elsewhere/web/drills/d1.html\"}"), 0);
	cr_assert_eq(load("/report/web/failover/f1.html", "<p>failover f1</p>"), 0);
	cr_assert_eq(load("/report/web/drills/d2.html", NULL), 404, "its record names no HTML");
	cr_assert_eq(load("/report/web/drills/f1.html", NULL), 404, "a failover's, asked as a drill's");
	cr_assert_eq(load("/report/web/drills/d3.html", NULL), 404, "no such run");
	cr_assert_eq(load("/report/nope/drills/d1.html", NULL), 404, "no such group");
	/* a record that is not a JSON object names nothing */
	put("web/drills/d4.json", "[1]");
	put("web/drills/d4.html", "x");
	cr_assert_eq(load("/report/web/drills/d4.html", NULL), 404);
	cr_assert_eq(load("/report/web/drills/d4.json", NULL), 404);
}

Test(dashreport, no_symlink_fifo_or_oversize)
{
	int fd;

	store();
	/* the HTML report a record names, replaced by a link to a secret */
	put("secret", "secret");
	cr_assert_eq(unlink("web/drills/d1.html"), 0);
	cr_assert_eq(symlink("../../secret", "web/drills/d1.html"), 0);
	cr_assert_eq(load("/report/web/drills/d1.html", NULL), 404, "a symlink is not followed");
	/* a FIFO in its place must not block */
	cr_assert_eq(unlink("web/drills/d1.html"), 0);
	cr_assert_eq(mkfifo("web/drills/d1.html", 0600), 0);
	cr_assert_eq(load("/report/web/drills/d1.html", NULL), 404);
	/* larger than the bound: refused, not served */
	cr_assert_eq(unlink("web/drills/d1.html"), 0);
	fd = open("web/drills/d1.html", O_WRONLY | O_CREAT, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, DASH_REPORT_MAX + 1), 0);
	close(fd);
	cr_assert_eq(load("/report/web/drills/d1.html", NULL), 500);
	/* the group's other reports are still served */
	cr_assert_eq(load("/report/web/failover/f1.html", "<p>failover f1</p>"), 0);
}
