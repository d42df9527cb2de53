/* Sender: streams a snapshot's changed extents (or, in a resync, the blocks
 * that differ from the base point's hashes) to the receiver, disk by disk
 * in increasing offsets, each disk closed by DISK_DONE. Worker threads
 * read, hash and compress ahead; the event loop sends in order within the
 * output high-water mark and the bandwidth limit. */
#ifndef NESTOR_AGENT_SENDER_H
#define NESTOR_AGENT_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent_cycle_stats;
struct channel;
struct proto_hash_answer;
struct snapshot;
struct sender;

/* Borrowed by the sender until sender_free (resume_off is copied). */
struct sender_cfg {
	const char *group;
	struct channel *ch;
	struct snapshot *snap;
	int compress_level;        /* 0 = off */
	/* Adapt the level between plain and compress_level to the measured
	 * throughput (zadapt.h); false: every extent at compress_level. */
	bool compress_adapt;
	uint64_t bandwidth;        /* bytes/s on the wire, 0 = unlimited */
	/* Per disk of snap: the receiver holds everything below (UINT64_MAX =
	 * the whole disk). */
	const uint64_t *resume_off;
	/* Counters updated as extents go out; st->resync and st->base_id say
	 * what to send. */
	struct agent_cycle_stats *st;
	/* Everything is out (send the commit) / sending failed (logged).
	 * Either is called once, and the sender stops pumping. */
	void (*on_sent)(void *arg);
	void (*on_fail)(void *arg);
	void *arg;
};

/* Start the workers. NULL on error (logged). */
struct sender *sender_new(const struct sender_cfg *cfg);
/* Stop the workers and free; NULL ok. Before the channel's loop ends. */
void sender_free(struct sender *s);

/* Send what is ready and produce more; call when the output drained. */
void sender_pump(struct sender *s);
/* The cycle ended otherwise: the sender's events stop pumping. NULL ok. */
void sender_halt(struct sender *s);
/* The receiver's answer to a resync hash query. 0 / -1 (logged). */
int sender_on_hashes(struct sender *s, const struct proto_hash_answer *a);
/* Where the producer is, for a progress line (s NULL: 0, 0). */
void sender_position(const struct sender *s, size_t *disk, uint64_t *off);

#endif
