/* What a source domain asks of the host and the drill's caps on it
 * (failover/domxml-size.h). The definition came from the network and a
 * drill boots it unattended: without a cap a hostile point could run a
 * guest as large as libvirt accepts on the DR host. The size is read the
 * way the allowlist copies it, so what is measured is what would boot. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/parse.h"
#include "common/xml-dl.h"
#include "failover/domxml-allow.h"
#include "failover/domxml-size.h"
#include "failover/domxml-walk.h"

#define KIB ((uint64_t)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t
sat_mul(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* libvirt's memory units (the allowlist's list of them). */
static const struct {
	const char *name;
	uint64_t mul;
} units[] = {
	{ "b", 1 }, { "bytes", 1 }, { "KB", 1000 }, { "k", KIB }, { "KiB", KIB },
	{ "MB", 1000000 }, { "M", MIB }, { "MiB", MIB }, { "GB", 1000000000 },
	{ "G", GIB }, { "GiB", GIB }, { "TB", 1000000000000ull }, { "T", GIB * 1024 },
	{ "TiB", GIB * 1024 },
};

/* A number the allowlist accepted as digits: too large to hold counts as
 * the largest there is. */
static uint64_t
as_num(const char *v)
{
	uint64_t n;

	return parse_u64(v, &n) < 0 ? UINT64_MAX : n;
}

/* Attribute name of el as a number if rule keeps it (else 0). */
static uint64_t
attr_num(xmlNodePtr el, const struct dx_rule *rule, const char *name)
{
	const struct dx_attr *spec = dx_attr(rule, name);
	xmlChar *v = spec ? sym_xmlGetNoNsProp(el, BAD_CAST name) : NULL;
	uint64_t n = 0;

	if (v && dx_value_ok(spec->val, spec->values, (const char *)v))
		n = as_num((const char *)v);
	xml_dl_free(v);
	return n;
}

/* The text of el as a number if rule keeps it (else 0; out of memory: the
 * largest, so that the guest is refused rather than underestimated). */
static uint64_t
text_num(xmlNodePtr el, const struct dx_rule *rule)
{
	xmlChar *t = dx_text(el);
	uint64_t n = 0;

	if (!t)
		return UINT64_MAX;
	if (dx_value_ok(rule->text, rule->text_values, (const char *)t))
		n = as_num((const char *)t);
	xml_dl_free(t);
	return n;
}

/* n in el's unit= (libvirt's default: KiB; a refused unit goes, so KiB). */
static uint64_t
in_bytes(uint64_t n, xmlNodePtr el, const struct dx_rule *rule)
{
	const struct dx_attr *spec = dx_attr(rule, "unit");
	xmlChar *u = spec ? sym_xmlGetNoNsProp(el, BAD_CAST "unit") : NULL;
	uint64_t mul = KIB;

	if (u && dx_value_ok(spec->val, spec->values, (const char *)u))
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (!strcmp(units[i].name, (const char *)u))
				mul = units[i].mul;
	xml_dl_free(u);
	return sat_mul(n, mul);
}

/* The next element child of parent from el (NULL: the first) that rule
 * keeps, with its rule in *r. */
static xmlNodePtr
next_kept(xmlNodePtr parent, xmlNodePtr el, const struct dx_rule *rule,
	  const struct dx_rule **r)
{
	for (el = el ? el->next : parent->children; el; el = el->next) {
		if (el->type != XML_ELEMENT_NODE || el->ns)
			continue;
		if ((*r = dx_child(rule, (const char *)el->name)) != NULL)
			return el;
	}
	return NULL;
}

#define FOR_KEPT(el, r, parent, rule) \
	for (xmlNodePtr el = next_kept(parent, NULL, rule, &r); el; \
	     el = next_kept(parent, el, rule, &r))

/* The NUMA cells' memory of <cpu> (the rule the rewrite builds it by). */
static uint64_t
numa_bytes(xmlNodePtr cpu)
{
	const struct dx_rule *r, *rc, *rn = dx_made_rule(DX_MADE_CPU);
	uint64_t sum = 0;

	FOR_KEPT(numa, r, cpu, rn) {
		if (strcmp((const char *)numa->name, "numa") != 0)
			continue;
		FOR_KEPT(cell, rc, numa, r)
			sum = sat_add(sum, in_bytes(attr_num(cell, rc, "memory"), cell, rc));
	}
	return sum;
}

/* Video RAM of <video> (KiB attributes of its <model>). */
static uint64_t
video_bytes(xmlNodePtr video, const struct dx_rule *rule)
{
	static const char *const attrs[] = { "vram", "ram", "vram64", "vgamem" };
	const struct dx_rule *r;
	uint64_t kib = 0;

	FOR_KEPT(m, r, video, rule)
		for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
			kib = sat_add(kib, attr_num(m, r, attrs[i]));
	return sat_mul(kib, KIB);
}

/* The devices the rewrite keeps: the source's serial ports and channels
 * are replaced by Nestor's, NICs of other types go. */
static void
read_devices(xmlNodePtr devices, const struct dx_rule *rule, struct domxml_size *s,
	     uint64_t *video)
{
	const struct dx_rule *r;

	FOR_KEPT(dev, r, devices, rule) {
		xmlChar *type;
		bool nic_ok;

		if (r->hook == DX_CHARDEV)
			continue;
		if (r->hook == DX_INTERFACE) {
			type = sym_xmlGetNoNsProp(dev, BAD_CAST "type");
			nic_ok = type && dx_nic_type_ok((const char *)type);
			xml_dl_free(type);
			if (!nic_ok)
				continue;
		}
		if (!strcmp((const char *)dev->name, "video"))
			*video = sat_add(*video, video_bytes(dev, r));
		s->devices++;
	}
}

static uint64_t
max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

void
domxml_size_read(struct _xmlNode *domain, struct domxml_size *s)
{
	const struct dx_rule *r;
	uint64_t mem = 0, video = 0;
	bool vcpu = false;

	*s = (struct domxml_size){ 0 };
	FOR_KEPT(el, r, domain, dx_root()) {
		const char *name = (const char *)el->name;

		if (!strcmp(name, "memory") || !strcmp(name, "currentMemory")) {
			mem = max_u64(mem, in_bytes(text_num(el, r), el, r));
		} else if (!strcmp(name, "vcpu")) {
			s->vcpus = max_u64(s->vcpus, max_u64(text_num(el, r),
							     attr_num(el, r, "current")));
			vcpu = true;
		} else if (!strcmp(name, "iothreads")) {
			s->iothreads = max_u64(s->iothreads, text_num(el, r));
		} else if (!strcmp(name, "cpu")) {
			mem = max_u64(mem, numa_bytes(el));
		} else if (!strcmp(name, "devices")) {
			read_devices(el, r, s, &video);
		}
	}
	if (!vcpu)
		s->vcpus = 1; /* libvirt's default */
	s->memory = sat_add(mem, video);
}

int
domxml_size_check(const char *vm, const struct domxml_size *s, uint64_t mem_before,
		  const struct domxml_caps *c, char *why, size_t len)
{
	char a[32], b[32], m[32];
	uint64_t total = sat_add(mem_before, s->memory);

	domxml_size_fmt(s->memory, a, sizeof(a));
	domxml_size_fmt(c->max_memory, m, sizeof(m));
	if (s->memory > c->max_memory)
		snprintf(why, len, "VM %s asks for %s of memory; drill_max_memory is %s", vm, a, m);
	else if (total > c->max_memory)
		snprintf(why, len, "VM %s asks for %s of memory, %s with the VMs before it; "
			 "drill_max_memory is %s (the drill's VMs together)", vm, a,
			 domxml_size_fmt(total, b, sizeof(b)), m);
	else if (s->vcpus > c->max_vcpus)
		snprintf(why, len, "VM %s asks for %" PRIu64 " vCPUs; drill_max_vcpus is %" PRIu64,
			 vm, s->vcpus, c->max_vcpus);
	else if (s->iothreads > c->max_vcpus)
		snprintf(why, len, "VM %s asks for %" PRIu64 " I/O threads; drill_max_vcpus (%"
			 PRIu64 ") bounds them too", vm, s->iothreads, c->max_vcpus);
	else if (s->devices > c->max_devices)
		snprintf(why, len, "VM %s has %" PRIu64 " devices; drill_max_devices is %" PRIu64,
			 vm, s->devices, c->max_devices);
	else
		return 0;
	return -1;
}

/* MemTotal of /proc/meminfo in bytes. 0 / -1 (logged). */
static int
mem_total(uint64_t *out)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	int ret = -1;

	if (!f) {
		log_error("cannot open /proc/meminfo: %m");
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strlen("MemTotal:"), *end;
		uint64_t kib;

		if (strncmp(line, "MemTotal:", strlen("MemTotal:")) != 0)
			continue;
		p += strspn(p, " \t");
		end = p + strspn(p, "0123456789");
		if (strcmp(end, " kB\n") != 0)
			break;
		*end = '\0';
		if (parse_u64(p, &kib) == 0 && kib > 0) {
			*out = sat_mul(kib, KIB);
			ret = 0;
		}
		break;
	}
	fclose(f);
	if (ret < 0)
		log_error("/proc/meminfo: no MemTotal in kB");
	return ret;
}

int
domxml_size_host_caps(uint64_t max_memory, uint64_t max_vcpus, uint64_t max_devices,
		      struct domxml_caps *out)
{
	long cpus;

	out->max_memory = max_memory;
	out->max_vcpus = max_vcpus;
	out->max_devices = max_devices;
	if (!max_memory) {
		if (mem_total(&out->max_memory) < 0)
			return -1;
		out->max_memory /= 2;
	}
	if (!max_vcpus) {
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		out->max_vcpus = cpus > 0 ? (uint64_t)cpus : 1;
	}
	return 0;
}

const char *
domxml_size_fmt(uint64_t bytes, char *buf, size_t len)
{
	if (bytes >= GIB && bytes % GIB == 0)
		snprintf(buf, len, "%" PRIu64 " GiB", bytes / GIB);
	else if (bytes >= GIB)
		snprintf(buf, len, "%.1f GiB", (double)bytes / GIB);
	else if (bytes >= MIB && bytes % MIB == 0)
		snprintf(buf, len, "%" PRIu64 " MiB", bytes / MIB);
	else if (bytes >= MIB)
		snprintf(buf, len, "%.1f MiB", (double)bytes / MIB);
	else
		snprintf(buf, len, "%" PRIu64 " bytes", bytes);
	return buf;
}
