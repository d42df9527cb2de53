/* The receiver daemon: accepts agents over mutual TLS, authorises them per
 * group and writes their points into the replica store. */
#ifndef NESTOR_RECEIVER_RECEIVER_H
#define NESTOR_RECEIVER_RECEIVER_H

struct receiver_config;

/* Serve until SIGINT/SIGTERM. 0 on a clean stop, -1 if it could not start. */
int receiver_run(const struct receiver_config *cfg);

#endif
