/* Unit tests for failover/drnet-wg.c, the parts without a running link:
 * the link's record and a peer's Endpoint (issue 15). */
#include "failover/drnet-wg.h"

#include "common/fileutil.h"
#include "replicator/config.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/capture.h"

static struct receiver_network_cfg
net_prod(void)
{
	struct receiver_network_cfg n = { .name = "prod", .wireguard = true, .wg_port = 51820,
					  .wg_addr = 0x0a630001, .wg_prefix = 24,
					  .wg_if = "nsw-prod" };
	return n;
}

Test(drnet_wg, record)
{
	struct receiver_network_cfg n = net_prod();
	bool err = true;
	json_t *r = drnet_wg_record(&n, &err);
	char *s;

	cr_assert_not(err);
	s = json_dumps(r, JSON_SORT_KEYS | JSON_COMPACT);
	cr_assert_str_eq(s, "{\"address\":\"10.99.0.1/24\",\"ifname\":\"nsw-prod\",\"port\":51820}");
	free(s);
	json_decref(r);
	n.wireguard = false;
	cr_assert_null(drnet_wg_record(&n, &err));
	cr_assert_not(err);
}

Test(drnet_wg, endpoint)
{
	struct receiver_network_cfg n = net_prod();
	char out[80], *log;

	cr_assert_eq(drnet_wg_endpoint(&n, "dr.example.com", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "dr.example.com:51820");
	cr_assert_eq(drnet_wg_endpoint(&n, "dr.example.com:443", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "dr.example.com:443");
	n.external = "203.0.113.7";
	cr_assert_eq(drnet_wg_endpoint(&n, NULL, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "203.0.113.7:51820");
	n.external = "lo";
	cr_assert_eq(drnet_wg_endpoint(&n, NULL, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "127.0.0.1:51820");
	n.external = "no-such-if0";
	cap_start();
	cr_assert_eq(drnet_wg_endpoint(&n, NULL, out, sizeof(out)), -1);
	log = cap_stop();
	cr_assert(strstr(log, "interface no-such-if0 has no IPv4 address") != NULL, "%s", log);
	free(log);
	cap_start();
	cr_assert_eq(drnet_wg_endpoint(&n, "dr.example.com", out, 10), -1);
	free(cap_stop());
}

/* Records are files: a malformed link never reaches a command line. */
Test(drnet_wg, malformed_record_refused)
{
	static const char *bad[] = {
		"{\"ifname\": \"nsw-prod; rm\", \"port\": 51820, \"address\": \"10.99.0.1/24\"}",
		"{\"ifname\": \"nsw-a-much-too-long\", \"port\": 51820, \"address\": \"10.99.0.1/24\"}",
		"{\"ifname\": \"nsw-prod\", \"port\": 0, \"address\": \"10.99.0.1/24\"}",
		"{\"ifname\": \"nsw-prod\", \"port\": 51820, \"address\": \"10.99.0.1\"}",
		"{\"port\": 51820, \"address\": \"10.99.0.1/24\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *wg = json_loads(bad[i], 0, NULL);
		char *log;

		cr_assert_not_null(wg);
		cap_start();
		cr_assert_eq(drnet_wg_down("test", wg), -1, "%s", bad[i]);
		cr_assert_eq(drnet_wg_up("test", "/nonexistent", "prod", wg, true), -1, "%s", bad[i]);
		log = cap_stop();
		cr_assert(strstr(log, "a WireGuard link of the record is malformed") != NULL, "%s", log);
		free(log);
		json_decref(wg);
	}
}
