/* Unit tests for common/httpurl: the webhook URL (issue 16). */
#include "common/httpurl.h"

#include <criterion/criterion.h>
#include <string.h>

static void
good_tls(const char *s, bool tls, const char *host, bool v6, uint16_t port, const char *path)
{
	struct httpurl u;
	const char *why = NULL;

	cr_assert_eq(httpurl_parse(s, &u, &why), 0, "%s: %s", s, why ? why : "");
	cr_assert_str_eq(u.host, host, "%s", s);
	cr_assert_eq(u.ipv6, v6, "%s", s);
	cr_assert_eq(u.tls, tls, "%s", s);
	cr_assert_eq(u.port, port, "%s", s);
	cr_assert_str_eq(u.path, path, "%s", s);
}

static void
good(const char *s, const char *host, bool v6, uint16_t port, const char *path)
{
	good_tls(s, false, host, v6, port, path);
}

static void
bad(const char *s, const char *why_part)
{
	struct httpurl u;
	const char *why = NULL;

	memset(&u, 0x5a, sizeof(u));
	cr_assert_eq(httpurl_parse(s, &u, &why), -1, "%s accepted", s);
	cr_assert_not_null(why, "%s", s);
	cr_assert(strstr(why, why_part) != NULL, "%s: '%s' lacks '%s'", s, why, why_part);
	cr_assert_eq((unsigned char)u.host[0], 0x5a, "%s: output touched", s);
}

Test(httpurl, accepted)
{
	good("http://hooks.example.com", "hooks.example.com", false, 80, "/");
	good("http://10.0.0.1:8080/a/b?token=x&y=1", "10.0.0.1", false, 8080, "/a/b?token=x&y=1");
	good("http://[::1]:9/x", "::1", true, 9, "/x");
	good("http://[fe80::1]/", "fe80::1", true, 80, "/");
	good("http://h:65535", "h", false, 65535, "/");
	good_tls("https://hooks.example.com/x?t=1", true, "hooks.example.com", false, 443,
		 "/x?t=1");
	good_tls("https://[::1]:8443", true, "::1", true, 8443, "/");
}

Test(httpurl, refused)
{
	static char longpath[2100], longhost[300];

	bad("ftp://hooks.example.com/", "http:// or https://");
	bad("https:/x/", "http:// or https://");
	bad("HTTP://x/", "http://");
	bad("hooks.example.com", "http://");
	bad("", "http://");
	bad("http://", "1 to 253");
	bad("http:///path", "1 to 253");
	bad("http://:80/", "1 to 253");
	bad("http://h:/", "port");
	bad("http://h:0/", "port");
	bad("http://h:65536/", "port");
	bad("http://h:-1/", "port");
	bad("http://h:80x/", "port");
	bad("http://user:pw@h/", "user@");
	bad("https://user@h/", "user@");
	bad("https://h:0/", "port");
	bad("http://h/a b", "no spaces");
	bad("http://h/a\r\nX-Injected: 1", "no spaces");
	bad("http://h/\x80", "non-ASCII");
	bad("http://h/#frag", "'#'");
	bad("http://h_x/", "letters, digits");
	bad("http://[::1/", "closing ']'");
	bad("http://[::1]x/", "':port'");
	bad("http://[nothex]/", "IPv6");
	bad("http://[]/", "IPv6");
	memset(longpath, 'a', sizeof(longpath) - 1);
	memcpy(longpath, "http://h/", 9);
	bad(longpath, "2048");
	memset(longhost, 'a', sizeof(longhost) - 1);
	memcpy(longhost, "http://", 7);
	bad(longhost, "1 to 253");
}
