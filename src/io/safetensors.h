/* safetensors.h - read-only, lazily mapped .safetensors files.
 *
 * Format: an 8-byte little-endian header length N, N bytes of JSON mapping tensor
 * names to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data
 * that follows the header), plus an optional "__metadata__" object of strings.
 *
 * Model files are untrusted: zt_safetensors_open checks the whole header (dtypes,
 * shapes, sizes with overflow checks, offsets inside the data, no overlaps, no
 * duplicate names) before any tensor is touched, so every later accessor can trust
 * the entries. Tensor data is mapped, not read: pages load when a tensor is used, so
 * the file must not be truncated while it is open (reads would fault).
 *
 * zt_safetensors_open/close are declared in zoetrope.h. */
#ifndef ZT_SAFETENSORS_H
#define ZT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../core/tensor.h"
#include "zoetrope.h"

/* Dimensions an entry may have; zt_tensor views need <= ZT_MAX_DIMS (5). */
#define ZT_ST_MAX_DIMS 8
/* Largest header accepted (real checkpoints have a few hundred KB). */
#define ZT_ST_MAX_HEADER ((uint64_t)100 << 20)

/* One tensor of the header. Owned by its zt_safetensors; valid until close. */
typedef struct zt_st_entry {
    const char *name;
    zt_dtype dtype;
    int ndim; /* 0 (a scalar) .. ZT_ST_MAX_DIMS */
    int64_t shape[ZT_ST_MAX_DIMS];
    int64_t numel;
    uint64_t offset; /* bytes from the start of the data section */
    uint64_t nbytes; /* numel * dtype size */
} zt_st_entry;

/* Validate a file held in memory instead of mapped from disk (tests, embedded data).
 * data must stay valid and unchanged until close; it is not freed. label names the
 * buffer in messages. */
zt_status zt_safetensors_open_memory(zt_safetensors **st, const char *label, const void *data,
                                     size_t size);

/* Build a zt_safetensors from entries another reader (pth.c) has already found in a
 * file image: base[0, size) is the whole file, each entry's offset counts from base.
 * Names are copied; every entry must lie inside size and names must be distinct, but
 * entries may overlap (views sharing one storage). When mapped is set, base came from
 * mmap and close unmaps it; that ownership passes only on success. */
zt_status zt_safetensors_from_entries(zt_safetensors **st, const char *path, const void *base,
                                      size_t size, int mapped, const zt_st_entry *entries,
                                      size_t count);

/* The path given to open (or the label). */
const char *zt_safetensors_path(const zt_safetensors *st);

/* Tensors in header order. */
size_t zt_safetensors_count(const zt_safetensors *st);
const zt_st_entry *zt_safetensors_entry(const zt_safetensors *st, size_t i);
/* Hash lookup; NULL when absent (no error is set). */
const zt_st_entry *zt_safetensors_find(const zt_safetensors *st, const char *name);

/* Read-only pointer to an entry's bytes inside the mapping (may be unaligned). */
const void *zt_safetensors_data(const zt_safetensors *st, const zt_st_entry *e);

/* A contiguous host view of an entry. The data is read-only mapped memory: writing
 * through it crashes. Fails with ZT_ERR_INPUT for more than ZT_MAX_DIMS dims, or when
 * the data is not aligned to its element size (files from the reference writer always
 * are). */
zt_status zt_safetensors_tensor(const zt_safetensors *st, const zt_st_entry *e, zt_tensor *out);

/* Convert an entry to f32 into dst, which holds n floats; n must equal e->numel.
 * Handles every dtype (integers and BOOL by value) and unaligned data. */
zt_status zt_safetensors_read_f32(const zt_safetensors *st, const zt_st_entry *e, float *dst,
                                  int64_t n);

/* "__metadata__" pairs in header order; NULL for an out-of-range index. */
size_t zt_safetensors_metadata_count(const zt_safetensors *st);
const char *zt_safetensors_metadata_key(const zt_safetensors *st, size_t i);
const char *zt_safetensors_metadata_value(const zt_safetensors *st, size_t i);
/* Value for a key, or NULL. */
const char *zt_safetensors_metadata_get(const zt_safetensors *st, const char *key);

/* "(3, 4)" into buf (as zt_tensor_shape_str, for up to ZT_ST_MAX_DIMS); returns buf. */
char *zt_st_entry_shape_str(const zt_st_entry *e, char *buf, size_t size);

/* Bytes of the data section (file size - 8 - header length). */
uint64_t zt_safetensors_data_size(const zt_safetensors *st);

#endif
