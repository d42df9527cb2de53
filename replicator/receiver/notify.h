/* The webhook (issue 16, `notify = URL`): events queued in memory
 * (notifyq.h, bounded) and POSTed as JSON by a thread of its own, retried
 * with exponential back-off, so the event loop never waits on the target. */
#ifndef NESTOR_RECEIVER_NOTIFY_H
#define NESTOR_RECEIVER_NOTIFY_H

struct notify;

/* Events queued at most; the oldest is dropped for a new one past it. */
#define NOTIFY_QUEUE_MAX 256
/* Back-off between attempts at one event: 1 s doubling up to 60 s. */
#define NOTIFY_BACKOFF_MIN_S 1
#define NOTIFY_BACKOFF_MAX_S 60

/* Start delivering to url (as the config loader checked it); an https
 * target's certificate is checked against the PEM file ca, NULL: the
 * system's CAs. NULL on error (logged). */
struct notify *notify_new(const char *url, const char *ca);
/* What notify_new would refuse of url and ca, without starting anything
 * (nestor config check). 0 / -1 (logged). */
int notify_check(const char *url, const char *ca);
/* Stop the thread, cutting an attempt in flight short; events still
 * queued are lost (their count logged). NULL ok. */
void notify_free(struct notify *n);

/* Queue body (one JSON object; owned by the queue from now on). Never
 * waits on the network; safe from any thread. */
void notify_post(struct notify *n, char *body);

/* body (a /metrics page, malloc'd) with the webhook's families appended:
 * returns the new page (body is freed) or body itself when out of memory. */
char *notify_metrics_append(struct notify *n, char *body);

#endif
