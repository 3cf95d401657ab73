/* libFuzzer target for the .dfw parser.  Each input is parsed as is and again with both CRCs fixed up
 * (otherwise almost every mutation stops at the checksum); every accepted tensor value and meta entry
 * is read.  With DF_FUZZ_SEEDS=<dir> set, LLVMFuzzerInitialize first writes a few valid files there
 * (the seed corpus; tests/fuzz/run.sh does this). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfw.h"

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void parse_and_touch(const uint8_t *buf, size_t len) {
    dfw_file f;
    if (dfw_parse(&f, buf, len) != DF_OK) return;
    volatile float sink = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const dfw_tensor *t = &f.tensors[i];
        for (size_t j = 0; j < t->count; j++) {
            float v;
            memcpy(&v, (const char *)t->data + 4 * j, 4);
            sink += v;
        }
        char name[DFW_MAX_KEY + 1];
        memcpy(name, t->name, t->name_len);
        name[t->name_len] = 0;
        if (dfw_find(&f, name) != t) __builtin_trap(); /* names are unique */
    }
    (void)sink;
    for (int i = 0; i < f.n_meta; i++) {
        char key[DFW_MAX_KEY + 1], val[64];
        long l;
        double d;
        memcpy(key, f.meta[i].key, f.meta[i].key_len);
        key[f.meta[i].key_len] = 0;
        dfw_meta_get(&f, key, val, sizeof val);
        dfw_meta_int(&f, key, &l);
        dfw_meta_float(&f, key, &d);
    }
    dfw_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    parse_and_touch(data, size);
    if (size >= 32) {
        uint8_t *c = malloc(size);
        if (!c) return 0;
        memcpy(c, data, size);
        put32(c + 24, df_crc32(c + 32, size - 32));
        put32(c + 28, df_crc32(c, 28));
        parse_and_touch(c, size);
        free(c);
    }
    return 0;
}

/* ------------------------------------------------------------------ seed corpus */
static void write_seed(const char *dir, int k, dfw_writer *w) {
    uint8_t *buf;
    size_t len;
    char path[4096];
    if (dfw_writer_finish(w, &buf, &len) == DF_OK) {
        snprintf(path, sizeof path, "%s/seed%d.dfw", dir, k);
        FILE *fp = fopen(path, "wb");
        if (fp) {
            fwrite(buf, 1, len, fp);
            fclose(fp);
        }
        free(buf);
    }
    dfw_writer_free(w);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *dir = getenv("DF_FUZZ_SEEDS");
    if (!dir) return 0;
    static dfw_writer w;
    static float x[120];
    for (int i = 0; i < 120; i++) x[i] = (float)i * 0.25f - 7.0f;
    int d1[1] = {5}, d2[2] = {3, 4}, d3[3] = {2, 3, 2}, d4[4] = {2, 3, 4, 5};

    dfw_writer_init(&w);
    write_seed(dir, 0, &w); /* empty container */

    dfw_writer_init(&w);
    dfw_writer_meta(&w, "arch", "gen");
    dfw_writer_meta_int(&w, "width", 32);
    dfw_writer_meta_float(&w, "eps", 0.03137254901960784);
    dfw_writer_meta(&w, "note", "Gr\xc3\xbc\xc3\x9f" "e");
    write_seed(dir, 1, &w); /* meta only */

    dfw_writer_init(&w);
    dfw_writer_meta(&w, "arch", "gen");
    dfw_writer_tensor(&w, "a", 1, d1, x);
    dfw_writer_tensor(&w, "enc.w", 2, d2, x);
    dfw_writer_tensor(&w, "enc.b", 3, d3, x);
    dfw_writer_tensor(&w, "big", 4, d4, x);
    write_seed(dir, 2, &w);

    dfw_writer_init(&w); /* checkpoint shape */
    dfw_writer_meta_int(&w, "step", 1000);
    dfw_writer_tensor(&w, "w", 2, d2, x);
    dfw_writer_tensor(&w, "opt.m/w", 2, d2, x + 1);
    dfw_writer_tensor(&w, "opt.v/w", 2, d2, x + 2);
    write_seed(dir, 3, &w);
    return 0;
}
