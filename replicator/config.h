/* Agent and receiver configuration files (INI), loaded into typed structs.
 * Formats are documented in deploy/agent.conf.example and
 * deploy/receiver.conf.example. */
#ifndef NESTOR_REPLICATOR_CONFIG_H
#define NESTOR_REPLICATOR_CONFIG_H

#include "common/log.h"
#include "replicator/retention-policy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent_disk_cfg {
	char name[65];
	char *path;   /* image file; exactly one of path and rbd is set */
	char *format; /* "qcow2", "raw" or NULL = probe */
	char *rbd;    /* "pool/image" of a Ceph RBD image */
};

struct agent_group_cfg {
	char name[65];
	struct agent_disk_cfg *disks;
	size_t ndisks;
	/* [group] domain_xml: space-separated paths of libvirt domain XML files
	 * describing the (offline) VMs whose disks are this group's disk files;
	 * captured with every point for drills and failover. NULL = none. */
	char *domain_xml;
	/* [group] domains: space-separated libvirt domain names (live source);
	 * libvirt_uri: connection URI (default qemu:///system). NULL = unset. */
	char *domains;
	char *libvirt_uri;
	/* [group] ceph_conf (default /etc/ceph/ceph.conf), ceph_client (cephx
	 * id without "client.", default admin) for rbd disks. NULL = default. */
	char *ceph_conf;
	char *ceph_client;
	/* [group] rpo: target age of the newest point in seconds (default
	 * 300); min_interval: least time between cycle starts (default 0). */
	uint64_t rpo_s;
	uint64_t min_interval_s;
	/* [group] bandwidth: bytes per second on the wire for this group's
	 * connection, 0 = unlimited (default). */
	uint64_t bandwidth;
	/* [group] snapshot: how raw image files are read (docs/consistency.md):
	 * auto (default: a reflink copy where the filesystem can, else in
	 * place), reflink (a copy or fail), read (in place). */
	enum agent_file_snapshot { AGENT_SNAP_AUTO = 0, AGENT_SNAP_REFLINK, AGENT_SNAP_READ } snapshot;
	/* [group] consistency_rereads: points committed as not point-in-time
	 * are followed at once by up to this many incrementals that re-read
	 * what changed (0..10, default 1). */
	uint64_t consistency_rereads;
};

struct agent_config {
	char *name;          /* [agent] name, default: gethostname() */
	char *receiver_host; /* [agent] receiver = host:port (required) */
	uint16_t receiver_port;
	char *server_name;   /* [agent] server_name, expected receiver cert CN; default receiver_host */
	char *ca, *cert, *key; /* [agent] ca, cert, key: required paths */
	char *state_dir;     /* [agent] state_dir, required */
	int compress_level;  /* [agent] compress_level -7..19, 0 = off, <0 zstd fast, default 3 */
	bool compress_adapt; /* [agent] compress_adapt: level between plain and compress_level by measured throughput and CPU, default yes */
	enum log_level log_level; /* [agent] log_level error|warn|info|debug, default info */
	uint64_t retry_max_s; /* [agent] retry_max: longest back-off after failures, default 300 */
	uint64_t receiver_timeout_s; /* [agent] receiver_timeout: longest receiver silence, 10s..1d, default 300 */
	uint64_t bandwidth;   /* [agent] bandwidth: bytes/s per connection unless the group sets its own; 0 = unlimited */
	/* [agent] planned_shutdown_timeout: how long a planned failover waits
	 * for the source VMs to shut down (1s..1d, default 5m); control_poll:
	 * how often the daemon asks the receiver whether one is requested
	 * between cycles (0 = only at cycle starts, else 1s..1h, default 10s). */
	uint64_t planned_shutdown_s;
	uint64_t control_poll_s;
	char *metrics_host;   /* [agent] metrics = host:port of the daemon's Prometheus endpoint; NULL = off */
	uint16_t metrics_port;
	struct agent_group_cfg *groups; /* in file order; disks in file order */
	size_t ngroups;
};

/* Load and validate; every error is logged once as "PATH:LINE: message" and
 * -1 returned. *out is owned by the caller (agent_config_free). */
int agent_config_load(const char *path, struct agent_config **out);
/* Same from a string (tests, fuzzing); name stands in for the path. */
int agent_config_load_string(const char *name, const char *text,
			     struct agent_config **out);
void agent_config_free(struct agent_config *c);

struct receiver_client_cfg {
	char *peer; /* cert CN */
	char **groups;
	size_t ngroups;
	int all_groups; /* groups = * */
};

/* Limits of one group's points (issue 12 section 3), set in [receiver] as
 * defaults and per [group NAME]; checked at POINT_BEGIN before anything is
 * created (replicator/receiver/limits.h). In a group, RX_INHERIT = take
 * the [receiver] value. */
struct group_limits {
	uint64_t max_disk_size; /* max_disk_size: bytes per disk, default 1P (the wire's) */
	uint64_t max_disks;     /* max_disks: disks per point, default 64 (the wire's) */
	uint64_t quota;         /* quota: bytes of the group's store, 0 = none (default) */
};

/* [group NAME] of the receiver: per-group settings. */
struct receiver_group_cfg {
	char name[65];
	/* retention = AGE:INTERVAL,... or forever (docs/retention.md); ntiers
	 * 0 and not forever = unset: [receiver]'s, else RETENTION_DEFAULT. */
	struct retention_policy retention;
	struct group_limits limits; /* RX_INHERIT fields: [receiver]'s */
	/* History rules (docs/retention.md); RX_INHERIT = the [receiver] value. */
	uint64_t max_clock_skew_s;
	uint64_t immutable_s;
	uint64_t min_points;
	uint64_t rpo_s; /* rpo; RX_INHERIT = the [receiver] value */
};

/* [network NAME] (issue 15, docs/network.md): a DR network the NICs of a
 * failed-over VM join when their on-prem network or bridge is one of its
 * sources. Addresses are IPv4 in host byte order. */
#define RX_NET_MAX_LIST 16
#define RX_WG_PORT_DEFAULT 51820
struct rx_publish {
	bool udp;
	uint16_t port;           /* on the external side */
	char vm[65];             /* checked against the point's VMs at failover */
	uint16_t vm_port;
};

struct receiver_network_cfg {
	char name[65];
	char bridge[16];         /* "nst-...": derived from name, unique */
	int line;                /* of the section header, for errors */
	uint32_t subnet;         /* subnet (required), host bits zero */
	unsigned prefix;         /* 8..30 */
	uint32_t gateway;        /* gateway, default subnet + 1 */
	bool dhcp;               /* dhcp, default on */
	uint32_t dhcp_first;     /* dhcp_range A-B, default the upper half */
	uint32_t dhcp_last;
	uint32_t dns[RX_NET_MAX_LIST]; /* dns: resolvers handed out */
	size_t ndns;
	bool nat;                /* nat, default on */
	char *sources[RX_NET_MAX_LIST]; /* sources: on-prem networks/bridges */
	size_t nsources;
	struct rx_publish publish[RX_NET_MAX_LIST]; /* publish */
	size_t npublish;
	char *external;          /* external: interface or address; NULL = the
				  * default route's interface */
	/* The WireGuard site link (docs/network.md, WireGuard): one interface
	 * per network, brought up with it at failover. */
	bool wireguard;          /* wireguard, default off */
	uint16_t wg_port;        /* wg_port: UDP, default 51820, unique */
	uint32_t wg_addr;        /* wg_address: the DR host's tunnel address */
	unsigned wg_prefix;      /* ... and its prefix, 8..30 */
	char wg_if[16];          /* "nsw-...": derived from name like bridge */
};

/* A [group] history key left unset takes the [receiver] value. */
#define RX_INHERIT UINT64_MAX

/* What a group's history obeys (issue 12, section 1): a point's snapshot
 * time at most max_clock_skew_s ahead of the receiver's clock; no point
 * received less than immutable_s ago removed (0 = off); the newest
 * min_points points never removed by retention. */
struct receiver_history_cfg {
	uint64_t max_clock_skew_s; /* max_clock_skew, default 300 */
	uint64_t immutable_s;      /* immutable, default 0 (off) */
	uint64_t min_points;       /* retention_min_points, default 3 */
};

struct receiver_config {
	char *listen_host; /* [receiver] listen = host:port, required */
	uint16_t listen_port;
	char *ca, *cert, *key; /* [receiver] required */
	char *store_dir;       /* [receiver] store, required (catalogs; data too if local) */
	bool store_ceph;       /* [receiver] store_backend = local (default) | ceph */
	char *ceph_conf;       /* [receiver] ceph_conf, ceph_client, ceph_pool: ceph backend */
	char *ceph_client;
	char *ceph_pool;
	enum log_level log_level; /* [receiver] log_level, default info */
	/* Connection hygiene (docs/security.md): handshake_timeout (default
	 * 10 s), idle_timeout of an authenticated session (default 1 h, 0 =
	 * off), stall_timeout: output pending with none of it read by the
	 * peer (default 60 s, 0 = off), max_conns (1024; lowered at start to fit RLIMIT_NOFILE),
	 * max_conns_per_client (per certificate CN, 16), max_conns_per_address
	 * (per source address, IPv6 per /64, handshakes included, 64). */
	unsigned handshake_timeout_s;
	unsigned idle_timeout_s;
	unsigned stall_timeout_s;
	unsigned max_conns;
	unsigned max_conns_per_client;
	unsigned max_conns_per_address;
	uint64_t checkpoint_bytes; /* [receiver] checkpoint_interval size, default 64M, 1M..4G */
	char *metrics_host;    /* [receiver] metrics = host:port of the Prometheus endpoint; NULL = off */
	uint16_t metrics_port;
	struct group_limits limits; /* [receiver] defaults of the [group] limits */
	/* [receiver] max_hash_bytes_per_query: bytes read and hashed for one
	 * HASH_QUERY (default 64M, 16M..16G); a longer query gets a partial answer. */
	uint64_t max_hash_bytes;
	/* [receiver] session_output_max: a session whose unsent output exceeds
	 * it is not read until the peer took it (default 4M, 256K..64M). */
	uint64_t session_output_max;
	/* [receiver] max_nbd_total: qemu-nbd processes at once (default 64,
	 * 1..4096); max_nbd_per_session: disks of one point written at once,
	 * each holding one until its DISK_DONE (default 4, 1..64). */
	uint64_t max_nbd_total;
	uint64_t max_nbd_per_session;
	/* [receiver] write_buffer_total: buffers of the writes queued for the
	 * store, all points together (default 256M, 1M..64G; issue 17). */
	uint64_t write_buffer_total;
	/* [receiver] workers: threads running the heavy steps off the event
	 * loop (hash queries, a point's begin, retention; default 0 = the
	 * online CPUs, 1..64);
	 * work_queue_max: jobs waiting for a worker (default 256, 1..65536),
	 * past which a session is told to retry. */
	uint64_t workers;
	uint64_t work_queue_max;
	/* [receiver] extents_in_flight: a session's extents being decompressed
	 * and verified on workers at once (default 4, 1..64; issue 17): past
	 * it the session is not read until one is written. */
	uint64_t extents_in_flight;
	struct receiver_history_cfg history; /* [receiver] defaults for every group */
	/* What a drill boots (issue 12, section 2; docs/drill.md): at most
	 * drill_max_memory bytes for the drill's VMs together (0 = auto: half
	 * of MemTotal at drill time), drill_max_vcpus per VM, bounding its I/O
	 * threads too (0 = auto: the online CPUs), drill_max_devices per VM
	 * (default 256). A failover only reports a VM over them. */
	uint64_t drill_max_memory;
	uint64_t drill_max_vcpus;
	uint64_t drill_max_devices;
	/* scrub_rate: bytes/s `nestor scrub` reads at (default 100M, 1M..64G),
	 * so it runs beside replication (docs/scrub.md). */
	uint64_t scrub_rate;
	/* retention: the policy of every group without its own (unset:
	 * RETENTION_DEFAULT; forever: keep every point). */
	struct retention_policy retention;
	/* rpo, the RPO target of each group (default 5m, as the agent's,
	 * 1s..366d; [group] rpo overrides): the dashboard's colours, the
	 * metrics, alerts and notify events measure against it.
	 * Monitoring (issue 16; docs/monitoring.md): notify, the URL events
	 * are posted to (http:// or https://; NULL = off); notify_ca, the CA
	 * file an https target's certificate is checked against (NULL = the
	 * system's).
	 * The dashboard on the metrics listener (docs/dashboard.md):
	 * dashboard_auth, a file of user:crypt-hash lines for HTTP basic auth
	 * (NULL = none); dashboard_public, serve without auth beyond loopback
	 * (default no: such a metrics address is refused); rpo_history_size,
	 * bytes of RPO history kept per group (default 1M, 4K..64M). */
	uint64_t rpo_s;
	char *notify_url;
	char *notify_ca;
	char *dashboard_auth;
	bool dashboard_public;
	uint64_t rpo_history_size;
	struct receiver_client_cfg *clients;
	size_t nclients;
	struct receiver_group_cfg *groups; /* in file order */
	size_t ngroups;
	struct receiver_network_cfg *networks; /* [network NAME], in file order */
	size_t nnetworks;
};

int receiver_config_load(const char *path, struct receiver_config **out);
int receiver_config_load_string(const char *name, const char *text,
				struct receiver_config **out);
void receiver_config_free(struct receiver_config *c);
/* The [network] whose sources list src (an on-prem network or bridge
 * name), or NULL; borrowed from c. */
const struct receiver_network_cfg *receiver_config_network_of(const struct receiver_config *c,
							      const char *src);
/* Has peer (cert CN) a [client] section? */
bool receiver_config_has_client(const struct receiver_config *c, const char *peer);
/* Is peer (cert CN) allowed to write group? False for unknown peers. */
bool receiver_config_allows(const struct receiver_config *c, const char *peer,
			    const char *group);
/* group's retention policy: its [group] retention, else [receiver]'s, else
 * RETENTION_DEFAULT; NULL when it is `forever` (keep every point). */
const struct retention_policy *receiver_config_retention(const struct receiver_config *c,
							 const char *group);
/* group's limits: its [group] values over the [receiver] defaults. */
void receiver_config_limits(const struct receiver_config *c, const char *group,
			    struct group_limits *out);
/* group's RPO target in seconds: its [group] rpo over the [receiver] one. */
uint64_t receiver_config_rpo(const struct receiver_config *c, const char *group);
/* group's history rules: its [group] keys over the [receiver] ones. */
void receiver_config_history(const struct receiver_config *c, const char *group,
			     struct receiver_history_cfg *out);

#endif
