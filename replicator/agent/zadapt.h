/* The zstd level of the extents a sender compresses, adapted to where the
 * pipeline's limit lies (issue 17, `compress_adapt`): on a slow link more
 * compression moves more data per second, on a fast one (or a loaded CPU)
 * less does. The sender reports each slot it sent; the level that moves
 * the most plain bytes per second is kept, its neighbours tried again from
 * time to time. Pure: the caller supplies the clock. */
#ifndef NESTOR_AGENT_ZADAPT_H
#define NESTOR_AGENT_ZADAPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct zadapt;

/* Levels from none (0) up to top, the configured level (-7..19, not 0);
 * starts at top. NULL: out of memory (logged). Freed by zadapt_free. */
struct zadapt *zadapt_new(int top);
void zadapt_free(struct zadapt *z);

/* The level for the next slots: a zstd level, or 0 = send them plain. */
int zadapt_level(const struct zadapt *z);

/* A slot encoded at level went out at now_ns (any monotonic clock) with
 * bytes of plain data. true when zadapt_level changed. */
bool zadapt_sent(struct zadapt *z, int level, uint64_t bytes, uint64_t now_ns);

/* "none 1200M, -7 300M, -1 64M": the plain bytes sent at each level, into
 * buf (always terminated). */
void zadapt_summary(const struct zadapt *z, char *buf, size_t len);

#endif
