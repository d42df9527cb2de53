/* The sender's compression level chosen by measured throughput (zadapt.h).
 *
 * Why by throughput and not by where the sender waits: an output buffer
 * that stays full says the far end is the limit, but not whether that is
 * the link (more compression helps) or the receiver's CPU, or CPU both
 * ends share (more compression hurts). The plain bytes that leave per
 * second are what a point's time depends on, so that is what is compared:
 * a hill climb over a ladder of levels, each level's rate a running mean
 * of its windows, a neighbour tried again once its figure is stale. */
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
/* When a neighbour wins, in per cent of the current rung's figure: a
 * stronger rung (more CPU) must be clearly better, a weaker one need only
 * be about as good. Where the figures are mostly noise (many agents on
 * loaded cores, each moving the total little) the climb leans to the
 * cheaper rung instead of wandering. */
#define UP_PCT       110
#define DOWN_PCT     97

struct zadapt {
	int lv[MAX_RUNG];
	unsigned n, cur;
	double rate[MAX_RUNG];     /* plain bytes per ns; 0 = not measured */
	uint64_t seen[MAX_RUNG];   /* window count when last measured */
	uint64_t sent[MAX_RUNG];   /* plain bytes sent at each rung */
	uint64_t windows;
	uint64_t last_ns;          /* the last slot's send, 0 = none yet */
	uint64_t win_t0, win_bytes;
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
		double need = z->rate[c] * (nb[i] > c ? UP_PCT : DOWN_PCT) / 100;

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
zadapt_sent(struct zadapt *z, int level, uint64_t bytes, uint64_t now_ns)
{
	unsigned c = z->cur;
	uint64_t t0 = z->last_ns;
	double r;

	for (unsigned i = 0; i < z->n; i++)
		if (z->lv[i] == level)
			z->sent[i] += bytes;
	z->last_ns = now_ns;
	/* The first slot only starts the clock; one encoded before the last
	 * change is not this rung's figure. */
	if (t0 == 0 || level != z->lv[c])
		return false;
	if (z->win_slots == 0)
		z->win_t0 = t0;
	z->win_bytes += bytes;
	z->win_slots++;
	if (z->win_slots < WINDOW_SLOTS || now_ns - z->win_t0 < WINDOW_NS)
		return false;
	r = (double)z->win_bytes / (double)(now_ns - z->win_t0);
	z->windows++;
	z->rate[c] = z->rate[c] > 0 && !stale(z, c) ? (z->rate[c] + r) / 2 : r;
	z->seen[c] = z->windows;
	z->win_slots = 0;
	z->win_bytes = 0;
	z->cur = next_rung(z);
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
