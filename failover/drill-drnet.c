/* A failover run's side of the DR networks (failover/drill-drnet.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "failover/drill-drnet.h"
#include "failover/drill-run.h"
#include "failover/drnet-failover.h"
#include "failover/drnet.h"
#include "replicator/config.h"

static const struct receiver_network_cfg *
cfg_of_source(const struct drill_opts *o, const char *src)
{
	for (size_t i = 0; i < o->nnetworks; i++)
		for (size_t s = 0; s < o->networks[i].nsources; s++)
			if (!strcmp(o->networks[i].sources[s], src))
				return &o->networks[i];
	return NULL;
}

const char *
drill_drnet_map(const struct drill *d, const char *src)
{
	static char name[80];
	const struct receiver_network_cfg *n = d->failover ? cfg_of_source(d->o, src) : NULL;

	if (!n)
		return NULL;
	drnet_libvirt_name(n->name, name, sizeof(name));
	return name;
}

/* The [network] whose libvirt network is lvname, NULL if none. */
static const struct receiver_network_cfg *
cfg_of_libvirt(const struct drill_opts *o, const char *lvname)
{
	char name[80];

	for (size_t i = 0; lvname && i < o->nnetworks; i++) {
		drnet_libvirt_name(o->networks[i].name, name, sizeof(name));
		if (!strcmp(name, lvname))
			return &o->networks[i];
	}
	return NULL;
}

int
drill_drnet_up(struct drill *d)
{
	const struct receiver_network_cfg **nets = NULL;
	struct drnet_vm *vms = calloc(d->nvms ? d->nvms : 1, sizeof(*vms));
	size_t nn = 0;
	int ret = -1;

	if (!vms || !(nets = calloc(d->o->nnetworks + 1, sizeof(*nets)))) {
		log_error("out of memory");
		goto out;
	}
	for (size_t i = 0; i < d->nvms; i++) {
		vms[i] = (struct drnet_vm){ d->vms[i].name, d->meta, i };
		for (size_t k = 0; k < d->vms[i].nnics; k++) {
			const struct receiver_network_cfg *n = cfg_of_libvirt(d->o, d->vms[i].nets[k]);
			size_t j;

			for (j = 0; n && j < nn && nets[j] != n; j++)
				;
			if (n && j == nn)
				nets[nn++] = n;
		}
	}
	ret = nn == 0 ? 0 : drnet_failover_up(d->conn, d->root, d->o->group, d->r->id, nets, nn,
					       vms, d->nvms);
out:
	free(nets);
	free(vms);
	return ret;
}

int
drill_drnet_down(struct drill *d)
{
	return d->conn ? drnet_failover_release(d->conn, d->root, d->o->group) : 0;
}
