/* The record of a long-lived child process: which process it is (boot id,
 * pid and start time, so a recycled pid never matches) and which process
 * started it, so that a later start ends children whose parent died and
 * nothing else. The format and the verdict are pure; the /proc readers
 * only read. */
#ifndef NESTOR_COMMON_CHILDREC_H
#define NESTOR_COMMON_CHILDREC_H

#include <stddef.h>
#include <stdint.h>

#define CHILDREC_BOOT_ID_MAX 36 /* a UUID: 8-4-4-4-12 */
#define CHILDREC_TEXT_MAX 192

struct childrec {
	char boot_id[CHILDREC_BOOT_ID_MAX + 1];
	int64_t pid, ppid;
	uint64_t start, pstart; /* /proc/PID/stat field 22: ticks after boot */
};

/* One line, "nestor-child 1 boot=... pid=... start=... ppid=... pstart=...\n",
 * into buf (at least CHILDREC_TEXT_MAX). 0 / -1 (does not fit). */
int childrec_format(const struct childrec *r, char *buf, size_t len);
/* Exactly that line (the newline optional); anything else is -1. */
int childrec_parse(const char *text, struct childrec *r);

/* The start time (field 22) from the text of /proc/PID/stat, whose second
 * field (the command name) may hold spaces and parentheses. 0 / -1. */
int childrec_stat_start(const char *stat, uint64_t *start);
/* Whether pid runs now and since when: 1 (start set), 0 gone or a zombie,
 * -1 unreadable. */
int childrec_proc_start(int64_t pid, uint64_t *start);
/* This boot's id (/proc/sys/kernel/random/boot_id). 0 / -1. */
int childrec_boot_id(char boot_id[CHILDREC_BOOT_ID_MAX + 1]);

enum childrec_verdict {
	CHILDREC_STALE,  /* the child is gone (or its pid reused): drop the record */
	CHILDREC_KEEP,   /* its parent still runs: not ours to touch */
	CHILDREC_ORPHAN, /* the very child runs and its parent is gone: end it */
};
/* The verdict on r given what runs now: running = childrec_proc_start's
 * answer for r->pid (start then set) and for r->ppid. */
enum childrec_verdict childrec_judge(const struct childrec *r, const char *boot_id,
				     int child_running, uint64_t child_start,
				     int parent_running, uint64_t parent_start);

#endif
