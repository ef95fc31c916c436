/* status.h - failure reporting inside the library.
 *
 * A failing call records a one-line message in a thread-local buffer and returns a
 * negative zt_status; callers either pass it up unchanged or add context in front
 * with zt_fail_wrap. */
#ifndef ZT_STATUS_H
#define ZT_STATUS_H

#include "zoetrope.h"

/* Record a message and return code. */
zt_status zt_fail(zt_status code, const char *fmt, ...) ZT_PRINTF(2, 3);
/* Prefix the current message with more context ("model.safetensors: " + old) and
 * return code unchanged. */
zt_status zt_fail_wrap(zt_status code, const char *fmt, ...) ZT_PRINTF(2, 3);
void zt_clear_error(void);

#define ZT_TRY(expr)                                                                       \
    do {                                                                                   \
        zt_status zt_try_s_ = (expr);                                                      \
        if (zt_try_s_ != ZT_OK) return zt_try_s_;                                          \
    } while (0)

#endif
