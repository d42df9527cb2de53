/* The accelerator verdict remembered per host: where /dev/kvm exists but
 * cannot run a guest, one failed KVM probe is recorded so that later drills
 * and failovers start under TCG at once. Plain data and one small file. */
#ifndef NESTOR_FAILOVER_ACCEL_H
#define NESTOR_FAILOVER_ACCEL_H

#include <stdint.h>

/* Under the store root; the leading dot keeps it out of the group names. */
#define ACCEL_VERDICT_FILE ".accel-verdict.json"
/* An older verdict is probed again: the host under a nested guest can
 * change without a new kernel or QEMU (a cloud instance moved). */
#define ACCEL_VERDICT_MAX_AGE_S (30u * 86400u)

/* What a verdict holds for: a new kernel or QEMU may change it. */
struct accel_key {
	char host[65];   /* uname nodename */
	char kernel[65]; /* uname release */
	char qemu[32];   /* the hypervisor version libvirt reports, "7.2.22" */
};

enum accel_verdict { ACCEL_NONE = 0, ACCEL_KVM, ACCEL_TCG };

/* A verdict read back: what the probe found and when (wall clock). */
struct accel_cached {
	enum accel_verdict verdict;
	uint64_t probed_ns;
};

/* This host's key, for QEMU version qemu_version (libvirt's encoding,
 * major * 1000000 + minor * 1000 + micro). 0 / -1 (logged). */
int accel_key_host(struct accel_key *k, unsigned long qemu_version);

/* "kvm" / "tcg" / "none". */
const char *accel_verdict_name(enum accel_verdict v);

/* The verdict in path for key k at wall clock now_ns. 0: found and fresh,
 * *c filled. 1: none to use (*c cleared), *why says which for the log line:
 * no file, another host/kernel/QEMU, older than ACCEL_VERDICT_MAX_AGE_S or
 * from the future, unreadable or malformed (the last two also logged as a
 * warning naming the file). Never -1: every failure means "probe again". */
int accel_verdict_load(const char *path, const struct accel_key *k, uint64_t now_ns,
		       struct accel_cached *c, const char **why);

/* Replace path durably with verdict v (ACCEL_KVM or ACCEL_TCG) for k,
 * probed at now_ns. 0 / -1 (logged). */
int accel_verdict_save(const char *path, const struct accel_key *k, enum accel_verdict v,
		       uint64_t now_ns);

#endif
