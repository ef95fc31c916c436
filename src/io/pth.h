/* pth.h - PyTorch checkpoints written by torch.save, read without running their pickle.
 *
 * Since PyTorch 1.6 torch.save writes a zip archive of stored (uncompressed) records:
 * <prefix>/data.pkl, a pickle of the saved object whose tensors name their storage by
 * key, one record <prefix>/data/<key> of raw elements per storage, and small records
 * such as <prefix>/byteorder. The prefix is the file's stem ("archive" for buffers).
 *
 * A pickle is a program that may call any Python function. This reader interprets
 * only the opcodes torch.save emits for a state dict, building dicts, lists, tuples,
 * numbers, strings and tensors, and admits only the globals that rebuild tensors
 * (torch._utils._rebuild_tensor_v2/v3, _rebuild_parameter[_with_state], the storage
 * classes, the dtypes) and collections.OrderedDict. Anything else fails with
 * ZT_ERR_INPUT and a one-line "path: reason": a hostile file can fail to open but runs
 * nothing. Every size and offset is checked against the file; work is bounded by the
 * limits below.
 *
 * The result is a zt_safetensors over the mapped file whose entries point straight at
 * the storage bytes (nothing is copied), so every zt_safetensors accessor works on it.
 * Names are the dict keys (integer keys printed in decimal), nested dicts joined with
 * "." ({"model": {"w": t}} gives "model.w"); values that are neither tensors nor dicts
 * (step counts, strings, lists) are skipped. Tensors must be contiguous; several may
 * share one storage (views). ZIP64 archives (files over 4 GiB) are read; compressed
 * records, big-endian files and the legacy pre-1.6 format are refused. CRCs are not
 * checked: that would read the whole file, which mapping avoids. */
#ifndef ZT_PTH_H
#define ZT_PTH_H

#include <stddef.h>

#include "safetensors.h"
#include "zoetrope.h"

/* Bounds on what a pickle may make the reader do. */
#define ZT_PTH_MAX_OBJECTS (1u << 21) /* values created */
#define ZT_PTH_MAX_ITEMS   (1u << 23) /* slots in all tuples, lists and dicts together */
#define ZT_PTH_MAX_STACK   (1u << 16) /* stack depth, and marks */
#define ZT_PTH_MAX_MEMO    (1u << 21) /* highest memo index + 1 */
#define ZT_PTH_MAX_STRING  (16u << 20)
#define ZT_PTH_MAX_DEPTH   32          /* dicts inside dicts */
#define ZT_PTH_MAX_NAME    1024        /* bytes of a flattened tensor name, with the terminator */
#define ZT_PTH_MAX_NAMES   (64u << 20) /* bytes of all names together */

/* Open a torch.save checkpoint. On success *st is a regular zt_safetensors; close it
 * with zt_safetensors_close. On failure *st is NULL. */
zt_status zt_pth_open(zt_safetensors **st, const char *path);

/* The same for a file image in memory (tests): data must stay valid and unchanged
 * until close and is not freed; label names it in messages. */
zt_status zt_pth_open_memory(zt_safetensors **st, const char *label, const void *data, size_t size);

/* 1 when path should be opened with zt_pth_open: it starts with a zip local header, or
 * it is named *.pth, *.pt, *.ckpt or *.bin and starts like a pickle (the legacy format,
 * which zt_pth_open then explains). 0 otherwise, including when it cannot be read. */
int zt_pth_sniff(const char *path);

#endif
