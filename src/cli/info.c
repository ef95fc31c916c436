/* zoetrope info - list the tensors and metadata of a model file, an index of shards or
 * a set of files. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "core/status.h"
#include "io/safetensors.h"
#include "io/weights.h"

static void help(FILE *f) {
    fprintf(f, "usage: zoetrope info [--json] FILE...\n"
               "\n"
               "List every tensor (name, dtype, shape, bytes) sorted by name, then totals:\n"
               "tensors, parameters, bytes by dtype, and the files' metadata.\n"
               "\n"
               "FILE is a .safetensors file, a sharded checkpoint's *.safetensors.index.json\n"
               "(all its shards are listed), or a directory holding one of these. Several\n"
               ".safetensors files are listed together.\n"
               "\n"
               "options:\n"
               "  --json      print one JSON object on stdout instead of the text table\n"
               "  -h, --help  show this help\n");
}

typedef struct row {
    const zt_st_entry *e;
    const zt_safetensors *file;
} row;

static int row_cmp(const void *a, const void *b) {
    return strcmp(((const row *)a)->e->name, ((const row *)b)->e->name);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* 1234567 -> "1.23 M" (units: " K", " M", ...) or, with binary set, "1.18 MiB" */
static const char *human(double v, int binary, char *buf, size_t size) {
    static const char *dec[] = {"", " K", " M", " B", " T"};
    static const char *bin[] = {" B", " KiB", " MiB", " GiB", " TiB"};
    double step = binary ? 1024 : 1000;
    int u = 0;
    while (v >= step && u < 4) {
        v /= step;
        u++;
    }
    snprintf(buf, size, u ? "%.2f%s" : "%.0f%s", v, binary ? bin[u] : dec[u]);
    return buf;
}

typedef struct totals {
    int64_t params;
    uint64_t bytes;
    uint64_t by_dtype[ZT_DTYPE_COUNT];
} totals;

static void print_text(const zt_weights *w, const row *rows, size_t n, const totals *t) {
    int multi = zt_weights_file_count(w) > 1;
    int wname = 4, wshape = 5, wfile = 4;
    char sh[192], h[32];
    for (size_t i = 0; i < n; i++) {
        int l = (int)strlen(rows[i].e->name);
        if (l > wname) wname = l;
        l = (int)strlen(zt_st_entry_shape_str(rows[i].e, sh, sizeof sh));
        if (l > wshape) wshape = l;
        l = (int)strlen(base_name(zt_safetensors_path(rows[i].file)));
        if (l > wfile) wfile = l;
    }
    printf("%-*s  %-7s  %-*s  %12s", wname, "NAME", "DTYPE", wshape, "SHAPE", "BYTES");
    if (multi) printf("  FILE");
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        const zt_st_entry *e = rows[i].e;
        printf("%-*s  %-7s  %-*s  %12llu", wname, e->name, zt_dtype_name(e->dtype), wshape,
               zt_st_entry_shape_str(e, sh, sizeof sh), (unsigned long long)e->nbytes);
        if (multi) printf("  %s", base_name(zt_safetensors_path(rows[i].file)));
        printf("\n");
    }
    printf("\n");
    if (zt_weights_index_path(w)) printf("index: %s\n", zt_weights_index_path(w));
    printf("files: %zu\n", zt_weights_file_count(w));
    printf("tensors: %zu\n", n);
    printf("parameters: %lld", (long long)t->params);
    if (t->params >= 1000) printf(" (%s)", human((double)t->params, 0, h, sizeof h));
    printf("\nbytes: %llu", (unsigned long long)t->bytes);
    if (t->bytes >= 1024) printf(" (%s)", human((double)t->bytes, 1, h, sizeof h));
    printf("\n");
    for (int d = 0; d < ZT_DTYPE_COUNT; d++)
        if (t->by_dtype[d])
            printf("  %-7s %llu\n", zt_dtype_name((zt_dtype)d), (unsigned long long)t->by_dtype[d]);
    for (size_t f = 0; f < zt_weights_file_count(w); f++) {
        const zt_safetensors *st = zt_weights_file(w, f);
        size_t m = zt_safetensors_metadata_count(st);
        if (!m) continue;
        if (multi)
            printf("metadata (%s):\n", base_name(zt_safetensors_path(st)));
        else
            printf("metadata:\n");
        for (size_t i = 0; i < m; i++)
            printf("  %s: %s\n", zt_safetensors_metadata_key(st, i),
                   zt_safetensors_metadata_value(st, i));
    }
    if (zt_weights_index_metadata_count(w)) {
        printf("index metadata:\n");
        for (size_t i = 0; i < zt_weights_index_metadata_count(w); i++)
            printf("  %s: %s\n", zt_weights_index_metadata_key(w, i),
                   zt_weights_index_metadata_value(w, i));
    }
}

/* json_object_set_new and friends fail only when out of memory; one check at the end
 * (the dump) catches that, so the calls below are not checked one by one. */
static json_t *build_json(const zt_weights *w, const row *rows, size_t n, const totals *t) {
    json_t *root = json_object();
    json_object_set_new(root, "path", json_string(zt_weights_path(w)));
    if (zt_weights_index_path(w)) {
        json_object_set_new(root, "index", json_string(zt_weights_index_path(w)));
        json_t *im = json_object();
        for (size_t i = 0; i < zt_weights_index_metadata_count(w); i++)
            json_object_set_new(im, zt_weights_index_metadata_key(w, i),
                                json_string(zt_weights_index_metadata_value(w, i)));
        json_object_set_new(root, "index_metadata", im);
    }

    json_t *files = json_array(), *merged = json_object();
    for (size_t f = 0; f < zt_weights_file_count(w); f++) {
        const zt_safetensors *st = zt_weights_file(w, f);
        json_t *jf = json_object(), *meta = json_object();
        for (size_t i = 0; i < zt_safetensors_metadata_count(st); i++) {
            const char *k = zt_safetensors_metadata_key(st, i);
            const char *v = zt_safetensors_metadata_value(st, i);
            json_object_set_new(meta, k, json_string(v));
            if (!json_object_get(merged, k)) json_object_set_new(merged, k, json_string(v));
        }
        json_object_set_new(jf, "path", json_string(zt_safetensors_path(st)));
        json_object_set_new(jf, "tensors", json_integer((json_int_t)zt_safetensors_count(st)));
        json_object_set_new(jf, "data_bytes",
                            json_integer((json_int_t)zt_safetensors_data_size(st)));
        json_object_set_new(jf, "metadata", meta);
        json_array_append_new(files, jf);
    }
    json_object_set_new(root, "files", files);

    json_t *tensors = json_array();
    for (size_t i = 0; i < n; i++) {
        const zt_st_entry *e = rows[i].e;
        json_t *jt = json_object(), *shape = json_array();
        for (int d = 0; d < e->ndim; d++) json_array_append_new(shape, json_integer(e->shape[d]));
        json_object_set_new(jt, "name", json_string(e->name));
        json_object_set_new(jt, "dtype", json_string(zt_dtype_name(e->dtype)));
        json_object_set_new(jt, "shape", shape);
        json_object_set_new(jt, "parameters", json_integer(e->numel));
        json_object_set_new(jt, "bytes", json_integer((json_int_t)e->nbytes));
        json_object_set_new(jt, "file", json_string(zt_safetensors_path(rows[i].file)));
        json_array_append_new(tensors, jt);
    }
    json_object_set_new(root, "tensors", tensors);

    json_object_set_new(root, "total_tensors", json_integer((json_int_t)n));
    json_object_set_new(root, "total_parameters", json_integer(t->params));
    json_object_set_new(root, "total_bytes", json_integer((json_int_t)t->bytes));
    json_t *bd = json_object();
    for (int d = 0; d < ZT_DTYPE_COUNT; d++)
        if (t->by_dtype[d])
            json_object_set_new(bd, zt_dtype_name((zt_dtype)d),
                                json_integer((json_int_t)t->by_dtype[d]));
    json_object_set_new(root, "bytes_by_dtype", bd);
    json_object_set_new(root, "metadata", merged);
    return root;
}

static zt_status open_model(zt_weights **w, char **paths, int n) {
    if (n > 1) return zt_weights_open_files(w, (const char *const *)paths, (size_t)n);
    /* a lone .safetensors file is shown as itself, not widened to its shards' index */
    struct stat sb;
    size_t len = strlen(paths[0]);
    int is_json = len >= 5 && strcmp(paths[0] + len - 5, ".json") == 0;
    if (is_json || (stat(paths[0], &sb) == 0 && S_ISDIR(sb.st_mode)))
        return zt_weights_open(w, paths[0]);
    return zt_weights_open_files(w, (const char *const *)paths, 1);
}

int zt_cli_info(int argc, char **argv) {
    int json = 0, n = 0;
    char **paths = calloc((size_t)argc + 1, sizeof *paths);
    if (!paths) return zt_cli_fail(zt_fail(ZT_ERR_NOMEM, "info: out of memory"));
    int only_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_files || a[0] != '-' || !a[1]) {
            paths[n++] = argv[i];
        } else if (!strcmp(a, "--")) {
            only_files = 1;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help(stdout);
            free(paths);
            return ZT_EXIT_OK;
        } else {
            free(paths);
            return zt_cli_usage_error("info", "unknown option '%s'", a);
        }
    }
    if (n == 0) {
        free(paths);
        return zt_cli_usage_error("info", "no model file given");
    }

    zt_weights *w = NULL;
    zt_status rc = open_model(&w, paths, n);
    free(paths);
    if (rc != ZT_OK) return zt_cli_fail(rc);

    size_t count = zt_weights_count(w);
    row *rows = calloc(count ? count : 1, sizeof *rows);
    if (!rows) {
        zt_weights_close(w);
        return zt_cli_fail(zt_fail(ZT_ERR_NOMEM, "info: out of memory"));
    }
    totals t = {0};
    for (size_t i = 0; i < count; i++) {
        rows[i].e = zt_weights_entry(w, i, &rows[i].file);
        t.params += rows[i].e->numel;
        t.bytes += rows[i].e->nbytes;
        t.by_dtype[rows[i].e->dtype] += rows[i].e->nbytes;
    }
    qsort(rows, count, sizeof *rows, row_cmp);

    if (json) {
        json_t *root = build_json(w, rows, count, &t);
        if (!root || json_dumpf(root, stdout, JSON_INDENT(2)) != 0)
            rc = zt_fail(ZT_ERR_NOMEM, "info: cannot build the JSON output");
        else
            fputc('\n', stdout);
        json_decref(root);
    } else {
        print_text(w, rows, count, &t);
    }
    free(rows);
    zt_weights_close(w);
    if (rc != ZT_OK) return zt_cli_fail(rc);
    if (fflush(stdout) != 0 || ferror(stdout))
        return zt_cli_fail(
            zt_fail(ZT_ERR_IO, "info: cannot write the output: %s", strerror(errno)));
    return ZT_EXIT_OK;
}
