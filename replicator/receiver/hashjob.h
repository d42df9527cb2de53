/* A HASH_QUERY as a job for a worker thread: the query is copied in, the
 * store is read and hashed on the worker, and the answer is built back on
 * the loop thread (issue 12, section 3). */
#ifndef NESTOR_RECEIVER_HASHJOB_H
#define NESTOR_RECEIVER_HASHJOB_H

#include <stdint.h>

struct hashjob;
struct proto_hash_query;
struct proto_msg;
struct store;

/* A job for q (copied) on st (borrowed: it must outlive the job), reading
 * at most max_bytes; owner is the caller's, handed back by hashjob_owner.
 * NULL on error (logged). */
struct hashjob *hashjob_new(struct store *st, const struct proto_hash_query *q,
			    uint64_t max_bytes, void *owner);
/* Run the query (any thread; a workpool_fn). Touches only the job and the
 * store. */
void hashjob_run(void *job);
/* The answer after hashjob_run: 0 with m a HASH_ANSWER whose hashes are
 * borrowed from the job; -1 with *err (enum store_err) when the store
 * refused. */
int hashjob_answer(const struct hashjob *j, struct proto_msg *m, int *err);
/* The query the job answers. */
const struct proto_hash_query *hashjob_query(const struct hashjob *j);
/* The owner given to hashjob_new, NULL once disowned (its session went
 * away while the job ran). */
void *hashjob_owner(const struct hashjob *j);
void hashjob_disown(struct hashjob *j);
/* NULL ok. */
void hashjob_free(struct hashjob *j);

#endif
