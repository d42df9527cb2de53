/* Disk mapping from a point's metadata to a VM's domain XML, for both the
 * file source (by source path) and the libvirt source (by target dev). */
#include <string.h>

#include "common/log.h"
#include "common/names.h"
#include "failover/domxml.h"
#include "failover/pointmeta.h"

bool
pointmeta_same_path(const char *a, const char *b)
{
	for (;;) {
		while (a[0] == '/' && (a[1] == '/' || (a[1] == '.' && a[2] == '/')))
			a += a[1] == '/' ? 1 : 2;
		while (b[0] == '/' && (b[1] == '/' || (b[1] == '.' && b[2] == '/')))
			b += b[1] == '/' ? 1 : 2;
		if (*a != *b)
			return false;
		if (!*a)
			return true;
		a++;
		b++;
	}
}

/* The replicated disk called name, if the point has it (names come from
 * the network: only valid names are ever returned). */
static const char *
disk_named(json_t *disks, const char *name)
{
	for (size_t i = 0; i < json_array_size(disks); i++) {
		const char *n = json_string_value(json_object_get(json_array_get(disks, i),
								  "name"));

		if (n && name && !strcmp(n, name) && name_valid(n, strlen(n)))
			return n;
	}
	return NULL;
}

static const char *
disk_for_path(json_t *disks, const char *path)
{
	for (size_t i = 0; i < json_array_size(disks); i++) {
		json_t *e = json_array_get(disks, i);
		const char *p = json_string_value(json_object_get(e, "path"));
		const char *n = json_string_value(json_object_get(e, "name"));

		if (p && n && name_valid(n, strlen(n)) && pointmeta_same_path(p, path))
			return n;
	}
	return NULL;
}

static int
map_libvirt(json_t *disks, json_t *v, const struct domxml *x, const char **names,
	    const char *ctx)
{
	const char *vname = json_string_value(json_object_get(v, "name"));
	json_t *map = json_object_get(v, "disks");

	if (vname && strcmp(vname, domxml_name(x)) != 0) {
		log_error("%s: vms[].name '%s' differs from the XML's <name> '%s'", ctx, vname,
			  domxml_name(x));
		return -1;
	}
	if (map && !json_is_array(map)) {
		log_error("%s: vm %s: \"disks\" is not a list", ctx, domxml_name(x));
		return -1;
	}
	for (size_t i = 0; i < domxml_ndisks(x); i++) {
		const char *tgt = domxml_disk_target(x, i);

		names[i] = NULL;
		for (size_t k = 0; k < json_array_size(map); k++) {
			json_t *e = json_array_get(map, k);
			const char *t = json_string_value(json_object_get(e, "target"));
			const char *dname = json_string_value(json_object_get(e, "disk"));

			if (!t || !*tgt || strcmp(t, tgt) != 0)
				continue;
			names[i] = disk_named(disks, dname);
			if (!names[i]) {
				log_error("%s: vm %s: disk %s maps to '%s', which is not one of "
					  "the point's disks", ctx, domxml_name(x), tgt,
					  dname ? dname : "?");
				return -1;
			}
			break;
		}
		/* two XML disks on one replica would boot one image twice */
		for (size_t k = 0; names[i] && k < i; k++) {
			if (names[k] && !strcmp(names[k], names[i])) {
				log_error("%s: vm %s: disks %s and %s both map to %s", ctx,
					  domxml_name(x), domxml_disk_target(x, k), tgt, names[i]);
				return -1;
			}
		}
	}
	return 0;
}

static int
map_by_path(json_t *disks, const struct domxml *x, const char **names, const char *ctx)
{
	for (size_t i = 0; i < domxml_ndisks(x); i++) {
		const char *src = domxml_disk_source(x, i);

		if (!src) {
			log_error("%s: vm %s: disk %s of type '%s' has no file or block source; "
				  "only those map to replicated disks of a file-source point",
				  ctx, domxml_name(x), domxml_disk_target(x, i),
				  domxml_disk_type(x, i));
			return -1;
		}
		names[i] = disk_for_path(disks, src);
		if (!names[i]) {
			log_error("%s: vm %s: disk %s (%s) is not one of the group's replicated "
				  "disks", ctx, domxml_name(x), domxml_disk_target(x, i), src);
			return -1;
		}
	}
	return 0;
}

int
pointmeta_map_disks(json_t *meta, size_t vm, const struct domxml *x, const char **names,
		    const char *ctx)
{
	json_t *disks = json_object_get(meta, "disks");
	json_t *v = json_array_get(json_object_get(meta, "vms"), vm);
	const char *src = json_string_value(json_object_get(meta, "source"));

	if (!json_is_array(disks) || !json_is_object(v)) {
		log_error("%s: metadata has no \"disks\" list or no vms[%zu]", ctx, vm);
		return -1;
	}
	if (src && !strcmp(src, "libvirt"))
		return map_libvirt(disks, v, x, names, ctx);
	return map_by_path(disks, x, names, ctx);
}
