/* weights.h - a model's tensors across one or more safetensors files, looked up by
 * canonical name.
 *
 * Model code asks for tensors in one naming (Wan's original names, say) whatever the
 * file uses. A zt_naming translates: each rule maps a canonical pattern to a stored
 * pattern, where "{}" stands for a decimal number (a maximal run of digits) that is
 * carried across, e.g.
 *     {"blocks.{}.self_attn.q.weight", "blocks.{}.attn1.to_q.weight"}
 * Digits written literally in a pattern must match exactly ("text_embedding.0.weight"
 * applies to index 0 only). The first rule that matches wins; names no rule matches
 * pass through unchanged. The naming's prefix, when set, is put in front of every
 * stored name (ComfyUI's "model.diffusion_model."). Rules are hashed by the name's
 * shape with its numbers taken out, so a lookup costs one hash probe and no
 * allocation.
 *
 * Sources: one .safetensors file, several files, a sharded checkpoint given by its
 * *.safetensors.index.json (or by one of its shards, the index being found beside
 * it), or a directory holding either. */
#ifndef ZT_WEIGHTS_H
#define ZT_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "../core/tensor.h"
#include "safetensors.h"
#include "zoetrope.h"

/* Longest canonical or stored name (bytes, with the terminator). */
#define ZT_WEIGHTS_NAME_MAX 512
/* Most numbers ("{}" or literal digit runs) in one rule pattern. */
#define ZT_NAMING_MAX_SLOTS 16

typedef struct zt_naming_rule {
    const char *canonical; /* "blocks.{}.self_attn.q.weight" */
    const char *stored;    /* "blocks.{}.attn1.to_q.weight": as many "{}" as canonical */
} zt_naming_rule;

/* Usually a static table; must outlive the zt_weights it is set on. */
typedef struct zt_naming {
    const char *name;            /* "diffusers": for messages and reports */
    const char *prefix;          /* carried by every stored name, or NULL */
    const zt_naming_rule *rules; /* ends with {NULL, NULL}; NULL: no rules */
} zt_naming;

typedef struct zt_weights zt_weights;

/* Open path: a .safetensors file (a shard "X-00001-of-00003.safetensors" opens its
 * "X.safetensors.index.json" when that exists), an index .json, or a directory with
 * one index or one .safetensors file. The index is validated: every shard opens and
 * holds every tensor the weight_map places in it. No tensor name may be in two files. */
zt_status zt_weights_open(zt_weights **w, const char *path);
/* Exactly these files, no index discovery. */
zt_status zt_weights_open_files(zt_weights **w, const char *const *paths, size_t n);
/* NULL is a no-op. Views obtained from w become invalid. */
void zt_weights_close(zt_weights *w);

/* What messages name: the index, the file, or the files joined by ", ". */
const char *zt_weights_path(const zt_weights *w);
/* The index path, or NULL when not opened from an index. */
const char *zt_weights_index_path(const zt_weights *w);
size_t zt_weights_file_count(const zt_weights *w);
const zt_safetensors *zt_weights_file(const zt_weights *w, size_t i);
/* The index's "metadata" object, values as text (numbers printed, others as JSON). */
size_t zt_weights_index_metadata_count(const zt_weights *w);
const char *zt_weights_index_metadata_key(const zt_weights *w, size_t i);
const char *zt_weights_index_metadata_value(const zt_weights *w, size_t i);

/* Every tensor of every file, by stored name; file (when not NULL) receives the file
 * that holds it. */
size_t zt_weights_count(const zt_weights *w);
const zt_st_entry *zt_weights_entry(const zt_weights *w, size_t i, const zt_safetensors **file);
/* NULL when absent (no error set). */
const zt_st_entry *zt_weights_find(const zt_weights *w, const char *stored,
                                   const zt_safetensors **file);

/* Use a naming (NULL: names as stored). Fails with ZT_ERR_RUNTIME for a malformed
 * table (a bug, not a bad file). */
zt_status zt_weights_set_naming(zt_weights *w, const zt_naming *naming);
const zt_naming *zt_weights_naming(const zt_weights *w);
/* Pick the first of n namings under which every probe (canonical names) exists, set
 * it and write its index to *chosen. ZT_ERR_INPUT listing what each naming lacked
 * when none fits. */
zt_status zt_weights_detect_naming(zt_weights *w, const zt_naming *namings, size_t n,
                                   const char *const *probes, size_t n_probes, size_t *chosen);
/* The stored name a canonical name maps to under the current naming. */
zt_status zt_weights_stored_name(const zt_weights *w, const char *canonical, char *buf,
                                 size_t size);

/* 1 when the tensor (printf-style canonical name) exists. */
int zt_weights_has(const zt_weights *w, const char *fmt, ...) ZT_PRINTF(2, 3);
/* A read-only view (see zt_safetensors_tensor) of a tensor by printf-style canonical
 * name: zt_weights_get(w, &t, "blocks.%d.self_attn.q.weight", i). Missing:
 * ZT_ERR_INPUT "file: missing tensor 'stored' (canonical 'name')". */
zt_status zt_weights_get(const zt_weights *w, zt_tensor *out, const char *fmt, ...) ZT_PRINTF(3, 4);
/* Same, and the tensor must be of a float dtype with this shape (an entry of -1
 * accepts any size): "file: tensor 'x' has shape (3, 4), expected (3, 5)". */
zt_status zt_weights_get_shape(const zt_weights *w, zt_tensor *out, int ndim, const int64_t *shape,
                               const char *fmt, ...) ZT_PRINTF(5, 6);
/* Check the shape as zt_weights_get_shape (no -1 entries) and convert into dst, which
 * holds the shape's element count (for small parameters: norms, biases, tables). */
zt_status zt_weights_get_f32(const zt_weights *w, float *dst, int ndim, const int64_t *shape,
                             const char *fmt, ...) ZT_PRINTF(5, 6);

#endif
