/* A drill's or failover's report as one self-contained HTML file, for
 * people who look rather than read: per VM its screenshot (inlined as a
 * data: URI), serial console tail, checks, RPO and RTO, point and disks.
 * Nothing in it fetches anything; every string from the point or the
 * guest is escaped. */
#ifndef NESTOR_FAILOVER_REPORT_HTML_H
#define NESTOR_FAILOVER_REPORT_HTML_H

#include <stdio.h>

#include "failover/report.h"

/* Bytes of each VM's serial console the report shows (its end). */
#define REPORT_HTML_CONSOLE_TAIL 8192u

/* Write the page of r on f (the console tails are read from the VMs'
 * console logs). 0 / -1 (a write error; not logged). */
int report_html_write(const struct report *r, FILE *f);
/* Write it durably to path (tmp + fsync + rename). 0 / -1 (logged). */
int report_html_save(const struct report *r, const char *path);

#endif
