/* Unit tests for failover/checkaddr: a guest's address on a drill's
 * isolated network from its dnsmasq leases and its namespace's neighbours,
 * by MAC; malformed lines and dead neighbour entries never match. */
#include <criterion/criterion.h>

#include "failover/checkaddr.h"

#define MAC "52:54:00:15:d1:05"

Test(checkaddr, lease_by_mac_any_case_last_wins)
{
	const char *l = "1765000000 52:54:00:00:00:01 10.1.0.20 other *\n"
			"1765000000 52:54:00:15:D1:05 10.1.0.5 web1 01:52:54:00:15:d1:05\n"
			"1765000100 52:54:00:15:d1:05 10.1.0.6 web1 *";
	char ip[16] = "";

	cr_assert(checkaddr_lease(l, MAC, ip));
	cr_assert_str_eq(ip, "10.1.0.6");
}

Test(checkaddr, lease_absent_or_malformed)
{
	char ip[16] = "untouched";

	cr_assert_not(checkaddr_lease("", MAC, ip));
	cr_assert_not(checkaddr_lease(NULL, MAC, ip));
	cr_assert_not(checkaddr_lease("1 52:54:00:00:00:01 10.1.0.20 x *\n", MAC, ip));
	cr_assert_not(checkaddr_lease("1 " MAC " 10.1.0.999 x *\n1 " MAC "\n", MAC, ip));
	cr_assert_not(checkaddr_lease("1 " MAC " fd00::5 x *\n", MAC, ip));
	cr_assert_str_eq(ip, "untouched");
}

Test(checkaddr, neigh_by_mac_live_entries_only)
{
	const char *n = "10.1.0.7 lladdr 52:54:00:00:00:07 REACHABLE\n"
			"10.1.0.8 INCOMPLETE\n"
			"10.1.0.3 lladdr " MAC " FAILED\n"
			"10.1.0.9 lladdr 52:54:00:15:D1:05 STALE\n";
	char ip[16] = "";

	cr_assert(checkaddr_neigh(n, MAC, ip));
	cr_assert_str_eq(ip, "10.1.0.9");
	cr_assert_not(checkaddr_neigh("10.1.0.3 lladdr " MAC " FAILED\n", MAC, ip));
	cr_assert_not(checkaddr_neigh("lladdr " MAC "\n", MAC, ip));
	cr_assert_not(checkaddr_neigh("10.1.0.9 lladdr\n", MAC, ip));
}
