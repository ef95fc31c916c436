/* cli.h - what the subcommands of the zoetrope program share.
 *
 * Each subcommand is `int zt_cli_NAME(int argc, char **argv)` with argv[0] the
 * subcommand's name; it returns the process exit code (see zt_status_exit_code):
 * 0 success, 1 usage, 2 bad input or model file, 3 runtime failure, 130 interrupted.
 * Errors are one line on stderr: "zoetrope: <what>: <why>". */
#ifndef ZT_CLI_H
#define ZT_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "zoetrope.h"

#define ZT_EXIT_OK 0
#define ZT_EXIT_USAGE 1
#define ZT_EXIT_INPUT 2
#define ZT_EXIT_RUNTIME 3
#define ZT_EXIT_INTERRUPTED 130

int zt_cli_t2v(int argc, char **argv);
int zt_cli_i2v(int argc, char **argv);
int zt_cli_render(int argc, char **argv);
int zt_cli_encode(int argc, char **argv);
int zt_cli_info(int argc, char **argv);
int zt_cli_presets(int argc, char **argv);
int zt_cli_bench(int argc, char **argv);
int zt_cli_vae(int argc, char **argv);
int zt_cli_text(int argc, char **argv);
int zt_cli_version(int argc, char **argv);

/* Print "zoetrope: CMD: message" and return ZT_EXIT_USAGE. */
int zt_cli_usage_error(const char *cmd, const char *fmt, ...) ZT_PRINTF(2, 3);
/* Print "zoetrope: <zt_last_error()>" and return zt_status_exit_code(s). */
int zt_cli_fail(zt_status s);

/* Strict number parsing for flag values; on failure print a usage error naming the
 * flag and return -1. */
int zt_cli_parse_int(const char *cmd, const char *flag, const char *s, long lo, long hi,
                     long *out);
int zt_cli_parse_double(const char *cmd, const char *flag, const char *s, double lo, double hi,
                        double *out);

/* Peak resident memory of this process in MiB: VmHWM from /proc/self/status, which
 * (unlike ru_maxrss) does not carry over the peak of the process that spawned us;
 * ru_maxrss where /proc is missing. */
double zt_cli_peak_rss_mib(void);

/* Write n floats to path whole or not at all (a temporary file renamed into place);
 * what names the data in the message: "path: cannot write the <what>". */
zt_status zt_cli_write_f32(const char *path, const float *x, size_t n, const char *what);

struct json_t;
/* Print a JSON summary object on stdout, indented, and release it. */
void zt_cli_print_json(struct json_t *o);

/* Global switches set by main() before the subcommand runs. */
extern int zt_cli_quiet;   /* --quiet: no progress, warnings only */
extern int zt_cli_verbose; /* --verbose */

#endif
