/* Unit tests for common/htmlesc: hostile names reach the dashboard. */
#include "common/htmlesc.h"

#include <criterion/criterion.h>
#include <stdlib.h>

static void
expect(const char *in, const char *want)
{
	char *got = htmlesc(in);

	cr_assert_not_null(got);
	cr_assert_str_eq(got, want, "escaping \"%s\"", in);
	free(got);
}

Test(htmlesc, specials_become_entities)
{
	expect("<script>alert('x')</script>", "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
	expect("a&b \"q\"", "a&amp;b &quot;q&quot;");
	expect("&amp;", "&amp;amp;");
}

Test(htmlesc, plain_and_utf8_unchanged)
{
	expect("web-01_db.vda", "web-01_db.vda");
	expect("caf\xc3\xa9 tab\there\nline", "caf\xc3\xa9 tab\there\nline");
	expect("", "");
	expect(NULL, "");
}

Test(htmlesc, control_characters_shown_not_passed)
{
	expect("a\rb\x1b[31mc\x7f", "a\xef\xbf\xbd" "b\xef\xbf\xbd[31mc\xef\xbf\xbd");
}
