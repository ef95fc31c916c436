/* wan_vae.h - the Wan video VAEs (Wan2.1: z 16, 8x spatial; Wan2.2: z 48, 16x spatial
 * with 2x2 patchify), 4x temporal, causal, as Wan's reference and diffusers'
 * AutoencoderKLWan compute them.
 *
 * Both directions run in chunks with a cache of the last input frames of every
 * causal convolution, exactly as the reference does: the decoder takes one latent
 * frame at a time (the first gives one frame, every later one four), the encoder
 * takes 1, 4, 4, ... frames and gives one latent frame per chunk. The caches live in
 * a stream object; a chunk's temporaries come from the caller's arena and are
 * released before the chunk returns, so memory does not grow with the number of
 * frames.
 *
 * Files: Wan's original names (the official Wan2.x_VAE.pth and ComfyUI's
 * wan_2.1_vae / wan2.2_vae safetensors) and diffusers' AutoencoderKLWan names; the
 * naming, the version and every channel count are read from the tensors, never from
 * the file name. Weights stay in their stored dtype.
 *
 * Devices: after zt_wan_vae_place(vae, be, parts) a half runs on be (a GPU backend),
 * and only there; an unplaced half runs on host backends. The arena must then be in
 * be's memory (zt_arena_init_on, sized with zt_plan_vae_device of pipeline/plan.h); the
 * stream caches are allocations of their own in be's memory. Whole-clip calls take
 * their inputs (latents, video) and outputs (latents) in host memory or in be's and
 * move them as needed; frames always reach the callback in host memory. Chunk-level
 * calls take and give tensors in be's memory. */
#ifndef ZT_WAN_VAE_H
#define ZT_WAN_VAE_H

#include <stdint.h>

#include "../backends/backend.h"
#include "../core/arena.h"
#include "../io/weights.h"

typedef struct zt_wan_vae zt_wan_vae;
typedef struct zt_wan_vae_stream zt_wan_vae_stream;

typedef struct zt_wan_vae_info {
    int version;        /* 21 or 22 */
    int z_dim;          /* latent channels: 16 (2.1), 48 (2.2) */
    int patch;          /* 1, or 2 for the 2x2 patchify of 2.2 */
    int stride_t;       /* frames per latent frame after the first: 4 */
    int stride_s;       /* pixels per latent pixel: 8 (2.1), 16 (2.2) */
    int64_t enc_dim;    /* width of the encoder's first stage (96, 160) */
    int64_t dec_dim;    /* width of the decoder's last stage (96, 256 / 4 ...) */
    const char *naming; /* "original" or "diffusers" */
    const float *mean;  /* z_dim per-channel latent statistics */
    const float *std;
} zt_wan_vae_info;

/* Open a VAE file (any zt_weights source: .safetensors, .pth, index, directory). */
zt_status zt_wan_vae_open(zt_wan_vae **vae, const char *path);
/* Also gives placed weights back to their backend (which must still be alive). */
void zt_wan_vae_free(zt_wan_vae *vae);
const zt_wan_vae_info *zt_wan_vae_get_info(const zt_wan_vae *vae);

/* Halves of the model, for zt_wan_vae_place. */
#define ZT_VAE_PART_DECODER 1
#define ZT_VAE_PART_ENCODER 2
#define ZT_VAE_PART_ALL 3
/* Copy the weights (and latent statistics) of the given halves into be's memory, one
 * allocation per half, kept until zt_wan_vae_free; from then on those halves run on be
 * only. Nothing on a host backend; a half already on be stays; on another device it
 * fails. */
zt_status zt_wan_vae_place(zt_wan_vae *vae, zt_backend *be, int parts);
/* The device memory a half's weights take there (decoder 1 or encoder 0): for plans. */
zt_status zt_wan_vae_device_bytes(const zt_wan_vae *vae, int decoder, int64_t *bytes);

/* Flags for decode and encode. */
#define ZT_VAE_RAW 1 /* latents are the encoder's mean, not normalized by mean / std */

/* Receives each decoded frame [3, H, W] (f32, in [-1, 1], contiguous, always in host
 * memory: a device's frames are downloaded first) as soon as its chunk is done; index
 * counts from 0. The frame is valid during the call only. A non-OK return stops the
 * decode with that status. */
typedef zt_status (*zt_wan_vae_frame_fn)(void *user, const zt_tensor *frame, int64_t index);

/* Decode latents [z, T, h, w] (f32, host or be's memory) into 1 + 4 (T - 1) frames of
 * (h, w) * stride_s. */
zt_status zt_wan_vae_decode(const zt_wan_vae *vae, zt_backend *be, zt_arena *arena,
                            const zt_tensor *latents, int flags, zt_wan_vae_frame_fn fn,
                            void *user);
/* Encode video [3, F, H, W] (f32 in [-1, 1]; F = 1 + 4k; H, W multiples of stride_s)
 * into latents [z, 1 + (F - 1) / 4, H / s, W / s] allocated by the caller. Either may
 * be in host memory or in be's. */
zt_status zt_wan_vae_encode(const zt_wan_vae *vae, zt_backend *be, zt_arena *arena,
                            const zt_tensor *video, int flags, zt_tensor *latents);

/* ---- chunk level (tiling and tests build on this) ---------------------------------- */

/* A decoder (decoder = 1) or encoder stream: the per-convolution caches of one clip
 * (or one spatial tile of it). */
zt_status zt_wan_vae_stream_init(zt_wan_vae_stream **s, const zt_wan_vae *vae, int decoder);
void zt_wan_vae_stream_free(zt_wan_vae_stream *s);
/* Bytes the caches hold (fixed once the first chunk has run). */
size_t zt_wan_vae_stream_bytes(const zt_wan_vae_stream *s);

/* One latent frame z [z_dim, h, w], raw (not normalized), to out [3, n, H, W]: n = 1
 * for the stream's first chunk, 4 after. out is allocated in arena (above everything
 * the chunk used, which is released); it is not clamped. */
zt_status zt_wan_vae_decode_chunk(zt_wan_vae_stream *s, zt_backend *be, zt_arena *arena,
                                  const zt_tensor *z, zt_tensor *out);
/* Frames x [3, n, H, W] (n = 1 for the first chunk, 4 after) to the encoder's mean
 * mu [z_dim, 1, h, w], raw, allocated in arena like decode_chunk's output. */
zt_status zt_wan_vae_encode_chunk(zt_wan_vae_stream *s, zt_backend *be, zt_arena *arena,
                                  const zt_tensor *x, zt_tensor *mu);

/* x [z, ...] = x * scale[c] + shift[c] per channel, x in be's memory and scale, shift
 * host tables (on a device, copied over for the call). */
zt_status zt_wan_vae_per_channel(zt_backend *be, zt_tensor *x, const float *scale,
                                 const float *shift);
/* The same with the VAE's statistics (placed with each half): decoder 1 turns
 * normalized latents into raw ones (x * std + mean), 0 raw into normalized
 * (x * (1 / std) + (-mean / std)). Every whole-clip path, tiled or not, uses this, so
 * one tile gives the untiled numbers bit for bit. */
zt_status zt_wan_vae_latent_stats(const zt_wan_vae *vae, zt_backend *be, zt_tensor *x,
                                  int decoder);
/* dst = src (f32) where dst is in be's memory: an upload when src is in host memory and
 * be a device (dst contiguous then), else zt_op_copy. */
zt_status zt_wan_vae_copy_in(zt_backend *be, zt_tensor *dst, const zt_tensor *src);
/* dst = src (f32) where src is in be's memory: a download when dst is in host memory and
 * be a device (src contiguous then), else zt_op_copy. */
zt_status zt_wan_vae_copy_out(zt_backend *be, zt_tensor *dst, const zt_tensor *src);

/* ---- spatial tiling ------------------------------------------------------------------ */

/* Tiled decode and encode, as diffusers' AutoencoderKLWan.tiled_decode / tiled_encode
 * compute them (enable_tiling(tile_sample_min = tile, tile_sample_stride = tile -
 * overlap)): tiles start every (tile - overlap) / stride_s latent pixels and span
 * tile / stride_s of them (cut at the border); each tile runs over all frames with
 * its own stream; a tile is blended in place with the (already blended) tile above
 * and then the one to its left by linear ramps over min(both sizes, overlap), cropped
 * to its first tile - overlap rows and columns, and the result clamped at the end.
 * Like diffusers, a clip that fits in one tile (latent size <= tile / stride_s for
 * decode, video size <= tile for encode) is not tiled at all.
 *
 * Wan2.2 follows diffusers' patchified arithmetic: decode blends in the 2x2-patchified
 * space, so the ramp weight of pixel row Y is floor(Y / 2) / (extent / 2); encode
 * measures tile and overlap in patchified pixels, so its tiles cover 2 * tile video
 * pixels (still blended in latent space). */
typedef struct zt_vae_tiling {
    int tile;    /* tile side in output pixels, a multiple of the VAE's stride_s; 0 = no tiling */
    int overlap; /* pixels neighbouring tiles share, a multiple of stride_s, < tile */
} zt_vae_tiling;
/* The tile diffusers' enable_tiling() defaults to (with an overlap of 64 there) */
#define ZT_VAE_TILE_DEFAULT 256
/* Zoetrope's overlap for a tile: an eighth of it, at least 32 and at most 64 pixels,
 * at most a quarter of the tile, rounded down to a multiple of stride_s. Every interior
 * pixel is decoded (tile / (tile - overlap))^2 times, so an eighth keeps that at or
 * under 1.31 for tiles of 256 px and up (diffusers' 256/64 redoes 1.78); 32 px still
 * blends seams away (tests/unit/test_tiny.c measures it). */
int zt_vae_default_overlap(int tile, int stride_s);

/* zt_wan_vae_decode, tiled (tiling NULL or tile 0: untiled). One tile's stream is
 * alive at a time; the blended frames and the strips later tiles blend with go to an
 * unlinked scratch file in $TMPDIR (or /tmp), zt_wan_vae_tiled_scratch_bytes long, so
 * memory does not grow with the frame count or the output size: the arena holds one
 * tile's working set, plus one [3, H, W] frame (malloc'd) while frames are handed to
 * fn, in order, after the last tile. Frames are clamped to [-1, 1]. On a device the
 * blending stays on the host: each tile's chunk output is downloaded, and the strip
 * buffers are malloc'd instead of taken from the arena. */
zt_status zt_wan_vae_decode_tiled(const zt_wan_vae *vae, zt_backend *be, zt_arena *arena,
                                  const zt_tensor *latents, int flags,
                                  const zt_vae_tiling *tiling, zt_wan_vae_frame_fn fn,
                                  void *user);
/* zt_wan_vae_encode, tiled (tiling NULL or tile 0: untiled); latents as there. The
 * overlap strips are kept in the arena (they are smaller than the latents); on a
 * device they and the blend are on the host (malloc'd), each tile's latents going
 * down, blended, and back up. */
zt_status zt_wan_vae_encode_tiled(const zt_wan_vae *vae, zt_backend *be, zt_arena *arena,
                                  const zt_tensor *video, int flags,
                                  const zt_vae_tiling *tiling, zt_tensor *latents);
/* bytes of the scratch file a tiled decode of [z, T, h, w] latents writes (for planning);
 * 0 when the decode is not tiled, -1 for invalid tiling settings */
int64_t zt_wan_vae_tiled_scratch_bytes(const zt_wan_vae *vae, int64_t t, int64_t h, int64_t w,
                                       const zt_vae_tiling *tiling);

#endif
