/* The local store's chain layout: skip ancestors (chain.h). */
#include "replicator/receiver/chain.h"

uint64_t
chain_skip_target(uint64_t id)
{
	return id & (id - 1);
}

unsigned
chain_depth_bound(uint64_t id)
{
	return (unsigned)__builtin_popcountll(id);
}

/* Why the first id <= the target, and not the target itself: after
 * removals (chain_adopt) or with gaps in the ids the target may be gone;
 * every point of the base's chain that is <= the target is one of the
 * target's own skip ancestors while the layout holds, so the bound stays. */
size_t
chain_pick(uint64_t id, const uint64_t *chain, size_t n)
{
	uint64_t t = chain_skip_target(id);

	for (size_t i = 0; i < n; i++)
		if (chain[i] <= t)
			return i;
	return n - 1;
}

void
chain_adopt(uint64_t victim_backing, const uint64_t *children, size_t n, uint64_t *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = victim_backing || i == 0 ? victim_backing : children[0];
}
