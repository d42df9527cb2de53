/* The reverse source on a Ceph store (revsrc-priv.h): the failed-over
 * domains run on RBD clones of the point's snapshots; the libvirt source
 * snapshots the clones in its paused window, and the first reverse point
 * is restricted to W u X, W = the blocks of each clone's own extents
 * (parent excluded) that differ from the point. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "common/strfmt.h"
#include "failback/revsrc-priv.h"
#include "failover/domxml.h"
#include "failover/pointmeta.h"
#include "replicator/receiver/store.h"
#include "snapshot/libvirt.h"
#include "snapshot/ranges.h"
#include "snapshot/source.h"

/* The point disk (index in p) that VM vm's disk target boots, from p's
 * metadata as the failover mapped it (pointmeta_map_disks over the VM's
 * captured XML; the failover keeps the targets). -1 when none. */
static int
meta_disk(const struct revsrc_in *in, json_t *meta, size_t vm, const char *target)
{
	json_t *x = json_object_get(json_array_get(json_object_get(meta, "vms"), vm), "xml");
	const char *names[STORE_MAX_DISKS] = { 0 };
	char *ctx = strfmt("failback: group %s vm #%zu", in->group, vm);
	struct domxml *d = NULL;
	int ret = -1;

	if (!ctx || !json_is_string(x) ||
	    !(d = domxml_parse(json_string_value(x), json_string_length(x), ctx)) ||
	    domxml_ndisks(d) > STORE_MAX_DISKS || pointmeta_map_disks(meta, vm, d, names, ctx) < 0)
		goto out;
	for (size_t k = 0; k < domxml_ndisks(d); k++) {
		const char *t = domxml_disk_target(d, k);

		if (!t || !names[k] || strcmp(t, target) != 0)
			continue;
		for (size_t i = 0; i < in->p->ndisks; i++)
			if (strcmp(in->p->disks[i].name, names[k]) == 0)
				ret = (int)i;
	}
out:
	domxml_free(d);
	free(ctx);
	return ret;
}

int
failback_revsrc_rbd_map(const struct revsrc_in *in, const struct revsrc_vms *v,
			struct snapshot *snap, int *map)
{
	void *blob = NULL;
	size_t len = 0, idx;
	const char *target;
	json_t *meta = NULL;
	int ret = -1;

	if (!in->store || store_point_meta(in->store, in->group, in->p->id, &blob, &len) < 0)
		return -1;
	meta = json_loadb(blob, len, JSON_REJECT_DUPLICATES, NULL);
	free(blob);
	if (!json_is_object(meta)) {
		log_error("failback: group %s: point %llu's metadata is not a JSON object",
			  in->group, (unsigned long long)in->p->id);
		goto out;
	}
	for (size_t i = 0; i < snapshot_ndisks(snap); i++)
		map[i] = -1;
	for (size_t k = 0; k < v->n; k++) {
		for (size_t i = 0; snapshot_libvirt_vm_disk(snap, k, i, &target, &idx) == 0; i++) {
			map[idx] = meta_disk(in, meta, k, target);
			if (map[idx] < 0) {
				log_error("failback: group %s: domain %s disk %s boots no disk of "
					  "point %llu: not supported", in->group, v->domain[k],
					  target, (unsigned long long)in->p->id);
				goto out;
			}
		}
	}
	ret = 0;
out:
	json_decref(meta);
	return ret;
}

#define REVSRC_CMP_BLOCK (64u << 10) /* the unit W keeps or drops */

static int
own_add(void *arg, uint64_t off, uint64_t len)
{
	return range_set_add(arg, off, len);
}

/* The blocks of own (the clone's own extents) that read otherwise than p
 * into rs: a small write into an object p holds makes librbd copy the
 * whole object into the clone first, and the on-prem disk holds p's bytes
 * wherever X says nothing, so only the blocks that differ from p are W.
 * Reads both once, here on the DR side; the wire carries W. 0 / -1. */
static int
own_differing(const struct revsrc_in *in, struct snapshot *snap, size_t i, int pd,
	      struct range_set *own, struct range_set *rs)
{
	unsigned char *a = malloc(REVSRC_CMP_BLOCK), *b = malloc(REVSRC_CMP_BLOCK);
	struct store_reader *rd = NULL;
	uint64_t off, len, n;
	int err, ret = -1;

	if (!a || !b) {
		log_error("failback: group %s: out of memory", in->group);
		goto out;
	}
	if (store_reader_open(in->store, in->group, in->p->id, in->p->disks[pd].name, &rd,
			      &err) < 0) {
		log_error("failback: group %s: point %llu's disk %s cannot be read", in->group,
			  (unsigned long long)in->p->id, in->p->disks[pd].name);
		goto out;
	}
	range_set_normalise(own);
	for (size_t k = 0; k < range_set_count(own); k++) {
		if (range_set_range(own, k, &off, &len) < 0)
			goto out;
		for (uint64_t o = off; o < off + len; o += n) {
			n = REVSRC_CMP_BLOCK - o % REVSRC_CMP_BLOCK;
			n = n < off + len - o ? n : off + len - o;
			if (o + n > in->p->disks[pd].size) { /* grown past p: all of it */
				if (range_set_add(rs, o, off + len - o) < 0)
					goto out;
				break;
			}
			if (snapshot_read(snap, i, o, a, n) < 0 ||
			    store_reader_pread(in->store, rd, b, n, o) < 0 ||
			    (memcmp(a, b, n) != 0 && range_set_add(rs, o, n) < 0))
				goto out;
		}
	}
	ret = 0;
out:
	store_reader_close(in->store, rd);
	free(a);
	free(b);
	return ret;
}

struct range_set *
failback_revsrc_rbd_set(const struct revsrc_in *in, struct snapshot *snap, size_t i, int pd)
{
	size_t max = range_set_max_for(snapshot_disk_size(snap, i));
	struct range_set *rs = in->x[pd], *own = range_set_new(snapshot_disk_name(snap, i), max);

	in->x[pd] = NULL;
	if (!rs)
		rs = range_set_new(snapshot_disk_name(snap, i), max);
	if (!rs || !own || snapshot_libvirt_rbd_own_ranges(snap, i, own_add, own) < 0 ||
	    own_differing(in, snap, i, pd, own, rs) < 0) {
		range_set_free(rs);
		rs = NULL;
	} else {
		log_info("failback: group %s disk %s: the clone's own extents: %llu bytes in %zu "
			 "ranges", in->group, in->p->disks[pd].name,
			 (unsigned long long)range_set_bytes(own), range_set_count(own));
	}
	range_set_free(own);
	return rs;
}
