/* Unit tests for failover/domxml.c (domain XML rewriting for drills and
 * failovers), failover/pointmeta.c (point metadata -> XML disk mapping, file
 * and libvirt sources) and the network map of failover/drill.c. */
#define _GNU_SOURCE
#include "failover/domxml.h"
#include "failover/drill.h"
#include "failover/pointmeta.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdlib.h>
#include <string.h>

/* A source definition as libvirt dumps it on an on-prem host. */
static const char src_xml[] =
	"<domain type='kvm'>\n"
	"  <name>web1</name>\n"
	"  <uuid>7c1f1d9e-1111-4222-8333-444455556666</uuid>\n"
	"  <memory unit='MiB'>256</memory>\n"
	"  <vcpu>2</vcpu>\n"
	"  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n"
	"  <cpu mode='custom' match='exact'><model>Skylake-Server</model>"
	"<vendor>Intel</vendor><feature policy='require' name='pcid'/>"
	"<topology sockets='1' cores='2' threads='1'/></cpu>\n"
	"  <seclabel type='dynamic' model='selinux'/>\n"
	"  <devices>\n"
	"    <emulator>/usr/libexec/qemu-kvm</emulator>\n"
	"    <disk type='file' device='disk'>\n"
	"      <driver name='qemu' type='raw' cache='none'/>\n"
	"      <source file='/var/lib//images/./web1-os.img'/>\n"
	"      <backingStore/>\n"
	"      <target dev='vda' bus='virtio'/>\n"
	"      <boot order='1'/>\n"
	"    </disk>\n"
	"    <disk type='block' device='disk'>\n"
	"      <driver name='qemu' type='raw'/>\n"
	"      <source dev='/dev/vg0/web1-data'/>\n"
	"      <target dev='vdb' bus='virtio'/>\n"
	"      <serial>nestordata</serial>\n"
	"    </disk>\n"
	"    <disk type='file' device='cdrom'>\n"
	"      <source file='/isos/install.iso'/>\n"
	"      <target dev='sda' bus='sata'/>\n"
	"      <readonly/>\n"
	"    </disk>\n"
	"    <interface type='bridge'>\n"
	"      <mac address='52:54:00:aa:bb:01'/>\n"
	"      <source bridge='br-prod'/>\n"
	"      <model type='virtio'/>\n"
	"      <target dev='vnet3'/>\n"
	"    </interface>\n"
	"    <interface type='network'>\n"
	"      <mac address='52:54:00:aa:bb:02'/>\n"
	"      <source network='backend'/>\n"
	"      <model type='e1000'/>\n"
	"    </interface>\n"
	"    <serial type='pty'><target port='0'/></serial>\n"
	"    <console type='pty'><target type='serial' port='0'/></console>\n"
	"    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>\n"
	"    <graphics type='vnc' port='-1'/>\n"
	"  </devices>\n"
	"</domain>\n";

/* A live guest of the libvirt source: an RBD disk, an iSCSI LUN, and a
 * read-only disk that was not replicated. */
static const char live_xml[] =
	"<domain type='kvm'>\n"
	"  <name>db</name>\n"
	"  <memory unit='MiB'>256</memory>\n"
	"  <os><type arch='x86_64'>hvm</type></os>\n"
	"  <devices>\n"
	"    <disk type='network' device='disk'>\n"
	"      <driver name='qemu' type='raw'/>\n"
	"      <auth username='admin'><secret type='ceph' usage='client.admin'/></auth>\n"
	"      <source protocol='rbd' name='pool/db-os'><host name='10.0.0.5' port='6789'/></source>\n"
	"      <target dev='vda' bus='virtio'/>\n"
	"      <boot order='1'/>\n"
	"    </disk>\n"
	"    <disk type='block' device='lun' sgio='unfiltered'>\n"
	"      <driver name='qemu' type='raw'/>\n"
	"      <source dev='/dev/disk/by-path/ip-10.0.0.9:3260-iscsi-lun-1'/>\n"
	"      <target dev='sdb' bus='scsi'/>\n"
	"    </disk>\n"
	"    <disk type='file' device='disk'>\n"
	"      <source file='/srv/ref.img'/>\n"
	"      <target dev='vdc' bus='virtio'/>\n"
	"      <readonly/>\n"
	"    </disk>\n"
	"  </devices>\n"
	"</domain>\n";

static struct domxml *
parse(const char *xml)
{
	struct domxml *d = domxml_parse(xml, strlen(xml), "test");

	cr_assert_not_null(d, "the XML must parse");
	return d;
}

/* XPath string(expr) or count(expr) on a rewritten document. */
static char *
xp(const char *xml, const char *expr)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "out.xml", NULL, XML_PARSE_NONET);
	xmlXPathContextPtr ctx;
	xmlXPathObjectPtr o;
	char *s;

	cr_assert_not_null(doc, "the rewritten XML must parse");
	ctx = xmlXPathNewContext(doc);
	o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	cr_assert_not_null(o, "xpath %s", expr);
	if (o->type == XPATH_NUMBER) {
		if (asprintf(&s, "%g", o->floatval) < 0)
			s = NULL;
	} else {
		xmlChar *v = xmlXPathCastToString(o);
		s = strdup((const char *)v);
		xmlFree(v);
	}
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	cr_assert_not_null(s);
	return s;
}

static void
expect(const char *xml, const char *expr, const char *want)
{
	char *got = xp(xml, expr);

	cr_expect_str_eq(got, want, "%s: got '%s', want '%s'", expr, got, want);
	free(got);
}

/* One XPath expectation on a rewritten document. */
struct want {
	const char *expr, *value;
};

/* Rewrites d with o and checks every expectation of w[0..n) on the result. */
static void
rewrite_check(struct domxml *d, const struct domxml_drill *o, const struct want *w, size_t n)
{
	char *x = domxml_drill_xml(d, o);

	cr_assert_not_null(x);
	for (size_t i = 0; i < n; i++)
		expect(x, w[i].expr, w[i].value);
	free(x);
}

#define REWRITE_CHECK(d, o, w) rewrite_check((d), (o), (w), sizeof(w) / sizeof((w)[0]))

/* The same on a fresh parse of src_xml. */
static void
src_rewrite_check(const struct domxml_drill *o, const struct want *w, size_t n)
{
	struct domxml *d = parse(src_xml);

	rewrite_check(d, o, w, n);
	domxml_free(d);
}

#define SRC_REWRITE_CHECK(o, w) src_rewrite_check((o), (w), sizeof(w) / sizeof((w)[0]))

static const char *const two_overlays[] = { "/s/drills/x/web1.os.qcow2",
					    "/s/drills/x/web1.data.qcow2" };

/* The drill of src_xml the rewrite tests start from. */
static const struct domxml_drill drill_opts = {
	.name = "web1-drill-x", .overlays = two_overlays, .network = "nestor-drill-x",
	.console_sock = "/s/drills/x/web1.sock", .console_log = "/s/drills/x/web1.log",
};

Test(domxml, parse_collects_disks_and_nics)
{
	struct domxml *d = parse(src_xml);

	cr_assert_str_eq(domxml_name(d), "web1");
	cr_assert_eq(domxml_ndisks(d), 2, "cdrom is not a replicated disk");
	cr_expect_str_eq(domxml_disk_type(d, 0), "file");
	cr_expect_str_eq(domxml_disk_source(d, 0), "/var/lib//images/./web1-os.img");
	cr_expect_str_eq(domxml_disk_target(d, 0), "vda");
	cr_expect_str_eq(domxml_disk_type(d, 1), "block");
	cr_expect_str_eq(domxml_disk_source(d, 1), "/dev/vg0/web1-data");
	cr_expect_str_eq(domxml_disk_target(d, 1), "vdb");
	cr_assert_eq(domxml_nnics(d), 2);
	cr_expect_str_eq(domxml_nic_source(d, 0), "br-prod");
	cr_expect_str_eq(domxml_nic_mac(d, 0), "52:54:00:aa:bb:01");
	cr_expect_str_eq(domxml_nic_source(d, 1), "backend");
	domxml_free(d);
}

Test(domxml, drill_rewrite_tcg)
{
	struct domxml_drill o = drill_opts;

	o.kvm = false;
	const struct want want[] = {
		{ "string(/domain/@type)", "qemu" },
		{ "string(/domain/name)", "web1-drill-x" },
		{ "count(/domain/uuid)", "0" },
		{ "count(/domain/seclabel)", "0" },
		{ "count(/domain/cpu)", "0" },
		{ "count(/domain/features/acpi)", "1" },
		{ "count(//emulator)", "0" },
		/* disks: both on their overlays, qcow2, rest of the disk kept */
		{ "count(//disk[@device='disk'])", "2" },
		{ "string(//disk[target/@dev='vda']/@type)", "file" },
		{ "string(//disk[target/@dev='vda']/source/@file)", two_overlays[0] },
		{ "string(//disk[target/@dev='vda']/driver/@type)", "qcow2" },
		{ "string(//disk[target/@dev='vda']/driver/@cache)", "none" },
		{ "string(//disk[target/@dev='vda']/boot/@order)", "1" },
		{ "count(//disk[target/@dev='vda']/backingStore)", "0" },
		{ "string(//disk[target/@dev='vdb']/@type)", "file" },
		{ "string(//disk[target/@dev='vdb']/source/@file)", two_overlays[1] },
		{ "count(//disk[target/@dev='vdb']/source/@dev)", "0" },
		{ "string(//disk[target/@dev='vdb']/serial)", "nestordata" },
		/* cdrom: kept, emptied */
		{ "count(//disk[@device='cdrom'])", "1" },
		{ "count(//disk[@device='cdrom']/source)", "0" },
		/* NICs: isolated network, MAC and model kept, host binding gone */
		{ "count(//interface)", "2" },
		{ "count(//interface[@type='network'][source/@network='nestor-drill-x'])", "2" },
		{ "string(//interface[1]/mac/@address)", "52:54:00:aa:bb:01" },
		{ "string(//interface[2]/mac/@address)", "52:54:00:aa:bb:02" },
		{ "string(//interface[2]/model/@type)", "e1000" },
		{ "count(//interface/target)", "0" },
		{ "count(//interface/source/@bridge)", "0" },
		/* console: one serial, unix socket + log; no pty console, channel, vnc */
		{ "count(/domain/devices/serial)", "1" },
		{ "string(/domain/devices/serial/@type)", "unix" },
		{ "string(/domain/devices/serial/source/@mode)", "bind" },
		{ "string(/domain/devices/serial/source/@path)", "/s/drills/x/web1.sock" },
		{ "string(/domain/devices/serial/log/@file)", "/s/drills/x/web1.log" },
		{ "string(/domain/devices/serial/target/@port)", "0" },
		{ "count(//console)", "0" },
		{ "count(//channel)", "0" },
		{ "count(//graphics)", "0" },
	};

	SRC_REWRITE_CHECK(&o, want);
}

Test(domxml, kvm_host_model_keeps_topology)
{
	struct domxml_drill o = drill_opts;

	o.kvm = true;
	const struct want want[] = {
		{ "string(/domain/@type)", "kvm" },
		{ "string(/domain/cpu/@mode)", "host-model" },
		{ "count(/domain/cpu/model)", "0" },
		{ "count(/domain/cpu/vendor)", "0" },
		{ "count(/domain/cpu/feature)", "0" },
		{ "string(/domain/cpu/topology/@cores)", "2" },
	};

	SRC_REWRITE_CHECK(&o, want);
}

Test(domxml, kvm_named_baseline)
{
	struct domxml_drill o = {
		.name = "n", .overlays = two_overlays, .network = "net",
		.console_sock = "/s", .console_log = "/l", .kvm = true, .cpu_model = "qemu64",
	};
	const struct want want[] = {
		{ "string(/domain/cpu/@mode)", "custom" },
		{ "string(/domain/cpu/model)", "qemu64" },
		{ "string(/domain/cpu/model/@fallback)", "allow" },
		{ "count(/domain/cpu/feature)", "0" },
	};

	SRC_REWRITE_CHECK(&o, want);
}

Test(domxml, failover_keeps_uuid_maps_networks_adds_agent)
{
	const char *nets[] = { "prod-here", NULL };
	struct domxml_drill o = {
		.name = "web1", .overlays = two_overlays, .network = "nestor-failover-web",
		.networks = nets, .console_sock = "/s", .console_log = "/l", .keep_uuid = true,
		.guest_agent = true,
	};
	const struct want want[] = {
		{ "string(/domain/name)", "web1" },
		{ "string(/domain/uuid)", "7c1f1d9e-1111-4222-8333-444455556666" },
		{ "string(//interface[1]/source/@network)", "prod-here" },
		{ "string(//interface[2]/source/@network)", "nestor-failover-web" },
		{ "count(//channel)", "1" },
		{ "string(//channel/target/@name)", "org.qemu.guest_agent.0" },
	};

	SRC_REWRITE_CHECK(&o, want);
}

Test(domxml, parse_refuses_bad_input)
{
	const char *bad[] = {
		"<domain><name>../etc</name></domain>",
		"<domain><name></name></domain>",
		"<network><name>x</name></network>",
		"<domain><name>x</name>",
		"<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><domain><name>&e;</name></domain>",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_null(domxml_parse(bad[i], strlen(bad[i]), "test"), "%s", bad[i]);
	cr_expect_null(domxml_parse("", 0, "test"));
}

static json_t *
meta(const char *text)
{
	json_error_t e;
	json_t *m = json_loads(text, 0, &e);

	cr_assert_not_null(m, "test metadata: %s", e.text);
	return m;
}

Test(pointmeta, file_source_by_path)
{
	struct domxml *d = parse(src_xml);
	json_t *m = meta("{\"version\":1,\"source\":\"file\",\"disks\":["
			 "{\"name\":\"data\",\"path\":\"/dev/vg0/web1-data\"},"
			 "{\"name\":\"os\",\"path\":\"/var/lib/images/web1-os.img\"}],"
			 "\"vms\":[{\"xml\":\"...\"}]}");
	const char *names[2] = { 0 };

	cr_assert_eq(pointmeta_map_disks(m, 0, d, names, "test"), 0);
	cr_expect_str_eq(names[0], "os", "'//' and '/./' do not matter");
	cr_expect_str_eq(names[1], "data");
	json_decref(m);
	domxml_free(d);
}

Test(pointmeta, file_source_unmapped_disk_fails)
{
	struct domxml *d = parse(src_xml);
	json_t *m = meta("{\"disks\":[{\"name\":\"os\",\"path\":\"/var/lib/images/web1-os.img\"}],"
			 "\"vms\":[{}]}");
	const char *names[2] = { 0 };

	cr_expect_eq(pointmeta_map_disks(m, 0, d, names, "test"), -1);
	json_decref(m);
	domxml_free(d);
}

Test(pointmeta, file_source_network_disk_fails)
{
	struct domxml *d = parse(live_xml);
	json_t *m = meta("{\"disks\":[{\"name\":\"os\",\"path\":\"/x\"}],\"vms\":[{}]}");
	const char *names[3] = { 0 };

	cr_expect_eq(pointmeta_map_disks(m, 0, d, names, "test"), -1);
	json_decref(m);
	domxml_free(d);
}

static const char live_meta[] =
	"{\"version\":1,\"source\":\"libvirt\",\"consistency\":\"crash-consistent\","
	"\"disks\":[{\"name\":\"web.vda\",\"size\":1},{\"name\":\"db.vda\",\"size\":1},"
	"{\"name\":\"db.sdb\",\"size\":1}],"
	"\"vms\":[{\"name\":\"web\",\"xml\":\"...\",\"disks\":[{\"target\":\"vda\",\"disk\":\"web.vda\"}]},"
	"{\"name\":\"db\",\"xml\":\"...\",\"disks\":[{\"target\":\"sdb\",\"disk\":\"db.sdb\"},"
	"{\"target\":\"vda\",\"disk\":\"db.vda\"}]}]}";

Test(pointmeta, libvirt_source_by_target_and_rewrite)
{
	struct domxml *d = parse(live_xml);
	json_t *m = meta(live_meta);
	const char *names[3] = { 0 };
	const char *ovl[3] = { NULL, NULL, NULL };

	cr_assert_eq(domxml_ndisks(d), 3);
	cr_expect_str_eq(domxml_disk_type(d, 0), "network");
	cr_expect_null(domxml_disk_source(d, 0), "a network disk has no path");
	cr_assert_eq(pointmeta_map_disks(m, 1, d, names, "test"), 0);
	cr_expect_str_eq(names[0], "db.vda", "rbd disk mapped by target");
	cr_expect_str_eq(names[1], "db.sdb", "iSCSI LUN mapped by target");
	cr_expect_null(names[2], "read-only disk was not replicated");

	ovl[0] = "/s/failover/x/db.db.vda.qcow2";
	ovl[1] = "/s/failover/x/db.db.sdb.qcow2";
	struct domxml_drill o = {
		.name = "db", .overlays = ovl, .network = "n", .console_sock = "/s",
		.console_log = "/l",
	};
	const struct want want[] = {
		/* the rbd disk is a file overlay now, without host or credentials */
		{ "string(//disk[target/@dev='vda']/@type)", "file" },
		{ "string(//disk[target/@dev='vda']/source/@file)", ovl[0] },
		{ "count(//disk[target/@dev='vda']/source/@protocol)", "0" },
		{ "count(//disk[target/@dev='vda']//host)", "0" },
		{ "count(//disk[target/@dev='vda']/auth)", "0" },
		{ "string(//disk[target/@dev='vda']/driver/@type)", "qcow2" },
		{ "string(//disk[target/@dev='vda']/boot/@order)", "1" },
		/* the LUN becomes a plain disk on its overlay */
		{ "string(//disk[target/@dev='sdb']/@type)", "file" },
		{ "string(//disk[target/@dev='sdb']/@device)", "disk" },
		{ "count(//disk[target/@dev='sdb']/@sgio)", "0" },
		{ "string(//disk[target/@dev='sdb']/source/@file)", ovl[1] },
		/* the unreplicated disk is left out, nothing of the source host stays */
		{ "count(//disk[target/@dev='vdc'])", "0" },
		{ "count(//disk)", "2" },
	};

	REWRITE_CHECK(d, &o, want);
	json_decref(m);
	domxml_free(d);
}

Test(pointmeta, libvirt_source_errors)
{
	struct domxml *d = parse(live_xml);
	const char *names[3] = { 0 };
	json_t *m;

	/* vms[0] is "web", the XML is "db" */
	m = meta(live_meta);
	cr_expect_eq(pointmeta_map_disks(m, 0, d, names, "test"), -1);
	json_decref(m);
	/* a mapping to a disk the point does not have */
	m = meta("{\"source\":\"libvirt\",\"disks\":[{\"name\":\"db.vda\"}],\"vms\":[{\"name\":\"db\","
		 "\"disks\":[{\"target\":\"vda\",\"disk\":\"other\"}]}]}");
	cr_expect_eq(pointmeta_map_disks(m, 0, d, names, "test"), -1);
	json_decref(m);
	/* two XML disks onto one replica */
	m = meta("{\"source\":\"libvirt\",\"disks\":[{\"name\":\"db.vda\"}],\"vms\":[{\"name\":\"db\","
		 "\"disks\":[{\"target\":\"vda\",\"disk\":\"db.vda\"},{\"target\":\"sdb\",\"disk\":\"db.vda\"}]}]}");
	cr_expect_eq(pointmeta_map_disks(m, 0, d, names, "test"), -1);
	json_decref(m);
	/* a disk name that could be a path is never returned */
	m = meta("{\"source\":\"libvirt\",\"disks\":[{\"name\":\"../x\"}],\"vms\":[{\"name\":\"db\","
		 "\"disks\":[{\"target\":\"vda\",\"disk\":\"../x\"}]}]}");
	cr_expect_eq(pointmeta_map_disks(m, 0, d, names, "test"), -1);
	json_decref(m);
	domxml_free(d);
}

Test(pointmeta, same_path)
{
	cr_expect(pointmeta_same_path("/a//b/./c", "/a/b/c"));
	cr_expect(!pointmeta_same_path("/a/b", "/a/b/c"));
	cr_expect(!pointmeta_same_path("/a/../b", "/b"), "no filesystem semantics");
}

Test(network_map, parse_and_lookup)
{
	cr_expect(drill_network_map_valid("default=drnet"));
	cr_expect(drill_network_map_valid("a=b,c=d"));
	cr_expect(!drill_network_map_valid(""));
	cr_expect(!drill_network_map_valid("a"));
	cr_expect(!drill_network_map_valid("a=,b=c"));
	cr_expect(!drill_network_map_valid("a=b,"));
	cr_expect(!drill_network_map_valid("a=b/c"));
	cr_expect_str_eq(drill_network_map_lookup("a=b,c=d", "c"), "d");
	cr_expect_str_eq(drill_network_map_lookup("a=b,c=d", "a"), "b");
	cr_expect_null(drill_network_map_lookup("a=b,c=d", "b"));
	cr_expect_null(drill_network_map_lookup("ab=x", "a"));
	cr_expect_null(drill_network_map_lookup(NULL, "a"));
}

/* A live guest with a qcow2 boot file and a data disk on RBD, as the
 * libvirt source stores it (the RBD disk kept as it is in the XML): the
 * rewrite puts the RBD disk on its replica file with the same target, bus
 * and serial, and nothing of the Ceph cluster stays. */
static const char mixed_xml[] =
	"<domain type='qemu'>\n"
	"  <name>lr1</name>\n"
	"  <memory unit='MiB'>256</memory>\n"
	"  <os><type arch='x86_64'>hvm</type></os>\n"
	"  <devices>\n"
	"    <disk type='file' device='disk'>\n"
	"      <driver name='qemu' type='qcow2'/>\n"
	"      <source file='/srv/lr1-boot.qcow2'/>\n"
	"      <target dev='vda' bus='virtio'/>\n"
	"      <boot order='1'/>\n"
	"    </disk>\n"
	"    <disk type='network' device='disk'>\n"
	"      <driver name='qemu' type='raw' cache='none'/>\n"
	"      <auth username='nestor'><secret type='ceph' uuid='0b9a4a5e-1c5f-4a3e-9d6b-1b2c3d4e5f60'/></auth>\n"
	"      <source protocol='rbd' name='rbd/lr1-data'>\n"
	"        <host name='10.0.0.5' port='6789'/>\n"
	"        <config file='/etc/ceph/site.conf'/>\n"
	"      </source>\n"
	"      <target dev='vdb' bus='scsi'/>\n"
	"      <serial>nestordata</serial>\n"
	"    </disk>\n"
	"  </devices>\n"
	"</domain>\n";

static const char mixed_meta[] =
	"{\"version\":1,\"source\":\"libvirt\",\"consistency\":\"crash-consistent\","
	"\"disks\":[{\"name\":\"lr1.vda\",\"size\":1},{\"name\":\"lr1.vdb\",\"size\":1}],"
	"\"vms\":[{\"name\":\"lr1\",\"xml\":\"...\",\"disks\":[{\"target\":\"vda\",\"disk\":\"lr1.vda\"},"
	"{\"target\":\"vdb\",\"disk\":\"lr1.vdb\"}]}]}";

Test(pointmeta, libvirt_rbd_and_file_disks_rewrite)
{
	struct domxml *d = parse(mixed_xml);
	json_t *m = meta(mixed_meta);
	const char *names[2] = { 0 };
	const char *ovl[2] = { "/s/d/lr1.vda.qcow2", "/s/d/lr1.vdb.qcow2" };
	struct domxml_drill o = {
		.name = "lr1-drill", .overlays = ovl, .network = "n",
		.console_sock = "/s", .console_log = "/l",
	};

	cr_assert_eq(domxml_ndisks(d), 2);
	cr_assert_eq(pointmeta_map_disks(m, 0, d, names, "test"), 0);
	cr_expect_str_eq(names[0], "lr1.vda");
	cr_expect_str_eq(names[1], "lr1.vdb", "RBD disk mapped by target");
	const struct want want[] = {
		{ "string(//disk[target/@dev='vdb']/@type)", "file" },
		{ "string(//disk[target/@dev='vdb']/source/@file)", ovl[1] },
		{ "string(//disk[target/@dev='vdb']/target/@bus)", "scsi" },
		{ "string(//disk[target/@dev='vdb']/serial)", "nestordata" },
		{ "string(//disk[target/@dev='vdb']/driver/@type)", "qcow2" },
		{ "count(//disk[target/@dev='vdb']/source/@protocol)", "0" },
		{ "count(//disk[target/@dev='vdb']/source/@name)", "0" },
		{ "count(//disk[target/@dev='vdb']//config)", "0" },
		{ "count(//disk[target/@dev='vdb']//host)", "0" },
		{ "count(//disk[target/@dev='vdb']/auth)", "0" },
		{ "count(//*[@protocol])", "0" },
		{ "string(//disk[target/@dev='vda']/source/@file)", ovl[0] },
		{ "string(//disk[target/@dev='vda']/boot/@order)", "1" },
		{ "count(//disk)", "2" },
	};

	REWRITE_CHECK(d, &o, want);
	json_decref(m);
	domxml_free(d);
}
