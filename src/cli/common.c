#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <jansson.h>
#include <unistd.h>

#include "cli.h"
#include "core/status.h"
#include "io/tempfile.h"
#include "pipeline/plan.h"

int zt_cli_usage_error(const char *cmd, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "zoetrope: %s: %s (see zoetrope %s --help)\n", cmd, msg, cmd);
    return ZT_EXIT_USAGE;
}

int zt_cli_fail(zt_status s) {
    const char *msg = zt_last_error();
    fprintf(stderr, "zoetrope: %s\n", msg && *msg ? msg : zt_status_string(s));
    return zt_status_exit_code(s);
}

int zt_cli_parse_int(const char *cmd, const char *flag, const char *s, long lo, long hi,
                     long *out) {
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno) {
        zt_cli_usage_error(cmd, "%s: expected an integer, got '%s'", flag, s ? s : "");
        return -1;
    }
    if (v < lo || v > hi) {
        zt_cli_usage_error(cmd, "%s: %ld is outside %ld..%ld", flag, v, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int zt_cli_parse_double(const char *cmd, const char *flag, const char *s, double lo, double hi,
                        double *out) {
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || *end || errno || !isfinite(v)) {
        zt_cli_usage_error(cmd, "%s: expected a number, got '%s'", flag, s ? s : "");
        return -1;
    }
    if (v < lo || v > hi) {
        zt_cli_usage_error(cmd, "%s: %g is outside %g..%g", flag, v, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

double zt_cli_peak_rss_mib(void) {
    int64_t b = zt_plan_peak_now(); /* VmHWM: ru_maxrss would inherit a parent's peak */
    if (b < 0) {
        struct rusage ru;
        return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : 0;
    }
    return (double)b / 1048576.0;
}

zt_status zt_cli_write_f32(const char *path, const float *x, size_t n, const char *what) {
    char tmp[4200];
    int fd = -1;
    ZT_TRY(zt_tempfile_create(path, tmp, sizeof tmp, &fd));
    FILE *f = fdopen(fd, "wb");
    int ok = f && fwrite(x, sizeof *x, n, f) == n;
    if (f ? fclose(f) != 0 : close(fd) != 0) ok = 0;
    zt_status st = ok ? zt_tempfile_commit(tmp, path) : ZT_ERR_IO;
    if (st != ZT_OK) {
        zt_tempfile_discard(tmp);
        return zt_fail(ZT_ERR_IO, "%s: cannot write the %s", path, what);
    }
    return ZT_OK;
}

void zt_cli_print_json(json_t *o) {
    char *text = json_dumps(o, JSON_INDENT(2));
    if (text) printf("%s\n", text);
    free(text);
    json_decref(o);
}
