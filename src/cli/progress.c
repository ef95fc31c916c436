#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

struct zt_progress {
    char stage[64];
    int64_t total;
    int64_t done;
    double start;
    double last_print;
    int tty;
};

double zt_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fmt_time(char *buf, size_t n, double s) {
    if (s < 0 || s > 1e7) {
        snprintf(buf, n, "--:--");
        return;
    }
    int t = (int)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%02d:%02d", t / 60, t % 60);
}

zt_progress *zt_progress_begin(const char *stage, int64_t total) {
    if (zt_cli_quiet) return NULL;
    zt_progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    snprintf(p->stage, sizeof p->stage, "%s", stage);
    p->total = total;
    p->start = zt_now_seconds();
    p->tty = isatty(STDERR_FILENO);
    return p;
}

static void draw(zt_progress *p, int final) {
    double now = zt_now_seconds(), el = now - p->start;
    double per = p->done > 0 ? el / (double)p->done : 0;
    char eta[32], elapsed[32];
    fmt_time(elapsed, sizeof elapsed, el);
    fmt_time(eta, sizeof eta, p->total > 0 ? per * (double)(p->total - p->done) : -1);
    /* s/it reads badly for fast stages; show it/s there, as tqdm does */
    char rate[32];
    if (per >= 1.0 || per == 0) snprintf(rate, sizeof rate, "%.2f s/it", per);
    else snprintf(rate, sizeof rate, "%.2f it/s", 1.0 / per);
    if (p->tty) {
        char bar[32];
        int width = 24, fill = p->total > 0 ? (int)(width * p->done / p->total) : 0;
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r\033[K%-12s [%s] %lld/%lld %s %s<%s", p->stage, bar,
                (long long)p->done, (long long)p->total, rate, elapsed, eta);
        if (final) fputc('\n', stderr);
    } else if (!final) {
        fprintf(stderr, "%s: %lld/%lld %s elapsed %s eta %s\n", p->stage, (long long)p->done,
                (long long)p->total, rate, elapsed, eta);
    } else {
        fprintf(stderr, "%s: done in %.2f s\n", p->stage, el);
    }
    fflush(stderr);
    p->last_print = now;
}

void zt_progress_update(zt_progress *p, int64_t done) {
    if (!p) return;
    p->done = done;
    /* a terminal redraw at most 10 times a second; logs get every step */
    if (p->tty && zt_now_seconds() - p->last_print < 0.1 && done != p->total) return;
    draw(p, 0);
}

void zt_progress_end(zt_progress *p) {
    if (!p) return;
    draw(p, 1);
    free(p);
}

void zt_progress_abort(zt_progress *p) {
    if (!p) return;
    if (p->tty && p->last_print > 0) fputc('\n', stderr);
    free(p);
}
