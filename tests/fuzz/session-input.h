/* The input of the session fuzzer (fuzz-session.c) and of its seed
 * generator (gen-session-seeds.c): records separated by SESSION_SEP, each
 * one control byte then one wire frame (16-byte header + payload). The
 * harness sets the header's length field to the record's, so a mutation
 * that grows or shrinks a frame leaves the others whole. */
#ifndef NESTOR_TESTS_FUZZ_SESSION_INPUT_H
#define NESTOR_TESTS_FUZZ_SESSION_INPUT_H

#define SESSION_SEP     "\xf3" "NsR"
#define SESSION_SEP_LEN 4

/* Control byte. */
#define SESSION_CTL_LANE   0x01 /* which of two sessions (peers) takes the frame */
#define SESSION_CTL_FIXSUM 0x02 /* set a DATA extent's checksum right */

/* The receiver.conf the harness writes: lane 0 is peer "fuzz-a" (groups g1,
 * g2, g3; g3 is failed over), lane 1 is "fuzz-b" (g2 only), so the two
 * sessions meet on g2. */
#define SESSION_PEER_A "fuzz-a"
#define SESSION_PEER_B "fuzz-b"

#endif
