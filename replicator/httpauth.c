/* HTTP basic authentication from a crypt(3) password file
 * (replicator/httpauth.h). */
#include "replicator/httpauth.h"

#include <crypt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "common/clock.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/throttle.h"

#define AUTH_FILE_MAX  (64 * 1024)
#define AUTH_USERS_MAX 256
#define HASH_MAX       (CRYPT_OUTPUT_SIZE - 1)

struct httpauth_user {
	char name[HTTPAUTH_USER_MAX + 1];
	char hash[CRYPT_OUTPUT_SIZE];
};

/* A header that passed, by its SHA-256. */
struct passed {
	unsigned char digest[SHA256_DIGEST_LENGTH];
	uint64_t until_ns;
};

#define PASSED_MAX     16
#define PASSED_TTL_NS  (300ull * 1000000000)
/* Microseconds of hashing per second of the loop (a fifth). */
#define HASH_BUDGET_US 200000

struct httpauth {
	struct httpauth_user *users;
	size_t n;
	struct passed passed[PASSED_MAX];
	size_t next_passed;           /* the slot the next pass takes */
	struct throttle *budget;      /* in microseconds of hashing */
	uint64_t hash_cost_us;        /* what the last hash took */
	char dummy[CRYPT_OUTPUT_SIZE]; /* hashed for unknown users */
	struct crypt_data cd;          /* big: kept, not on the stack */
};

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict base64 (padded, no whitespace) of src[0..n) into out (cap bytes);
 * the decoded length, or -1. */
static long
b64_decode(const char *src, size_t n, unsigned char *out, size_t cap)
{
	size_t o = 0;

	if (n == 0 || n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		size_t pad = 0;

		for (size_t k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)src[i + k];

			if (c == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return -1; /* data after padding */
			v[k] = b64_value(c);
			if (v[k] < 0)
				return -1;
		}
		if (o + 3 - pad > cap)
			return -1;
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (unsigned char)((v[1] & 0xf) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (unsigned char)((v[2] & 0x3) << 6 | v[3]);
	}
	return (long)o;
}

bool
httpauth_parse_basic(const char *hdr, char user[HTTPAUTH_USER_MAX + 1],
		     char pass[HTTPAUTH_PASS_MAX + 1])
{
	unsigned char buf[HTTPAUTH_USER_MAX + 1 + HTTPAUTH_PASS_MAX];
	const char *b64;
	unsigned char *colon;
	long len;
	size_t ulen;

	if (!hdr || strncasecmp(hdr, "Basic ", 6) != 0)
		return false;
	for (b64 = hdr + 6; *b64 == ' '; b64++)
		;
	/* 4/3 of the longest user:password, rounded up to a quantum. */
	if (strlen(b64) > (sizeof(buf) + 2) / 3 * 4)
		return false;
	len = b64_decode(b64, strlen(b64), buf, sizeof(buf));
	if (len <= 0)
		return false;
	colon = memchr(buf, ':', (size_t)len);
	if (!colon || colon == buf)
		return false;
	ulen = (size_t)(colon - buf);
	if (ulen > HTTPAUTH_USER_MAX || (size_t)len - ulen - 1 > HTTPAUTH_PASS_MAX)
		return false;
	for (long i = 0; i < len; i++)
		if (buf[i] < 0x20 || buf[i] == 0x7f)
			return false;
	memcpy(user, buf, ulen);
	user[ulen] = '\0';
	memcpy(pass, colon + 1, (size_t)len - ulen - 1);
	pass[(size_t)len - ulen - 1] = '\0';
	return true;
}

/* Equal strings, in a time that depends on b's length only. */
static bool
ct_streq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < lb; i++)
		d |= (unsigned char)(a[i < la ? i : 0] ^ b[i]);
	return d == 0;
}

static bool
passed_before(struct httpauth *a, const unsigned char *d, uint64_t now_ns)
{
	for (size_t i = 0; i < PASSED_MAX; i++)
		if (a->passed[i].until_ns > now_ns &&
		    CRYPTO_memcmp(a->passed[i].digest, d, SHA256_DIGEST_LENGTH) == 0)
			return true;
	return false;
}

/* Hash pass with the user's (or the dummy) hash: true when it matches. */
static bool
hash_matches(struct httpauth *a, const char *user, const char *pass)
{
	const char *hash, *got;
	bool ok = false, known = false;

	hash = a->dummy;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->users[i].name, user) == 0) {
			hash = a->users[i].hash;
			known = true;
			break;
		}
	got = crypt_r(pass, hash, &a->cd);
	/* libxcrypt's failure tokens start with '*': never a match. */
	if (got && got[0] != '*')
		ok = ct_streq(got, hash) && known;
	explicit_bzero(&a->cd, sizeof(a->cd));
	return ok;
}

enum httpauth_verdict
httpauth_check(struct httpauth *a, const char *hdr, uint64_t now_ns)
{
	char user[HTTPAUTH_USER_MAX + 1], pass[HTTPAUTH_PASS_MAX + 1];
	unsigned char d[SHA256_DIGEST_LENGTH];
	enum httpauth_verdict v = HTTPAUTH_DENIED;
	uint64_t t0;

	if (!a || !httpauth_parse_basic(hdr, user, pass))
		return HTTPAUTH_DENIED;
	SHA256((const unsigned char *)hdr, strlen(hdr), d);
	if (passed_before(a, d, now_ns)) {
		v = HTTPAUTH_OK;
		goto out;
	}
	if (throttle_take(a->budget, a->hash_cost_us, now_ns) > 0) {
		v = HTTPAUTH_BUSY;
		goto out;
	}
	t0 = clock_mono_ns();
	if (hash_matches(a, user, pass)) {
		v = HTTPAUTH_OK;
		memcpy(a->passed[a->next_passed].digest, d, sizeof(d));
		a->passed[a->next_passed].until_ns = now_ns + PASSED_TTL_NS;
		a->next_passed = (a->next_passed + 1) % PASSED_MAX;
	}
	a->hash_cost_us = (clock_mono_ns() - t0) / 1000 + 1;
out:
	explicit_bzero(pass, sizeof(pass));
	return v;
}

/* One "user:hash" line (NUL-terminated, no newline) into u. */
static bool
parse_line(struct httpauth *a, char *line, struct httpauth_user *u, const char **why)
{
	char *colon = strchr(line, ':');
	const char *h;

	if (!colon || colon == line || (size_t)(colon - line) > HTTPAUTH_USER_MAX) {
		*why = "not user:hash (a user of 1 to 64 bytes)";
		return false;
	}
	*colon = '\0';
	for (const char *c = line; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
			*why = "a space or control character in the user name";
			return false;
		}
	if (colon[1] != '$' || strlen(colon + 1) > HASH_MAX) {
		*why = "the hash is not a crypt(3) hash ($y$..., $6$...: mkpasswd, openssl passwd -6)";
		return false;
	}
	/* Hashing a known word proves libxcrypt can use this hash. */
	h = crypt_r("nestor-probe", colon + 1, &a->cd);
	if (!h || h[0] == '*') {
		*why = "libxcrypt cannot use this hash";
		return false;
	}
	snprintf(u->name, sizeof(u->name), "%s", line);
	snprintf(u->hash, sizeof(u->hash), "%s", colon + 1);
	return true;
}

int
httpauth_load(const char *path, struct httpauth **out)
{
	struct httpauth *a = calloc(1, sizeof(*a));
	char *text = NULL, *p, *line;
	size_t len, lineno = 0;
	const char *why = NULL;
	int rc = -1;

	*out = NULL;
	if (!a || !(a->users = calloc(AUTH_USERS_MAX, sizeof(*a->users)))) {
		log_error("dashboard_auth %s: out of memory", path);
		goto out;
	}
	if (file_read_all(path, AUTH_FILE_MAX, (void **)&text, &len) < 0)
		goto out;
	for (p = text; (line = strsep(&p, "\n")) != NULL;) {
		size_t l = strlen(line);

		lineno++;
		if (l && line[l - 1] == '\r')
			line[--l] = '\0';
		if (l == 0 || line[0] == '#')
			continue;
		if (a->n == AUTH_USERS_MAX) {
			log_error("dashboard_auth %s:%zu: more than %d users", path, lineno,
				  AUTH_USERS_MAX);
			goto out;
		}
		if (!parse_line(a, line, &a->users[a->n], &why)) {
			log_error("dashboard_auth %s:%zu: %s", path, lineno, why);
			goto out;
		}
		a->n++;
	}
	if (a->n == 0) {
		log_error("dashboard_auth %s: no user in it", path);
		goto out;
	}
	/* An unknown user is hashed like the first one, at the same cost. */
	snprintf(a->dummy, sizeof(a->dummy), "%s", a->users[0].hash);
	a->hash_cost_us = 1000;
	a->budget = throttle_new(HASH_BUDGET_US, HASH_BUDGET_US);
	if (!a->budget)
		goto out;
	/* A bucket starts empty: a second ago, so that it starts full. */
	(void)throttle_take(a->budget, 0, clock_mono_ns() - 1000000000);
	*out = a;
	a = NULL;
	rc = 0;
out:
	if (text) {
		explicit_bzero(text, len);
		free(text);
	}
	httpauth_free(a);
	return rc;
}

void
httpauth_free(struct httpauth *a)
{
	if (!a)
		return;
	throttle_free(a->budget);
	free(a->users);
	free(a);
}
