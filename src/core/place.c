#include "place.h"

#include "status.h"

#define PLACE_ALIGN 256 /* cuBLAS and vector loads like aligned operands */

static size_t align_up(size_t n) {
    return (n + PLACE_ALIGN - 1) & ~(size_t)(PLACE_ALIGN - 1);
}

size_t zt_place_bytes(zt_tensor *const *list, size_t n) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += align_up(zt_tensor_nbytes(list[i]));
    return total;
}

zt_status zt_place_tensors(zt_placed *pl, zt_backend *be, zt_tensor *const *list, size_t n) {
    *pl = (zt_placed){0};
    if (!be->device) return ZT_OK;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (list[i]->device || !zt_tensor_is_contiguous(list[i]))
            return zt_fail(ZT_ERR_RUNTIME, "place: tensor %zu is not a contiguous host tensor", i);
        total += align_up(zt_tensor_nbytes(list[i]));
    }
    void *block;
    zt_status s = be->alloc(be, total, &block);
    if (s != ZT_OK) return zt_fail_wrap(s, "weights (%zu MiB) on %s: ", total >> 20, be->name);
    /* uploads first, views repointed only once all are done, so that a failure leaves
     * every tensor as it was */
    size_t off = 0;
    for (size_t i = 0; i < n && s == ZT_OK; i++) {
        s = be->upload(be, (char *)block + off, list[i]->data, zt_tensor_nbytes(list[i]));
        off += align_up(zt_tensor_nbytes(list[i]));
    }
    /* uploads from mapped files may still be in flight; the mapping must outlive them */
    if (s == ZT_OK) s = be->sync(be);
    if (s != ZT_OK) {
        be->dealloc(be, block);
        return s;
    }
    off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t bytes = zt_tensor_nbytes(list[i]);
        list[i]->data = (char *)block + off;
        list[i]->device = be->device;
        off += align_up(bytes);
    }
    *pl = (zt_placed){be, block, total};
    return ZT_OK;
}

void zt_placed_free(zt_placed *pl) {
    if (pl->be) pl->be->dealloc(pl->be, pl->block);
    *pl = (zt_placed){0};
}
