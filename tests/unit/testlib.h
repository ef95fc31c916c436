/* testlib.h - the small harness every unit test uses.
 *
 * CHECK(cond, ...) records a failure with a message and carries on; a test's main
 * ends with `return zt_test_finish();`, which prints a summary and returns non-zero
 * when anything failed. Comparisons against float64 references print the error they
 * measured, so a passing run still shows how close it was. */
#ifndef ZT_TESTLIB_H
#define ZT_TESTLIB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

extern int zt_test_failures;
extern int zt_test_checks;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        zt_test_checks++;                                                                  \
        if (!(cond)) {                                                                     \
            zt_test_failures++;                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
        }                                                                                  \
    } while (0)

/* A zt_status call that must succeed; prints zt_last_error() when it does not. */
#define CHECK_OK(expr)                                                                     \
    do {                                                                                   \
        zt_status s_ = (expr);                                                             \
        CHECK(s_ == ZT_OK, "%s -> %s: %s", #expr, zt_status_string(s_), zt_last_error()); \
    } while (0)

/* A call that must fail with the given status and a message containing needle. */
#define CHECK_FAILS(expr, status, needle)                                                  \
    do {                                                                                   \
        zt_status s_ = (expr);                                                             \
        CHECK(s_ == (status), "%s -> %s (%s), wanted %s", #expr, zt_status_string(s_),      \
              zt_last_error(), zt_status_string(status));                                  \
        CHECK(zt_test_contains(zt_last_error(), needle), "message '%s' lacks '%s'",         \
              zt_last_error(), needle);                                                    \
    } while (0)

int zt_test_finish(void);
int zt_test_contains(const char *hay, const char *needle);

/* Deterministic random numbers (splitmix64). */
typedef struct zt_test_rng {
    uint64_t s;
} zt_test_rng;
uint64_t zt_test_rand_u64(zt_test_rng *r);
double zt_test_rand_uniform(zt_test_rng *r); /* [0, 1) */
double zt_test_rand_normal(zt_test_rng *r);
void zt_test_fill_normal(zt_test_rng *r, float *x, int64_t n, double stddev);

/* Zeroed memory that lives until zt_test_finish frees it (so LeakSanitizer stays
 * quiet without a free per buffer); aborts when out of memory. */
void *zt_test_alloc(size_t bytes);

/* max |got - ref| / max |ref| (with max |ref| floored at 1e-30); prints one line
 * "name: max rel err E (tol T)" and records a failure past tol. Returns the error. */
double zt_test_compare(const char *name, const float *got, const double *ref, int64_t n,
                       double tol);

/* zt_test_compare against a float reference. */
double zt_test_compare_f32(const char *name, const float *got, const float *ref, int64_t n,
                           double tol);

/* Tensor `name` of a safetensors file as f32 (zt_test_alloc'd), with its shape and
 * (when ndim is not NULL) rank; a missing tensor is a failure and gives NULL. */
float *zt_test_read_tensor(const zt_safetensors *st, const char *name, int64_t *shape,
                           int *ndim);

/* Whole files: write n bytes (a failure is reported and counted); read into a malloc'd
 * buffer the caller frees (NULL and *n = 0 when unreadable). */
void zt_test_write_file(const char *path, const void *p, size_t n);
uint8_t *zt_test_read_file(const char *path, size_t *n);

/* A tensor as zt_test_copy_safetensors hands it to an edit callback, which may change
 * its name and its shape (to one of the same element count). */
typedef struct zt_test_st_tensor {
    char name[512];
    int ndim;
    int64_t shape[8];
} zt_test_st_tensor;
/* Returns 0 to drop the tensor, 1 to keep it (as edited). */
typedef int (*zt_test_st_edit)(void *ctx, zt_test_st_tensor *t);

/* Copy the safetensors file src to dst with prefix in front of every tensor name and
 * each tensor passed through edit (NULL: unchanged); the metadata is kept unless
 * drop_meta. The data are written packed, the header padded to keep them aligned. */
void zt_test_copy_safetensors(const char *src, const char *dst, const char *prefix,
                              int drop_meta, zt_test_st_edit edit, void *ctx);

/* A fresh empty directory for this test's files (from $ZT_TEST_TMP or /tmp); returns
 * its path, valid for the whole run. */
const char *zt_test_tmpdir(void);
/* 1 when ZT_TEST_EMU is set (and not "0"): the CUDA tests run on the emulated card of
 * tests/cudaemu, where the largest cases take minutes and are left to real cards */
int zt_test_emulated(void);

/* ZT_TEST_DATA/rel; the result stays valid for the next three calls. */
const char *zt_test_data(const char *rel);

/* A stand-in GPU on the CPU backend's ops, for the device paths on machines without
 * one: it claims a device and keeps its memory apart (alloc, upload, download, move and
 * fill_zero of its own), counts the bytes allocated as the CUDA backend does (memory:
 * now and at most since reset_peak; no scratch, its ops' buffers being the CPU's), and
 * like a GPU takes no per-key attention bias, so models take their GPU paths. Made as
 * zt_generate_set_device_backend wants; zt_backend_free frees it. */
struct zt_backend;
zt_status zt_test_standin_device(struct zt_backend **be, int device);

#endif
