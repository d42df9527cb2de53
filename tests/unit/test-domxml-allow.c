/* Unit tests for the domain XML allowlist (failover/domxml-allow.c,
 * domxml-walk.c through domxml_drill_xml): hostile definitions, one
 * fixture per class of what must not reach libvirt, rewritten and compared
 * byte for byte with tests/unit/domxml/NAME.out.xml, their warnings with
 * NAME.warn; entity tricks, DOCTYPEs, oversize and malformed input refused. */
#define _GNU_SOURCE
#include "common/fileutil.h"
#include "common/vmxml.h"
#include "failover/domxml-allow.h"
#include "failover/domxml.h"
#include "failover/report.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"

/* the fixtures, beside this file (the tests run from the top directory) */
#define FIXTURES "tests/unit/domxml/"
#define MAX_DISKS 16

struct fixture {
	const char *name;
	bool kvm, keep_uuid, guest_agent;
	const char *cpu_model;
	unsigned unreplicated;         /* bit i: disk i was not replicated */
	const char *const *overlays;   /* NULL: /s/NAME/<i>.qcow2 */
	const char *rbd_conf;
};

static char *
slurp(const char *name, const char *ext)
{
	char *path = NULL, *s;
	void *data = NULL;
	size_t len = 0;

	cr_assert_geq(asprintf(&path, FIXTURES "%s%s", name, ext), 0);
	cr_assert_eq(file_read_all(path, 1u << 20, &data, &len), 0, "read %s", path);
	s = strndup(data, len);
	free(data);
	free(path);
	return s;
}

/* The warnings of d, one per line. */
static char *
warnings(const struct domxml *d)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);

	cr_assert_not_null(f);
	for (size_t i = 0; i < domxml_nwarnings(d); i++)
		fprintf(f, "%s\n", domxml_warning(d, i));
	fclose(f);
	return s;
}

/* Nothing of the hostile fixtures' hosts survives, whatever the expected
 * files say: their paths, services, names and namespaces. */
static void
expect_nothing_hostile(const char *name, const char *xml)
{
	static const char *const bad[] = {
		"evil", "/etc/", "/tmp/", "/run/", "/root", "/boot/", "/srv/", "/usr/", "/var/",
		"/dev/sd", "/dev/tty", "/dev/input", "/dev/random", "/dev/tpm", "/dev/net",
		"/dev/vhost", "/dev/vg", "qemu:", "xmlns", "HOST-SERIAL", "0.0.0.0", "10.0.0",
		"1.2.3.4", "hostdev", "filesystem", "seclabel", "metadata", "emulator",
		"br-prod", "passthrough", "cpuset", "placement='auto'", "coredump",
	};
	const char *p = xml;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_null(strstr(xml, bad[i]), "%s: '%s' reached the output", name, bad[i]);
	while ((p = strstr(p, "/dev/")) != NULL) {
		cr_expect_eq(strncmp(p, "/dev/urandom<", 13), 0, "%s: a /dev path: %.20s", name, p);
		p++;
	}
}

/* Rewrite FIXTURES/NAME.xml as f says; the result is NAME.out.xml and the
 * warnings NAME.warn. On a mismatch the actual text is written to
 * build/NAME.actual.xml / .warn for a diff. */
static void
run_fixture(const struct fixture *f)
{
	char *in = slurp(f->name, ".xml"), *want = slurp(f->name, ".out.xml");
	char *want_warn = slurp(f->name, ".warn"), *ovl[MAX_DISKS] = { 0 }, *got, *got_warn;
	struct domxml *d = domxml_parse(in, strlen(in), f->name);
	struct domxml_drill o = {
		.name = "vm-drill-T", .network = "nestor-drill-T", .console_sock = "/s/vm.sock",
		.console_log = "/s/vm.log", .kvm = f->kvm, .keep_uuid = f->keep_uuid,
		.guest_agent = f->guest_agent, .cpu_model = f->cpu_model, .rbd_conf = f->rbd_conf,
	};

	cr_assert_not_null(d, "%s must parse", f->name);
	cr_assert_leq(domxml_ndisks(d), MAX_DISKS);
	for (size_t i = 0; i < domxml_ndisks(d); i++) {
		if (f->unreplicated & (1u << i))
			continue;
		if (f->overlays && f->overlays[i])
			ovl[i] = strdup(f->overlays[i]);
		else
			cr_assert_geq(asprintf(&ovl[i], "/s/%s/%zu.qcow2", f->name, i), 0);
	}
	o.overlays = (const char *const *)ovl;
	got = domxml_drill_xml(d, &o);
	cr_assert_not_null(got, "%s: rewrite failed", f->name);
	got_warn = warnings(d);
	if (strcmp(got, want) != 0 || strcmp(got_warn, want_warn) != 0) {
		char *p = NULL;

		cr_assert_geq(asprintf(&p, "build/%s.actual.xml", f->name), 0);
		(void)file_write_atomic(p, got, strlen(got), 0644);
		strcpy(p + strlen(p) - 3, "warn");
		(void)file_write_atomic(p, got_warn, strlen(got_warn), 0644);
		free(p);
	}
	cr_expect_str_eq(got, want, "%s: rewritten XML differs", f->name);
	cr_expect_str_eq(got_warn, want_warn, "%s: warnings differ", f->name);
	expect_nothing_hostile(f->name, got);
	for (size_t i = 0; i < MAX_DISKS; i++)
		free(ovl[i]);
	free(got);
	free(got_warn);
	domxml_free(d);
	free(in);
	free(want);
	free(want_warn);
}

#define FIXTURE(n, ...) \
	Test(domxml_allow, n) { run_fixture(&(struct fixture){ __VA_ARGS__ }); }

/* qemu:commandline, qemu:capabilities, any element or attribute of another
 * namespace (a namespaced <disk> is no disk), xml:lang, a root id */
FIXTURE(namespaces, .name = "namespaces", .kvm = true)
/* hostdev, filesystem, shmem, redirdev, smartcard, tpm (passthrough and
 * emulated), graphics, sound, audio, lease, panic; video acceleration */
FIXTURE(host_devices, .name = "host-devices")
/* chardevs of every host type; the source's pty serial/console go quietly */
FIXTURE(chardevs, .name = "chardevs", .guest_agent = true)
/* emulator, kernel/initrd/cmdline/dtb, a ROM loader path, ACPI tables,
 * host SMBIOS, a host bootloader, a boot device that is no device */
FIXTURE(boot_paths, .name = "boot-paths")
/* a secure-boot UEFI source: firmware chosen by type, fresh NVRAM; a
 * failover keeps the UUID */
FIXTURE(uefi, .name = "uefi", .keep_uuid = true, .kvm = true)
/* memoryBacking, seclabel, metadata hooks, sysinfo, pinning, tuning,
 * perf, keywrap, launchSecurity, idmap, hyperv passthrough */
FIXTURE(host_tuning, .name = "host-tuning", .kvm = true)
/* direct, hostdev, vhostuser, ethernet and user interfaces go; a bridge
 * NIC keeps MAC and model, loses every host binding; unknown NIC models */
FIXTURE(interfaces, .name = "interfaces")

static const char *const dk_overlays[] = { "rbd:nestor/dk1-clone", NULL, NULL, NULL };
/* mapped disks keep only their guest-visible parts; an RBD clone; an
 * unreplicated disk, cdrom/floppy media, a directory "disk" */
FIXTURE(disks, .name = "disks", .unreplicated = 1u << 2, .overlays = dk_overlays,
	.rbd_conf = "/s/ceph.conf")
/* values checked against their kind: paths, units, enums, text */
FIXTURE(values, .name = "values")
/* KVM: Nestor's CPU mode, topology and NUMA kept; an invalid UUID */
FIXTURE(kvm_cpu, .name = "kvm-cpu", .kvm = true, .keep_uuid = true, .cpu_model = "qemu64")

/* xml is refused, and the log says why with the words in why */
static void
expect_refused_why(const char *xml, size_t len, const char *what, const char *why)
{
	struct domxml *d;
	char *log;

	cap_start();
	d = domxml_parse(xml, len, what);
	log = cap_stop();
	cr_expect_null(d, "%s must be refused", what);
	cr_expect_not_null(strstr(log, why), "%s: the log says '%s', not '%s'", what, log, why);
	free(log);
	domxml_free(d);
}

Test(domxml_allow, entity_tricks_refused)
{
	static const char *const bad[] = {
		/* billion laughs */
		"<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY a 'aaaaaaaaaa'>"
		"<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;'>"
		"]><domain><name>x</name><description>&c;</description></domain>",
		/* XXE: a file and a URL */
		"<!DOCTYPE domain [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"
		"<domain><name>x</name><description>&e;</description></domain>",
		"<!DOCTYPE domain [<!ENTITY % p SYSTEM 'http://127.0.0.1:1/x.dtd'> %p;]>"
		"<domain><name>x</name></domain>",
		/* an external DTD, a bare DOCTYPE */
		"<!DOCTYPE domain SYSTEM 'http://127.0.0.1:1/domain.dtd'><domain><name>x</name></domain>",
		"<!DOCTYPE domain><domain><name>x</name></domain>",
		/* an entity never declared */
		"<domain><name>x</name><description>&e;</description></domain>",
		/* a root in a namespace is not libvirt's <domain> */
		"<domain xmlns='urn:evil'><name>x</name></domain>",
		/* malformed */
		"<domain><name>x</name><devices></domain>",
		"<domain><name>x</name></domain><domain/>",
		"\xff\xfe<domain/>",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused_why(bad[i], strlen(bad[i]), bad[i],
				   i < 5 ? "domain XML has a DOCTYPE (DTD or entity declarations): "
					   "refused"
					 : i == 5 ? "Entity 'e' not defined"
					 : i == 6 ? "the XML root is not <domain>"
					 : "domain XML does not parse");
}

Test(domxml_allow, size_and_depth_bounded)
{
	size_t big = VMXML_MAX_LEN + 1, depth = 100000, n = 0;
	char *s = malloc(big + 1), *deep = malloc(depth * 7 + 64);
	int k;

	cr_assert(s && deep);
	k = snprintf(s, big + 1, "<domain><name>x</name><description>");
	memset(s + k, 'a', big - (size_t)k);
	s[big] = '\0';
	expect_refused_why(s, big, "4 MiB + 1", "domain XML of 4194305 bytes (1..4194304 allowed)");
	expect_refused_why(s, 0, "empty", "domain XML of 0 bytes");
	/* nesting beyond libxml2's depth limit (no XML_PARSE_HUGE) */
	n += (size_t)sprintf(deep, "<domain><name>x</name>");
	for (size_t i = 0; i < depth; i++)
		n += (size_t)sprintf(deep + n, "<a>");
	expect_refused_why(deep, n, "deep", "Excessive depth");
	free(s);
	free(deep);
}

/* Past DX_MAX_WARNINGS lines the rest is counted; every line is printable
 * ASCII, whatever the names and values were. */
Test(domxml_allow, warnings_bounded_and_escaped)
{
	char *xml = NULL, *ovl = "/s/o.qcow2";
	size_t n = 0;
	FILE *f = open_memstream(&xml, &n);
	struct domxml *d;
	struct domxml_drill o = { .name = "w", .overlays = (const char *const *)&ovl,
				  .network = "n", .console_sock = "/s", .console_log = "/l" };
	char *out;

	fprintf(f, "<domain><name>w</name><memory unit='\xc3\xa9\\'>1</memory><devices>"
		   "<disk><source file='/x'/><target dev='vda'/></disk>"
		   "<\xc3\xa9t\xc3\xa9 a='1'/>");
	for (int i = 0; i < 200; i++)
		fprintf(f, "<hostdev n='%d'/>", i);
	fprintf(f, "</devices></domain>");
	fclose(f);
	d = domxml_parse(xml, strlen(xml), "many");
	cr_assert_not_null(d);
	out = domxml_drill_xml(d, &o);
	cr_assert_not_null(out);
	cr_assert_eq(domxml_nwarnings(d), 65, "64 listed + 1 count, got %zu",
		     domxml_nwarnings(d));
	cr_expect_str_eq(domxml_warning(d, 0),
			 "/domain/memory/@unit='\\xc3\\xa9\\x5c': dropped (value not allowed)");
	cr_expect_str_eq(domxml_warning(d, 1),
			 "/domain/devices/\\xc3\\xa9t\\xc3\\xa9: dropped (not in the allowlist)");
	cr_expect_str_eq(domxml_warning(d, 64), "... and 138 more dropped items");
	for (size_t i = 0; i < domxml_nwarnings(d); i++)
		for (const char *p = domxml_warning(d, i); *p; p++)
			cr_assert(*p >= 0x20 && *p < 0x7f, "warning %zu: byte 0x%02x", i,
				  (unsigned char)*p);
	cr_expect_null(strstr(out, "hostdev"));
	cr_expect_null(domxml_warning(d, 65));
	free(out);
	domxml_free(d);
	free(xml);
}

Test(domxml_allow, value_kinds)
{
	static const char *const e[] = { "a", "b", NULL };

	cr_expect(dx_value_ok(DX_TOKEN, NULL, "pc-q35-7.2"));
	cr_expect(!dx_value_ok(DX_TOKEN, NULL, "a/b"));
	cr_expect(!dx_value_ok(DX_TOKEN, NULL, "a b"));
	cr_expect(!dx_value_ok(DX_TOKEN, NULL, ""));
	cr_expect(!dx_value_ok(DX_TOKEN, NULL,
			       "0123456789012345678901234567890123456789012345678901234567890123X"));
	cr_expect(dx_value_ok(DX_UINT, NULL, "0"));
	cr_expect(!dx_value_ok(DX_UINT, NULL, "-1"));
	cr_expect(!dx_value_ok(DX_UINT, NULL, "1e3"));
	cr_expect(!dx_value_ok(DX_UINT, NULL, "123456789012345678901"));
	cr_expect(dx_value_ok(DX_ENUM, e, "b"));
	cr_expect(!dx_value_ok(DX_ENUM, e, "c"));
	cr_expect(dx_value_ok(DX_SERIAL, NULL, "WD-WX 12.3_4+5"));
	cr_expect(!dx_value_ok(DX_SERIAL, NULL, "a<b"));
	cr_expect(dx_value_ok(DX_UUID, NULL, "7c1f1d9e-1111-4222-8333-444455556666"));
	cr_expect(!dx_value_ok(DX_UUID, NULL, "7c1f1d9e-1111-4222-8333-44445555666"));
	cr_expect(!dx_value_ok(DX_UUID, NULL, "7c1f1d9e-1111-4222-8333-4444555566667"));
	cr_expect(dx_value_ok(DX_MAC, NULL, "52:54:00:aa:bb:01"));
	cr_expect(!dx_value_ok(DX_MAC, NULL, "52:54:00:aa:bb:01:02"));
	cr_expect(!dx_value_ok(DX_MAC, NULL, "52:54:00:aa:bb"));
	cr_expect(dx_value_ok(DX_URANDOM, NULL, "/dev/urandom"));
	cr_expect(!dx_value_ok(DX_URANDOM, NULL, "/dev/random"));
	cr_expect(!dx_value_ok(DX_TOKEN, NULL, NULL));
}

/* The warnings reach the report: JSON vms[].xml_warnings, text lines. */
Test(domxml_allow, report_lists_warnings)
{
	char *w[] = { "/domain/devices/hostdev[type=pci]: dropped (host device passthrough)",
		      "/domain/qemu:commandline: dropped (foreign namespace)" };
	struct report_vm v = { .name = "web1", .domain = "web1-drill-x", .pass = true,
			       .xml_warnings = w, .nxml_warnings = 2 };
	struct report r = { .id = "x", .group = "g", .point = 1, .vms = &v, .nvms = 1,
			    .pass = true };
	json_t *j = report_json(&r), *a;
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);

	cr_assert_not_null(j);
	a = json_object_get(json_array_get(json_object_get(j, "vms"), 0), "xml_warnings");
	cr_assert_eq(json_array_size(a), 2);
	cr_expect_str_eq(json_string_value(json_array_get(a, 0)), w[0]);
	cr_expect_str_eq(json_string_value(json_array_get(a, 1)), w[1]);
	json_decref(j);
	cr_assert_not_null(f);
	report_print(&r, f);
	fclose(f);
	cr_expect_not_null(strstr(text, "    domain XML: /domain/devices/hostdev[type=pci]: dropped"),
			   "%s", text);
	cr_expect_not_null(strstr(text, "    domain XML: /domain/qemu:commandline: dropped"));
	free(text);
}

/* <domain>'s children are single: a second one is dropped, so libvirt and
 * the allowlist never read different elements. */
Test(domxml_allow, second_top_level_element_dropped)
{
	static const char xml[] =
		"<domain><name>d</name><name>other</name><memory>1</memory><memory>2</memory>"
		"<devices><disk><source file='/x'/><target dev='vda'/></disk></devices>"
		"<devices><disk><source file='/y'/><target dev='vdb'/></disk></devices></domain>";
	struct domxml *d = domxml_parse(xml, strlen(xml), "dup");
	const char *ovl[] = { "/s/a.qcow2" };
	struct domxml_drill o = { .name = "d2", .overlays = ovl, .network = "n",
				  .console_sock = "/s", .console_log = "/l" };
	char *out;

	cr_assert_not_null(d);
	cr_assert_eq(domxml_ndisks(d), 1, "the disks of the first <devices> only");
	out = domxml_drill_xml(d, &o);
	cr_assert_not_null(out);
	cr_expect_null(strstr(out, "other"));
	cr_expect_null(strstr(out, ">2<"));
	cr_expect_null(strstr(out, "vdb"));
	cr_expect_not_null(strstr(out, "<name>d2</name>"));
	cr_expect_not_null(strstr(out, "<memory>1</memory>"));
	cr_assert_eq(domxml_nwarnings(d), 3);
	cr_expect_str_eq(domxml_warning(d, 0), "/domain/name: dropped (a second one)");
	cr_expect_str_eq(domxml_warning(d, 1), "/domain/memory: dropped (a second one)");
	cr_expect_str_eq(domxml_warning(d, 2), "/domain/devices: dropped (a second one)");
	free(out);
	domxml_free(d);
}
