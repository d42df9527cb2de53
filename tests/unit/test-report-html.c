/* Unit tests for failover/report-html: a self-contained page, hostile
 * strings from the point and the guest kept as text, the screenshot
 * inlined, a headless VM said so; and report_html_path. */
#define _GNU_SOURCE
#include "failover/report-html.h"
#include "failover/shotpng.h"

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileutil.h"
#include "tests/unit/tmpdir.h"

TMPDIR_SUITE(report_html, dir, "nestor-report-html");

static const char hostile[] = "</pre><script>alert(1)</script><img src=\"http://evil.example/x\">";

/* A report with two VMs: web1 with a 2x2 screenshot, web2 headless. */
static void
make_report(struct report *r, char *console_path)
{
	static const unsigned char ppm[] = "P6 2 2 255\n\xff\0\0\0\xff\0\0\0\xff\xff\xff\xff";
	char why[128] = "";
	struct report_vm *v;

	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "20260101T000000-abcd");
	snprintf(r->group, sizeof(r->group), "web");
	r->point = 3;
	r->rpo_s = 12.5;
	r->marker = "NESTOR-BOOT-OK";
	r->check_cmd = hostile;
	r->nvms = 2;
	r->vms = calloc(2, sizeof(*r->vms));
	cr_assert_not_null(r->vms);
	v = &r->vms[0];
	v->name = strdup("web1");
	v->console_log = strdup(console_path);
	v->marker_seen = v->check_ran = v->pass = true;
	v->verified_s = 20.25;
	v->check_output = strdup(hostile);
	v->error = strdup("it's \"bad\" & <worse>");
	cr_assert_eq(report_vm_add_disk(v, "vda", "os"), 0);
	cr_assert_eq(report_vm_add_disk(v, "vdb", NULL), 0);
	cr_assert_eq(shotpng_convert(NULL, ppm, sizeof(ppm) - 1, &v->shot_png, &v->shot_len,
				     &v->shot_w, &v->shot_h, why, sizeof(why)), 0, "%s", why);
	v->shot = REPORT_SHOT_TAKEN;
	v = &r->vms[1];
	v->name = strdup("web2");
	v->verified_s = -1;
	v->shot = REPORT_SHOT_NO_DISPLAY;
	v->shot_note = strdup("no display: a headless guest (no video device)");
}

static char *
render(const struct report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	cr_assert_not_null(f = open_memstream(&buf, &len));
	cr_assert_eq(report_html_write(r, f), 0);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(strlen(buf), len, "a NUL byte in the page");
	return buf;
}

Test(report_html, hostile_strings_stay_text_and_nothing_is_fetched)
{
	char console[128], *html, *b64;
	struct report r;
	const char *log = "boot\r\nNESTOR-BOOT-OK\n\x1b[2J</pre><script>x()</script>\n";

	snprintf(console, sizeof(console), "%s/web1.console.log", dir);
	cr_assert_eq(file_write_atomic(console, log, strlen(log), 0644), 0);
	make_report(&r, console);
	html = render(&r);
	cr_assert_null(strstr(html, "<script"), "markup from the guest got through");
	cr_assert_null(strstr(html, "src=\"http"), "a hostile URL is a live attribute");
	cr_assert(strstr(html, "src=&quot;http://evil.example/x&quot;"));
	cr_assert_null(strstr(html, "\x1b"));
	/* the check command (summary), its output, and the console tail */
	cr_assert(strstr(html, "<th>check command</th><td>&lt;/pre&gt;&lt;script&gt;alert(1)"));
	cr_assert(strstr(html, "<pre>&lt;/pre&gt;&lt;script&gt;alert(1)"));
	cr_assert(strstr(html, "\xef\xbf\xbd[2J&lt;/pre&gt;&lt;script&gt;x()&lt;/script&gt;"));
	cr_assert(strstr(html, "it&#39;s &quot;bad&quot; &amp; &lt;worse&gt;"));
	cr_assert(strstr(html, "NESTOR-BOOT-OK\n"));
	/* one image, the PNG itself as a data: URI */
	cr_assert(strstr(html, "<img ") && !strstr(strstr(html, "<img ") + 1, "<img "));
	b64 = malloc(4 * ((r.vms[0].shot_len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)b64, r.vms[0].shot_png, (int)r.vms[0].shot_len);
	cr_assert(strstr(html, "src=\"data:image/png;base64,") &&
		  strstr(strstr(html, "src=\"data:image/png;base64,"), b64));
	free(b64);
	cr_assert(strstr(html, "default-src 'none'"), "no content security policy");
	cr_assert(strstr(html, "no display: a headless guest"));
	cr_assert(strstr(html, "vda: point disk os<br>vdb: left out"));
	cr_assert(strstr(html, "<h2>VM web1 <span class=\"pass\">PASS</span></h2>"));
	cr_assert(strstr(html, "RTO (boot marker)</th><td>20.2 s") ||
		  strstr(html, "RTO (boot marker)</th><td>20.3 s"));
	free(html);
	report_clear(&r);
}

Test(report_html, save_writes_the_page)
{
	char path[128], *html;
	struct report r;
	void *data = NULL;
	size_t len = 0;

	make_report(&r, "/nonexistent/console.log");
	snprintf(path, sizeof(path), "%s/x.html", dir);
	cr_assert_eq(report_html_save(&r, path), 0);
	cr_assert_eq(file_read_all(path, 1u << 20, &data, &len), 0);
	html = render(&r);
	cr_assert_str_eq(data, html);
	cr_assert(strstr(html, "(no console output)"));
	free(html);
	free(data);
	report_clear(&r);
}

Test(report_html, path_beside_the_json)
{
	char *p = report_html_path("/s/web/drills/20260101T000000-abcd.json");

	cr_assert_str_eq(p, "/s/web/drills/20260101T000000-abcd.html");
	free(p);
	p = report_html_path("odd");
	cr_assert_str_eq(p, "odd.html");
	free(p);
}
