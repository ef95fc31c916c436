#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "status.h"

#define POOL_MAX_THREADS 256

typedef struct scratch {
    void *ptr;
    size_t size;
} scratch;

typedef struct zt_pool zt_pool;

typedef struct worker_arg {
    zt_pool *p;
    int index;
} worker_arg;

struct zt_pool {
    int n; /* threads including the caller */
    pthread_t threads[POOL_MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t start_cv;
    pthread_cond_t done_cv;
    uint64_t generation; /* bumped for each run */
    int quit;
    int active; /* workers still inside the current run */
    zt_task_fn fn;
    void *ctx;
    int64_t n_tasks;
    atomic_int_fast64_t next;
    scratch scratch[POOL_MAX_THREADS];
    worker_arg args[POOL_MAX_THREADS];
};


int zt_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void run_tasks(zt_pool *p, int thread) {
    for (;;) {
        int64_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n_tasks) break;
        p->fn(p->ctx, i, thread);
    }
}

static void *worker_main(void *arg) {
    zt_pool *p = ((worker_arg *)arg)->p;
    int index = ((worker_arg *)arg)->index;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->start_cv, &p->mu);
        if (p->quit) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        run_tasks(p, index);
        pthread_mutex_lock(&p->mu);
        if (--p->active == 0) pthread_cond_signal(&p->done_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

zt_status zt_pool_init(zt_pool **out, int n_threads) {
    if (n_threads <= 0) n_threads = zt_cpu_count();
    if (n_threads > POOL_MAX_THREADS) n_threads = POOL_MAX_THREADS;
    zt_pool *p = calloc(1, sizeof *p);
    if (!p) return zt_fail(ZT_ERR_NOMEM, "thread pool: out of memory");
    p->n = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    for (int i = 1; i < n_threads; i++) {
        p->args[i].p = p;
        p->args[i].index = i;
        int rc = pthread_create(&p->threads[i], NULL, worker_main, &p->args[i]);
        if (rc != 0) {
            zt_pool_free(p);
            return zt_fail(ZT_ERR_RUNTIME, "thread pool: cannot start thread %d: %s", i,
                           strerror(rc));
        }
        p->n = i + 1;
    }
    *out = p;
    return ZT_OK;
}

void zt_pool_free(zt_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->start_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    for (int i = 0; i < POOL_MAX_THREADS; i++) free(p->scratch[i].ptr);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start_cv);
    pthread_cond_destroy(&p->done_cv);
    free(p);
}

int zt_pool_size(const zt_pool *p) { return p ? p->n : 1; }

void zt_pool_run(zt_pool *p, zt_task_fn fn, void *ctx, int64_t n_tasks) {
    if (n_tasks <= 0) return;
    if (!p || p->n == 1 || n_tasks == 1) {
        for (int64_t i = 0; i < n_tasks; i++) fn(ctx, i, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    p->active = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start_cv);
    pthread_mutex_unlock(&p->mu);
    run_tasks(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->active > 0) pthread_cond_wait(&p->done_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static _Thread_local scratch caller_scratch; /* for p == NULL: ops run without a pool */

void *zt_pool_scratch(zt_pool *p, int thread, size_t bytes) {
    scratch *s = p ? &p->scratch[thread] : &caller_scratch;
    if (s->size < bytes) {
        free(s->ptr);
        size_t size = (bytes + 4095) & ~(size_t)4095;
        s->ptr = aligned_alloc(64, size);
        s->size = s->ptr ? size : 0;
        if (!s->ptr) {
            zt_fail(ZT_ERR_NOMEM, "scratch: cannot allocate %zu bytes", bytes);
            return NULL;
        }
    }
    return s->ptr;
}

size_t zt_pool_scratch_bytes(const zt_pool *p) {
    size_t n = 0;
    if (!p) return caller_scratch.size;
    for (int i = 0; i < POOL_MAX_THREADS; i++) n += p->scratch[i].size;
    return n;
}
