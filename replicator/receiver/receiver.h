/* The receiver daemon: accepts agents over mutual TLS, authorises them per
 * group and writes their points into the replica store. */
#ifndef NESTOR_RECEIVER_RECEIVER_H
#define NESTOR_RECEIVER_RECEIVER_H

struct receiver_config;
struct store;

/* Open the replica store cfg describes (store.h): local, or ceph with its
 * cluster settings. NULL on error (logged). */
struct store *receiver_store_open(const struct receiver_config *cfg);

/* Serve until SIGINT/SIGTERM. 0 on a clean stop, -1 if it could not start. */
int receiver_run(const struct receiver_config *cfg);

#endif
