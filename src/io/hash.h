/* hash.h - SHA-256 of files, for manifests (libavutil's implementation). */
#ifndef ZT_HASH_H
#define ZT_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "zoetrope.h"

#define ZT_SHA256_HEX 65 /* 64 hex digits and the terminator */

/* hex gets the lowercase digest of the file's bytes; *bytes (may be NULL) its size. */
zt_status zt_sha256_file(const char *path, char hex[ZT_SHA256_HEX], int64_t *bytes);

/* The same over a buffer. */
zt_status zt_sha256_buffer(const void *data, size_t n, char hex[ZT_SHA256_HEX]);

#endif
