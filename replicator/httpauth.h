/* HTTP basic authentication of the metrics listener (the receiver's
 * dashboard, docs/dashboard.md): users and crypt(3) hashes from a file
 * (`dashboard_auth`), checked with libxcrypt. */
#ifndef NESTOR_REPLICATOR_HTTPAUTH_H
#define NESTOR_REPLICATOR_HTTPAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct httpauth;

#define HTTPAUTH_USER_MAX 64   /* bytes of a user name */
#define HTTPAUTH_PASS_MAX 256  /* bytes of a password */

/* Load path: lines "user:hash" (a crypt(3) hash such as mkpasswd or
 * openssl passwd -6 make: "$y$...", "$6$..."), blank lines and lines
 * starting with '#' skipped. A malformed line, a hash libxcrypt cannot
 * use or an empty file is an error naming the line. *out owned by the
 * caller (httpauth_free). 0 / -1 (logged). */
int httpauth_load(const char *path, struct httpauth **out);
void httpauth_free(struct httpauth *a);

enum httpauth_verdict {
	HTTPAUTH_OK,
	HTTPAUTH_DENIED, /* no, wrong or malformed credentials: 401 */
	HTTPAUTH_BUSY,   /* hashing is over its time budget: 503, try again */
};

/* Does the Authorization header value hdr (NULL = none) name a user of a
 * with its password? The hash of the password is compared in constant
 * time, and an unknown user costs a hash too. Hashing runs on the
 * caller's loop, so it gets at most a fifth of its time (a client
 * guessing passwords cannot stall the receiver), and a header that passed
 * is remembered for 5 minutes. now_ns: a monotonic clock. */
enum httpauth_verdict httpauth_check(struct httpauth *a, const char *hdr, uint64_t now_ns);

/* Split a "Basic <base64>" header value into user and password (each
 * NUL-terminated, at most HTTPAUTH_USER_MAX / HTTPAUTH_PASS_MAX bytes):
 * false for any other scheme, bad base64, no ':', an empty user or a
 * control character. Pure. */
bool httpauth_parse_basic(const char *hdr, char user[HTTPAUTH_USER_MAX + 1],
			  char pass[HTTPAUTH_PASS_MAX + 1]);

#endif
