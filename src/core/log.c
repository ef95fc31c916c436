#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static zt_log_level log_level = ZT_LOG_WARN;
static zt_log_fn log_fn;
static void *log_user;

void zt_log_set_level(zt_log_level level) { log_level = level; }

void zt_log_set_callback(zt_log_fn fn, void *user) {
    log_fn = fn;
    log_user = user;
}

int zt_log_enabled(zt_log_level level) { return level <= log_level; }

void zt_log(zt_log_level level, const char *fmt, ...) {
    static const char *const names[] = {"error", "warning", "info", "debug"};
    char msg[2048];
    va_list ap;
    if (level > log_level) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_fn) {
        log_fn(level, msg, log_user);
        return;
    }
    fprintf(stderr, "zoetrope: %s: %s\n", names[level], msg);
}
