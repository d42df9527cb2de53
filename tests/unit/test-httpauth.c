/* Unit tests for replicator/httpauth (basic auth of the dashboard) and
 * replicator/httpd's request parser: both read what any client sends. */
#define _GNU_SOURCE /* nftw */
#include "replicator/httpauth.h"
#include "replicator/httpd.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "tests/unit/tmpdir.h"

static bool
basic(const char *hdr, char *user, char *pass)
{
	return httpauth_parse_basic(hdr, user, pass);
}

Test(httpauth, parse_basic_good)
{
	char u[HTTPAUTH_USER_MAX + 1], p[HTTPAUTH_PASS_MAX + 1];

	cr_assert(basic("Basic YWRtaW46czNjcmV0", u, p)); /* admin:s3cret */
	cr_assert_str_eq(u, "admin");
	cr_assert_str_eq(p, "s3cret");
	cr_assert(basic("basic   YTpiOmM=", u, p)); /* a:b:c, scheme any case */
	cr_assert_str_eq(u, "a");
	cr_assert_str_eq(p, "b:c");
	cr_assert(basic("Basic dTo=", u, p)); /* u: empty password */
	cr_assert_str_eq(p, "");
}

Test(httpauth, parse_basic_malformed)
{
	char u[HTTPAUTH_USER_MAX + 1], p[HTTPAUTH_PASS_MAX + 1];
	const char *bad[] = {
		NULL, "", "Basic", "Basic ", "Bearer YWRtaW46czNjcmV0",
		"BasicYWRtaW46czNjcmV0",
		"Basic YWRtaW46czNjcmV0=",   /* length not a multiple of 4 */
		"Basic YWRt aW46czNjcmV0",   /* space inside */
		"Basic YW=taW46czNjcmV0",    /* padding in the middle */
		"Basic YWRtaW4=",            /* admin: no colon */
		"Basic OnB3",                /* :pw: empty user */
		"Basic YQpiOmM=",            /* a\nb:c: control character */
		"Basic YWRtaW46czNjcmV0!!!!",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_not(basic(bad[i], u, p), "accepted \"%s\"", bad[i] ? bad[i] : "(null)");
}

Test(httpauth, parse_basic_long_headers)
{
	char u[HTTPAUTH_USER_MAX + 1], p[HTTPAUTH_PASS_MAX + 1];
	char *hdr = malloc(100000);
	size_t n;

	cr_assert_not_null(hdr);
	/* far beyond any user:password: refused before decoding */
	strcpy(hdr, "Basic ");
	memset(hdr + 6, 'Q', 99990);
	hdr[99996] = '\0';
	cr_assert_not(basic(hdr, u, p));
	/* a user of 65 bytes: too long, even though the header is small */
	strcpy(hdr, "Basic ");
	n = 6;
	{
		unsigned char raw[80];
		static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

		memset(raw, 'u', 65);
		memcpy(raw + 65, ":pw", 3); /* 68 bytes */
		for (size_t i = 0; i + 2 < 68; i += 3) {
			hdr[n++] = t[raw[i] >> 2];
			hdr[n++] = t[(raw[i] & 3) << 4 | raw[i + 1] >> 4];
			hdr[n++] = t[(raw[i + 1] & 15) << 2 | raw[i + 2] >> 6];
			hdr[n++] = t[raw[i + 2] & 63];
		}
		/* 66 bytes encoded, 2 left: "pw"[1..] */
		hdr[n++] = t[raw[66] >> 2];
		hdr[n++] = t[(raw[66] & 3) << 4 | raw[67] >> 4];
		hdr[n++] = t[(raw[67] & 15) << 2];
		hdr[n++] = '=';
		hdr[n] = '\0';
	}
	cr_assert_not(basic(hdr, u, p));
	free(hdr);
}

/* A password file with admin:s3cret as sha512-crypt (openssl passwd -6
 * -salt saltsalt s3cret). */
#define ADMIN_HASH "$6$saltsalt$As4wrv0kZlfch1du9WeH7qhskyLriQWySXrZzynnvi46nFnNxjdpl6ksRegrrKexvhIa/Iny8S8uF3fVWTMuC1"

static char dir[64];

static char *
write_file(const char *text)
{
	static char path[128];
	FILE *f;

	tmpdir_make(dir, sizeof(dir), "httpauth");
	snprintf(path, sizeof(path), "%s/users", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static enum httpauth_verdict
check(struct httpauth *a, const char *hdr)
{
	return httpauth_check(a, hdr, clock_mono_ns());
}

Test(httpauth, load_and_check)
{
	struct httpauth *a = NULL;
	char *path = write_file("# users\n\nadmin:" ADMIN_HASH "\r\nother:" ADMIN_HASH "\n");

	cr_assert_eq(httpauth_load(path, &a), 0);
	cr_assert_eq(check(a, "Basic YWRtaW46czNjcmV0"), HTTPAUTH_OK);        /* admin:s3cret */
	cr_assert_eq(check(a, "Basic YWRtaW46czNjcmV0"), HTTPAUTH_OK, "again (remembered)");
	cr_assert_eq(check(a, "Basic YWRtaW46czNjcmV1"), HTTPAUTH_DENIED);    /* admin:s3creu */
	cr_assert_eq(check(a, "Basic bm9ib2R5OnMzY3JldA=="), HTTPAUTH_DENIED); /* nobody:s3cret */
	cr_assert_eq(check(a, NULL), HTTPAUTH_DENIED);
	cr_assert_eq(check(a, "Basic !!!!"), HTTPAUTH_DENIED);
	httpauth_free(a);
	httpauth_free(NULL);
	tmpdir_remove(dir);
}

/* Wrong passwords as fast as a client can send them: hashing stays within
 * its fifth of the loop's time (BUSY past it), a remembered good header
 * still passes without a hash, and the budget comes back with time. */
Test(httpauth, hashing_budget)
{
	struct httpauth *a = NULL;
	char *path = write_file("admin:" ADMIN_HASH "\n");
	uint64_t t = clock_mono_ns();
	size_t hashed = 0, busy = 0;

	cr_assert_eq(httpauth_load(path, &a), 0);
	cr_assert_eq(httpauth_check(a, "Basic YWRtaW46czNjcmV0", t), HTTPAUTH_OK);
	/* 2000 attempts within the same instant: only 200 ms of hashing */
	for (int i = 0; i < 2000; i++) {
		enum httpauth_verdict v = httpauth_check(a, "Basic YWRtaW46d3Jvbmc=", t);

		cr_assert_neq(v, HTTPAUTH_OK);
		hashed += v == HTTPAUTH_DENIED;
		busy += v == HTTPAUTH_BUSY;
	}
	cr_assert_gt(busy, 0, "the budget ran out");
	cr_assert_lt(hashed, 2000);
	cr_assert_eq(httpauth_check(a, "Basic YWRtaW46czNjcmV0", t), HTTPAUTH_OK,
		     "a header that passed needs no hash");
	cr_assert_eq(httpauth_check(a, "Basic YWRtaW46d3Jvbmc=", t + 1000000000ull),
		     HTTPAUTH_DENIED, "a second later, hashing again");
	httpauth_free(a);
	tmpdir_remove(dir);
}

Test(httpauth, load_refuses_bad_files)
{
	const char *bad[] = {
		"",                         /* no user */
		"# only a comment\n",
		"admin\n",                  /* no hash */
		":" ADMIN_HASH "\n",        /* no user */
		"admin:s3cret\n",           /* a plain password, not a hash */
		"ad min:" ADMIN_HASH "\n",
		"admin:$9$nonsense\n",      /* a method libxcrypt does not know */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct httpauth *a = NULL;
		char *path = write_file(bad[i]);

		cr_assert_eq(httpauth_load(path, &a), -1, "accepted \"%s\"", bad[i]);
		cr_assert_null(a);
		tmpdir_remove(dir);
	}
}

/* ---- httpd_parse ----------------------------------------------------------- */

static int
parse(const char *text, struct httpd_req *req, char **keep)
{
	*keep = strdup(text);
	return httpd_parse(*keep, 8, req);
}

Test(httpd, parse_get_with_query_and_auth)
{
	struct httpd_req r;
	char *b;

	cr_assert_eq(parse("GET /group/web?x=1 HTTP/1.1\r\nHost: h\r\n"
			   "authorization:  Basic abc \r\n\r\n", &r, &b), 0);
	cr_assert_not(r.head);
	cr_assert_str_eq(r.path, "/group/web");
	cr_assert_str_eq(r.query, "x=1");
	cr_assert_str_eq(r.authorization, "Basic abc");
	free(b);
	cr_assert_eq(parse("HEAD / HTTP/1.0\r\n\r\n", &r, &b), 0);
	cr_assert(r.head);
	cr_assert_null(r.query);
	cr_assert_null(r.authorization);
	free(b);
}

Test(httpd, parse_refusals)
{
	static const struct {
		const char *text;
		int want;
	} cases[] = {
		{ "POST /metrics HTTP/1.1\r\n\r\n", 501 },
		{ "GET /metrics HTTP/2.0\r\n\r\n", 505 },
		{ "GET /metrics FTP/1.0\r\n\r\n", 400 },
		{ "GET metrics HTTP/1.1\r\n\r\n", 400 },
		{ "GET /a b HTTP/1.1\r\n\r\n", 400 },
		{ "GET /\x01 HTTP/1.1\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\n folded: x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nA: 1\nB: 2\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\n", 400 },
		{ "G(T / HTTP/1.1\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\n1: a\r\n2: a\r\n3: a\r\n4: a\r\n5: a\r\n6: a\r\n"
		  "7: a\r\n8: a\r\n9: a\r\n\r\n", 431 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct httpd_req r;
		char *b;

		cr_assert_eq(parse(cases[i].text, &r, &b), cases[i].want, "case %zu", i);
		free(b);
	}
}

Test(httpd, parse_long_path_refused)
{
	char *text = malloc(4096), *b;
	struct httpd_req r;

	strcpy(text, "GET /");
	memset(text + 5, 'a', 2000);
	strcpy(text + 2005, " HTTP/1.1\r\n\r\n");
	cr_assert_eq(parse(text, &r, &b), 400);
	free(b);
	free(text);
}
