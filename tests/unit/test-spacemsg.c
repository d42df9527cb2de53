/* Unit tests for replicator/receiver/spacemsg: how much more a point needs,
 * and no message for errors other than ENOSPC. */
#include "replicator/receiver/spacemsg.h"

#include <criterion/criterion.h>
#include <errno.h>

#define MiB (1024ull * 1024)

Test(spacemsg, needed_mib)
{
	const uint64_t size[3] = { 64 * MiB, 10 * MiB + 1, 8 * MiB };
	uint64_t durable[3] = { 0, 0, 0 };
	bool done[3] = { false, false, false };

	cr_assert_eq(spacemsg_needed_mib(size, durable, done, 3), 64 + 11 + 8, "rounded up per disk");
	durable[0] = 16 * MiB;
	cr_assert_eq(spacemsg_needed_mib(size, durable, done, 3), 48 + 11 + 8);
	done[2] = true;
	cr_assert_eq(spacemsg_needed_mib(size, durable, done, 3), 48 + 11, "a done disk needs nothing");
	durable[1] = 20 * MiB;
	cr_assert_eq(spacemsg_needed_mib(size, durable, done, 3), 48,
		     "durable past the size (a resized disk) counts as 0, not a wrap");
	cr_assert_eq(spacemsg_needed_mib(size, durable, done, 0), 0);
}

Test(spacemsg, only_enospc)
{
	const uint64_t size[1] = { MiB };
	char buf[256] = "x";

	/* cfg and store are not touched for other errors. */
	cr_assert_str_empty(spacemsg_full(NULL, NULL, "g", EIO, size, 1, buf, sizeof(buf)));
	cr_assert_str_empty(spacemsg_full(NULL, NULL, "g", 0, size, 1, buf, sizeof(buf)));
}
