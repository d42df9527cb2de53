/* Drill report: what was booted from which point, RPO at drill time, RTO
 * measured, checks; as JSON (saved atomically) and as text. */
#ifndef NESTOR_FAILOVER_REPORT_H
#define NESTOR_FAILOVER_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* A disk of a VM: its target in the domain and the point's disk it boots
 * (NULL: left out, not replicated). Both owned. */
struct report_disk {
	char *target;
	char *disk;
};

/* The console screenshot of a VM (failover/drill-shot.h). */
enum report_shot {
	REPORT_SHOT_NONE = 0,  /* not tried: the VM did not run */
	REPORT_SHOT_TAKEN,
	REPORT_SHOT_NO_DISPLAY, /* headless: no video device */
	REPORT_SHOT_FAILED,
};

/* Plain data; strings marked "owned" are freed by report_clear. */
struct report_vm {
	char *name;          /* owned: source VM name */
	char *domain;        /* owned: drill domain name */
	double started_s;    /* command start -> domain running; < 0: not started */
	double verified_s;   /* command start -> marker seen (RTO); < 0: not verified */
	bool marker_seen;
	bool check_ran;
	int check_rc;
	int tcp_ok;          /* --tcp-port: 1 answered, 0 not, -1 not checked */
	int agent_ok;        /* --guest-agent: same */
	int script_rc;       /* --script: exit status, -1 not run */
	char *address;       /* owned: guest address used by the checks, or NULL */
	char *check_output;  /* owned, may be NULL */
	char *console_log;   /* owned: path (kept after teardown) */
	char *console_tail;  /* owned: last console bytes when the VM failed */
	char *error;         /* owned: first failure, NULL if none */
	char **xml_warnings; /* owned: what the domain XML rewrite dropped */
	size_t nxml_warnings;
	struct report_disk *disks; /* owned array */
	size_t ndisks;
	enum report_shot shot;
	char *shot_note;     /* owned: why there is no screenshot, or NULL */
	void *shot_png;      /* owned: the screenshot as PNG, or NULL */
	size_t shot_len;
	unsigned shot_w, shot_h;
	double shot_s;       /* command start -> screenshot */
	bool pass;
};

struct report {
	char id[32];
	char group[65];
	uint64_t point;
	uint64_t point_time_ns;
	int point_consistency;   /* enum consistency (common/consistency.h) */
	uint64_t started_ns;     /* wall clock at command start */
	double rpo_s;            /* started - point time */
	double duration_s;
	const char *uri;         /* borrowed */
	const char *marker;      /* borrowed */
	const char *check_cmd;   /* borrowed, may be NULL */
	bool failover;           /* a failover, not a drill */
	unsigned tcp_port;       /* 0: not checked */
	bool guest_agent;
	const char *script;      /* borrowed, may be NULL */
	char network[64];
	char workdir[4096];
	bool kvm;
	const char *accel_source; /* static: "option", "cache", "probe", "no-kvm"
				   * (failover/drill-accel.h); NULL: no boot */
	double accel_fallback_s;  /* RTO spent on a failed KVM probe (0: none) */
	bool kept;               /* --keep: nothing torn down */
	bool teardown_ok;
	char *error;             /* owned: drill-level failure (before any VM) */
	bool scrub_forced;       /* --force booted a point that failed its scrub */
	char *scrub_warning;     /* owned: what its scrub found, or NULL */
	struct report_vm *vms;   /* owned array */
	size_t nvms;
	char *html_path;         /* owned: the saved HTML report, or NULL */
	bool pass;
};

/* Free the owned members and zero r. */
void report_clear(struct report *r);
/* Append a disk to v (disk NULL: left out). 0 / -1 (out of memory,
 * logged). */
int report_vm_add_disk(struct report_vm *v, const char *target, const char *disk);
/* The report's state of a screenshot: "taken", "no-display", "failed",
 * "none". */
const char *report_shot_name(enum report_shot s);
/* New JSON object (caller decrefs) or NULL. */
json_t *report_json(const struct report *r);
void report_print(const struct report *r, FILE *f);
/* The report as text or indented JSON on f; nothing when no VM or point was
 * reached (the failure was logged). */
void report_output(const struct report *r, bool json, FILE *f);
/* Write the JSON durably (tmp + fsync + rename). 0 / -1 (logged). */
int report_save(const struct report *r, const char *path);
/* Print a table of the saved reports in dir (drill-id order), each with
 * the paths of its JSON and HTML reports; as JSON, each report gets
 * "report_json" and "report_html" (null if there is none). 0 / -1. */
int report_list(const char *dir, bool json, FILE *f);
/* The HTML report's path beside the JSON report json_path: its ".json"
 * replaced by ".html". malloc'd, caller frees; NULL: out of memory. */
char *report_html_path(const char *json_path);

#endif
