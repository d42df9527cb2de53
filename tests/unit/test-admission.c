/* Tests for replicator/receiver/admission.c (connection counts and caps)
 * and common/ratelimit.c (one log line per interval). */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/ratelimit.h"
#include "replicator/receiver/admission.h"

static struct admission *
adm(unsigned total, unsigned per_addr, unsigned per_client)
{
	struct admission_limits lim = { total, per_addr, per_client };
	struct admission *a = admission_new(&lim);

	cr_assert_not_null(a);
	return a;
}

static struct admission_slot *
enter_ok(struct admission *a, const char *addr)
{
	enum admission_verdict why = ADMIT_NOMEM;
	struct admission_slot *s = admission_enter(a, addr, &why);

	cr_assert_not_null(s, "%s refused: %s", addr, admission_verdict_str(why));
	cr_assert_eq(why, ADMIT_OK);
	return s;
}

static void
enter_refused(struct admission *a, const char *addr, enum admission_verdict want)
{
	enum admission_verdict why = ADMIT_OK;

	cr_assert_null(admission_enter(a, addr, &why), "%s admitted", addr);
	cr_assert_eq(why, want, "%s: %s", addr, admission_verdict_str(why));
}

Test(admission, per_address_cap_counts_handshaking_connections)
{
	struct admission *a = adm(100, 3, 10);
	struct admission_slot *s[3];

	for (int i = 0; i < 3; i++)
		s[i] = enter_ok(a, "10.0.0.1");
	enter_refused(a, "10.0.0.1", ADMIT_ADDRESS);
	/* Another address is not affected. */
	admission_release(a, enter_ok(a, "10.0.0.2"));
	cr_assert_eq(admission_count_address(a, "10.0.0.1"), 3);
	admission_release(a, s[1]);
	cr_assert_eq(admission_count_address(a, "10.0.0.1"), 2);
	s[1] = enter_ok(a, "10.0.0.1");
	for (int i = 0; i < 3; i++)
		admission_release(a, s[i]);
	cr_assert_eq(admission_count(a), 0);
	cr_assert_eq(admission_count_address(a, "10.0.0.1"), 0);
	admission_free(a);
}

Test(admission, global_cap_whatever_the_address)
{
	struct admission *a = adm(5, 100, 100);
	struct admission_slot *s[5];
	char addr[32];

	for (int i = 0; i < 5; i++) {
		snprintf(addr, sizeof(addr), "192.0.2.%d", i);
		s[i] = enter_ok(a, addr);
	}
	cr_assert_eq(admission_count(a), 5);
	enter_refused(a, "198.51.100.1", ADMIT_FULL);
	enter_refused(a, "192.0.2.0", ADMIT_FULL);
	admission_release(a, s[2]);
	s[2] = enter_ok(a, "198.51.100.1");
	for (int i = 0; i < 5; i++)
		admission_release(a, s[i]);
	cr_assert_eq(admission_count(a), 0);
	admission_free(a);
}

Test(admission, per_client_cap_after_authentication)
{
	struct admission *a = adm(100, 100, 2);
	struct admission_slot *s[4];

	for (int i = 0; i < 4; i++)
		s[i] = enter_ok(a, "10.0.0.9");
	cr_assert_eq(admission_authenticate(a, s[0], "agent1"), ADMIT_OK);
	cr_assert_eq(admission_authenticate(a, s[0], "agent1"), ADMIT_OK, "idempotent");
	cr_assert_eq(admission_authenticate(a, s[1], "agent1"), ADMIT_OK);
	cr_assert_eq(admission_count_client(a, "agent1"), 2);
	cr_assert_eq(admission_authenticate(a, s[2], "agent1"), ADMIT_CLIENT);
	cr_assert_eq(admission_count_client(a, "agent1"), 2, "a refusal is not counted");
	cr_assert_eq(admission_authenticate(a, s[3], "agent2"), ADMIT_OK);
	/* A refused slot still holds its address share until released. */
	cr_assert_eq(admission_count_address(a, "10.0.0.9"), 4);
	admission_release(a, s[0]);
	cr_assert_eq(admission_count_client(a, "agent1"), 1);
	cr_assert_eq(admission_authenticate(a, s[2], "agent1"), ADMIT_OK);
	for (int i = 1; i < 4; i++)
		admission_release(a, s[i]);
	cr_assert_eq(admission_count(a), 0);
	cr_assert_eq(admission_count_client(a, "agent1"), 0);
	cr_assert_eq(admission_count_client(a, "agent2"), 0);
	admission_release(a, NULL);
	admission_free(a);
	admission_free(NULL);
}

Test(admission, thousands_of_keys_come_and_go)
{
	struct admission *a = adm(5000, 1, 1);
	static struct admission_slot *s[4000];
	char key[32];

	for (int i = 0; i < 4000; i++) {
		snprintf(key, sizeof(key), "10.%d.%d.1", i / 256, i % 256);
		s[i] = enter_ok(a, key);
		snprintf(key, sizeof(key), "cn-%d", i);
		cr_assert_eq(admission_authenticate(a, s[i], key), ADMIT_OK);
	}
	cr_assert_eq(admission_count(a), 4000);
	enter_refused(a, "10.0.0.1", ADMIT_ADDRESS);
	for (int i = 0; i < 4000; i += 2)
		admission_release(a, s[i]);
	cr_assert_eq(admission_count(a), 2000);
	cr_assert_eq(admission_count_address(a, "10.0.0.1"), 0);
	cr_assert_eq(admission_count_address(a, "10.0.1.1"), 1);
	for (int i = 1; i < 4000; i += 2)
		admission_release(a, s[i]);
	cr_assert_eq(admission_count(a), 0);
	admission_free(a);
}

static void
key_of(const char *ip, int family, char *out)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET)
		cr_assert_eq(inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr), 1);
	else
		cr_assert_eq(inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr), 1);
	cr_assert_eq(admission_addr_key((struct sockaddr *)&ss, out, ADMISSION_ADDR_KEY_MAX), 0);
}

Test(admission, address_keys)
{
	char k[ADMISSION_ADDR_KEY_MAX], k2[ADMISSION_ADDR_KEY_MAX];
	struct sockaddr_storage ss;

	key_of("192.0.2.7", AF_INET, k);
	cr_assert_str_eq(k, "192.0.2.7");
	key_of("::ffff:192.0.2.7", AF_INET6, k2);
	cr_assert_str_eq(k2, "192.0.2.7", "an IPv4-mapped address is its IPv4 address");
	key_of("2001:db8:1:2:aaaa:bbbb:cccc:dddd", AF_INET6, k);
	key_of("2001:db8:1:2::1", AF_INET6, k2);
	cr_assert_str_eq(k, "2001:db8:1:2::/64");
	cr_assert_str_eq(k, k2, "one /64 is one address");
	key_of("2001:db8:1:3::1", AF_INET6, k2);
	cr_assert_str_neq(k, k2);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	cr_assert_eq(admission_addr_key((struct sockaddr *)&ss, k, sizeof(k)), -1);
	key_of("192.0.2.7", AF_INET, k);
	cr_assert_eq(admission_addr_key((struct sockaddr *)&ss, k, 4), -1);
}

Test(admission, descriptor_budget)
{
	cr_assert_eq(admission_fd_cap(0), 0);
	cr_assert_eq(admission_fd_cap(64), 0);
	cr_assert_eq(admission_fd_cap(1024), 1024 - 64 - 256);
	cr_assert_eq(admission_fd_cap(128), 128 - 64 - 32);
	for (unsigned m = 1; m < 100000; m = m * 3 + 1) {
		uint64_t n = admission_fd_need(m);

		cr_assert_geq(admission_fd_cap(n), m, "need(%u) = %llu too small", m,
			      (unsigned long long)n);
		cr_assert_lt(admission_fd_cap(n - 1), m, "need(%u) = %llu not the least", m,
			     (unsigned long long)n);
	}
	/* The packaged unit's LimitNOFILE fits the default max_conns. */
	cr_assert_geq(admission_fd_cap(8192), 1024);
}

Test(ratelimit, one_line_per_interval_then_the_count)
{
	struct ratelimit rl = { .interval_ns = 10 };
	unsigned held = 99;

	cr_assert(ratelimit_pass(&rl, 100, &held));
	cr_assert_eq(held, 0);
	for (uint64_t t = 101; t < 110; t++)
		cr_assert_not(ratelimit_pass(&rl, t, &held));
	cr_assert(ratelimit_pass(&rl, 110, &held));
	cr_assert_eq(held, 9);
	cr_assert(ratelimit_pass(&rl, 500, &held));
	cr_assert_eq(held, 0);
}

Test(ratelimit, zero_interval_passes_everything)
{
	struct ratelimit rl = { 0 };
	unsigned held = 99;

	for (uint64_t t = 5; t < 10; t++) {
		cr_assert(ratelimit_pass(&rl, t, &held));
		cr_assert_eq(held, 0);
	}
}
