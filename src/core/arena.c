#include "arena.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../backends/backend.h"
#include "status.h"

#define ARENA_ALIGN 64
#define ARENA_DEFAULT_BLOCK ((size_t)64 << 20)
#define ARENA_MAX_BLOCKS 256
/* The default arena is one range of address space this large, reserved but not
 * committed: pages cost memory only once touched, so the arena never wastes the
 * ends of blocks and its resident size is its high-water mark. */
#define ARENA_RESERVE ((size_t)1 << 40)

static _Thread_local int measuring;

static size_t align_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }
static size_t align_up_size(size_t n) { return align_up(n); }

void zt_arena_set_measuring(int on) { measuring = on; }
int zt_arena_measuring(void) { return measuring; }

struct zt_arena {
    size_t block_size;
    size_t limit;
    void *blocks[ARENA_MAX_BLOCKS];
    size_t sizes[ARENA_MAX_BLOCKS];
    size_t nblocks; /* blocks allocated */
    size_t cur;     /* block in use */
    size_t offset;  /* next free byte in blocks[cur] */
    size_t used;
    size_t peak;
    int mapped;  /* blocks[0] is the reserved range */
    zt_backend *be; /* device arenas: blocks[0] is be's memory, the only block */
    size_t high; /* furthest offset handed out in the reserved range */
};

zt_status zt_arena_init(zt_arena **out, size_t block_size, size_t limit) {
    zt_arena *a = calloc(1, sizeof *a);
    if (!a) return zt_fail(ZT_ERR_NOMEM, "arena: out of memory");
    a->block_size = block_size ? block_size : ARENA_DEFAULT_BLOCK;
    a->limit = limit;
    if (!block_size) {
        size_t reserve = limit ? limit + ARENA_ALIGN : ARENA_RESERVE;
        void *p = mmap(NULL, reserve, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) { /* else (address space limits): ordinary blocks */
            a->blocks[0] = p;
            a->sizes[0] = reserve;
            a->nblocks = 1;
            a->mapped = 1;
        }
    }
    *out = a;
    return ZT_OK;
}

zt_status zt_arena_init_on(zt_arena **out, zt_backend *be, size_t capacity) {
    *out = NULL;
    if (!be->device) return zt_arena_init(out, 0, 0);
    zt_arena *a = calloc(1, sizeof *a);
    if (!a) return zt_fail(ZT_ERR_NOMEM, "arena: out of memory");
    capacity = align_up_size(capacity ? capacity : 1);
    zt_status s = be->alloc(be, capacity, &a->blocks[0]);
    if (s != ZT_OK) {
        free(a);
        return zt_fail_wrap(s, "arena of %zu MiB on %s: ", capacity >> 20, be->name);
    }
    a->be = be;
    a->block_size = a->sizes[0] = a->limit = capacity;
    a->nblocks = 1;
    *out = a;
    return ZT_OK;
}

void zt_arena_free(zt_arena *a) {
    if (!a) return;
    if (a->be) {
        a->be->dealloc(a->be, a->blocks[0]);
        free(a);
        return;
    }
    for (size_t i = 0; i < a->nblocks; i++) {
        if (i == 0 && a->mapped)
            munmap(a->blocks[0], a->sizes[0]);
        else
            free(a->blocks[i]);
    }
    free(a);
}


void *zt_arena_alloc(zt_arena *a, size_t bytes) {
    size_t need = align_up(bytes ? bytes : 1);
    if (need < bytes) {
        zt_fail(ZT_ERR_NOMEM, "arena: request of %zu bytes overflows", bytes);
        return NULL;
    }
    if (a->be && a->used + need > a->limit) {
        zt_fail(ZT_ERR_NOMEM, "arena: %zu more bytes pass the %zu bytes of %s memory planned "
                "(in use %zu)", need, a->limit, a->be->name, a->used);
        return NULL;
    }
    if (a->limit && a->used + need > a->limit) {
        zt_fail(ZT_ERR_NOMEM, "arena: %zu more bytes would pass the limit of %zu (in use %zu)",
                need, a->limit, a->used);
        return NULL;
    }
    if (a->nblocks == 0 || a->offset + need > a->sizes[a->cur]) {
        /* move to the next block, reusing a kept one when it is big enough */
        size_t next = a->nblocks == 0 ? 0 : a->cur + 1;
        if (next < a->nblocks && a->sizes[next] < need) {
            for (size_t i = next; i < a->nblocks; i++) free(a->blocks[i]);
            a->nblocks = next;
        }
        if (next >= a->nblocks) {
            if (next >= ARENA_MAX_BLOCKS) {
                zt_fail(ZT_ERR_NOMEM, "arena: more than %d blocks", ARENA_MAX_BLOCKS);
                return NULL;
            }
            size_t size = need > a->block_size ? need : a->block_size;
            void *p = aligned_alloc(ARENA_ALIGN, size);
            if (!p) {
                zt_fail(ZT_ERR_NOMEM, "arena: cannot allocate %zu bytes", size);
                return NULL;
            }
            a->blocks[next] = p;
            a->sizes[next] = size;
            a->nblocks = next + 1;
        }
        a->cur = next;
        a->offset = 0;
    }
    void *p = (char *)a->blocks[a->cur] + a->offset;
    a->offset += need;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    if (a->mapped && a->cur == 0 && a->offset > a->high) a->high = a->offset;
    return p;
}

zt_status zt_arena_tensor(zt_arena *a, zt_tensor *out, zt_dtype dtype, int ndim,
                          const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] && n > INT64_MAX / shape[i]))
            return zt_fail(ZT_ERR_NOMEM, "arena: impossible tensor size");
        n *= shape[i];
    }
    zt_tensor t = zt_tensor_make(dtype, ndim, shape, NULL);
    if ((uint64_t)n > SIZE_MAX / 8) return zt_fail(ZT_ERR_NOMEM, "arena: tensor too large");
    t.data = zt_arena_alloc(a, (size_t)n * zt_dtype_size(dtype));
    if (!t.data) return ZT_ERR_NOMEM;
    if (a->be) t.device = a->be->device;
    *out = t;
    return ZT_OK;
}

zt_status zt_arena_zeros(zt_arena *a, zt_tensor *out, zt_dtype dtype, int ndim,
                         const int64_t *shape) {
    ZT_TRY(zt_arena_tensor(a, out, dtype, ndim, shape));
    if (a->be) return a->be->fill_zero(a->be, out->data, zt_tensor_nbytes(out));
    if (!measuring) memset(out->data, 0, zt_tensor_nbytes(out));
    return ZT_OK;
}

zt_arena_mark zt_arena_save(const zt_arena *a) {
    zt_arena_mark m = {a->cur, a->offset, a->used};
    return m;
}

void zt_arena_restore(zt_arena *a, zt_arena_mark m) {
    a->cur = m.block;
    a->offset = m.offset;
    a->used = m.used;
}

void *zt_arena_keep(zt_arena *a, zt_arena_mark m, void *p, size_t bytes) {
    size_t need = align_up(bytes ? bytes : 1);
    for (size_t b = m.block; b < a->nblocks; b++) {
        char *base = a->blocks[b];
        if ((char *)p < base || (char *)p >= base + a->sizes[b]) continue;
        size_t off = (size_t)((char *)p - base);
        if (b == m.block) { /* slide down to the mark (the ranges may overlap) */
            if (off != m.offset && a->be) {
                if (a->be->move(a->be, base + m.offset, p, bytes) != ZT_OK) return NULL;
            } else if (off != m.offset && !measuring) {
                memmove(base + m.offset, p, bytes);
            }
            off = m.offset;
        }
        /* blocks skipped between the mark's and this one stay reserved, unused */
        a->cur = b;
        a->offset = off + need;
        a->used = m.used + need;
        return base + off;
    }
    zt_fail(ZT_ERR_RUNTIME, "arena: kept memory is not above the mark");
    return NULL;
}

zt_status zt_arena_keep_tensor(zt_arena *a, zt_arena_mark m, zt_tensor *t) {
    void *p = zt_arena_keep(a, m, t->data, zt_tensor_nbytes(t));
    if (!p) return ZT_ERR_RUNTIME;
    t->data = p;
    return ZT_OK;
}

void zt_arena_reset(zt_arena *a) {
    a->cur = 0;
    a->offset = 0;
    a->used = 0;
}

size_t zt_arena_used(const zt_arena *a) { return a->used; }
size_t zt_arena_peak(const zt_arena *a) { return a->peak; }
void zt_arena_reset_peak(zt_arena *a) { a->peak = a->used; }

size_t zt_arena_reserved(const zt_arena *a) {
    size_t n = 0;
    for (size_t i = 0; i < a->nblocks; i++) n += i == 0 && a->mapped ? a->high : a->sizes[i];
    return n;
}
