/* The zstd level of the extents a sender compresses, adapted to where the
 * pipeline's limit lies (issue 17, `compress_adapt`): on a slow link more
 * compression moves more data per second, on a fast one (or a loaded CPU)
 * less does. The sender reports each slot it sent; the level that moves
 * the most plain bytes per second is kept, its neighbours tried again from
 * time to time. A cheaper level must also show that the agent's own CPU
 * was the limit: it wins only by a part of the CPU per plain byte it saves
 * (session 12: where the wire, the receiver or cores shared with other
 * agents are the limit, CPU saved here buys no throughput, and plain data
 * costs the receiver's loop more). Pure: the caller supplies the clocks. */
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
 * bytes of plain data, the sender's CPU time (its process's, any origin)
 * being cpu_ns then. true when zadapt_level changed. */
bool zadapt_sent(struct zadapt *z, int level, uint64_t bytes, uint64_t now_ns,
		 uint64_t cpu_ns);

/* "none 1200M, -7 300M, -1 64M": the plain bytes sent at each level, into
 * buf (always terminated). */
void zadapt_summary(const struct zadapt *z, char *buf, size_t len);

#endif
