#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <libavutil/mem.h>
#include <libavutil/sha.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../core/status.h"

static struct AVSHA *sha_start(void) {
    struct AVSHA *sha = av_sha_alloc();
    if (sha && av_sha_init(sha, 256) < 0) {
        av_free(sha);
        sha = NULL;
    }
    return sha;
}

static void sha_finish(struct AVSHA *sha, char hex[ZT_SHA256_HEX]) {
    uint8_t d[32];
    av_sha_final(sha, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    av_free(sha);
}

zt_status zt_sha256_file(const char *path, char hex[ZT_SHA256_HEX], int64_t *bytes) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return zt_fail(ZT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct AVSHA *sha = sha_start();
    if (!sha) {
        close(fd);
        return zt_fail(ZT_ERR_NOMEM, "%s: cannot start a SHA-256", path);
    }
    static __thread uint8_t buf[1 << 16];
    int64_t total = 0;
    zt_status rc = ZT_OK;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = zt_fail(ZT_ERR_IO, "%s: read failed: %s", path, strerror(errno));
            break;
        }
        if (n == 0) break;
        av_sha_update(sha, buf, (unsigned)n);
        total += n;
    }
    close(fd);
    if (rc == ZT_OK && bytes) *bytes = total;
    if (rc == ZT_OK) sha_finish(sha, hex);
    else av_free(sha);
    return rc;
}

zt_status zt_sha256_buffer(const void *data, size_t n, char hex[ZT_SHA256_HEX]) {
    struct AVSHA *sha = sha_start();
    if (!sha) return zt_fail(ZT_ERR_NOMEM, "cannot start a SHA-256");
    const uint8_t *p = data;
    while (n > 0) { /* av_sha_update takes an unsigned int length on older FFmpeg */
        size_t k = n > (1u << 30) ? (1u << 30) : n;
        av_sha_update(sha, p, (unsigned)k);
        p += k;
        n -= k;
    }
    sha_finish(sha, hex);
    return ZT_OK;
}
