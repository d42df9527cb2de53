/* A planned failover's request for a group (issue 14, item 5):
 * <store>/<group>/planned.json, written by `nestor failover --planned`,
 * advanced by the receiver as the agent acknowledges, refuses or commits
 * its final point. Every change is made under <group>/planned.lock. */
#ifndef NESTOR_RECEIVER_PLANNED_H
#define NESTOR_RECEIVER_PLANNED_H

#include <stdbool.h>
#include <stdint.h>

enum planned_state {
	PLANNED_REQUESTED = 1, /* written by the command, no agent told yet */
	PLANNED_ACKNOWLEDGED,  /* the flag went to agent (shutting VMs down) */
	PLANNED_REFUSED,       /* the agent could not shut its VMs down: reason */
	PLANNED_FINAL,         /* the final point was committed: point */
	/* An agent acted on it (shut down, maybe sent point) but nothing
	 * will boot it: reason. Its agent is told (PROGRESS flag ABANDONED)
	 * until its next ordinary point begins. */
	PLANNED_ABANDONED,
};

/* What a PROGRESS answer tells the agent of the group's request. */
enum planned_answer {
	PLANNED_ANSWER_NONE,
	PLANNED_ANSWER_PLANNED,   /* shut down, send a final point */
	PLANNED_ANSWER_ABANDONED, /* no failover will boot your final point: resume */
};

#define PLANNED_ID_MAX     32
#define PLANNED_AGENT_MAX  255
#define PLANNED_REASON_MAX 1024

/* The file's content; plain data. */
struct planned {
	enum planned_state state;
	char id[PLANNED_ID_MAX + 1];
	uint64_t requested_ns, deadline_ns;
	char agent[PLANNED_AGENT_MAX + 1];  /* who acknowledged ("" before) */
	uint64_t acknowledged_ns;
	uint64_t point;                     /* PLANNED_FINAL: the final point; ABANDONED: 0 none */
	char reason[PLANNED_REASON_MAX + 1]; /* PLANNED_REFUSED, PLANNED_ABANDONED */
	uint64_t abandoned_ns;              /* PLANNED_ABANDONED: when */
};

const char *planned_state_name(enum planned_state s);

/* Is the agent to be told "shut down and send a final point" now? Only
 * while requested or acknowledged and before the deadline: a request left
 * behind by a killed command never shuts VMs down after its deadline. */
bool planned_flag_due(const struct planned *p, uint64_t now_ns);

/* Group's request into *p: 0 read; 1 none (not logged); -1 unreadable or
 * malformed (logged, naming the file). */
int planned_load(const char *store_dir, const char *group, struct planned *p);

/* A new request of group with the given deadline (id and times filled in
 * *p). Refused (-1, logged) while a live one exists (flag due, or final);
 * an expired or refused one is replaced. The group's directory must
 * exist. 0 / -1. */
int planned_request(const char *store_dir, const char *group, uint64_t timeout_ns,
		    struct planned *p);

/* The waiting command's lock of group (<group>/planned.run.lock), held
 * from before its request until its boot's result is recorded: while
 * nobody holds it, a final point has nobody to boot it. The fd to close
 * at the end, or -1 (logged: held by another command, or an error). */
int planned_run_lock(const char *store_dir, const char *group);

/* An agent acted on group's request (acknowledged, or final point
 * committed) but its point will not be booted: reason (the boot failed,
 * the operator cancelled). Under the lock: an acknowledged or final one
 * becomes ABANDONED; a requested or malformed one (no agent acted) is
 * removed; an abandoned one stays. *last: the request as it was (zeroed
 * when malformed). 0 done, 1 there was
 * none, -1 error (logged). */
int planned_abandon(const char *store_dir, const char *group, const char *reason,
		    struct planned *last);

/* The waiting command's deadline passed: a final point stays (it is
 * booted next: *last says FINAL); an acknowledged request becomes
 * abandoned (the agent may be shutting down: it is told); any other is
 * removed. 0, 1 there was none, -1 error (logged). */
int planned_expire(const char *store_dir, const char *group, struct planned *last);

/* Remove group's request durably (none is fine). 0 / -1 (logged). */
int planned_remove(const char *store_dir, const char *group);
/* Remove it and say, in *last, what it was at that moment (one lock: a
 * final point recorded just before is not missed). 0 removed (a malformed
 * one too: logged, *last zeroed), 1 there was none, -1 error (logged). */
int planned_take(const char *store_dir, const char *group, struct planned *last);

/* The receiver's side, called from the session; each is a stat when
 * there is no request and never fails the session (errors logged). */
/* A PROGRESS_QUERY of group by peer: what the answer tells it. PLANNED
 * marks the request acknowledged by peer. A final point whose command is
 * gone (no one holds the run lock) becomes ABANDONED here. */
enum planned_answer planned_on_query(const char *store_dir, const char *group,
				     const char *peer);
/* peer, told the flag for group, reported an error instead (text). */
void planned_on_error(const char *store_dir, const char *group, const char *peer,
		      const char *text);
/* peer committed point of group with the FINAL flag. Into an abandoned
 * request (its command gave up meanwhile) it is recorded as the point
 * nobody boots, so peer is told. */
void planned_on_final(const char *store_dir, const char *group, const char *peer,
		      uint64_t point);
/* peer began an ordinary point of group (not FINAL, not a repair): it
 * resumed, so an abandoned request has been heard and is removed. */
void planned_on_point(const char *store_dir, const char *group, const char *peer);

#endif
