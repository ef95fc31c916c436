/* tempfile.h - outputs that appear whole or not at all.
 *
 * An output is written to a hidden temporary file in its final directory and renamed
 * over the final name on success (rename is atomic within a directory). Temporary
 * paths are also kept in a fixed table so a signal handler can remove them with
 * async-signal-safe calls when the process must stop at once. */
#ifndef ZT_TEMPFILE_H
#define ZT_TEMPFILE_H

#include <stddef.h>

#include "zoetrope.h"

/* Create "<dir of final>/.<name of final>.tmp-XXXXXX" exclusively and register it.
 * Fails with ZT_ERR_IO naming final_path when its directory is missing or not
 * writable. *fd receives an open descriptor (O_RDWR) unless fd is NULL, in which case
 * the file is created and closed. */
zt_status zt_tempfile_create(const char *final_path, char *tmp_path, size_t tmp_size, int *fd);
/* Rename tmp over final and unregister it. */
zt_status zt_tempfile_commit(const char *tmp_path, const char *final_path);
/* Unlink tmp and unregister it. NULL or "" is a no-op. */
void zt_tempfile_discard(const char *tmp_path);
/* Register / forget a path made some other way (a directory of frames, say). */
void zt_tempfile_register(const char *path);
void zt_tempfile_forget(const char *path);
/* Remove every registered path; async-signal-safe (for a signal handler). */
void zt_tempfile_remove_all(void);
/* Check that a file could be created at path (its directory exists and is writable)
 * without creating anything. */
zt_status zt_output_check(const char *path, const char *what);

#endif
