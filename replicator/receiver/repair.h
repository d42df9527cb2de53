/* The receiver's side of a targeted repair (issue 13, item 3): the bad
 * checksum records of a scrubbed point listed for the agent (REPAIR_LIST),
 * then a REPAIR point whose extents must each be one of those records
 * (same range, same hash) and are written into the committed point's own
 * files; at its commit the records are read back and scrub.json updated
 * (verdict ok once nothing bad remains). Called by session.c. */
#ifndef NESTOR_RECEIVER_REPAIR_H
#define NESTOR_RECEIVER_REPAIR_H

#include <stddef.h>
#include <stdint.h>

struct proto_extent;
struct proto_msg;
struct proto_point_begin;
struct proto_repair_query;
struct receiver_config;
struct store;
struct zdecomp;

/* Records a REPAIR point may carry, beyond which the rest waits for the
 * next repair (the list says MORE). */
#define REPAIR_MAX_OUTSTANDING 65536u

/* A refusal: the wire code (enum proto_error_code) and why, for the ERROR
 * frame (the log line is written where it happens). */
struct repair_why {
	uint32_t code;
	char text[512];
};

/* Answer q (its group authorised and valid): *m becomes a REPAIR_LIST
 * whose entries borrow buf (PROTO_MAX_REPAIR * PROTO_REPAIR_ENTRY_SIZE
 * bytes, the caller's). A point that is committed but not bad is answered
 * "no bad point" (point 0). 0 / -1 (*why). */
int repair_list(struct store *st, const struct proto_repair_query *q, struct proto_msg *m,
		uint8_t *buf, struct repair_why *why);

struct repair;
/* A POINT_BEGIN with the REPAIR flag (group authorised, names valid): the
 * point must be committed, bad in its last scrub, list the point's disks
 * (names and sizes), and fit the group's limits; the group lock is held
 * from here to repair_free. *out owned by the caller. 0 / -1 (*why). */
int repair_begin(const struct receiver_config *cfg, struct store *st,
		 const struct proto_point_begin *b, struct repair **out, struct repair_why *why);
/* One EXTENT: it must be an outstanding record (disk, offset, length,
 * kind; a DATA extent's checksum the record's hash and its plaintext's),
 * else refused with nothing written. zd and plain (PROTO_MAX_EXTENT bytes)
 * are the session's scratch. 0 / -1 (*why). */
int repair_extent(struct repair *r, const struct proto_extent *e, struct zdecomp *zd,
		  uint8_t *plain, struct repair_why *why);
/* POINT_COMMIT: make the writes durable, read each repaired record back
 * through the point, and record what remains bad in scrub.json. 0 / -1
 * (*why). */
int repair_commit(struct repair *r, struct repair_why *why);
/* Release the point and the group lock; writes not committed stay as
 * written (they are the content the checksums say) and the next scrub
 * judges them. NULL ok. */
void repair_free(struct repair *r);

#endif
