/* Scrub: re-read the bytes each point wrote, through that point's own
 * view, and compare them with the checksums kept when they arrived
 * (sums.h); each point's verdict goes to scrub.json (scrubstate.h). Reads
 * at a bounded rate and without the group lock, beside replication; a
 * point that retention removes meanwhile is skipped, never reported bad. */
#ifndef NESTOR_RECEIVER_SCRUB_H
#define NESTOR_RECEIVER_SCRUB_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "replicator/receiver/scrubstate.h"
#include "replicator/receiver/store.h"

struct scrub_opts {
	uint64_t point;              /* 0 = every point of the group */
	uint64_t rate;               /* bytes/s read at most; 0 = no bound */
	volatile sig_atomic_t *stop; /* nonzero: stop before the next read (NULL ok) */
};

/* One point's outcome, handed to the caller as soon as it is known. */
struct scrub_report {
	uint64_t point;
	bool removed;   /* removed by retention meanwhile: skipped, nothing recorded */
	bool failed;    /* could not be read or its checksums are unreadable (logged) */
	size_t ndisks_nosums; /* disks without checksums (point older than scrub) */
	const struct scrub_entry *entry; /* verdict, bytes, bad ranges; borrowed */
};
typedef void (*scrub_report_fn)(void *arg, const char *group, const struct scrub_report *r);

/* Scrub o->point (or every point, oldest first) of group in st; fn (may be
 * NULL) gets each point's outcome. 0 every point scrubbed is clean (or
 * has no checksums, or was removed meanwhile); 1 mismatches found; -1 an
 * error (a point not committed, unreadable data or checksums, scrub.json
 * not written: logged), after scrubbing what could be. */
int scrub_group(struct store *st, const char *group, const struct scrub_opts *o,
		scrub_report_fn fn, void *arg);

#endif
