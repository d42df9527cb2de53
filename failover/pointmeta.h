/* What a recovery point's metadata (docs/metadata.md) says about its VMs:
 * which replicated disk each disk of a VM's domain XML boots from. */
#ifndef NESTOR_FAILOVER_POINTMETA_H
#define NESTOR_FAILOVER_POINTMETA_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct domxml;

/* Map every disk of x (VM number vm of meta's "vms") to a replicated disk
 * of meta's "disks": names[i] (borrowed from meta) for domxml disk i, or
 * NULL when the disk was not replicated and is to be left out.
 *  - "source": "libvirt": by <target dev> through vms[vm].disks
 *    [{target, disk}], whatever the XML's source type; unlisted disks are
 *    NULL; vms[vm].name, when present, must equal the XML's <name>.
 *  - otherwise (file source): by the file/block source path equal to a
 *    disk's "path" ("//" and "/./" ignored); a disk that maps to nothing,
 *    or a network/volume disk, is an error.
 * names has room for domxml_ndisks(x) entries. 0 / -1 (logged with ctx). */
int pointmeta_map_disks(json_t *meta, size_t vm, const struct domxml *x,
			const char **names, const char *ctx);

/* Path equality as the agent wrote it and as the XML has it, ignoring "//"
 * and "/./"; no filesystem access. */
bool pointmeta_same_path(const char *a, const char *b);

#endif
