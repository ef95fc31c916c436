/* arena.h - bump allocator for activations, with save/restore marks and a peak count.
 *
 * Model code allocates what lives for a whole stage first (caches, outputs), saves a
 * mark, allocates a step's temporaries, and restores the mark after the step. The
 * arena reports the most bytes it ever had handed out (peak), which memory planning
 * and tests check; an optional limit turns an overrun into ZT_ERR_NOMEM. */
#ifndef ZT_ARENA_H
#define ZT_ARENA_H

#include <stddef.h>

#include "tensor.h"

typedef struct zt_arena zt_arena;

typedef struct zt_arena_mark {
    size_t block;
    size_t offset;
    size_t used;
} zt_arena_mark;

/* block_size 0 (the usual): one range of address space reserved up front and
 * committed page by page as it is touched, so memory held is the high-water mark and
 * a chunk's tensors never straddle blocks. Otherwise: blocks of block_size bytes,
 * allocated on demand and kept until zt_arena_free. limit: most bytes in use at once
 * (0: none). */
zt_status zt_arena_init(zt_arena **a, size_t block_size, size_t limit);
void zt_arena_free(zt_arena *a);
/* An arena in a backend's memory: one block of capacity bytes from be->alloc (a host
 * backend gives an ordinary arena instead). Its tensors carry be's device; going past
 * capacity fails with ZT_ERR_NOMEM. Size it from the memory plan. */
struct zt_backend;
zt_status zt_arena_init_on(zt_arena **a, struct zt_backend *be, size_t capacity);

/* 64-byte aligned; NULL with the error set (ZT_ERR_NOMEM) on failure. */
void *zt_arena_alloc(zt_arena *a, size_t bytes);
/* A contiguous tensor in the arena. Memory is not cleared. */
zt_status zt_arena_tensor(zt_arena *a, zt_tensor *out, zt_dtype dtype, int ndim,
                          const int64_t *shape);
/* Same, zero-filled. */
zt_status zt_arena_zeros(zt_arena *a, zt_tensor *out, zt_dtype dtype, int ndim,
                         const int64_t *shape);

zt_arena_mark zt_arena_save(const zt_arena *a);
/* Releases everything allocated after the mark (the memory stays reserved). */
void zt_arena_restore(zt_arena *a, zt_arena_mark m);
void zt_arena_reset(zt_arena *a);
/* Release everything allocated after mark m except the bytes at p (allocated after m),
 * which move down to the mark when they share its block and stay put otherwise.
 * Returns where they are now (NULL, with the error set, when p is not in the arena).
 * This is how a chain of layers keeps only its latest output: x = f(x) then keep. */
void *zt_arena_keep(zt_arena *a, zt_arena_mark m, void *p, size_t bytes);
/* zt_arena_keep for a contiguous tensor, updating its data pointer. */
zt_status zt_arena_keep_tensor(zt_arena *a, zt_arena_mark m, zt_tensor *t);

/* Measuring (per thread): while on, arenas hand out and count memory as usual but never
 * write it (zt_arena_zeros skips its memset, zt_arena_keep its memmove), so a model run
 * on the null backend (backend.h) gives the exact peaks of a real run while its pages
 * stay untouched and uncommitted. Memory planning runs this way. */
void zt_arena_set_measuring(int on);
int zt_arena_measuring(void);

size_t zt_arena_used(const zt_arena *a);
size_t zt_arena_peak(const zt_arena *a);
size_t zt_arena_reserved(const zt_arena *a); /* bytes of memory held: blocks, or the touched part of the reserved range */
void zt_arena_reset_peak(zt_arena *a);

#endif
