/* STOPGAP reader of vms[].nics (failover/drnet-nics.h). */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/names.h"
#include "failover/drnet-nics.h"
#include "failover/drnet.h"

size_t
drnet_point_nics(const json_t *meta, size_t vm, struct point_nic *out, size_t max,
		 const char *ctx)
{
	const json_t *nics = json_object_get(json_array_get(json_object_get(meta, "vms"), vm),
					     "nics"), *e;
	size_t n = 0, i;

	for (i = 0; (e = json_array_get(nics, i)) != NULL; i++) {
		const char *mac = json_string_value(json_object_get(e, "mac"));
		const char *net = json_string_value(json_object_get(e, "network"));
		const json_t *addrs = json_object_get(e, "addresses"), *a;
		struct point_nic *p = &out[n];
		size_t j;

		if (n == max)
			break;
		if (!mac || !drnet_mac_valid(mac) || !net || !name_valid(net, strlen(net))) {
			log_warn("%s: vms[%zu].nics[%zu] has no valid mac and network: left out",
				 ctx, vm, i);
			continue;
		}
		memset(p, 0, sizeof(*p));
		snprintf(p->mac, sizeof(p->mac), "%s", mac);
		snprintf(p->network, sizeof(p->network), "%s", net);
		for (j = 0; (a = json_array_get(addrs, j)) != NULL; j++) {
			const char *s = json_string_value(a);

			if (p->naddr < 8 && s && strlen(s) < sizeof(p->addr[0]))
				snprintf(p->addr[p->naddr++], sizeof(p->addr[0]), "%s", s);
		}
		n++;
	}
	return n;
}
