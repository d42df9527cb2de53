/* The receiver's [network NAME] sections (issue 15, docs/network.md):
 * their keys, and the checks across networks. Internal to
 * replicator/config-receiver.c; the types are in replicator/config.h. */
#ifndef NESTOR_REPLICATOR_CONFIG_NETWORK_H
#define NESTOR_REPLICATOR_CONFIG_NETWORK_H

#include <stddef.h>

#include "replicator/config-keys.h"

struct receiver_config;

/* Section loader for "[network NAME]" (struct section_def.load; ctx is the
 * struct receiver_config). */
int cfg_network_section(void *ctx, const struct ini_doc *doc, size_t hdr,
			const struct word *w, size_t *next);
/* Across the networks of c: no overlapping subnets, no source in two
 * networks, no two bridges of one name. 0 / -1 (logged). */
int cfg_networks_check(const struct ini_doc *doc, const struct receiver_config *c);
/* Free the networks of c (the strings they own and the array). */
void cfg_networks_free(struct receiver_config *c);

#endif
