/* Writer thread of a point being received: writes of up to STORE_MAX_WRITE
 * bytes and zeroings are queued so that the receiver decodes the next
 * extent while the backend stores this one. Internal to the store. */
#ifndef NESTOR_RECEIVER_STORE_WRITER_H
#define NESTOR_RECEIVER_STORE_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "replicator/receiver/store-backend.h"

struct store_wq;

struct wbudget;

/* Start the thread. be, w, disks and budget (NULL = none) are borrowed and
 * must outlive the queue. NULL on error (logged). */
struct store_wq *store_wq_new(struct store_backend *be, const struct store_where *w,
			      struct store_disk *disks, struct wbudget *budget);
/* Queue a write (data copied into a buffer of the budget, which may wait
 * for room) or, data NULL, a zeroing of disk (joined to the last queued
 * one when it continues it and neither was issued yet). Fails
 * (*err = STORE_ERR_IO, errno as the backend's) once any queued
 * operation failed. 0 / -1. */
int store_wq_push(struct store_wq *q, uint16_t disk, uint64_t offset, const void *data,
		  uint64_t len, int *err);
/* store_wq_push of a write whose buffer the caller filled: buf, of
 * wbudget_get/wbudget_tryget(budget, len), len > 0, is the queue's in
 * every case (given back to the budget on failure). 0 / -1 as above. */
int store_wq_push_owned(struct store_wq *q, uint16_t disk, uint64_t offset, void *buf,
			uint64_t len, int *err);
/* Wait until every queued operation ran. 0 / -1 as above. NULL ok. */
int store_wq_drain(struct store_wq *q, int *err);
/* Stop after the operation in progress; queued ones that did not start are
 * dropped (they were never reported durable). NULL ok. */
void store_wq_free(struct store_wq *q);

#endif
