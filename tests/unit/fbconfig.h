/* What the failback suites share: on-prem disks and an agent configuration
 * over them. Needs <criterion/criterion.h>. */
#ifndef NESTOR_TESTS_UNIT_FBCONFIG_H
#define NESTOR_TESTS_UNIT_FBCONFIG_H

#include <stdio.h>
#include <stdlib.h>

#include <stdint.h>
#include <string.h>

#include "replicator/config.h"
#include "replicator/receiver/store.h"

/* In dir: a.raw (raw, 1 MiB, 0x44 over its first half), b.qcow2 (qcow2,
 * 1 MiB, 0x55 over its first half) and state/; the agent configuration
 * with state_dir = dir/state and the sections in groups (caller frees). */
static inline struct agent_config *
fbconfig_load(const char *dir, const char *groups)
{
	char text[4096], cmd[1024];
	struct agent_config *c = NULL;

	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && qemu-img create -q -f raw a.raw 1M && "
		 "qemu-io -f raw -c 'write -q -P 0x44 0 512K' a.raw && "
		 "qemu-img create -q -f qcow2 b.qcow2 1M && "
		 "qemu-io -f qcow2 -c 'write -q -P 0x55 0 512K' b.qcow2 && mkdir state",
		 dir);
	cr_assert_eq(system(cmd), 0);
	snprintf(text, sizeof(text),
		 "[agent]\nreceiver = r:1\nca = a\ncert = b\nkey = c\nstate_dir = %s/state\n%s",
		 dir, groups);
	cr_assert_eq(agent_config_load_string("agent.conf", text, &c), 0);
	return c;
}

/* Point id on base id - 1 of group web (disks vda and vdb of 1 MiB):
 * len bytes (at most 64 KiB) of byte v at off of each disk whose bit is
 * set in mask (1 vda, 2 vdb), committed. */
static inline void
fbconfig_point(struct store *st, uint64_t id, uint8_t v, uint64_t off, size_t len,
	       unsigned mask)
{
	struct store_begin b = { .point_id = id, .base_id = id - 1, .ndisks = 2,
				 .time_ns = 1700000000000000000ull + id };
	static uint8_t buf[65536];
	struct store_point *pt;
	int err = -1;

	cr_assert_leq(len, sizeof(buf));
	snprintf(b.group, sizeof(b.group), "web");
	snprintf(b.disks[0].name, sizeof(b.disks[0].name), "vda");
	snprintf(b.disks[1].name, sizeof(b.disks[1].name), "vdb");
	b.disks[0].size = b.disks[1].size = 1024u * 1024u;
	pt = store_point_begin(st, &b, &err);
	cr_assert_not_null(pt, "begin: %d", err);
	memset(buf, v, len);
	for (uint16_t d = 0; d < 2; d++) {
		if (mask & (1u << d))
			cr_assert_eq(store_point_write(pt, d, off, buf, len, &err), 0);
		cr_assert_eq(store_point_disk_done(pt, d, &err), 0);
	}
	cr_assert_eq(store_point_commit(pt, "", 0, &err), 0);
	store_point_free(pt);
}

#endif
