/* threadpool.h - a fixed set of worker threads that run indexed tasks.
 *
 * zt_pool_run(p, fn, ctx, n) calls fn(ctx, i, thread) once for every i in [0, n),
 * spread over the workers and the calling thread, and returns when all are done.
 * Ops keep results independent of the thread count by giving every output element
 * to exactly one task whose work does not depend on which thread runs it. */
#ifndef ZT_THREADPOOL_H
#define ZT_THREADPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "zoetrope.h"

typedef struct zt_pool zt_pool;
typedef void (*zt_task_fn)(void *ctx, int64_t task, int thread);

/* n_threads <= 0: one per online CPU. */
zt_status zt_pool_init(zt_pool **p, int n_threads);
void zt_pool_free(zt_pool *p);
int zt_pool_size(const zt_pool *p);
/* p may be NULL: runs every task on the caller. */
void zt_pool_run(zt_pool *p, zt_task_fn fn, void *ctx, int64_t n_tasks);

/* Per-thread scratch that grows on demand and lives until zt_pool_free. NULL when
 * allocation fails. thread is the index passed to the task. */
void *zt_pool_scratch(zt_pool *p, int thread, size_t bytes);
/* Bytes of scratch held by all threads together. */
size_t zt_pool_scratch_bytes(const zt_pool *p);

int zt_cpu_count(void);

#endif
