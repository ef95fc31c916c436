/* zoetrope text encode - run the T5 / umT5 text encoder on a prompt (through the
 * SentencePiece tokenizer) or on given token ids, as Wan's pipeline will: the hidden
 * states of the tokens and EOS, optionally zero-padded to Wan's 512 rows. Reports the
 * time and memory taken, which tools/t5/bench.py compares with transformers. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "cli.h"
#include "core/arena.h"
#include "core/log.h"
#include "core/status.h"
#include "models/t5.h"
#include "progress.h"
#include "text/tokenizer.h"

static const char *const CMD = "text";

#define TEXT_MAX_TOKENS 512 /* Wan's text length */

enum { OPT_TE = 256, OPT_TOK, OPT_IDS, OPT_PAD, OPT_THREADS, OPT_DUMP, OPT_JSON, OPT_HELP };

static void print_help(void) {
    printf("usage: zoetrope text encode --text-encoder FILE (--tokenizer FILE -p PROMPT |\n"
           "                            --ids FILE) [options]\n"
           "\n"
           "Tokenize a prompt (SentencePiece, EOS appended, at most 512 tokens) and run the\n"
           "T5 / umT5 encoder on it; print the token count, the time and peak memory.\n"
           "\n"
           "  --text-encoder FILE  umT5 / T5 encoder: Hugging Face or ComfyUI safetensors,\n"
           "                       Wan's models_t5_umt5-xxl-enc-bf16.pth, an index or dir\n"
           "  --tokenizer FILE     spiece.model or tokenizer.json\n"
           "  -p, --prompt TEXT    the text (UTF-8)\n"
           "  --ids FILE           token ids instead of a prompt: decimal numbers separated\n"
           "                       by white space, used as they are (no EOS added)\n"
           "  --pad N              zero-pad the output to N rows as Wan does (N = 512)\n"
           "  --threads N          compute threads (default: all cores)\n"
           "  --dump-f32 FILE      write the hidden states as raw f32 [rows, d_model]\n"
           "  --json               print a JSON summary\n");
}

typedef struct text_args {
    const char *te, *tok, *prompt, *ids, *dump;
    long pad;
    int threads, json;
} text_args;

static int parse_args(int argc, char **argv, text_args *a) {
    static const struct option opts[] = {
        {"text-encoder", required_argument, NULL, OPT_TE},
        {"tokenizer", required_argument, NULL, OPT_TOK},
        {"prompt", required_argument, NULL, 'p'},
        {"ids", required_argument, NULL, OPT_IDS},
        {"pad", required_argument, NULL, OPT_PAD},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"dump-f32", required_argument, NULL, OPT_DUMP},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    opterr = 0;
    optind = 1;
    long v;
    int c;
    while ((c = getopt_long(argc, argv, ":p:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_TE: a->te = optarg; break;
        case OPT_TOK: a->tok = optarg; break;
        case 'p': a->prompt = optarg; break;
        case OPT_IDS: a->ids = optarg; break;
        case OPT_DUMP: a->dump = optarg; break;
        case OPT_JSON: a->json = 1; break;
        case OPT_PAD:
            if (zt_cli_parse_int(CMD, "--pad", optarg, 1, 65536, &a->pad)) return ZT_EXIT_USAGE;
            break;
        case OPT_THREADS:
            if (zt_cli_parse_int(CMD, "--threads", optarg, 0, 256, &v)) return ZT_EXIT_USAGE;
            a->threads = (int)v;
            break;
        case 'h':
        case OPT_HELP: print_help(); return -1;
        case ':': return zt_cli_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default: return zt_cli_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc || strcmp(argv[optind], "encode") != 0)
        return zt_cli_usage_error(CMD, "expected 'encode'");
    if (++optind < argc) return zt_cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!a->te) return zt_cli_usage_error(CMD, "no --text-encoder given");
    if (!a->ids == !a->prompt) return zt_cli_usage_error(CMD, "give --prompt or --ids, one of them");
    if (a->prompt && !a->tok) return zt_cli_usage_error(CMD, "--prompt needs --tokenizer");
    return 0;
}

/* Whitespace-separated decimal ids from a file, at most max of them. */
static zt_status read_ids(const char *path, int32_t *ids, size_t max, size_t *n) {
    FILE *f = fopen(path, "r");
    if (!f) return zt_fail(ZT_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    zt_status rc = ZT_OK;
    long long v;
    int r;
    *n = 0;
    while ((r = fscanf(f, "%lld", &v)) == 1) {
        if (*n == max) {
            rc = zt_fail(ZT_ERR_INPUT, "%s: more than %zu ids", path, max);
            break;
        }
        if (v < 0 || v > INT32_MAX) {
            rc = zt_fail(ZT_ERR_INPUT, "%s: id %lld is not a token id", path, v);
            break;
        }
        ids[(*n)++] = (int32_t)v;
    }
    if (rc == ZT_OK && r != EOF)
        rc = zt_fail(ZT_ERR_INPUT, "%s: not a list of numbers (after %zu ids)", path, *n);
    if (rc == ZT_OK && *n == 0) rc = zt_fail(ZT_ERR_INPUT, "%s: no ids", path);
    fclose(f);
    return rc;
}

int zt_cli_text(int argc, char **argv) {
    text_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? ZT_EXIT_OK : rc;
    int32_t ids[TEXT_MAX_TOKENS];
    size_t n = 0;
    zt_tokenizer *tok = NULL;
    zt_t5 *t5 = NULL;
    zt_backend *be = NULL;
    zt_arena *arena = NULL;
    float *out = NULL;
    double t_enc = 0;
    zt_status st = ZT_OK;
    if (a.prompt) {
        st = zt_tokenizer_open(&tok, a.tok);
        if (st == ZT_OK)
            st = zt_tokenizer_encode(tok, a.prompt, strlen(a.prompt), ids, TEXT_MAX_TOKENS, &n);
    } else {
        st = read_ids(a.ids, ids, TEXT_MAX_TOKENS, &n);
    }
    if (st == ZT_OK) st = zt_t5_open(&t5, a.te);
    const zt_t5_info *info = t5 ? zt_t5_get_info(t5) : NULL;
    int64_t rows = a.pad ? a.pad : (int64_t)n;
    if (st == ZT_OK && rows < (int64_t)n)
        st = zt_fail(ZT_ERR_USAGE, "--pad %ld is less than the %zu tokens", a.pad, n);
    if (st == ZT_OK) st = zt_backend_cpu_init(&be, a.threads);
    if (st == ZT_OK) st = zt_arena_init(&arena, 0, 0);
    if (st == ZT_OK) {
        out = malloc((size_t)(rows * info->d_model) * sizeof *out);
        if (!out) st = zt_fail(ZT_ERR_NOMEM, "out of memory for the hidden states");
    }
    if (st == ZT_OK) {
        zt_tensor o = zt_tensor_new(ZT_F32, out, rows, info->d_model);
        double t0 = zt_now_seconds();
        st = a.pad ? zt_t5_encode_padded(t5, be, arena, ids, (int64_t)n, &o)
                   : zt_t5_encode(t5, be, arena, ids, (int64_t)n, &o);
        t_enc = zt_now_seconds() - t0;
    }
    if (st == ZT_OK && a.dump)
        st = zt_cli_write_f32(a.dump, out, (size_t)(rows * info->d_model), "hidden states");
    if (st == ZT_OK) {
        double rss = zt_cli_peak_rss_mib();
        double arena_mib = (double)zt_arena_peak(arena) / 1048576.0;
        if (a.json) {
            json_t *o = json_object();
            json_object_set_new(o, "tokens", json_integer((json_int_t)n));
            json_object_set_new(o, "rows", json_integer(rows));
            json_object_set_new(o, "d_model", json_integer(info->d_model));
            json_object_set_new(o, "layers", json_integer(info->layers));
            json_object_set_new(o, "naming", json_string(info->naming));
            json_object_set_new(o, "threads", json_integer(be->threads(be)));
            json_object_set_new(o, "encode_seconds", json_real(t_enc));
            json_object_set_new(o, "arena_peak_mib", json_real(arena_mib));
            json_object_set_new(o, "peak_rss_mib", json_real(rss));
            zt_cli_print_json(o);
        } else {
            ZT_LOGI("encoded %zu tokens in %.2f s (peak RSS %.0f MiB, activations %.0f MiB)", n,
                    t_enc, rss, arena_mib);
        }
    }
    free(out);
    zt_arena_free(arena);
    zt_backend_free(be);
    zt_t5_free(t5);
    zt_tokenizer_free(tok);
    return st == ZT_OK ? ZT_EXIT_OK : zt_cli_fail(st);
}
