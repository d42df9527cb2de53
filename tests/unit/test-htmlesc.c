/* Unit tests for common/htmlesc: hostile strings stay text. */
#include "common/htmlesc.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
esc(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	htmlesc_fputs(s, f);
	cr_assert_eq(fclose(f), 0);
	return buf;
}

static void
expect(const char *in, const char *want)
{
	char *out = esc(in);

	cr_assert_str_eq(out, want, "in '%s'", in ? in : "(null)");
	free(out);
}

Test(htmlesc, markup_and_quotes_become_references)
{
	expect("<script>alert('x')</script>", "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
	expect("a\" onerror=\"x", "a&quot; onerror=&quot;x");
	expect("&amp; &lt;", "&amp;amp; &amp;lt;");
	expect("]]><!--", "]]&gt;&lt;!--");
}

Test(htmlesc, text_and_utf8_pass_through)
{
	expect("web1 passed\n\tok", "web1 passed\n\tok");
	expect("gr\xc3\xbc\xc3\x9f", "gr\xc3\xbc\xc3\x9f");
	expect("", "");
	expect(NULL, "");
}

Test(htmlesc, control_characters_are_replaced)
{
	expect("\x1b[31mred\r\x7f", "\xef\xbf\xbd[31mred\xef\xbf\xbd\xef\xbf\xbd");
}
