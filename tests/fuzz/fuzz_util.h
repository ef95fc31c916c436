/* fuzz_util.h - what the libFuzzer harnesses share: the input as a file the readers can
 * open by path, a quiet library, and a walk over every tensor of an opened model file.
 *
 * Header-only (static functions): each harness is one translation unit of its own. */
#ifndef ZT_FUZZ_UTIL_H
#define ZT_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "zoetrope.h"

/* A failed invariant: abort so libFuzzer saves the input. */
#define ZT_FUZZ_ASSERT(cond, ...)                                                                  \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz: %s:%d: %s: ", __FILE__, __LINE__, #cond);                       \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void zt_fuzz_log_nothing(zt_log_level level, const char *msg, void *user) {
    (void)level, (void)msg, (void)user;
}

/* Errors only, and those dropped: a fuzzer feeds mostly broken files. */
static inline void zt_fuzz_quiet(void) {
    zt_log_set_level(ZT_LOG_ERROR);
    zt_log_set_callback(zt_fuzz_log_nothing, NULL);
}

/* The readers take paths; a memfd gives one without touching the disk. It is created
 * once per process and rewritten for each input (ftruncate first, so a shorter input
 * leaves no tail of the last). The readers reopen it through /proc/self/fd, which
 * gives them their own file offset. Returns the path; aborts when the write fails,
 * since every later result would be meaningless. */
static inline const char *zt_fuzz_file(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("zt-fuzz-input", MFD_CLOEXEC);
        ZT_FUZZ_ASSERT(fd >= 0, "memfd_create failed");
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    ZT_FUZZ_ASSERT(ftruncate(fd, 0) == 0, "ftruncate failed");
    for (size_t done = 0; done < size;) {
        ssize_t k = pwrite(fd, data + done, size - done, (off_t)done);
        ZT_FUZZ_ASSERT(k > 0, "pwrite failed");
        done += (size_t)k;
    }
    return path;
}

/* The LLVMFuzzerInitialize of a harness that needs nothing but a quiet library. */
#define ZT_FUZZ_QUIET_INIT                                                                         \
    int LLVMFuzzerInitialize(int *argc, char ***argv) {                                            \
        (void)argc, (void)argv;                                                                    \
        zt_fuzz_quiet();                                                                           \
        return 0;                                                                                  \
    }

/* A failure's message is one line naming the input (or only says memory ran out). */
static inline void zt_fuzz_check_message(zt_status rc, const char *name) {
    const char *msg = zt_last_error();
    if (rc == ZT_OK || rc == ZT_ERR_NOMEM) return;
    ZT_FUZZ_ASSERT(strstr(msg, name) && !strchr(msg, '\n'), "message '%s' for status %d", msg, rc);
}

/* Every accessor on every entry of an open file, every tensor read as f32: the header
 * checks promise that none of this can fault, so it is what the data paths must
 * survive. */
static inline void zt_fuzz_walk(const zt_safetensors *st) {
    volatile float sink = 0.0f; /* keeps the reads from being optimised away */
    uint64_t data_size = zt_safetensors_data_size(st);
    for (size_t i = 0; i < zt_safetensors_count(st); i++) {
        const zt_st_entry *e = zt_safetensors_entry(st, i);
        ZT_FUZZ_ASSERT(e && e->name, "entry %zu missing", i);
        ZT_FUZZ_ASSERT(zt_safetensors_find(st, e->name) == e, "find '%s'", e->name);
        ZT_FUZZ_ASSERT(e->offset <= data_size && e->nbytes <= data_size - e->offset,
                       "'%s' lies outside the data", e->name);
        char shape[256];
        zt_st_entry_shape_str(e, shape, sizeof shape);
        zt_tensor t;
        (void)zt_safetensors_tensor(st, e, &t); /* may refuse: too many dims, misaligned */
        float *x = malloc((size_t)(e->numel ? e->numel : 1) * sizeof *x);
        ZT_FUZZ_ASSERT(x, "out of memory for %lld floats", (long long)e->numel);
        zt_status rc = zt_safetensors_read_f32(st, e, x, e->numel);
        ZT_FUZZ_ASSERT(rc == ZT_OK, "read_f32 '%s': %s", e->name, zt_last_error());
        for (int64_t k = 0; k < e->numel; k++) sink += x[k];
        free(x);
    }
    ZT_FUZZ_ASSERT(zt_safetensors_entry(st, zt_safetensors_count(st)) == NULL, "entry past end");
    for (size_t i = 0; i < zt_safetensors_metadata_count(st); i++) {
        const char *k = zt_safetensors_metadata_key(st, i);
        ZT_FUZZ_ASSERT(k && zt_safetensors_metadata_value(st, i), "metadata %zu missing", i);
        ZT_FUZZ_ASSERT(zt_safetensors_metadata_get(st, k), "metadata '%s' not found", k);
    }
    (void)sink;
}

/* A model file opened both ways (from the path: rc, st; from memory: rc_mem, mem), each
 * message checked right after its open: the two must agree, and what opened must
 * survive the walk. Closes both. */
static inline void zt_fuzz_model_pair(zt_status rc, zt_safetensors *st, zt_status rc_mem,
                                      zt_safetensors *mem) {
    ZT_FUZZ_ASSERT(rc == rc_mem, "path and memory disagree: %d vs %d", rc, rc_mem);
    ZT_FUZZ_ASSERT((rc == ZT_OK) == (st != NULL), "status %d with st %p", rc, (void *)st);
    if (st) {
        ZT_FUZZ_ASSERT(zt_safetensors_count(st) == zt_safetensors_count(mem), "counts differ");
        zt_fuzz_walk(st);
    }
    zt_safetensors_close(st);
    zt_safetensors_close(mem);
}

#endif
