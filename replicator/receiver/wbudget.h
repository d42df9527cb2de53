/* The receiver's budget for write-queue buffers, shared by every point
 * being received ([receiver] write_buffer_total, issue 17): a queued write
 * holds a buffer of its own length from the budget until the backend wrote
 * it, so a session between frames holds none and all sessions together
 * hold at most the budget; a push that does not fit waits (back-pressure). */
#ifndef NESTOR_RECEIVER_WBUDGET_H
#define NESTOR_RECEIVER_WBUDGET_H

#include <stddef.h>
#include <stdint.h>

struct wbudget;

/* A budget of total bytes (>= the largest buffer ever asked for). NULL on
 * error (logged). */
struct wbudget *wbudget_new(uint64_t total);
/* Every buffer must have been given back. NULL ok. */
void wbudget_free(struct wbudget *b);
/* A buffer of len bytes, owned by the caller until wbudget_put. Waits while
 * the budget cannot hold len more bytes; b NULL = no budget (plain malloc).
 * NULL when out of memory or len exceeds the total (logged). */
void *wbudget_get(struct wbudget *b, size_t len);
/* wbudget_get without the wait: NULL, nothing logged, when the budget
 * cannot hold len more bytes now (or len exceeds the total); NULL also
 * when out of memory (logged). For a caller that must never wait (a
 * buffer taken ahead of its write: issue 17, extentjob.h). */
void *wbudget_tryget(struct wbudget *b, size_t len);
/* Give back a buffer of wbudget_get(b, len). buf NULL ok. */
void wbudget_put(struct wbudget *b, void *buf, size_t len);
/* Bytes held now, and how many gets had to wait so far (tests, figures). */
void wbudget_stats(struct wbudget *b, uint64_t *used, uint64_t *waits);

#endif
