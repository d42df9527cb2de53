/* libFuzzer harness: arbitrary bytes as a request head on the metrics
 * listener (replicator/httpd.h), as its Authorization header
 * (replicator/httpauth.h), and as a string the dashboard escapes
 * (common/htmlesc.h): none may crash, and what they return must hold. */
#include "common/htmlesc.h"
#include "replicator/httpauth.h"
#include "replicator/httpd.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char user[HTTPAUTH_USER_MAX + 1], pass[HTTPAUTH_PASS_MAX + 1];
	struct httpd_req req;
	char *buf, *esc;
	int rc;

	if (size > 16384)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (httpauth_parse_basic(buf, user, pass) &&
	    (!user[0] || strchr(user, ':') || strlen(user) > HTTPAUTH_USER_MAX))
		abort();
	esc = htmlesc(buf);
	if (esc && (strchr(esc, '<') || strchr(esc, '>') || strchr(esc, '"')))
		abort();
	free(esc);
	rc = httpd_parse(buf, 64, &req);
	if (rc == 0 && (!req.path || req.path[0] != '/' || strchr(req.path, ' ')))
		abort();
	if (rc != 0 && rc != 400 && rc != 431 && rc != 501 && rc != 505)
		abort();
	free(buf);
	return 0;
}
