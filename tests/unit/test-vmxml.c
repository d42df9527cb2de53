/* Unit tests for common/vmxml.c: the libvirt domain XML reader shared by the
 * libvirt source, the offline-VM planner and the failover rewrite. */
#define _GNU_SOURCE
#include "common/vmxml.h"

#include <criterion/criterion.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char dom_xml[] =
	"<domain type='kvm'>\n"
	"  <name>db</name>\n"
	"  <devices>\n"
	"    <disk type='file' device='disk'>\n"
	"      <driver name='qemu' type='qcow2'/>\n"
	"      <source file='/srv/db-os.qcow2'/>\n"
	"      <target dev='vda' bus='virtio'/>\n"
	"      <boot order='1'/>\n"
	"    </disk>\n"
	"    <disk type='network' device='disk'>\n"
	"      <driver name='qemu' type='raw'/>\n"
	"      <auth username='nestor'><secret type='ceph' uuid='0b9a4a5e-1c5f'/></auth>\n"
	"      <source protocol='rbd' name='vms/db-data'>\n"
	"        <host name='10.0.0.5' port='6789'/><host name='10.0.0.6'/>\n"
	"        <config file='/etc/ceph/site.conf'/>\n"
	"      </source>\n"
	"      <target dev='vdb' bus='virtio'/>\n"
	"      <shareable/>\n"
	"    </disk>\n"
	"    <disk type='block' device='disk'>\n"
	"      <source dev='/dev/vg0/ref'/>\n"
	"      <target dev='vdc'/>\n"
	"      <readonly/>\n"
	"    </disk>\n"
	"    <disk device='cdrom'>\n"
	"      <source file='/isos/x.iso'/>\n"
	"    </disk>\n"
	"    <interface type='network'>\n"
	"      <mac address='52:54:00:aa:bb:01'/>\n"
	"      <source network='default'/>\n"
	"      <model type='virtio'/>\n"
	"    </interface>\n"
	"    <interface type='bridge'>\n"
	"      <source bridge='br0'/>\n"
	"    </interface>\n"
	"    <interface type='user'/>\n"
	"    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'"
	" state='connected'/></channel>\n"
	"  </devices>\n"
	"</domain>\n";

/* dom_xml, read once per test (fixture). */
static struct vmxml *x;

static void
load(void)
{
	x = vmxml_parse(dom_xml, strlen(dom_xml), "test");
	cr_assert_not_null(x, "the XML must parse");
}

static void
unload(void)
{
	vmxml_free(x);
	x = NULL;
}

/* A string read and what it must be (NULL: absent). */
struct str_want {
	const char *got, *want, *what;
};

static void
expect_strs(const struct str_want *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (w[i].want)
			cr_expect_str_eq(w[i].got, w[i].want, "%s", w[i].what);
		else
			cr_expect_null(w[i].got, "%s", w[i].what);
	}
}

#define EXPECT_STRS(...)                                                   \
	do {                                                               \
		const struct str_want w_[] = { __VA_ARGS__ };              \
		expect_strs(w_, sizeof(w_) / sizeof(w_[0]));               \
	} while (0)

Test(vmxml, file_disk, .init = load, .fini = unload)
{
	const struct vmxml_disk *d = &x->disks[0];

	cr_assert_eq(x->ndisks, 4);
	EXPECT_STRS({ x->name, "db", "name" }, { d->type, "file", "type" },
		    { d->device, "disk", "device" }, { d->target, "vda", "target" },
		    { d->source, "/srv/db-os.qcow2", "source" },
		    { d->format, "qcow2", "format" });
	cr_expect_eq(d->boot, 1);
	cr_expect(!d->readonly && !d->shareable && !d->rbd);
	cr_expect(vmxml_disk_is_disk(d));
	cr_expect_eq(vmxml_disk_rbd(d, "test"), 0);
	cr_expect_null(d->node, "no document outlives vmxml_parse");
}

Test(vmxml, rbd_disk_with_auth_and_hosts, .init = load, .fini = unload)
{
	const struct vmxml_disk *d = &x->disks[1];

	cr_expect(d->rbd && d->shareable && d->boot == 0);
	EXPECT_STRS({ d->type, "network", "type" },
		    { d->source, NULL, "a network disk has no path" },
		    { d->r.name, "vms/db-data", "name" }, { d->r.pool, "vms", "pool" },
		    { d->r.image, "db-data", "image" },
		    { d->r.conf, "/etc/ceph/site.conf", "conf" },
		    { d->r.user, "nestor", "user" }, { d->r.secret, "0b9a4a5e-1c5f", "secret" });
	cr_assert_eq(d->r.nhosts, 2);
	EXPECT_STRS({ d->r.hosts[0], "10.0.0.5:6789", "host 0" },
		    { d->r.hosts[1], "10.0.0.6", "host 1" });
	cr_expect_eq(vmxml_disk_rbd(d, "test"), 1);
}

Test(vmxml, readonly_block_and_cdrom, .init = load, .fini = unload)
{
	EXPECT_STRS({ x->disks[2].type, "block", "type" },
		    { x->disks[2].source, "/dev/vg0/ref", "block source" },
		    { x->disks[2].format, NULL, "no driver" },
		    { x->disks[3].type, NULL, "type as written: absent" },
		    { x->disks[3].source, "/isos/x.iso", "no type: a file" },
		    { x->disks[3].target, NULL, "missing target" });
	cr_expect(x->disks[2].readonly);
	cr_expect(!vmxml_disk_is_disk(&x->disks[3]));
}

Test(vmxml, network_and_agent, .init = load, .fini = unload)
{
	cr_assert_eq(x->nnics, 3);
	EXPECT_STRS({ x->nics[0].type, "network", "type" },
		    { x->nics[0].source, "default", "network" },
		    { x->nics[0].mac, "52:54:00:aa:bb:01", "mac" },
		    { x->nics[0].model, "virtio", "model" },
		    { x->nics[1].source, "br0", "bridge" }, { x->nics[1].mac, NULL, "no mac" },
		    { x->nics[2].source, NULL, "user networking has no source" });
	cr_expect(x->agent_connected);
}

Test(vmxml, agent_not_connected)
{
	const char *xml = ("<domain><name>a</name><devices><channel type='unix'>"
				"<target type='virtio' name='org.qemu.guest_agent.0' "
				"state='disconnected'/></channel></devices></domain>");
	struct vmxml *v = vmxml_parse(xml, strlen(xml), "test");

	cr_assert_not_null(v);
	cr_expect(!v->agent_connected);
	cr_expect_eq(v->ndisks, 0);
	vmxml_free(v);
}

Test(vmxml, console_log_of_the_first_serial)
{
	const char *xml = ("<domain><name>a</name><devices>"
			   "<console type='pty'><log file='/c.log'/></console>"
			   "<serial type='pty'/>"
			   "<serial type='unix'><source mode='bind' path='/s.sock'/>"
			   "<log file='/s.log' append='on'/></serial>"
			   "</devices></domain>");
	const char *file = ("<domain><devices><serial type='file'>"
			    "<source path='/f.log'/></serial></devices></domain>");
	const char *none = "<domain><devices><serial type='pty'/></devices></domain>";
	struct vmxml *v = vmxml_parse(xml, strlen(xml), "test");

	cr_assert_not_null(v);
	cr_expect_str_eq(v->console_log, "/s.log", "a serial's log before a console's");
	cr_expect(v->console_log_append);
	vmxml_free(v);
	v = vmxml_parse(file, strlen(file), "test");
	cr_assert_not_null(v);
	cr_expect_str_eq(v->console_log, "/f.log", "a serial to a file");
	cr_expect(!v->console_log_append);
	vmxml_free(v);
	v = vmxml_parse(none, strlen(none), "test");
	cr_assert_not_null(v);
	cr_expect_null(v->console_log);
	vmxml_free(v);
}

Test(vmxml, doc_keeps_nodes)
{
	struct _xmlDoc *doc = vmxml_parse_doc(dom_xml, strlen(dom_xml), "test", false);
	struct vmxml *v;

	cr_assert_not_null(doc);
	v = vmxml_read_doc(doc, "test");
	cr_assert_not_null(v);
	cr_expect_not_null(v->disks[0].node);
	cr_expect_not_null(v->nics[0].node);
	vmxml_free(v);
	xmlFreeDoc(doc);
}

static void
expect_rejected(const char *xml)
{
	cr_expect_null(vmxml_parse(xml, strlen(xml), "test"), "%s", xml);
}

Test(vmxml, garbage_rejected)
{
	expect_rejected("not xml at all");
	expect_rejected("<domain><name>x</name>");
	expect_rejected("<network><name>x</name></network>");
	expect_rejected("");
	cr_expect_null(vmxml_parse(dom_xml, VMXML_MAX_LEN + 1, "test"), "too long");
}

/* ---- RBD disks the rbd source can protect (moved from
 * test-libvirt-source.c with snapshot_libvirt_rbd_disk) ---- */

/* vmxml_disk_rbd of the only <disk> in a domain around disk_xml. */
static int
rbd_disk_of(const char *disk_xml, struct vmxml **out)
{
	char *xml = NULL;

	cr_assert(asprintf(&xml, "<domain><name>t</name><devices>%s</devices></domain>",
			   disk_xml) > 0);
	*out = vmxml_parse(xml, strlen(xml), "test");
	free(xml);
	cr_assert_not_null(*out);
	cr_assert_eq((*out)->ndisks, 1);
	return vmxml_disk_rbd(&(*out)->disks[0], "test");
}

/* Expects vmxml_disk_rbd == want for disk_xml. */
static void
rbd_expect(const char *disk_xml, int want)
{
	struct vmxml *v;

	cr_expect_eq(rbd_disk_of(disk_xml, &v), want, "%s", disk_xml);
	vmxml_free(v);
}

Test(libvirt_rbd, parses_rbd_disks)
{
	struct vmxml *v;
	const struct vmxml_rbd *r;

	cr_assert_eq(rbd_disk_of("<disk type='network' device='disk'>"
				 "<auth username='nestor'><secret type='ceph' usage='x'/></auth>"
				 "<source protocol='rbd' name='vms/db-data'>"
				 "<host name='10.0.0.5' port='6789'/><config file='/etc/ceph/site.conf'/>"
				 "</source><target dev='vdb'/></disk>", &v), 1);
	r = &v->disks[0].r;
	cr_expect_str_eq(r->pool, "vms");
	cr_expect_str_eq(r->image, "db-data");
	cr_expect_str_eq(r->conf, "/etc/ceph/site.conf");
	cr_expect_str_eq(r->user, "nestor");
	cr_expect_str_eq(r->secret, "x", "usage when there is no uuid");
	vmxml_free(v);
	cr_assert_eq(rbd_disk_of("<disk type='network'><source protocol='rbd' name='rbd/x'/></disk>",
				 &v), 1);
	cr_expect_null(v->disks[0].r.conf);
	cr_expect_null(v->disks[0].r.user);
	vmxml_free(v);
	/* not RBD */
	rbd_expect("<disk type='file'><source file='/a/b'/></disk>", 0);
	rbd_expect("<disk type='network'><source protocol='nbd' name='x'/></disk>", 0);
	/* RBD that cannot be protected as an image of a pool */
	rbd_expect("<disk type='network'><source protocol='rbd' name='noslash'/></disk>", -1);
	rbd_expect("<disk type='network'><source protocol='rbd' name='p/ns/img'/></disk>", -1);
	rbd_expect("<disk type='network'><source protocol='rbd' name='p/img@s'/></disk>", -1);
	rbd_expect("<disk type='network'><source protocol='rbd' name='/img'/></disk>", -1);
	rbd_expect("<disk type='network'><source protocol='rbd' name='p/img'>"
		   "<snapshot name='gold'/></source></disk>", -1);
	rbd_expect("<disk type='network'><auth/><source protocol='rbd' name='p/img'/></disk>", -1);
	rbd_expect("<disk type='network'><source protocol='rbd' name='p/img'><config/>"
		   "</source></disk>", -1);
}
