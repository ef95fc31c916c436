#include "tempfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../core/status.h"

#define MAX_TEMPS 64
#define TEMP_PATH_MAX 4096

/* The signal handler reads this table without locks: a slot's path is complete
 * before its used flag is raised, and cleared only after the flag drops. */
static struct {
    volatile sig_atomic_t used;
    char path[TEMP_PATH_MAX];
} temps[MAX_TEMPS];
static pthread_mutex_t temps_mu = PTHREAD_MUTEX_INITIALIZER;

void zt_tempfile_register(const char *path) {
    if (!path || strlen(path) >= TEMP_PATH_MAX) return;
    pthread_mutex_lock(&temps_mu);
    for (int i = 0; i < MAX_TEMPS; i++) {
        if (!temps[i].used) {
            memcpy(temps[i].path, path, strlen(path) + 1);
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            temps[i].used = 1;
            break;
        }
    }
    pthread_mutex_unlock(&temps_mu);
}

void zt_tempfile_forget(const char *path) {
    if (!path) return;
    pthread_mutex_lock(&temps_mu);
    for (int i = 0; i < MAX_TEMPS; i++) {
        if (temps[i].used && strcmp(temps[i].path, path) == 0) {
            temps[i].used = 0;
            break;
        }
    }
    pthread_mutex_unlock(&temps_mu);
}

/* Empty a directory with system calls only (no malloc, no stdio): this runs in a
 * signal handler. */
static void empty_dir_signal_safe(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    char buf[4096] __attribute__((aligned(8)));
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n <= 0) break;
        for (long off = 0; off < n;) {
            struct linux_dirent64 {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (void *)(buf + off);
            const char *nm = d->name;
            if (!(nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))))
                unlinkat(fd, nm, 0);
            off += d->reclen;
        }
    }
    close(fd);
}

void zt_tempfile_remove_all(void) {
    for (int i = 0; i < MAX_TEMPS; i++) {
        if (temps[i].used) {
            /* a registered directory holds frames written so far */
            if (unlink(temps[i].path) != 0) {
                empty_dir_signal_safe(temps[i].path);
                rmdir(temps[i].path);
            }
            temps[i].used = 0;
        }
    }
}

static void split_dir(const char *path, char *dir, size_t dir_size, const char **base) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dir_size, ".");
        *base = path;
    } else if (slash == path) {
        snprintf(dir, dir_size, "/");
        *base = slash + 1;
    } else {
        snprintf(dir, dir_size, "%.*s", (int)(slash - path), path);
        *base = slash + 1;
    }
}

zt_status zt_output_check(const char *path, const char *what) {
    char dir[TEMP_PATH_MAX];
    const char *base;
    struct stat st;
    if (!path || !*path) return zt_fail(ZT_ERR_USAGE, "%s: empty path", what);
    if (strlen(path) >= TEMP_PATH_MAX - 32)
        return zt_fail(ZT_ERR_USAGE, "%s: path too long", what);
    split_dir(path, dir, sizeof dir, &base);
    if (!*base) return zt_fail(ZT_ERR_USAGE, "%s '%s': names a directory, not a file", what, path);
    if (stat(dir, &st) != 0)
        return zt_fail(ZT_ERR_IO, "%s '%s': directory '%s' does not exist", what, path, dir);
    if (!S_ISDIR(st.st_mode))
        return zt_fail(ZT_ERR_IO, "%s '%s': '%s' is not a directory", what, path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return zt_fail(ZT_ERR_IO, "%s '%s': directory '%s' is not writable", what, path, dir);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return zt_fail(ZT_ERR_IO, "%s '%s': is a directory", what, path);
    return ZT_OK;
}

zt_status zt_tempfile_create(const char *final_path, char *tmp_path, size_t tmp_size, int *fd) {
    char dir[TEMP_PATH_MAX];
    const char *base;
    ZT_TRY(zt_output_check(final_path, "output"));
    split_dir(final_path, dir, sizeof dir, &base);
    int n = snprintf(tmp_path, tmp_size, "%s/.%s.tmp-XXXXXX", dir, base);
    if (n < 0 || (size_t)n >= tmp_size || (size_t)n >= TEMP_PATH_MAX)
        return zt_fail(ZT_ERR_USAGE, "output '%s': path too long", final_path);
    int f = mkstemp(tmp_path);
    if (f < 0)
        return zt_fail(ZT_ERR_IO, "output '%s': cannot create a file in '%s': %s", final_path,
                       dir, strerror(errno));
    fchmod(f, 0644); /* mkstemp makes 0600; outputs are ordinary files */
    zt_tempfile_register(tmp_path);
    if (fd) *fd = f;
    else close(f);
    return ZT_OK;
}

zt_status zt_tempfile_commit(const char *tmp_path, const char *final_path) {
    if (rename(tmp_path, final_path) != 0) {
        int e = errno;
        zt_tempfile_discard(tmp_path);
        return zt_fail(ZT_ERR_IO, "output '%s': cannot move into place: %s", final_path,
                       strerror(e));
    }
    zt_tempfile_forget(tmp_path);
    return ZT_OK;
}

void zt_tempfile_discard(const char *tmp_path) {
    if (!tmp_path || !*tmp_path) return;
    unlink(tmp_path);
    zt_tempfile_forget(tmp_path);
}
