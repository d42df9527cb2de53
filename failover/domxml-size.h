/* How big a guest a domain definition asks for (memory, vCPUs, I/O threads,
 * devices), read from what the allowlist keeps, and the caps an unattended
 * drill puts on it (issue 12, section 2). No pointer is kept or returned. */
#ifndef NESTOR_FAILOVER_DOMXML_SIZE_H
#define NESTOR_FAILOVER_DOMXML_SIZE_H

#include <stddef.h>
#include <stdint.h>

struct _xmlNode;

/* Saturated at UINT64_MAX: a value too large to hold is over any cap. */
struct domxml_size {
	uint64_t memory;    /* bytes: the largest of <memory>, <currentMemory> and
			     * the sum of the NUMA cells, plus video RAM */
	uint64_t vcpus;     /* <vcpu> (or its current='' if larger); 1 if none */
	uint64_t iothreads; /* <iothreads> */
	uint64_t devices;   /* elements under <devices> the allowlist keeps */
};

struct domxml_caps {
	uint64_t max_memory;  /* bytes, every VM of one drill together */
	uint64_t max_vcpus;   /* per VM; bounds its I/O threads too */
	uint64_t max_devices; /* per VM */
};

/* Read the size of the source <domain> root (as the allowlist would copy
 * it: a value or unit it refuses does not count, as it never reaches
 * libvirt). */
void domxml_size_read(struct _xmlNode *domain, struct domxml_size *s);

/* Does VM vm (s) fit under c, with mem_before bytes taken by the VMs of the
 * same run before it? 0 yes; -1 no, and why ("VM web1 asks for 512 GiB of
 * memory; drill_max_memory is 8 GiB") in why[len]. Pure. */
int domxml_size_check(const char *vm, const struct domxml_size *s, uint64_t mem_before,
		      const struct domxml_caps *c, char *why, size_t len);

/* The caps of a drill on this host: max_memory 0 = half of MemTotal,
 * max_vcpus 0 = the online CPUs (what the [receiver] keys left unset
 * mean). 0 / -1 (logged: /proc/meminfo unreadable). */
int domxml_size_host_caps(uint64_t max_memory, uint64_t max_vcpus, uint64_t max_devices,
			  struct domxml_caps *out);

/* "512 GiB", "1.5 GiB", "300 MiB", "4096 bytes" into buf[len]; buf. */
const char *domxml_size_fmt(uint64_t bytes, char *buf, size_t len);

#endif
