/* zoetrope - command-line front end: global switches, signals, subcommand dispatch. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "io/tempfile.h"

int zt_cli_quiet;
int zt_cli_verbose;

static volatile sig_atomic_t signals_seen;

static void on_signal(int sig) {
    (void)sig;
    zt_interrupt();
    /* the first signal stops work at the next step boundary; a second one means the
     * user will not wait: remove partial outputs and leave now */
    if (++signals_seen >= 2) {
        zt_tempfile_remove_all();
        _exit(ZT_EXIT_INTERRUPTED);
    }
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"t2v", zt_cli_t2v, "generate a video from a text prompt"},
    {"i2v", zt_cli_i2v, "generate a video from an image and a prompt"},
    {"render", zt_cli_render, "render the shots of a job file"},
    {"encode", zt_cli_encode, "encode a PNG frame sequence (or a test pattern) to a video"},
    {"info", zt_cli_info, "list the tensors and metadata of a model file"},
    {"presets", zt_cli_presets, "list the presets"},
    {"vae", zt_cli_vae, "decode saved latents to a video with a Wan VAE"},
    {"text", zt_cli_text, "encode a prompt with the T5 / umT5 text encoder"},
    {"bench", zt_cli_bench, "measure the speed of the compute kernels"},
    {"version", zt_cli_version, "print versions of zoetrope and its libraries"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: zoetrope [--quiet | --verbose] COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'zoetrope COMMAND --help' describes a command's options.\n"
               "Exit codes: 0 success, 1 usage, 2 bad input or model file, 3 runtime failure,\n"
               "130 interrupted.\n");
}

int main(int argc, char **argv) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* a closed stdout pipe (y4m into a dead reader) should be an error, not a kill */
    signal(SIGPIPE, SIG_IGN);
    /* big buffers (latents, frames, text states) always get their own mappings, so a
     * freed one goes back to the system at once: glibc would otherwise raise the
     * threshold after the first free and keep later ones in the heap, and memory would
     * no longer follow the plan stage by stage */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);

    /* global switches may come before or after the command */
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q"))) zt_cli_quiet = 1;
        else if (i > 0 && (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")))
            zt_cli_verbose = 1;
        else argv[n++] = argv[i];
    }
    argc = n;
    argv[argc] = NULL;
    zt_log_set_level(zt_cli_quiet ? ZT_LOG_WARN : zt_cli_verbose ? ZT_LOG_DEBUG : ZT_LOG_INFO);

    if (argc < 2) {
        fprintf(stderr, "zoetrope: no command given (usage: zoetrope COMMAND [options]; "
                        "see zoetrope --help)\n");
        return ZT_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return ZT_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) return zt_cli_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "zoetrope: unknown command '%s' (see zoetrope --help)\n", argv[1]);
    return ZT_EXIT_USAGE;
}
