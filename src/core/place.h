/* place.h - a model's weights copied into a backend's memory.
 *
 * Weights are views into mapped model files (host memory). A model that runs on a
 * device backend hands every weight tensor it keeps to zt_place_tensors, which copies
 * them into one allocation of that backend and repoints the views there. */
#ifndef ZT_PLACE_H
#define ZT_PLACE_H

#include "../backends/backend.h"

typedef struct zt_placed {
    zt_backend *be; /* NULL: nothing placed */
    void *block;
    size_t bytes;
} zt_placed;

/* Copy the n tensors (contiguous, in host memory) into one allocation of be and point
 * them at it. On a host backend it does nothing. */
zt_status zt_place_tensors(zt_placed *pl, zt_backend *be, zt_tensor *const *list, size_t n);
/* The bytes that allocation takes (each tensor aligned): for memory plans. */
size_t zt_place_bytes(zt_tensor *const *list, size_t n);
void zt_placed_free(zt_placed *pl);

#endif
