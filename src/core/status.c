#include "status.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ZT_ERR_MSG_MAX 1024

static _Thread_local char err_msg[ZT_ERR_MSG_MAX];
static volatile sig_atomic_t interrupt_flag;

zt_status zt_fail(zt_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    /* one-line messages: a newline from a file name or library text would break them */
    for (char *p = err_msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return code;
}

zt_status zt_fail_wrap(zt_status code, const char *fmt, ...) {
    char prefix[ZT_ERR_MSG_MAX], old[ZT_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err_msg, sizeof old);
    size_t n = strlen(prefix);
    memcpy(err_msg, prefix, n + 1);
    strncat(err_msg, old, sizeof err_msg - n - 1);
    return code;
}

void zt_clear_error(void) { err_msg[0] = '\0'; }

const char *zt_last_error(void) { return err_msg; }

const char *zt_status_string(zt_status s) {
    switch (s) {
    case ZT_OK: return "ok";
    case ZT_ERR_USAGE: return "usage error";
    case ZT_ERR_INPUT: return "bad input";
    case ZT_ERR_IO: return "i/o error";
    case ZT_ERR_NOMEM: return "out of memory";
    case ZT_ERR_UNSUPPORTED: return "unsupported";
    case ZT_ERR_RUNTIME: return "runtime failure";
    case ZT_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

int zt_status_exit_code(zt_status s) {
    switch (s) {
    case ZT_OK: return 0;
    case ZT_ERR_USAGE: return 1;
    case ZT_ERR_INPUT:
    case ZT_ERR_IO: return 2;
    case ZT_ERR_INTERRUPTED: return 130;
    case ZT_ERR_NOMEM:
    case ZT_ERR_UNSUPPORTED:
    case ZT_ERR_RUNTIME: return 3;
    }
    return 3;
}

const char *zt_version(void) { return ZT_VERSION_STRING; }

void zt_interrupt(void) { interrupt_flag = 1; }
int zt_interrupted(void) { return interrupt_flag != 0; }
void zt_interrupt_clear(void) { interrupt_flag = 0; }
