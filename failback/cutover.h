/* The on-prem cutover of a failback (docs/failback-design.md, "Cutover"):
 * its durable state, <state_dir>/failback/<group>/cutover.json, and the
 * local steps, each idempotent and re-run after a crash. Plain data only. */
#ifndef NESTOR_FAILBACK_CUTOVER_H
#define NESTOR_FAILBACK_CUTOVER_H

#include <stdbool.h>
#include <stdint.h>

/* In the order a cutover goes through them; it never goes back. */
enum cutover_state {
	CUTOVER_NONE = 0,   /* no cutover.json: nothing asked yet */
	CUTOVER_REQUESTED,  /* the cloud VMs are being shut down, final point */
	CUTOVER_SYNCED,     /* the final reverse point is committed on-prem */
	CUTOVER_COMMITTING, /* the target chain goes into the on-prem disks */
	CUTOVER_COMMITTED,  /* the on-prem disks hold it; domains may start */
	CUTOVER_STARTED,    /* the sources say "committed at F" (taken with the
			     * on-prem domains paused, or off: --no-start, or
			     * none); the domains were resumed */
	CUTOVER_VERIFIED,   /* the on-prem VMs passed the drill checks */
	CUTOVER_RELEASED,   /* nothing left on-prem: the DR side's release next */
};

struct cutover {
	enum cutover_state state;
	uint64_t reverse_point; /* the target's final reverse point (from synced) */
	uint64_t forward_point; /* F, the receiver's point the disks equal (released) */
	bool domains_started;   /* the cutover started the on-prem domains (from
				 * started on): later steps never touch the
				 * sources again */
};

/* "none", "requested", ... (static). */
const char *cutover_state_name(enum cutover_state s);

/* <gdir>/cutover.json into *out; a missing file is CUTOVER_NONE. 0 / -1
 * (logged: unreadable, or a state or field that cannot be). */
int cutover_load(const char *gdir, struct cutover *out);

/* Record *next durably (temp, fsync, rename, fsync the directory) when
 * next->state is the current state (a re-run: the points must not
 * change) or the one right after it, with reverse_point set from synced
 * on and forward_point at released; domains_started only from started on,
 * and kept once set. Anything else, a step back above all,
 * is refused (-1, logged, nothing written). 0 / -1. */
int cutover_advance(const char *gdir, const struct cutover *next);

/* May the failback still be abandoned? Only up to synced: from committing
 * on the on-prem disks are being changed, the way is forward. */
int cutover_abortable(enum cutover_state s);

#endif
