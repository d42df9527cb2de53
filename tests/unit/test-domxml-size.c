/* Unit tests for failover/domxml-size.c: what a source domain asks of the
 * host, read as the allowlist copies it, and the drill's caps on it
 * (issue 12, section 2). */
#define _GNU_SOURCE
#include "common/xml-dl.h"
#include "failover/domxml-size.h"
#include "failover/domxml.h"

#include <criterion/criterion.h>
#include <libxml/parser.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define GIB (1ULL << 30)
#define MIB (1ULL << 20)

/* The size of a <domain> whose children are body. */
static struct domxml_size
size_of(const char *body)
{
	char *xml = NULL;
	xmlDocPtr doc;
	struct domxml_size s;

	cr_assert(asprintf(&xml, "<domain type='kvm'><name>big</name>%s</domain>", body) > 0);
	cr_assert_eq(xml_dl_load(), 0, "domxml_size_read calls libxml2 through common/xml-dl");
	doc = xmlReadMemory(xml, (int)strlen(xml), "t.xml", NULL, XML_PARSE_NONET);
	cr_assert_not_null(doc, "%s", xml);
	domxml_size_read(xmlDocGetRootElement(doc), &s);
	xmlFreeDoc(doc);
	free(xml);
	return s;
}

Test(domxml_size, memory_units_as_libvirt_reads_them)
{
	cr_assert_eq(size_of("<memory>262144</memory>").memory, 256 * MIB, "default unit KiB");
	cr_assert_eq(size_of("<memory unit='MiB'>256</memory>").memory, 256 * MIB);
	cr_assert_eq(size_of("<memory unit='G'>512</memory>").memory, 512 * GIB);
	cr_assert_eq(size_of("<memory unit='TiB'>2</memory>").memory, 2048 * GIB);
	cr_assert_eq(size_of("<memory unit='GB'>1</memory>").memory, 1000000000);
	cr_assert_eq(size_of("<memory unit='b'> 4096 </memory>").memory, 4096, "text trimmed");
	/* a unit the allowlist refuses goes: libvirt reads KiB */
	cr_assert_eq(size_of("<memory unit='PiB'>1024</memory>").memory, 1024 * 1024);
	/* a value it refuses goes with its element: nothing to count */
	cr_assert_eq(size_of("<memory unit='GiB'>0x10</memory>").memory, 0);
	cr_assert_eq(size_of("<memory unit='GiB'>-1</memory>").memory, 0);
	/* in a namespace: dropped, not counted */
	cr_assert_eq(size_of("<x:memory xmlns:x='urn:x' unit='GiB'>512</x:memory>"
			     "<memory unit='MiB'>64</memory>").memory, 64 * MIB);
}

Test(domxml_size, the_largest_of_memory_current_and_numa_plus_video)
{
	cr_assert_eq(size_of("<memory unit='MiB'>256</memory>"
			     "<currentMemory unit='GiB'>8</currentMemory>").memory, 8 * GIB);
	cr_assert_eq(size_of("<memory unit='MiB'>256</memory><memory unit='GiB'>4</memory>").memory,
		     4 * GIB, "a second <memory> counts too");
	/* libvirt sizes a NUMA guest by its cells, whatever <memory> says */
	cr_assert_eq(size_of("<memory unit='MiB'>256</memory><cpu><numa>"
			     "<cell id='0' cpus='0' memory='300' unit='GiB'/>"
			     "<cell id='1' cpus='1' memory='1048576'/></numa></cpu>").memory,
		     301 * GIB);
	cr_assert_eq(size_of("<memory unit='MiB'>256</memory><devices>"
			     "<video><model type='qxl' ram='65536' vram='65536' vram64='1048576' "
			     "vgamem='16384'/></video></devices>").memory,
		     256 * MIB + (65536 + 65536 + 1048576 + 16384) * 1024ULL);
}

Test(domxml_size, saturates_instead_of_wrapping)
{
	cr_assert_eq(size_of("<memory unit='TiB'>99999999999999999999</memory>").memory, UINT64_MAX);
	cr_assert_eq(size_of("<memory unit='TiB'>16777216</memory>").memory, UINT64_MAX);
	cr_assert_eq(size_of("<memory unit='KiB'>1</memory><cpu><numa>"
			     "<cell cpus='0' memory='18446744073709551615' unit='KiB'/>"
			     "<cell cpus='1' memory='18446744073709551615' unit='KiB'/>"
			     "</numa></cpu>").memory, UINT64_MAX);
	cr_assert_eq(size_of("<vcpu>99999999999999999999</vcpu>").vcpus, UINT64_MAX);
}

Test(domxml_size, vcpus_and_iothreads)
{
	struct domxml_size s = size_of("<memory>1</memory>");

	cr_assert_eq(s.vcpus, 1, "libvirt's default");
	cr_assert_eq(s.iothreads, 0);
	cr_assert_eq(size_of("<vcpu placement='static'>8</vcpu>").vcpus, 8);
	cr_assert_eq(size_of("<vcpu current='2'>64</vcpu>").vcpus, 64);
	cr_assert_eq(size_of("<vcpu current='640'>64</vcpu>").vcpus, 640);
	cr_assert_eq(size_of("<iothreads>10000</iothreads>").iothreads, 10000);
}

Test(domxml_size, devices_the_rewrite_keeps)
{
	struct domxml_size s = size_of(
		"<devices>"
		"<emulator>/x</emulator>"
		"<disk type='file' device='disk'><target dev='vda'/></disk>"
		"<disk type='file' device='cdrom'><target dev='hdc'/></disk>"
		"<interface type='network'><source network='default'/></interface>"
		"<interface type='bridge'><source bridge='br0'/></interface>"
		"<interface type='direct'><source dev='eth0'/></interface>"
		"<controller type='pci' index='1' model='pcie-root-port'/>"
		"<controller type='usb'/>"
		"<serial type='pty'/><console type='pty'/><channel type='unix'/>"
		"<hostdev mode='subsystem' type='pci'/><graphics type='vnc'/>"
		"<y:controller xmlns:y='urn:y' type='pci'/>"
		"<video><model type='vga'/></video><input type='tablet'/>"
		"<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>"
		"<memballoon model='virtio'/><watchdog model='i6300esb'/>"
		"</devices>");

	/* 2 disks, 2 NICs, 2 controllers, video, input, rng, balloon, watchdog */
	cr_assert_eq(s.devices, 11);
}

/* The same through a parsed domxml (what the drill measures). */
Test(domxml_size, through_domxml)
{
	static const char xml[] = "<domain type='kvm'><name>web1</name>"
				  "<memory unit='GiB'>512</memory><vcpu>4</vcpu>"
				  "<iothreads>2</iothreads><devices>"
				  "<controller type='scsi'/></devices></domain>";
	struct domxml *d = domxml_parse(xml, sizeof(xml) - 1, "test");
	struct domxml_size s;

	cr_assert_not_null(d);
	domxml_guest_size(d, &s);
	cr_assert_eq(s.memory, 512 * GIB);
	cr_assert_eq(s.vcpus, 4);
	cr_assert_eq(s.iothreads, 2);
	cr_assert_eq(s.devices, 1);
	domxml_free(d);
}

static const struct domxml_caps caps = { 8 * GIB, 4, 16 };

static void
refused(const struct domxml_size *s, uint64_t before, const char *msg)
{
	char why[256] = "";

	cr_assert_eq(domxml_size_check("big", s, before, &caps, why, sizeof(why)), -1);
	cr_assert_str_eq(why, msg);
}

Test(domxml_size, check_refuses_over_each_cap_and_says_why)
{
	char why[256] = "untouched";
	struct domxml_size ok = { 8 * GIB, 4, 4, 16 };

	cr_assert_eq(domxml_size_check("big", &ok, 0, &caps, why, sizeof(why)), 0, "at the caps");
	cr_assert_str_eq(why, "untouched");
	refused(&(struct domxml_size){ 512 * GIB, 1, 0, 1 }, 0,
		"VM big asks for 512 GiB of memory; drill_max_memory is 8 GiB");
	refused(&(struct domxml_size){ 8 * GIB + 1, 1, 0, 1 }, 0,
		"VM big asks for 8.0 GiB of memory; drill_max_memory is 8 GiB");
	refused(&(struct domxml_size){ 3 * GIB, 1, 0, 1 }, 6 * GIB,
		"VM big asks for 3 GiB of memory, 9 GiB with the VMs before it; "
		"drill_max_memory is 8 GiB (the drill's VMs together)");
	refused(&(struct domxml_size){ UINT64_MAX, 1, 0, 1 }, 1,
		"VM big asks for 17179869184.0 GiB of memory; drill_max_memory is 8 GiB");
	refused(&(struct domxml_size){ GIB, 5, 0, 1 }, 0,
		"VM big asks for 5 vCPUs; drill_max_vcpus is 4");
	refused(&(struct domxml_size){ GIB, 2, 100, 1 }, 0,
		"VM big asks for 100 I/O threads; drill_max_vcpus (4) bounds them too");
	refused(&(struct domxml_size){ GIB, 2, 1, 17 }, 0,
		"VM big has 17 devices; drill_max_devices is 16");
	cr_assert_eq(domxml_size_check("big", &(struct domxml_size){ 4 * GIB, 4, 0, 1 }, 4 * GIB,
				       &caps, why, sizeof(why)), 0, "exactly the total");
}

Test(domxml_size, fmt)
{
	char b[32];

	cr_assert_str_eq(domxml_size_fmt(512 * GIB, b, sizeof(b)), "512 GiB");
	cr_assert_str_eq(domxml_size_fmt(3 * GIB / 2, b, sizeof(b)), "1.5 GiB");
	cr_assert_str_eq(domxml_size_fmt(300 * MIB, b, sizeof(b)), "300 MiB");
	cr_assert_str_eq(domxml_size_fmt(MIB + MIB / 4, b, sizeof(b)), "1.2 MiB");
	cr_assert_str_eq(domxml_size_fmt(4096, b, sizeof(b)), "4096 bytes");
}

Test(domxml_size, host_caps)
{
	struct domxml_caps c;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	cr_assert_eq(domxml_size_host_caps(8 * GIB, 3, 7, &c), 0);
	cr_assert_eq(c.max_memory, 8 * GIB);
	cr_assert_eq(c.max_vcpus, 3);
	cr_assert_eq(c.max_devices, 7);
	cr_assert_eq(domxml_size_host_caps(0, 0, 256, &c), 0);
	cr_assert_eq(c.max_vcpus, (uint64_t)cpus, "auto: the online CPUs");
	/* auto: half of MemTotal (reads /proc/meminfo like this test) */
	{
		FILE *f = fopen("/proc/meminfo", "r");
		unsigned long long kib = 0;

		cr_assert_not_null(f);
		cr_assert_eq(fscanf(f, "MemTotal: %llu kB", &kib), 1);
		fclose(f);
		cr_assert_eq(c.max_memory, kib * 1024 / 2);
	}
	cr_assert_eq(c.max_devices, 256);
}
