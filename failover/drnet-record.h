/* The durable records of what failovers' DR networks made on this host:
 * per group <store>/<group>/failover-net.json (its networks, reservations,
 * published ports), written before anything is made, and the store-wide
 * <store>/.drnet.json (a sysctl Nestor changed). Release removes exactly
 * what they name. A lock serialises the failovers and releases of a store. */
#ifndef NESTOR_FAILOVER_DRNET_RECORD_H
#define NESTOR_FAILOVER_DRNET_RECORD_H

#include <stdbool.h>

#include <jansson.h>

/* Take the store's DR network lock (blocks); the fd to give back to
 * drnet_record_unlock, or -1 (logged). */
int drnet_record_lock(const char *root);
void drnet_record_unlock(int fd);

/* Save group's record durably. 0 / -1 (logged). */
int drnet_record_save(const char *root, const char *group, const json_t *rec);
/* group's record (caller decrefs); NULL when there is none (*absent) or it
 * cannot be read (logged). */
json_t *drnet_record_load(const char *root, const char *group, bool *absent);
/* The records of every group of the store but skip (NULL: all), as an
 * array (caller decrefs); NULL on error (logged). */
json_t *drnet_record_load_all(const char *root, const char *skip);
/* Remove group's record durably (absent is fine). 0 / -1 (logged). */
int drnet_record_remove(const char *root, const char *group);

/* The store-wide record (caller decrefs): {"ip_forward_was": 0} when Nestor
 * turned IPv4 forwarding on. NULL when absent (*absent) or unreadable. */
json_t *drnet_record_host_load(const char *root, bool *absent);
int drnet_record_host_save(const char *root, const json_t *rec);
int drnet_record_host_remove(const char *root);

#endif
