/* The sender's compression level chosen by measured throughput (zadapt.h).
 *
 * Why by throughput and not by where the sender waits: an output buffer
 * that stays full says the far end is the limit, but not whether that is
 * the link (more compression helps) or the receiver's CPU, or CPU both
 * ends share (more compression hurts). The plain bytes that leave per
 * second are what a point's time depends on, so that is what is compared:
 * a hill climb over a ladder of levels, each level's rate a running mean
 * of its windows, a neighbour tried again once its figure is stale.
 *
 * Which end is the limit the CPU figures tell: each rung's CPU time per
 * plain byte is measured with its rate. Where the agent's CPU is the limit,
 * a rung that costs half the CPU per byte moves up to twice the bytes; where
 * the wire or the receiver is (or cores shared with other agents: eight
 * seeding at once here, session 12), the CPU saved buys nothing and the
 * rates are about equal. So a cheaper rung must beat the stronger one by
 * a share (DOWN_SHARE) of what its CPU saving would give, and at least by
 * DOWN_MIN_PCT, to be taken or kept; otherwise the stronger rung, which
 * spares the wire and the receiver, is used. Noise leans to compression. */
#include "replicator/agent/zadapt.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"

/* The ladder's rungs below the configured level, weakest first; 0 = plain.
 * Few and far apart: zstd's fast levels cost about the same CPU on OS
 * binaries here (-7 within 10% of -1), and rungs that move the figure
 * less than the machine's load does only make the climb wander. */
static const int rungs[] = { 0, -1, 3, 9 };
#define NRUNGS   (sizeof(rungs) / sizeof(rungs[0]))
#define MAX_RUNG (NRUNGS + 1)

/* A window: at least this long and this many slots, so that a figure
 * spans more than the slots one batch of workers encodes at a time. */
#define WINDOW_NS    (300u * 1000 * 1000)
#define WINDOW_SLOTS 8
/* A neighbour's figure older than this many windows is measured again. */
#define STALE        16
/* A cheaper rung is used while it moves DOWN_MIN_PCT per cent of the
 * stronger one's bytes per second and more by DOWN_SHARE per cent of its
 * CPU gain (the ratio of the CPU per plain byte, minus one): plain at half
 * -1's CPU per byte must move 1.15x its bytes. */
#define DOWN_MIN_PCT 110
#define DOWN_SHARE   15
/* ... and at most DOWN_MAX_PCT: a rung that moves 1.3x the bytes makes the
 * transfer 1.3x faster, whatever it saves. Without the cap, zstd's real
 * cost on OS data (-1 at 4-7 CPU ns per plain byte against plain's ~1,
 * session 15) asked plain for 1.5-1.8x, and a 4 GiB seed on this machine
 * stayed at -1 in two runs of three: 6.4-8.2 s against 4.8 s plain. */
#define DOWN_MAX_PCT 130

struct zadapt {
	int lv[MAX_RUNG];
	unsigned n, cur;
	double rate[MAX_RUNG];     /* plain bytes per ns; 0 = not measured */
	double cpb[MAX_RUNG];      /* CPU ns per plain byte, with rate */
	uint64_t seen[MAX_RUNG];   /* window count when last measured */
	uint64_t sent[MAX_RUNG];   /* plain bytes sent at each rung */
	uint64_t windows;
	uint64_t last_ns;          /* the last slot's send, 0 = none yet */
	uint64_t last_cpu;         /* the CPU time then */
	uint64_t win_t0, win_cpu0, win_bytes;
	unsigned win_slots;
};

/* Order of strength: plain below every level, zstd's fast levels (-7 the
 * fastest) below 1. */
static int
strength(int level)
{
	return level == 0 ? -100 : level;
}

struct zadapt *
zadapt_new(int top)
{
	struct zadapt *z = calloc(1, sizeof(*z));

	if (!z) {
		log_error("agent: out of memory");
		return NULL;
	}
	for (size_t i = 0; i < NRUNGS; i++)
		if (strength(rungs[i]) < strength(top))
			z->lv[z->n++] = rungs[i];
	z->lv[z->n++] = top;
	z->cur = z->n - 1;
	return z;
}

void
zadapt_free(struct zadapt *z)
{
	free(z);
}

int
zadapt_level(const struct zadapt *z)
{
	return z->lv[z->cur];
}

static bool
stale(const struct zadapt *z, unsigned i)
{
	return z->rate[i] == 0 || z->windows - z->seen[i] > STALE;
}

/* Per cent by which the cheaper rung lo must beat the stronger rung hi:
 * DOWN_MIN_PCT, or more, a share of what its CPU saving would give where
 * the agent's CPU is the limit. */
static double
down_pct(const struct zadapt *z, unsigned hi, unsigned lo)
{
	double pct = DOWN_MIN_PCT;

	if (z->cpb[lo] > 0 && z->cpb[hi] > z->cpb[lo]) {
		double gain = 100 + DOWN_SHARE * (z->cpb[hi] / z->cpb[lo] - 1);

		if (gain > pct)
			pct = gain;
	}
	return pct < DOWN_MAX_PCT ? pct : DOWN_MAX_PCT;
}

/* The rate neighbour n must reach to take over from the current rung c:
 * a cheaper one must beat c by down_pct; a stronger one wins as soon as c
 * no longer beats it by as much (one rule both ways: no see-saw). */
static double
need_rate(const struct zadapt *z, unsigned c, unsigned n)
{
	if (n > c)
		return z->rate[c] * 100 / down_pct(z, n, c);
	return z->rate[c] * down_pct(z, c, n) / 100;
}

/* The rung to use next, from the figures at and around the current one. */
static unsigned
next_rung(const struct zadapt *z)
{
	unsigned c = z->cur, best = c;
	unsigned nb[2];
	size_t nn = 0;

	if (c > 0)
		nb[nn++] = c - 1;
	if (c + 1 < z->n)
		nb[nn++] = c + 1;
	/* A fresh neighbour that wins: go there. */
	for (size_t i = 0; i < nn; i++) {
		double need = need_rate(z, c, nb[i]);

		if (!stale(z, nb[i]) && z->rate[nb[i]] >= need &&
		    (best == c || z->rate[nb[i]] > z->rate[best]))
			best = nb[i];
	}
	if (best != c)
		return best;
	/* Else try a neighbour not measured lately, the cheaper one first. */
	for (size_t i = 0; i < nn; i++)
		if (stale(z, nb[i]))
			return nb[i];
	return c;
}

bool
zadapt_sent(struct zadapt *z, int level, uint64_t bytes, uint64_t now_ns, uint64_t cpu_ns)
{
	unsigned c = z->cur;
	uint64_t t0 = z->last_ns, cpu0 = z->last_cpu;
	double r, cpb;

	for (unsigned i = 0; i < z->n; i++)
		if (z->lv[i] == level)
			z->sent[i] += bytes;
	z->last_ns = now_ns;
	z->last_cpu = cpu_ns;
	/* The first slot only starts the clock; one encoded before the last
	 * change is not this rung's figure. */
	if (t0 == 0 || level != z->lv[c])
		return false;
	if (z->win_slots == 0) {
		z->win_t0 = t0;
		z->win_cpu0 = cpu0;
	}
	z->win_bytes += bytes;
	z->win_slots++;
	if (z->win_slots < WINDOW_SLOTS || now_ns - z->win_t0 < WINDOW_NS)
		return false;
	r = (double)z->win_bytes / (double)(now_ns - z->win_t0);
	cpb = cpu_ns > z->win_cpu0 ? (double)(cpu_ns - z->win_cpu0) / (double)z->win_bytes : 0;
	z->windows++;
	if (z->rate[c] > 0 && !stale(z, c)) {
		z->rate[c] = (z->rate[c] + r) / 2;
		z->cpb[c] = z->cpb[c] > 0 && cpb > 0 ? (z->cpb[c] + cpb) / 2 : cpb;
	} else {
		z->rate[c] = r;
		z->cpb[c] = cpb;
	}
	z->seen[c] = z->windows;
	z->win_slots = 0;
	z->win_bytes = 0;
	z->cur = next_rung(z);
	log_debug("zadapt: level %d: window %.0f MB/s, %.2f CPU ns/B; mean %.0f MB/s, "
		  "%.2f ns/B; next level %d", z->lv[c], r * 1e3, cpb, z->rate[c] * 1e3, z->cpb[c],
		  z->lv[z->cur]);
	return z->cur != c;
}

void
zadapt_summary(const struct zadapt *z, char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (unsigned i = 0; i < z->n && used < len; i++) {
		char name[8];
		int w;

		if (z->sent[i] == 0)
			continue;
		if (z->lv[i] == 0)
			snprintf(name, sizeof(name), "none");
		else
			snprintf(name, sizeof(name), "%d", z->lv[i]);
		w = snprintf(buf + used, len - used, "%s%s %lluM", used ? ", " : "", name,
			     (unsigned long long)(z->sent[i] >> 20));
		if (w < 0)
			break;
		used += (size_t)w;
	}
}
