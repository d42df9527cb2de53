/* Clocks and the one UTC time format reports and listings print. */
#ifndef NESTOR_COMMON_CLOCK_H
#define NESTOR_COMMON_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Wall clock (CLOCK_REALTIME) in ns since the epoch: what is recorded. */
uint64_t clock_now_ns(void);
/* CLOCK_MONOTONIC in ns and in seconds: what deadlines are measured on. */
uint64_t clock_mono_ns(void);
double clock_mono_s(void);
/* CPU time of this process, all its threads (CLOCK_PROCESS_CPUTIME_ID), ns. */
uint64_t clock_cpu_ns(void);
/* Sleep ms milliseconds (an interrupting signal cuts it short). */
void clock_nap_ms(long ms);

/* "2026-01-31T23:59:59Z" for a wall-clock ns, UTC; buf of at least
 * CLOCK_ISO_LEN bytes (shorter buffers get an empty string). */
#define CLOCK_ISO_LEN 21
void clock_iso8601(uint64_t ns, char *buf, size_t len);

#endif
