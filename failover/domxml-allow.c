/* The allowlist of domain XML (failover/domxml-allow.h): what a replicated
 * VM needs to boot the same virtual hardware here, and nothing that names a
 * path, a device or a service of a host. A value is checked against its
 * kind, so an allowed attribute cannot smuggle a path either. */
#include <ctype.h>
#include <stddef.h>
#include <string.h>

#include "failover/domxml-allow.h"

#define DX_TOKEN_MAX 64

/* ---- values ---------------------------------------------------------- */

static const char *const v_onoff[] = { "on", "off", NULL };
static const char *const v_yesno[] = { "yes", "no", NULL };
static const char *const v_unit[] = { "b", "bytes", "KB", "k", "KiB", "MB", "M", "MiB",
				      "GB", "G", "GiB", "TB", "T", "TiB", NULL };
/* coredump-* writes to a host directory: not offered */
static const char *const v_lifecycle[] = { "destroy", "restart", "preserve",
					   "rename-restart", NULL };
static const char *const v_hvm[] = { "hvm", NULL };
static const char *const v_bootdev[] = { "hd", "cdrom", "network", "fd", NULL };
static const char *const v_fw[] = { "efi", "bios", NULL };
static const char *const v_fwfeat[] = { "secure-boot", "enrolled-keys", NULL };
static const char *const v_static[] = { "static", NULL };
static const char *const v_offset[] = { "utc", "localtime", "variable", NULL };
static const char *const v_basis[] = { "utc", "localtime", NULL };
static const char *const v_timer[] = { "platform", "hpet", "kvmclock", "pit", "rtc", "tsc",
				       "hypervclock", "armvtimer", NULL };
static const char *const v_tick[] = { "delay", "catchup", "merge", "discard", NULL };
static const char *const v_track[] = { "boot", "guest", "wall", "realtime", NULL };
static const char *const v_tmode[] = { "auto", "native", "emulate", "paravirt", "smpsafe",
				       NULL };
static const char *const v_custom[] = { "custom", NULL };
static const char *const v_ioapic[] = { "kvm", "qemu", NULL };
static const char *const v_msrs[] = { "ignore", "fault", NULL };
static const char *const v_addr[] = { "pci", "drive", "virtio-serial", "ccid", "usb", "isa",
				      "ccw", "virtio-mmio", "spapr-vio", NULL };
static const char *const v_ctrl[] = { "pci", "usb", "scsi", "sata", "ide", "virtio-serial",
				      "fdc", NULL };
static const char *const v_video[] = { "vga", "cirrus", "vmvga", "qxl", "virtio", "bochs",
				       "ramfb", "none", NULL };
static const char *const v_input[] = { "mouse", "tablet", "keyboard", NULL };
static const char *const v_inbus[] = { "ps2", "usb", "virtio", NULL };
static const char *const v_virtio[] = { "virtio", "virtio-transitional",
					"virtio-non-transitional", NULL };
static const char *const v_balloon[] = { "virtio", "virtio-transitional",
					 "virtio-non-transitional", "none", NULL };
static const char *const v_random[] = { "random", NULL };
static const char *const v_wdog[] = { "i6300esb", "ib700", "diag288", "itco", NULL };
/* dump writes to a host directory: not offered */
static const char *const v_wact[] = { "reset", "shutdown", "poweroff", "pause", "none",
				      "inject-nmi", NULL };
static const char *const v_cache[] = { "none", "writethrough", "writeback", "directsync",
				       "unsafe", "default", NULL };
static const char *const v_io[] = { "native", "threads", "io_uring", "default", NULL };
static const char *const v_discard[] = { "unmap", "ignore", NULL };
static const char *const v_zeroes[] = { "off", "on", "unmap", NULL };
static const char *const v_wpolicy[] = { "stop", "report", "ignore", "enospace", NULL };
static const char *const v_rpolicy[] = { "stop", "report", "ignore", NULL };
static const char *const v_bus[] = { "virtio", "scsi", "sata", "ide", "usb", "fdc", "sd",
				     NULL };
static const char *const v_trans[] = { "none", "lba", "auto", NULL };
static const char *const v_qemu[] = { "qemu", NULL };
static const char *const v_raw[] = { "raw", NULL };
static const char *const v_nicmodel[] = { "virtio", "virtio-transitional",
					  "virtio-non-transitional", "e1000", "e1000e",
					  "rtl8139", "vmxnet3", "ne2k_pci", "pcnet", NULL };
static const char *const v_nicdrv[] = { "vhost", "qemu", NULL };
static const char *const v_txmode[] = { "iothread", "timer", NULL };
static const char *const v_updown[] = { "up", "down", NULL };
static const char *const v_nictypes[] = { "network", "bridge", NULL };

#define ATTR(n, k)        { n, k, NULL, false }
#define ENUM(n, v)        { n, DX_ENUM, v, false }
#define NEED(n, k)        { n, k, NULL, true }
#define NEED_ENUM(n, v)   { n, DX_ENUM, v, true }
#define END               { NULL, DX_NONE, NULL, false }

/* ---- attributes ------------------------------------------------------ */

static const struct dx_attr a_state[] = { ENUM("state", v_onoff), END };
static const struct dx_attr a_unit[] = { ENUM("unit", v_unit), END };
static const struct dx_attr a_vcpu[] = { ENUM("placement", v_static), ATTR("current", DX_UINT),
					 END };
static const struct dx_attr a_ostype[] = { ATTR("arch", DX_TOKEN), ATTR("machine", DX_TOKEN),
					   END };
static const struct dx_attr a_os[] = { ENUM("firmware", v_fw), END };
static const struct dx_attr a_boot_dev[] = { NEED_ENUM("dev", v_bootdev), END };
static const struct dx_attr a_bootmenu[] = { ENUM("enable", v_yesno), ATTR("timeout", DX_UINT),
					     END };
static const struct dx_attr a_bios[] = { ENUM("useserial", v_yesno),
					 ATTR("rebootTimeout", DX_TOKEN), END };
static const struct dx_attr a_fwfeat[] = { NEED_ENUM("enabled", v_yesno),
					   NEED_ENUM("name", v_fwfeat), END };
static const struct dx_attr a_enabled[] = { ENUM("enabled", v_yesno), END };
static const struct dx_attr a_apic[] = { ENUM("eoi", v_onoff), END };
static const struct dx_attr a_hyperv[] = { ENUM("mode", v_custom), END };
static const struct dx_attr a_spin[] = { ENUM("state", v_onoff), ATTR("retries", DX_UINT), END };
static const struct dx_attr a_vendor_id[] = { ENUM("state", v_onoff), ATTR("value", DX_TOKEN),
					      END };
static const struct dx_attr a_ioapic[] = { ENUM("driver", v_ioapic), END };
static const struct dx_attr a_gic[] = { ATTR("version", DX_TOKEN), END };
static const struct dx_attr a_msrs[] = { NEED_ENUM("unknown", v_msrs), END };
static const struct dx_attr a_clock[] = { ENUM("offset", v_offset),
					  ATTR("adjustment", DX_TOKEN), ENUM("basis", v_basis),
					  END };
static const struct dx_attr a_timer[] = { NEED_ENUM("name", v_timer), ENUM("present", v_yesno),
					  ENUM("tickpolicy", v_tick), ENUM("track", v_track),
					  ENUM("mode", v_tmode), ATTR("frequency", DX_UINT), END };
static const struct dx_attr a_topology[] = { ATTR("sockets", DX_UINT), ATTR("dies", DX_UINT),
					     ATTR("clusters", DX_UINT), ATTR("cores", DX_UINT),
					     ATTR("threads", DX_UINT), END };
static const struct dx_attr a_cell[] = { ATTR("id", DX_UINT), NEED("cpus", DX_TOKEN),
					 NEED("memory", DX_UINT), ENUM("unit", v_unit), END };
static const struct dx_attr a_address[] = {
	NEED_ENUM("type", v_addr), ATTR("domain", DX_TOKEN), ATTR("bus", DX_TOKEN),
	ATTR("slot", DX_TOKEN), ATTR("function", DX_TOKEN), ENUM("multifunction", v_onoff),
	ATTR("controller", DX_TOKEN), ATTR("target", DX_TOKEN), ATTR("unit", DX_TOKEN),
	ATTR("port", DX_TOKEN), ATTR("iobase", DX_TOKEN), ATTR("irq", DX_TOKEN),
	ATTR("cssid", DX_TOKEN), ATTR("ssid", DX_TOKEN), ATTR("devno", DX_TOKEN),
	ATTR("reg", DX_TOKEN), END };
static const struct dx_attr a_controller[] = { NEED_ENUM("type", v_ctrl), ATTR("index", DX_UINT),
					       ATTR("model", DX_TOKEN), ATTR("ports", DX_UINT),
					       ATTR("vectors", DX_UINT), END };
static const struct dx_attr a_ctl_model[] = { NEED("name", DX_TOKEN), END };
static const struct dx_attr a_ctl_target[] = { ATTR("chassisNr", DX_UINT),
					       ATTR("chassis", DX_UINT), ATTR("port", DX_TOKEN),
					       ATTR("busNr", DX_UINT), ATTR("index", DX_UINT),
					       ENUM("hotplug", v_onoff), END };
static const struct dx_attr a_ctl_driver[] = { ATTR("queues", DX_UINT), ATTR("iothread", DX_UINT),
					       ATTR("cmd_per_lun", DX_UINT),
					       ATTR("max_sectors", DX_UINT),
					       ENUM("ioeventfd", v_onoff), END };
static const struct dx_attr a_master[] = { NEED("startport", DX_UINT), END };
static const struct dx_attr a_video_model[] = {
	NEED_ENUM("type", v_video), ATTR("vram", DX_UINT), ATTR("ram", DX_UINT),
	ATTR("vgamem", DX_UINT), ATTR("vram64", DX_UINT), ATTR("heads", DX_UINT),
	ENUM("primary", v_yesno), END };
static const struct dx_attr a_input[] = { NEED_ENUM("type", v_input), ENUM("bus", v_inbus), END };
static const struct dx_attr a_rng[] = { NEED_ENUM("model", v_virtio), END };
static const struct dx_attr a_rng_backend[] = { NEED_ENUM("model", v_random), END };
static const struct dx_attr a_rate[] = { NEED("bytes", DX_UINT), ATTR("period", DX_UINT), END };
static const struct dx_attr a_balloon[] = { NEED_ENUM("model", v_balloon),
					    ENUM("autodeflate", v_onoff),
					    ENUM("freePageReporting", v_onoff), END };
static const struct dx_attr a_stats[] = { NEED("period", DX_UINT), END };
static const struct dx_attr a_watchdog[] = { NEED_ENUM("model", v_wdog), ENUM("action", v_wact),
					     END };
static const struct dx_attr a_disk[] = { ENUM("model", v_virtio), END };
static const struct dx_attr a_disk_driver[] = {
	ENUM("cache", v_cache), ENUM("io", v_io), ENUM("discard", v_discard),
	ENUM("detect_zeroes", v_zeroes), ATTR("iothread", DX_UINT), ATTR("queues", DX_UINT),
	ENUM("error_policy", v_wpolicy), ENUM("rerror_policy", v_rpolicy), END };
static const struct dx_attr a_disk_target[] = { NEED("dev", DX_TOKEN), ENUM("bus", v_bus),
						ENUM("removable", v_onoff),
						ATTR("rotation_rate", DX_UINT), END };
static const struct dx_attr a_boot_order[] = { NEED("order", DX_UINT), ATTR("loadparm", DX_TOKEN),
					       END };
static const struct dx_attr a_blockio[] = { ATTR("logical_block_size", DX_UINT),
					    ATTR("physical_block_size", DX_UINT), END };
static const struct dx_attr a_geometry[] = { NEED("cyls", DX_UINT), NEED("heads", DX_UINT),
					     NEED("secs", DX_UINT), ENUM("trans", v_trans), END };
static const struct dx_attr a_cd_driver[] = { ENUM("name", v_qemu), ENUM("type", v_raw), END };
static const struct dx_attr a_mac[] = { NEED("address", DX_MAC), END };
static const struct dx_attr a_nic_model[] = { NEED_ENUM("type", v_nicmodel), END };
static const struct dx_attr a_nic_driver[] = {
	ENUM("name", v_nicdrv), ATTR("queues", DX_UINT), ENUM("txmode", v_txmode),
	ENUM("ioeventfd", v_onoff), ENUM("event_idx", v_onoff), ATTR("rx_queue_size", DX_UINT),
	ATTR("tx_queue_size", DX_UINT), END };
static const struct dx_attr a_rom[] = { ENUM("bar", v_onoff), ENUM("enabled", v_yesno), END };
static const struct dx_attr a_mtu[] = { NEED("size", DX_UINT), END };
static const struct dx_attr a_link[] = { NEED_ENUM("state", v_updown), END };

/* ---- elements --------------------------------------------------------- */

#define LEAF(n, a)        { n, a, NULL, DX_NONE, NULL, DX_COPY, NULL }
#define NODE(n, a, c)     { n, a, c, DX_NONE, NULL, DX_COPY, NULL }
#define TEXT(n, a, t)     { n, a, NULL, t, NULL, DX_COPY, NULL }
#define TEXT_ENUM(n, v)   { n, NULL, NULL, DX_ENUM, v, DX_COPY, NULL }
#define HOOK(n, h)        { n, NULL, NULL, DX_NONE, NULL, h, NULL }
#define NEEDS(n, a, c, k) { n, a, c, DX_NONE, NULL, DX_COPY, k }
#define ADDRESS           LEAF("address", a_address)
#define RULES_END         { NULL, NULL, NULL, DX_NONE, NULL, DX_COPY, NULL }

static const struct dx_rule r_fw[] = { LEAF("feature", a_fwfeat), RULES_END };
static const struct dx_rule r_os[] = {
	{ "type", a_ostype, NULL, DX_ENUM, v_hvm, DX_COPY, NULL },
	LEAF("boot", a_boot_dev), LEAF("bootmenu", a_bootmenu), LEAF("bios", a_bios),
	NODE("firmware", NULL, r_fw), HOOK("loader", DX_LOADER), RULES_END };
static const struct dx_rule r_hyperv[] = {
	LEAF("relaxed", a_state), LEAF("vapic", a_state), LEAF("spinlocks", a_spin),
	LEAF("vpindex", a_state), LEAF("runtime", a_state), LEAF("synic", a_state),
	LEAF("stimer", a_state), LEAF("reset", a_state), LEAF("vendor_id", a_vendor_id),
	LEAF("frequencies", a_state), LEAF("reenlightenment", a_state),
	LEAF("tlbflush", a_state), LEAF("ipi", a_state), LEAF("evmcs", a_state), RULES_END };
static const struct dx_rule r_kvm[] = {
	LEAF("hidden", a_state), LEAF("hint-dedicated", a_state), LEAF("poll-control", a_state),
	LEAF("pv-ipi", a_state), RULES_END };
static const struct dx_rule r_features[] = {
	LEAF("acpi", NULL), LEAF("apic", a_apic), LEAF("pae", NULL), LEAF("hap", a_state),
	LEAF("viridian", NULL), LEAF("privnet", NULL), NODE("hyperv", a_hyperv, r_hyperv),
	NODE("kvm", NULL, r_kvm), LEAF("pvspinlock", a_state), LEAF("vmport", a_state),
	LEAF("smm", a_state), LEAF("ioapic", a_ioapic), LEAF("vmcoreinfo", a_state),
	LEAF("gic", a_gic), LEAF("msrs", a_msrs), RULES_END };
static const struct dx_rule r_numa[] = { LEAF("cell", a_cell), RULES_END };
static const struct dx_rule r_cpu[] = { LEAF("topology", a_topology),
					NODE("numa", NULL, r_numa), RULES_END };
static const struct dx_rule r_clock[] = { LEAF("timer", a_timer), RULES_END };
static const struct dx_rule r_pm[] = { LEAF("suspend-to-mem", a_enabled),
				       LEAF("suspend-to-disk", a_enabled), RULES_END };
static const struct dx_rule r_controller[] = {
	LEAF("model", a_ctl_model), LEAF("target", a_ctl_target), LEAF("driver", a_ctl_driver),
	LEAF("master", a_master), ADDRESS, RULES_END };
static const struct dx_rule r_video[] = { LEAF("model", a_video_model), ADDRESS, RULES_END };
static const struct dx_rule r_address_only[] = { ADDRESS, RULES_END };
static const struct dx_rule r_rng[] = {
	{ "backend", a_rng_backend, NULL, DX_URANDOM, NULL, DX_COPY, NULL },
	LEAF("rate", a_rate), ADDRESS, RULES_END };
static const struct dx_rule r_balloon[] = { LEAF("stats", a_stats), ADDRESS, RULES_END };
static const struct dx_rule r_devices[] = {
	HOOK("disk", DX_DISK), HOOK("interface", DX_INTERFACE), HOOK("serial", DX_CHARDEV),
	HOOK("console", DX_CHARDEV), HOOK("parallel", DX_CHARDEV), HOOK("channel", DX_CHARDEV),
	NODE("controller", a_controller, r_controller),
	NEEDS("video", NULL, r_video, "model"), NODE("input", a_input, r_address_only),
	NEEDS("rng", a_rng, r_rng, "backend"), NODE("memballoon", a_balloon, r_balloon),
	NODE("watchdog", a_watchdog, r_address_only), RULES_END };
static const struct dx_rule r_domain[] = {
	HOOK("name", DX_NAME), HOOK("uuid", DX_UUID_EL),
	TEXT("memory", a_unit, DX_UINT), TEXT("currentMemory", a_unit, DX_UINT),
	TEXT("vcpu", a_vcpu, DX_UINT), TEXT("iothreads", NULL, DX_UINT),
	NODE("os", a_os, r_os), NODE("features", NULL, r_features), HOOK("cpu", DX_CPU),
	NODE("clock", a_clock, r_clock), TEXT_ENUM("on_poweroff", v_lifecycle),
	TEXT_ENUM("on_reboot", v_lifecycle), TEXT_ENUM("on_crash", v_lifecycle),
	NODE("pm", NULL, r_pm), NODE("devices", NULL, r_devices), RULES_END };
static const struct dx_rule r_root = NODE("domain", NULL, r_domain);

static const struct dx_rule r_disk_children[] = {
	LEAF("driver", a_disk_driver), LEAF("target", a_disk_target),
	TEXT("serial", NULL, DX_SERIAL), TEXT("wwn", NULL, DX_TOKEN),
	TEXT("vendor", NULL, DX_SERIAL), TEXT("product", NULL, DX_SERIAL),
	LEAF("boot", a_boot_order), ADDRESS, LEAF("blockio", a_blockio),
	LEAF("geometry", a_geometry), LEAF("readonly", NULL), LEAF("shareable", NULL),
	RULES_END };
static const struct dx_rule r_disk = NEEDS("disk", a_disk, r_disk_children, "target");
static const struct dx_rule r_cd_children[] = {
	LEAF("driver", a_cd_driver), LEAF("target", a_disk_target), LEAF("readonly", NULL),
	LEAF("boot", a_boot_order), ADDRESS, RULES_END };
static const struct dx_rule r_cdrom = NEEDS("disk", NULL, r_cd_children, "target");
static const struct dx_rule r_nic_children[] = {
	LEAF("mac", a_mac), LEAF("model", a_nic_model), LEAF("driver", a_nic_driver),
	LEAF("boot", a_boot_order), ADDRESS, LEAF("rom", a_rom), LEAF("mtu", a_mtu),
	LEAF("link", a_link), RULES_END };
static const struct dx_rule r_nic = NODE("interface", NULL, r_nic_children);
static const struct dx_rule r_cpu_rule = NODE("cpu", NULL, r_cpu);

/* Why the elements most worth explaining go. */
static const struct {
	const char *name, *why;
} drop_reasons[] = {
	{ "emulator", "host path: libvirt uses this host's emulator" },
	{ "hostdev", "host device passthrough" },
	{ "filesystem", "host directory shared with the guest" },
	{ "shmem", "host shared memory" },
	{ "redirdev", "host USB redirection" },
	{ "redirfilter", "host USB redirection" },
	{ "smartcard", "host smartcard" },
	{ "tpm", "TPM: a host device, or the source host's emulated state" },
	{ "graphics", "remote display served by this host" },
	{ "sound", "host audio" },
	{ "audio", "host audio" },
	{ "kernel", "host path: direct kernel boot" },
	{ "initrd", "host path: direct kernel boot" },
	{ "cmdline", "direct kernel boot" },
	{ "dtb", "host path: direct kernel boot" },
	{ "nvram", "host path: this host makes a fresh UEFI variable store" },
	{ "memoryBacking", "host memory backing" },
	{ "seclabel", "security label of the source host" },
	{ "metadata", "application data that host hooks read" },
	{ "sysinfo", "SMBIOS data of the source" },
	{ "smbios", "SMBIOS data of a host" },
	{ "cputune", "pinning to host CPUs" },
	{ "numatune", "pinning to host NUMA nodes" },
	{ "iothreadids", "pinning to host CPUs" },
	{ "vcpus", "per-vCPU pinning and hotplug" },
	{ "blkiotune", "host resource tuning" },
	{ "memtune", "host resource tuning" },
	{ "resource", "host resource partition" },
	{ "perf", "host perf events" },
	{ "keywrap", "host crypto" },
	{ "launchSecurity", "confidential computing bound to the source host" },
	{ "lease", "host lock space" },
	{ "bootloader", "host path: a bootloader of the host" },
	{ "idmap", "host id mapping" },
	{ "backingStore", "host path: the point's clone is the image" },
	{ "encryption", "secret of the source host" },
	{ "auth", "credentials of the source host" },
	{ "alias", "names the source's device" },
	{ "source", "a path, device or service of the source host" },
};

/* ---- lookups ---------------------------------------------------------- */

const struct dx_rule *
dx_root(void)
{
	return &r_root;
}

const struct dx_rule *
dx_made_rule(enum dx_made which)
{
	static const struct dx_rule *const made[] = {
		[DX_MADE_DISK] = &r_disk, [DX_MADE_CDROM] = &r_cdrom,
		[DX_MADE_NIC] = &r_nic, [DX_MADE_CPU] = &r_cpu_rule,
	};

	return made[which];
}

const struct dx_rule *
dx_child(const struct dx_rule *parent, const char *name)
{
	for (const struct dx_rule *r = parent->children; r && r->name; r++)
		if (strcmp(r->name, name) == 0)
			return r;
	return NULL;
}

const struct dx_attr *
dx_attr(const struct dx_rule *rule, const char *name)
{
	for (const struct dx_attr *a = rule->attrs; a && a->name; a++)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

bool
dx_listed(const char *const *values, const char *v)
{
	for (; values && *values; values++)
		if (strcmp(*values, v) == 0)
			return true;
	return false;
}

bool
dx_nic_type_ok(const char *type)
{
	return type && dx_listed(v_nictypes, type);
}

/* Every byte of v in set (or alnum), length 1..max. */
static bool
charset_ok(const char *v, const char *set, size_t max)
{
	size_t n = strlen(v);

	if (n == 0 || n > max)
		return false;
	for (const char *p = v; *p; p++)
		if (!isascii((unsigned char)*p) || (!isalnum((unsigned char)*p) && !strchr(set, *p)))
			return false;
	return true;
}

/* n hex digits at v, followed by end (or by sep when sep is not 0) */
static bool
hex_run(const char *v, size_t n, char sep)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)v[i]))
			return false;
	return v[n] == sep;
}

static bool
uuid_ok(const char *v)
{
	static const size_t runs[] = { 8, 4, 4, 4, 12 };

	for (size_t i = 0; i < 5; i++) {
		if (!hex_run(v, runs[i], i < 4 ? '-' : '\0'))
			return false;
		v += runs[i] + 1;
	}
	return true;
}

static bool
mac_ok(const char *v)
{
	for (size_t i = 0; i < 6; i++)
		if (!hex_run(v + 3 * i, 2, i < 5 ? ':' : '\0'))
			return false;
	return true;
}

bool
dx_value_ok(enum dx_val val, const char *const *values, const char *v)
{
	if (!v)
		return false;
	switch (val) {
	case DX_TOKEN:
		return charset_ok(v, "._:+,-", DX_TOKEN_MAX);
	case DX_UINT:
		return charset_ok(v, "", 20) && strspn(v, "0123456789") == strlen(v);
	case DX_ENUM:
		return dx_listed(values, v);
	case DX_SERIAL:
		return charset_ok(v, " _.+-", DX_TOKEN_MAX);
	case DX_UUID:
		return uuid_ok(v);
	case DX_MAC:
		return mac_ok(v);
	case DX_URANDOM:
		return strcmp(v, "/dev/urandom") == 0;
	case DX_NONE:
		break;
	}
	return false;
}

const char *
dx_drop_reason(const char *name)
{
	for (size_t i = 0; i < sizeof(drop_reasons) / sizeof(drop_reasons[0]); i++)
		if (strcmp(drop_reasons[i].name, name) == 0)
			return drop_reasons[i].why;
	return "not in the allowlist";
}
