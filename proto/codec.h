/* Nestor wire protocol: frame layout, message structs and a pure codec
 * (bytes <-> structs, no I/O, no allocation). All integers big-endian.
 *
 * Frame = 16-byte header + payload:
 *   u32 magic 'NSTR' | u16 version | u16 type | u32 flags | u32 payload length
 * The header is checked on its own first (magic, version, known type, flags
 * known for that type, length <= PROTO_MAX_PAYLOAD) so a reader can bound the
 * payload before buffering it. Strings are u16 length + bytes (no NUL inside,
 * bounded per field); unknown types/flags/kinds, short or trailing payload
 * bytes and oversize fields are errors.
 *
 * Type bands (tmux-style): 1-15 session, 16-47 replication, 48-63 queries,
 * 64-95 errors, 96-111 reverse replication (failback). A new type or field
 * bumps PROTO_VERSION; a header of another version is refused, so both
 * ends of a connection run the same protocol (version 2: the reverse band,
 * issue 14). */
#ifndef NESTOR_PROTO_CODEC_H
#define NESTOR_PROTO_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC        0x4E535452u /* "NSTR" */
#define PROTO_VERSION      2
#define PROTO_HDR_SIZE     16
#define PROTO_MAX_EXTENT   (1u << 20)            /* plaintext bytes per DATA extent */
#define PROTO_MAX_ZERO     (1ull << 30)          /* bytes per ZERO/DISCARD extent */
#define PROTO_MAX_PAYLOAD  (PROTO_MAX_EXTENT + 65536u)
#define PROTO_MAX_META     (PROTO_MAX_EXTENT)    /* POINT_COMMIT metadata blob */
#define PROTO_NAME_MAX     64                    /* group / disk names */
#define PROTO_PEER_MAX     255                   /* agent name in HELLO */
#define PROTO_TEXT_MAX     1024                  /* ERROR text */
#define PROTO_MAX_DISKS    64
#define PROTO_MAX_HASHES   16384                 /* per HASH_ANSWER */
#define PROTO_MAX_DISK_SIZE (1ull << 50)         /* 1 PiB */

enum proto_type {
	PROTO_HELLO = 1,          /* both directions, first frame */
	PROTO_PROGRESS_QUERY = 16, /* agent -> receiver: what do you have for group? */
	PROTO_PROGRESS = 17,       /* receiver -> agent: answer */
	PROTO_POINT_BEGIN = 18,    /* agent -> receiver */
	PROTO_EXTENT = 19,         /* agent -> receiver */
	PROTO_DISK_DONE = 20,      /* agent -> receiver */
	PROTO_POINT_COMMIT = 21,   /* agent -> receiver */
	PROTO_COMMITTED = 22,      /* receiver -> agent */
	PROTO_HASH_QUERY = 48,     /* agent -> receiver: block hashes of a point */
	PROTO_HASH_ANSWER = 49,    /* receiver -> agent */
	PROTO_REPAIR_QUERY = 50,   /* agent -> receiver: bad ranges of a scrubbed point */
	PROTO_REPAIR_LIST = 51,    /* receiver -> agent: answer */
	PROTO_ERROR = 64,          /* both directions; sender closes after it */
	/* Reverse replication (failback, docs/failback-design.md): the agent
	 * asks the receiver to send the failed-over VMs back over the agent's
	 * own connection; the session's roles then invert. */
	PROTO_REVERSE_BEGIN = 96,  /* agent -> receiver: reverse stream of group */
	PROTO_REVERSE_RANGES = 97, /* agent -> receiver: on-prem dirty ranges X */
	PROTO_REVERSE_FINISH = 98, /* agent -> receiver: failback finish, or its release */
	PROTO_REVERSE_DONE = 99,   /* receiver -> agent: the answer: point F */
};

/* REVERSE_FINISH and REVERSE_DONE were defined (issue 14, failback
 * finish) inside version 2 without a bump: REVERSE_FINISH was codec-only,
 * refused by every receiver as "not served yet", and REVERSE_DONE answers
 * it only, so no peer of the earlier version 2 sends or receives either
 * (an older receiver refuses the longer REVERSE_FINISH as malformed). */

/* Capabilities in HELLO. */
#define PROTO_CAP_ZSTD     (1u << 0)
#define PROTO_CAPS_KNOWN   (PROTO_CAP_ZSTD)

/* Header flags. Only EXTENT, PROGRESS, POINT_BEGIN, HASH_ANSWER,
 * REPAIR_LIST, REVERSE_BEGIN and REVERSE_RANGES define one; all others
 * must be 0. */
#define PROTO_FLAG_EXTENT_RESYNC (1u << 0) /* extent sent by a hash-compare resync */
/* HASH_ANSWER stopped at the receiver's bound on bytes hashed per query,
 * not at the disk's end: the blocks from offset + count * block_size are
 * to be asked again. An agent that predates it refuses the frame (unknown
 * flag) instead of reading the missing blocks as zeros. */
#define PROTO_FLAG_HASH_MORE     (1u << 0)
/* POINT_BEGIN of a targeted repair (issue 13, item 3): the point is a
 * committed one whose last scrub failed; its EXTENTs must each be one of
 * the entries of the REPAIR_LIST the receiver gave for it. */
#define PROTO_FLAG_BEGIN_REPAIR  (1u << 0)
/* POINT_BEGIN of the final point of a planned failover (issue 14, item 5):
 * the source VMs were shut down for it; the agent stops replicating the
 * group once it is committed. Exclusive with BEGIN_REPAIR. */
#define PROTO_FLAG_BEGIN_FINAL   (1u << 2)
/* PROGRESS answering a PROGRESS_QUERY while a planned failover of the
 * group is requested: shut the source down and send a final point. An
 * agent that predates it refuses the frame (unknown flag) and its cycles
 * fail loudly instead of replicating on as if nothing were asked. */
#define PROTO_FLAG_PROGRESS_PLANNED (1u << 0)
/* PROGRESS answering a PROGRESS_QUERY while the group is failed over at
 * the DR site (issue 14): the agent begins no snapshot, so the on-prem
 * disks and their change tracking stay as of the failover's point until
 * failback. Bit 2: bit 1 stays unknown. Exclusive with PLANNED (a
 * failed-over group has no planned failover to make). */
#define PROTO_FLAG_PROGRESS_FAILED_OVER (1u << 2)
/* PROGRESS answering a PROGRESS_QUERY while the group's planned failover
 * was abandoned after its agent acted on it (issue 14): the final point
 * will not be booted (the failover failed, was cancelled, timed out, or
 * its command died). The agent stops awaiting the failover and resumes
 * forward cycles; the receiver drops the record at its next ordinary
 * POINT_BEGIN. Bit 4: bits 1 and 3 stay unknown. Exclusive with PLANNED
 * and FAILED_OVER. An agent that predates it refuses the frame (unknown
 * flag): its cycles of the group fail loudly until it is upgraded or
 * the record is removed (`nestor failover --planned-cancel GROUP`). */
#define PROTO_FLAG_PROGRESS_ABANDONED (1u << 4)
#define PROTO_FLAGS_PROGRESS \
	(PROTO_FLAG_PROGRESS_PLANNED | PROTO_FLAG_PROGRESS_FAILED_OVER | PROTO_FLAG_PROGRESS_ABANDONED)
/* REVERSE_BEGIN: X, the on-prem disks' changes since the failover's
 * point, follows as REVERSE_RANGES frames up to one with RANGES_END.
 * Without it the agent knows no X (the hash mode, a later step). */
#define PROTO_FLAG_REVERSE_RANGES (1u << 0)
/* REVERSE_BEGIN: the on-prem disks are new, empty images (the old ones
 * are lost): X is every disk whole, so a first reverse point is a full
 * copy with holes as zero extents. Only a bare RANGES_END follows (no
 * ranges: the agent does not know the sizes). Exclusive with
 * REVERSE_RANGES; a receiver that predates it refuses the unknown flag. */
#define PROTO_FLAG_REVERSE_FULL   (1u << 1)
/* REVERSE_FINISH: release the failover (the agent's cutover is done and
 * verified at point F); without it: shut the failed-over VMs down, send
 * the final reverse point, make point F. */
#define PROTO_FLAG_FINISH_RELEASE (1u << 0)
/* REVERSE_DONE: the failover is released (answers FINISH_RELEASE). */
#define PROTO_FLAG_DONE_RELEASED  (1u << 0)
/* REVERSE_FINISH's shutdown timeout, seconds. */
#define PROTO_MAX_SHUTDOWN_S     86400u
/* Point ids in REVERSE_FINISH / REVERSE_DONE (the catalog's bound). */
#define PROTO_MAX_POINT_ID       (UINT64_C(1) << 62)
/* REVERSE_RANGES: more frames of this disk follow (its list goes on at or
 * after this frame's last end). */
#define PROTO_FLAG_RANGES_MORE   (1u << 0)
/* REVERSE_RANGES: the last frame of X (no disk continues; disks never
 * named have no changes). Exclusive with RANGES_MORE. */
#define PROTO_FLAG_RANGES_END    (1u << 1)
/* Ranges per REVERSE_RANGES frame and the bytes of one on the wire. */
#define PROTO_MAX_RANGES         4096
#define PROTO_RANGE_SIZE         16u /* u64 offset, u64 length */
/* REPAIR_LIST was cut at PROTO_MAX_REPAIR entries: ask again after these. */
#define PROTO_FLAG_REPAIR_MORE   (1u << 0)
/* Entries per REPAIR_LIST and the bytes of one on the wire. */
#define PROTO_MAX_REPAIR         4096
#define PROTO_REPAIR_ENTRY_SIZE  27u /* u16 disk, u8 kind, u64 offset, length, hash */

enum proto_extent_kind { PROTO_KIND_DATA = 1, PROTO_KIND_ZERO = 2, PROTO_KIND_DISCARD = 3 };
enum proto_comp { PROTO_COMP_NONE = 0, PROTO_COMP_ZSTD = 1 };

/* Error codes carried in ERROR frames (on the wire, stable). */
enum proto_error_code {
	PROTO_ERR_PROTOCOL = 1,   /* malformed frame / bad sequence */
	PROTO_ERR_AUTH = 2,       /* not authorised for the group */
	PROTO_ERR_CHECKSUM = 3,   /* extent checksum mismatch */
	PROTO_ERR_STORE = 4,      /* receiver storage failure (e.g. ENOSPC) */
	PROTO_ERR_CONFLICT = 5,   /* base/point mismatch, group failed over */
	PROTO_ERR_NOTFOUND = 6,
	PROTO_ERR_INTERNAL = 7,
};

/* Codec return codes (negative). */
enum proto_status {
	PROTO_OK = 0,
	PROTO_E_SHORT = -1,     /* buffer shorter than a header */
	PROTO_E_MAGIC = -2,
	PROTO_E_VERSION = -3,
	PROTO_E_TYPE = -4,      /* unknown message type */
	PROTO_E_FLAGS = -5,     /* unknown flag bits */
	PROTO_E_TOOBIG = -6,    /* length above a cap */
	PROTO_E_TRUNC = -7,     /* payload ends inside a field */
	PROTO_E_TRAILING = -8,  /* bytes left after the last field */
	PROTO_E_RANGE = -9,     /* value out of range (offset+length overflow, count, size) */
	PROTO_E_STRING = -10,   /* empty where required, NUL inside, too long */
	PROTO_E_KIND = -11,     /* unknown extent kind / compression / caps */
	PROTO_E_NOSPACE = -12,  /* encode: output buffer too small */
};
const char *proto_strerror(int status);
/* Text for an ERROR frame's code (enum proto_error_code). */
const char *proto_error_code_name(uint32_t code);

struct proto_hdr {
	uint16_t version;
	uint16_t type;
	uint32_t flags;
	uint32_t length; /* payload bytes after the header */
};

struct proto_hello {
	uint16_t version_min, version_max;
	uint32_t caps;
	char peer[PROTO_PEER_MAX + 1]; /* free text, may be empty */
};

struct proto_progress_query {
	char group[PROTO_NAME_MAX + 1];
};

struct proto_disk_progress {
	char name[PROTO_NAME_MAX + 1];
	uint64_t durable_offset; /* every extent below this offset is durable */
	uint8_t done;            /* DISK_DONE received and flushed */
};

struct proto_progress {
	uint32_t flags;         /* header flags (PROTO_FLAG_PROGRESS_*) */
	char group[PROTO_NAME_MAX + 1];
	uint64_t last_point;    /* newest committed point id, 0 = none */
	uint64_t pending_point; /* point being received, 0 = none */
	uint64_t pending_base;
	uint16_t ndisks;        /* disks of the pending point */
	struct proto_disk_progress disks[PROTO_MAX_DISKS];
};

struct proto_disk {
	char name[PROTO_NAME_MAX + 1];
	uint64_t size; /* bytes, > 0, <= PROTO_MAX_DISK_SIZE */
};

struct proto_point_begin {
	uint32_t flags;     /* header flags (PROTO_FLAG_BEGIN_REPAIR or _FINAL) */
	char group[PROTO_NAME_MAX + 1];
	uint64_t point_id;  /* > 0 */
	uint64_t base_id;   /* 0 = full seed */
	uint64_t time_ns;   /* snapshot instant, unix time in ns */
	uint16_t ndisks;    /* 1..PROTO_MAX_DISKS */
	struct proto_disk disks[PROTO_MAX_DISKS];
};

struct proto_extent {
	uint32_t flags;     /* header flags (PROTO_FLAG_EXTENT_*) */
	uint16_t disk;      /* index into POINT_BEGIN's disk list */
	uint8_t kind;       /* enum proto_extent_kind */
	uint8_t comp;       /* enum proto_comp; NONE for ZERO/DISCARD */
	uint64_t offset;
	uint64_t length;    /* plaintext bytes: DATA <= PROTO_MAX_EXTENT, else <= PROTO_MAX_ZERO */
	uint64_t checksum;  /* XXH3-64 of the plaintext (DATA only, 0 otherwise) */
	const uint8_t *data; /* borrowed from the decoded buffer; NULL unless DATA */
	size_t data_len;    /* bytes on the wire: == length if NONE, <= bound if ZSTD */
};

struct proto_disk_done {
	uint16_t disk;
};

struct proto_point_commit {
	uint64_t point_id;
	const uint8_t *meta; /* borrowed; opaque (e.g. source domain XML) */
	size_t meta_len;     /* <= PROTO_MAX_META */
};

struct proto_committed {
	uint64_t point_id;
};

struct proto_hash_query {
	char group[PROTO_NAME_MAX + 1];
	uint64_t point_id;   /* 0 = newest committed */
	char disk[PROTO_NAME_MAX + 1];
	uint64_t offset;     /* multiple of block_size */
	uint32_t block_size; /* power of two, 4 KiB .. 16 MiB */
	uint32_t count;      /* 1..PROTO_MAX_HASHES */
};

struct proto_hash_answer {
	uint64_t point_id;   /* the point actually hashed */
	uint64_t offset;
	uint32_t block_size;
	uint32_t count;      /* 0..PROTO_MAX_HASHES; fewer than asked at the disk's end */
	uint32_t flags;      /* header flags (PROTO_FLAG_HASH_MORE: fewer, ask again) */
	const uint8_t *hashes; /* borrowed: count * 8 bytes, big-endian XXH3-64 per block */
};

/* Which scrubbed point's bad records to list: point, or with point 0 the
 * newest point with a bad verdict whose id is below `before` (0 = no
 * bound), so an agent walks every bad point once, newest first. */
struct proto_repair_query {
	char group[PROTO_NAME_MAX + 1];
	uint64_t point;  /* 0 = the newest bad point (below before) */
	uint64_t before; /* only with point 0; 0 = no bound */
};

/* One checksum record that failed its last scrub: exactly what a repair
 * EXTENT must carry. */
struct proto_repair_entry {
	uint16_t disk;     /* index into the list's disks */
	uint8_t kind;      /* PROTO_KIND_DATA or PROTO_KIND_ZERO */
	uint64_t offset;
	uint64_t length;   /* DATA <= PROTO_MAX_EXTENT, ZERO <= PROTO_MAX_ZERO */
	uint64_t hash;     /* DATA: XXH3-64 of the content; ZERO: 0 */
};

struct proto_repair_list {
	uint32_t flags;     /* header flags (PROTO_FLAG_REPAIR_MORE) */
	uint64_t point_id;  /* 0 = no such bad point: no disks, no entries */
	uint64_t base_id;   /* the point's base (for its repair POINT_BEGIN) */
	uint16_t ndisks;    /* the point's disks, 0..PROTO_MAX_DISKS */
	struct proto_disk disks[PROTO_MAX_DISKS];
	uint32_t count;     /* 0..PROTO_MAX_REPAIR entries */
	const uint8_t *entries; /* borrowed: count * PROTO_REPAIR_ENTRY_SIZE
				 * bytes (proto_repair_entry_get/_put) */
};

/* Reverse replication of group's failed-over VMs to the asking agent. */
struct proto_reverse_begin {
	uint32_t flags; /* header flags (PROTO_FLAG_REVERSE_RANGES or _FULL) */
	char group[PROTO_NAME_MAX + 1];
};

/* Part of X for one disk: ranges sorted, each of length > 0, none before
 * the previous one's end, all below PROTO_MAX_DISK_SIZE. */
struct proto_reverse_ranges {
	uint32_t flags;  /* header flags (PROTO_FLAG_RANGES_MORE or _END) */
	char disk[PROTO_NAME_MAX + 1]; /* "" only in an END frame with no ranges */
	uint32_t count;  /* 0..PROTO_MAX_RANGES */
	const uint8_t *ranges; /* borrowed: count * PROTO_RANGE_SIZE bytes
				* (proto_range_get / _put) */
};

/* Finish the failback of group: without FINISH_RELEASE, shut its
 * failed-over VMs down (ACPI, at most shutdown_s seconds, then destroy),
 * send the final reverse point and make point F (point 0); with it, release
 * the failover whose VMs' final disks are point F (shutdown_s 0). */
struct proto_reverse_finish {
	uint32_t flags;      /* header flags (PROTO_FLAG_FINISH_RELEASE) */
	char group[PROTO_NAME_MAX + 1];
	uint32_t shutdown_s; /* 1..PROTO_MAX_SHUTDOWN_S; 0 with RELEASE */
	uint64_t point;      /* 0; F (1..PROTO_MAX_POINT_ID) with RELEASE */
};

/* The answer to REVERSE_FINISH: point F holds the failed-over VMs' final
 * disks (base: the receiver's newest point before it; bytes: its own
 * data); with DONE_RELEASED, the failover is released. */
struct proto_reverse_done {
	uint32_t flags;  /* header flags (PROTO_FLAG_DONE_RELEASED) */
	char group[PROTO_NAME_MAX + 1];
	uint64_t point;  /* 1..PROTO_MAX_POINT_ID */
	uint64_t base;   /* < point */
	uint64_t bytes;
};

struct proto_error {
	uint32_t code; /* enum proto_error_code */
	char text[PROTO_TEXT_MAX + 1];
};

struct proto_msg {
	uint16_t type; /* enum proto_type */
	union {
		struct proto_hello hello;
		struct proto_progress_query pquery;
		struct proto_progress progress;
		struct proto_point_begin begin;
		struct proto_extent extent;
		struct proto_disk_done done;
		struct proto_point_commit commit;
		struct proto_committed committed;
		struct proto_hash_query hquery;
		struct proto_hash_answer hanswer;
		struct proto_repair_query rquery;
		struct proto_repair_list rlist;
		struct proto_error error;
		struct proto_reverse_begin rbegin;
		struct proto_reverse_ranges rranges;
		struct proto_reverse_finish rfinish;
		struct proto_reverse_done rdone;
	} u;
};

/* Decode and validate a header from buf (needs PROTO_HDR_SIZE bytes). */
int proto_hdr_decode(const uint8_t *buf, size_t len, struct proto_hdr *hdr);

/* Decode the payload of a frame whose header was validated. Pointers in *msg
 * borrow from payload and are valid as long as it is. */
int proto_decode(const struct proto_hdr *hdr, const uint8_t *payload,
		 struct proto_msg *msg);

/* Encode a whole frame (header + payload) into buf. *out_len = bytes written. */
int proto_encode(const struct proto_msg *msg, uint8_t *buf, size_t cap,
		 size_t *out_len);

/* Like proto_encode but stops before the trailing bulk bytes (EXTENT data,
 * POINT_COMMIT meta, HASH_ANSWER hashes); the header's length counts them.
 * The caller appends exactly *bulk_len bytes (from msg) after *out_len. */
int proto_encode_head(const struct proto_msg *msg, uint8_t *buf, size_t cap,
		      size_t *out_len, size_t *bulk_len);

/* The trailing bulk bytes of msg (EXTENT data, POINT_COMMIT meta,
 * HASH_ANSWER hashes, REPAIR_LIST entries, REVERSE_RANGES ranges), borrowed from msg; NULL, 0 for
 * the other types. */
void proto_msg_bulk(const struct proto_msg *msg, const uint8_t **bulk, size_t *len);

/* Entry i (< l->count) of a REPAIR_LIST that decoded (or validates). */
void proto_repair_entry_get(const struct proto_repair_list *l, uint32_t i,
			    struct proto_repair_entry *e);
/* The wire bytes of e, for building a REPAIR_LIST's entries. */
void proto_repair_entry_put(uint8_t out[PROTO_REPAIR_ENTRY_SIZE],
			    const struct proto_repair_entry *e);

/* Range i (< r->count) of a REVERSE_RANGES that decoded (or validates). */
void proto_range_get(const struct proto_reverse_ranges *r, uint32_t i, uint64_t *offset,
		     uint64_t *length);
/* The wire bytes of one range, for building a REVERSE_RANGES. */
void proto_range_put(uint8_t out[PROTO_RANGE_SIZE], uint64_t offset, uint64_t length);

/* Worst-case frame size without bulk bytes (for stack buffers). */
#define PROTO_HEAD_MAX (PROTO_HDR_SIZE + 16 + PROTO_MAX_DISKS * (2 + PROTO_NAME_MAX + 9) + 2 * (2 + PROTO_NAME_MAX) + 64 + PROTO_TEXT_MAX + PROTO_PEER_MAX)

/* Is [offset, offset+length) inside a disk of disk_size bytes? 0 / PROTO_E_RANGE. */
int proto_extent_check(const struct proto_extent *ext, uint64_t disk_size);

#endif
