/* .dfw container: a hand-written encoder of the documented layout (independent of the writer) checks the
 * byte format; round trips of meta, tensors and parameters with and without optimiser state; every
 * truncation and every single-byte change of a valid file must fail; crafted headers and tables (huge
 * counts, offsets and sizes, bad names, padding, dtype, version) must fail with the right message; random
 * structural mutations with fixed-up CRCs must never crash (run under ASan/UBSan in CI). */
#include <limits.h>

#include "check.h"
#include "dfw.h"

/* ------------------------------------------------------------------ hand encoder of the layout in dfw.h */
typedef struct {
    const char *key, *val;
} mspec;
typedef struct {
    const char *name;
    int name_len; /* -1: strlen(name) */
    uint8_t dtype, ndim;
    uint32_t dims[4];
    uint64_t off, nbytes;
} tspec;

static void le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void fix_crcs(uint8_t *b, size_t len) {
    le(b + 24, df_crc32(b + 32, len - 32), 4);
    le(b + 28, df_crc32(b, 28), 4);
}

/* Writes the file into b (cap bytes), returns its length; data (data_size bytes) follows the 64-aligned tables. */
static size_t encode(uint8_t *b, size_t cap, const mspec *m, int nm, const tspec *t, int nt, const void *data,
                     size_t data_size) {
    memset(b, 0, cap);
    memcpy(b, "DFW1", 4);
    le(b + 4, 1, 4);
    le(b + 8, (uint64_t)nm, 4);
    le(b + 12, (uint64_t)nt, 4);
    le(b + 16, data_size, 8);
    size_t p = 32;
    for (int i = 0; i < nm; i++) {
        size_t k = strlen(m[i].key), v = strlen(m[i].val);
        le(b + p, k, 2);
        memcpy(b + p + 2, m[i].key, k);
        le(b + p + 2 + k, v, 4);
        memcpy(b + p + 6 + k, m[i].val, v);
        p += 6 + k + v;
    }
    for (int i = 0; i < nt; i++) {
        size_t n = strlen(t[i].name), claimed = t[i].name_len >= 0 ? (size_t)t[i].name_len : n;
        if (claimed < n) n = claimed; /* a longer claimed length just runs into the following bytes */
        le(b + p, claimed, 2);
        memcpy(b + p + 2, t[i].name, n);
        p += 2 + n;
        b[p++] = t[i].dtype;
        b[p++] = t[i].ndim;
        for (int d = 0; d < t[i].ndim; d++, p += 4) le(b + p, d < 4 ? t[i].dims[d] : 1, 4);
        le(b + p, t[i].off, 8);
        le(b + p + 8, t[i].nbytes, 8);
        p += 16;
    }
    p = (p + 63) / 64 * 64;
    if (data_size) memcpy(b + p, data, data_size);
    fix_crcs(b, p + data_size);
    return p + data_size;
}

/* The reference file: 2 meta, tensors a [2,3] at 0 and b [5] at 64. */
static const mspec ref_meta[2] = {{"arch", "gen"}, {"width", "32"}};
static float ref_data[21]; /* a: floats 0..5, gap to byte 64, b: floats 16..20 */
static tspec ref_t[2];
static size_t encode_ref(uint8_t *b, size_t cap) {
    for (int i = 0; i < 21; i++) ref_data[i] = (i < 6 || i >= 16) ? 0.5f * (float)i - 3.25f : 0.0f;
    tspec a = {"a", -1, 0, 2, {2, 3}, 0, 24}, bb = {"b", -1, 0, 1, {5}, 64, 20};
    ref_t[0] = a;
    ref_t[1] = bb;
    return encode(b, cap, ref_meta, 2, ref_t, 2, ref_data, 84);
}

/* Parse a copy in an exactly-sized heap block so ASan sees any read past the end. */
static df_status parse_copy(const uint8_t *b, size_t len, dfw_file *f, uint8_t **keep) {
    uint8_t *c = malloc(len ? len : 1);
    memcpy(c, b, len);
    df_status st = dfw_parse(f, c, len);
    if (keep) *keep = c;
    else free(c);
    return st;
}

static float tensor_at(const dfw_tensor *t, size_t i) {
    float v;
    memcpy(&v, (const char *)t->data + 4 * i, 4);
    return v;
}

static int has(const char *msg, const char *part) { return strstr(msg, part) != NULL; }

/* ------------------------------------------------------------------ tests */
static void test_crc(void) {
    CHECK(df_crc32("123456789", 9) == 0xCBF43926u, "crc32 check value: %08x", df_crc32("123456789", 9));
    CHECK(df_crc32("", 0) == 0, "crc32 of nothing");
    CHECK(df_crc32("The quick brown fox jumps over the lazy dog", 43) == 0x414FA339u, "crc32 fox");
}

static void test_reference_layout(void) {
    uint8_t b[512];
    size_t len = encode_ref(b, sizeof b);
    CHECK(len == 128 + 84, "reference length %zu", len);
    dfw_file f;
    uint8_t *keep;
    df_status st = parse_copy(b, len, &f, &keep);
    CHECK(st == DF_OK, "hand-encoded file parses: %s", df_errmsg());
    if (st == DF_OK) {
        char s[16];
        CHECK(f.version == 1 && f.n_meta == 2 && f.n_tensors == 2, "counts");
        CHECK(dfw_meta_get(&f, "arch", s, sizeof s) == DF_OK && strcmp(s, "gen") == 0, "meta arch");
        long wdt = 0;
        CHECK(dfw_meta_int(&f, "width", &wdt) == DF_OK && wdt == 32, "meta width");
        const dfw_tensor *a = dfw_find(&f, "a"), *t = dfw_find(&f, "b");
        CHECK(a && a->ndim == 2 && a->dims[0] == 2 && a->dims[1] == 3 && a->count == 6, "tensor a shape");
        CHECK(t && t->ndim == 1 && t->dims[0] == 5 && t->count == 5, "tensor b shape");
        for (int i = 0; a && i < 6; i++) CHECK(tensor_at(a, i) == 0.5f * i - 3.25f, "a[%d]", i);
        for (int i = 0; t && i < 5; i++) CHECK(tensor_at(t, i) == 0.5f * (16 + i) - 3.25f, "b[%d]", i);
        CHECK(dfw_find(&f, "c") == NULL && dfw_find(&f, "") == NULL, "absent names");
        float dst[6];
        int good[2] = {2, 3}, bad[2] = {3, 2};
        CHECK(dfw_read_tensor(&f, "a", dst, 2, good) == DF_OK && dst[5] == 0.5f * 5 - 3.25f, "read a");
        CHECK(dfw_read_tensor(&f, "a", dst, 2, bad) == DF_ERR_FORMAT && has(df_errmsg(), "'a' has shape [2, 3]"),
              "shape mismatch message: %s", df_errmsg());
        CHECK(dfw_read_tensor(&f, "zz", dst, 2, good) == DF_ERR_FORMAT && has(df_errmsg(), "'zz' missing"),
              "missing message: %s", df_errmsg());
    }
    dfw_free(&f);
    free(keep);

    /* The writer produces exactly the hand-encoded bytes for the same content. */
    dfw_writer *w = malloc(sizeof *w);
    dfw_writer_init(w);
    int da[2] = {2, 3}, db[1] = {5};
    uint8_t *out = NULL;
    size_t outlen = 0;
    CHECK(dfw_writer_meta(w, "arch", "gen") == DF_OK && dfw_writer_meta_int(w, "width", 32) == DF_OK, "writer meta");
    CHECK(dfw_writer_tensor(w, "a", 2, da, ref_data) == DF_OK && dfw_writer_tensor(w, "b", 1, db, ref_data + 16) == DF_OK,
          "writer tensors");
    CHECK(dfw_writer_finish(w, &out, &outlen) == DF_OK, "finish: %s", df_errmsg());
    CHECK(outlen == len && out && memcmp(out, b, len) == 0, "writer bytes equal the hand encoding (%zu vs %zu)", outlen,
          len);
    free(out);
    dfw_writer_free(w);
    free(w);

    /* an empty container is valid */
    len = encode(b, sizeof b, NULL, 0, NULL, 0, NULL, 0);
    CHECK(len == 64 && parse_copy(b, len, &f, NULL) == DF_OK && f.n_tensors == 0 && f.n_meta == 0, "empty file");
    dfw_free(&f);
}

static void test_round_trip(void) {
    dfw_writer *w = malloc(sizeof *w);
    dfw_writer_init(w);
    float t1[7], t2[3 * 5 * 2], t3[2 * 3 * 4 * 5], t4[1];
    check_fill(t1, 7, 1);
    check_fill(t2, 30, 2);
    check_fill(t3, 120, 3);
    t4[0] = -0.0f;
    int d1[1] = {7}, d2[3] = {3, 5, 2}, d3[4] = {2, 3, 4, 5}, d4[2] = {1, 1};
    const char *utf = "Gr\xc3\xbc\xc3\x9f" "e \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80";
    CHECK(dfw_writer_meta(w, "name", "first") == DF_OK, "meta");
    CHECK(dfw_writer_meta(w, "name", "second") == DF_OK && w->n_meta == 1, "meta overwrite keeps one entry");
    CHECK(dfw_writer_meta(w, "empty", "") == DF_OK && dfw_writer_meta(w, "utf8", utf) == DF_OK, "meta strings");
    CHECK(dfw_writer_meta_int(w, "min", LONG_MIN) == DF_OK && dfw_writer_meta_int(w, "max", LONG_MAX) == DF_OK &&
              dfw_writer_meta_int(w, "neg", -5) == DF_OK,
          "meta ints");
    CHECK(dfw_writer_meta_float(w, "third", 1.0 / 3.0) == DF_OK && dfw_writer_meta_float(w, "tiny", 5e-324) == DF_OK &&
              dfw_writer_meta_float(w, "big", -1.5e300) == DF_OK,
          "meta floats");
    CHECK(dfw_writer_tensor(w, "t1", 1, d1, t1) == DF_OK && dfw_writer_tensor(w, "dir/t2", 3, d2, t2) == DF_OK &&
              dfw_writer_tensor(w, "t 3", 4, d3, t3) == DF_OK && dfw_writer_tensor(w, "t4", 2, d4, t4) == DF_OK,
          "tensors: %s", df_errmsg());
    uint8_t *buf;
    size_t len;
    CHECK(dfw_writer_finish(w, &buf, &len) == DF_OK, "finish");
    dfw_writer_free(w);
    free(w);

    dfw_file f;
    CHECK(dfw_parse(&f, buf, len) == DF_OK, "parse: %s", df_errmsg());
    char s[64];
    long iv;
    double dv;
    CHECK(dfw_meta_get(&f, "name", s, sizeof s) == DF_OK && strcmp(s, "second") == 0, "name");
    CHECK(dfw_meta_get(&f, "empty", s, sizeof s) == DF_OK && s[0] == 0, "empty value");
    CHECK(dfw_meta_get(&f, "utf8", s, sizeof s) == DF_OK && strcmp(s, utf) == 0, "utf8 value");
    CHECK(dfw_meta_get(&f, "utf8", s, strlen(utf)) == DF_ERR_FORMAT, "too small buffer refused");
    CHECK(dfw_meta_get(&f, "nope", s, sizeof s) == DF_ERR_FORMAT && has(df_errmsg(), "'nope' missing"), "missing key");
    CHECK(dfw_meta_int(&f, "min", &iv) == DF_OK && iv == LONG_MIN, "LONG_MIN");
    CHECK(dfw_meta_int(&f, "max", &iv) == DF_OK && iv == LONG_MAX, "LONG_MAX");
    CHECK(dfw_meta_int(&f, "neg", &iv) == DF_OK && iv == -5, "-5");
    CHECK(dfw_meta_int(&f, "name", &iv) == DF_ERR_FORMAT && dfw_meta_int(&f, "third", &iv) == DF_ERR_FORMAT &&
              dfw_meta_int(&f, "empty", &iv) == DF_ERR_FORMAT,
          "non-integers refused");
    CHECK(dfw_meta_float(&f, "third", &dv) == DF_OK && dv == 1.0 / 3.0, "1/3 exact");
    CHECK(dfw_meta_float(&f, "tiny", &dv) == DF_OK && dv == 5e-324, "subnormal exact");
    CHECK(dfw_meta_float(&f, "big", &dv) == DF_OK && dv == -1.5e300, "big exact");
    CHECK(dfw_meta_float(&f, "neg", &dv) == DF_OK && dv == -5.0, "int as float");
    CHECK(dfw_meta_float(&f, "name", &dv) == DF_ERR_FORMAT, "non-number refused");
    const float *src[4] = {t1, t2, t3, t4};
    const char *names[4] = {"t1", "dir/t2", "t 3", "t4"};
    size_t counts[4] = {7, 30, 120, 1};
    for (int k = 0; k < 4; k++) {
        const dfw_tensor *t = dfw_find(&f, names[k]);
        CHECK(t && t->count == counts[k], "%s count", names[k]);
        if (t) CHECK(memcmp(t->data, src[k], counts[k] * 4) == 0, "%s bits", names[k]);
        if (t) CHECK(((const uint8_t *)t->data - buf) % 64 == 0, "%s 64-aligned in the file", names[k]);
    }
    const dfw_tensor *t3f = dfw_find(&f, "t 3");
    CHECK(t3f && t3f->ndim == 4 && t3f->dims[0] == 2 && t3f->dims[3] == 5, "4-d shape");
    dfw_free(&f);
    CHECK(f.tensors == NULL && f.n_tensors == 0, "free zeroes");
    free(buf);
}

static void declare3(df_params *p, int swap) {
    memset(p, 0, sizeof *p);
    int dw[4] = {4, 3, 3, 3}, db[1] = {4}, dh[2] = {7, 5}, dh2[2] = {5, 7};
    df_params_declare(p, "enc.conv1.weight", 4, dw);
    df_params_declare(p, "enc.conv1.bias", 1, db);
    df_params_declare(p, "head.w", 2, swap ? dh2 : dh);
}

static int params_equal(const float *a, const float *b, const df_params *p) {
    for (int i = 0; i < p->n; i++)
        if (memcmp(a + p->info[i].offset, b + p->info[i].offset, p->info[i].count * 4)) return 0;
    return 1;
}

static void test_params(void) {
    df_params p, q;
    declare3(&p, 0);
    CHECK(df_params_alloc(&p, 1) == DF_OK, "alloc");
    check_fill(p.data, p.total, 11);
    check_fill(p.m, p.total, 12);
    check_fill(p.v, p.total, 13);
    for (int with_opt = 0; with_opt < 2; with_opt++) {
        dfw_writer *w = malloc(sizeof *w);
        dfw_writer_init(w);
        uint8_t *buf = NULL;
        size_t len = 0;
        CHECK(dfw_writer_params(w, &p, with_opt) == DF_OK && w->n_tensors == (with_opt ? 9 : 3), "writer_params");
        if (with_opt) CHECK(dfw_writer_meta_int(w, "step", 1234) == DF_OK, "step");
        CHECK(dfw_writer_finish(w, &buf, &len) == DF_OK, "finish");
        dfw_writer_free(w);
        free(w);
        dfw_file f;
        CHECK(dfw_parse(&f, buf, len) == DF_OK, "parse");
        CHECK((dfw_find(&f, "opt.m/head.w") != NULL) == with_opt && (dfw_find(&f, "opt.v/enc.conv1.bias") != NULL) == with_opt,
              "opt tensors present iff with_opt");
        declare3(&q, 0);
        df_params_alloc(&q, 1);
        CHECK(dfw_load_params(&f, &q) == DF_OK, "load: %s", df_errmsg());
        CHECK(params_equal(q.data, p.data, &p), "data restored");
        float zero = 0;
        int mz = 1;
        for (size_t i = 0; i < q.total; i++) mz &= memcmp(&q.m[i], &zero, 4) == 0 && memcmp(&q.v[i], &zero, 4) == 0;
        if (with_opt) {
            long step = 0;
            CHECK(params_equal(q.m, p.m, &p) && params_equal(q.v, p.v, &p), "moments restored");
            CHECK(dfw_meta_int(&f, "step", &step) == DF_OK && step == 1234, "step restored");
        } else {
            CHECK(mz, "no moments in the file: m, v stay zero");
        }
        df_params_free(&q);
        /* inference params (no moments) load from either file */
        declare3(&q, 0);
        df_params_alloc(&q, 0);
        CHECK(dfw_load_params(&f, &q) == DF_OK && params_equal(q.data, p.data, &p), "inference load");
        df_params_free(&q);
        /* shape mismatch and a missing tensor are reported by name */
        declare3(&q, 1);
        df_params_alloc(&q, 0);
        CHECK(dfw_load_params(&f, &q) == DF_ERR_FORMAT && has(df_errmsg(), "'head.w' has shape [7, 5], expected [5, 7]"),
              "mismatch message: %s", df_errmsg());
        df_params_free(&q);
        declare3(&q, 0);
        int d1[1] = {3};
        df_params_declare(&q, "extra.b", 1, d1);
        df_params_alloc(&q, 0);
        CHECK(dfw_load_params(&f, &q) == DF_ERR_FORMAT && has(df_errmsg(), "'extra.b' missing"), "missing message: %s",
              df_errmsg());
        df_params_free(&q);
        dfw_free(&f);
        free(buf);
    }
    df_params_free(&p);
}

static void test_writer_errors(void) {
    dfw_writer *w = malloc(sizeof *w);
    dfw_writer_init(w);
    float x[4] = {0};
    int d[4] = {1, 2, 2, 1}, d0[1] = {0}, dneg[1] = {-3};
    char longname[300];
    memset(longname, 'a', 299);
    longname[299] = 0;
    CHECK(dfw_writer_tensor(w, "", 1, d, x) == DF_ERR_ARG, "empty name");
    CHECK(dfw_writer_tensor(w, "a\nb", 1, d, x) == DF_ERR_ARG, "control char in name");
    CHECK(dfw_writer_tensor(w, longname, 1, d, x) == DF_ERR_ARG, "name > 255");
    CHECK(dfw_writer_tensor(w, "x", 0, d, x) == DF_ERR_ARG && dfw_writer_tensor(w, "x", 5, d, x) == DF_ERR_ARG, "ndim");
    CHECK(dfw_writer_tensor(w, "x", 1, d0, x) == DF_ERR_ARG && dfw_writer_tensor(w, "x", 1, dneg, x) == DF_ERR_ARG, "dims");
    CHECK(dfw_writer_tensor(w, "x", 1, d, NULL) == DF_ERR_ARG, "NULL data");
    CHECK(dfw_writer_tensor(w, "x", 4, d, x) == DF_OK, "good tensor");
    CHECK(dfw_writer_tensor(w, "x", 1, d, x) == DF_ERR_ARG && has(df_errmsg(), "duplicate"), "duplicate tensor");
    CHECK(dfw_writer_meta(w, "", "v") == DF_ERR_ARG && dfw_writer_meta(w, "k\x01", "v") == DF_ERR_ARG, "bad keys");
    CHECK(dfw_writer_meta(w, "k", "\xff") == DF_ERR_ARG && dfw_writer_meta(w, "k", "\xc0\x80") == DF_ERR_ARG &&
              dfw_writer_meta(w, "k", "\xed\xa0\x80") == DF_ERR_ARG && dfw_writer_meta(w, "k", "\xe6\x97") == DF_ERR_ARG,
          "invalid UTF-8 (stray, overlong, surrogate, cut)");
    CHECK(w->n_tensors == 1 && w->n_meta == 0, "failed calls add nothing");
    dfw_writer_free(w);
    free(w);
}

static void test_truncations_and_flips(void) {
    /* a small checkpoint-like file with meta and three tensors */
    dfw_writer *w = malloc(sizeof *w);
    dfw_writer_init(w);
    float a[10], b[3];
    check_fill(a, 10, 5);
    check_fill(b, 3, 6);
    int da[2] = {2, 5}, db[1] = {3};
    dfw_writer_meta(w, "arch", "gen-small");
    dfw_writer_meta_int(w, "step", 7);
    dfw_writer_tensor(w, "w", 2, da, a);
    dfw_writer_tensor(w, "b", 1, db, b);
    dfw_writer_tensor(w, "opt.m/b", 1, db, b);
    uint8_t *buf;
    size_t len;
    CHECK(dfw_writer_finish(w, &buf, &len) == DF_OK, "finish");
    dfw_writer_free(w);
    free(w);

    int bad = 0, zeroed = 1;
    for (size_t cut = 0; cut < len; cut++) {
        dfw_file f;
        df_status st = parse_copy(buf, cut, &f, NULL);
        if (st == DF_OK) bad++, dfw_free(&f);
        zeroed &= f.tensors == NULL && f.meta == NULL && f.n_tensors == 0;
    }
    CHECK(bad == 0, "%d of %zu truncations parsed", bad, len);
    CHECK(zeroed, "failed parses leave the dfw_file zeroed");
    dfw_file f;
    parse_copy(buf, 70, &f, NULL);
    CHECK(has(df_errmsg(), "truncated"), "cut inside the tables says truncated: %s", df_errmsg());
    parse_copy(buf, len - 1, &f, NULL);
    CHECK(has(df_errmsg(), "truncated data section"), "cut in the data: %s", df_errmsg());

    /* every single-byte change fails: both CRCs and the exact length cover every byte */
    static const uint8_t xors[4] = {0x01, 0x80, 0xFF, 0x5A};
    bad = 0;
    for (size_t i = 0; i < len; i++)
        for (int k = 0; k < 4; k++) {
            buf[i] ^= xors[k];
            if (parse_copy(buf, len, &f, NULL) == DF_OK) bad++, dfw_free(&f);
            buf[i] ^= xors[k];
        }
    CHECK(bad == 0, "%d of %zu byte changes parsed", bad, 4 * len);
    /* appended bytes fail too, even with the CRC fixed up */
    uint8_t *ext = calloc(len + 64, 1);
    memcpy(ext, buf, len);
    fix_crcs(ext, len + 1);
    CHECK(parse_copy(ext, len + 1, &f, NULL) == DF_ERR_FORMAT && has(df_errmsg(), "trailing"), "trailing byte: %s",
          df_errmsg());
    free(ext);
    CHECK(parse_copy(buf, len, &f, NULL) == DF_OK, "original still parses");
    dfw_free(&f);
    free(buf);
}

/* Patch the reference file, fix the CRCs, expect a failure with code and message fragment. */
static void expect_fail(const uint8_t *b, size_t len, df_status code, const char *part, const char *what) {
    dfw_file f;
    df_status st = parse_copy(b, len, &f, NULL);
    CHECK(st == code && has(df_errmsg(), part), "%s: got %s '%s', want '%s'", what, df_status_name(st), df_errmsg(),
          part);
    if (st == DF_OK) dfw_free(&f);
}

static void test_crafted(void) {
    uint8_t b[1024], c[1024];
    size_t len = encode_ref(b, sizeof b);
    float data[64] = {0};
    struct {
        size_t at;
        int n;
        uint64_t v;
        df_status code;
        const char *part;
    } hdr[] = {
        {8, 4, 0xFFFFFFFFu, DF_ERR_FORMAT, "metadata entries"},
        {8, 4, 257, DF_ERR_FORMAT, "metadata entries"},
        {12, 4, 0xFFFFFFFFu, DF_ERR_FORMAT, "tensors (at most"},
        {12, 4, 4097, DF_ERR_FORMAT, "tensors (at most"},
        {12, 4, 3, DF_ERR_FORMAT, "tensor 3 at byte 112 has a bad name"}, /* reads the zero padding */
        {8, 4, 3, DF_ERR_FORMAT, ""},
        {16, 8, UINT64_MAX, DF_ERR_FORMAT, "truncated data section"},
        {16, 8, 1ull << 63, DF_ERR_FORMAT, "truncated data section"},
        {16, 8, 85, DF_ERR_FORMAT, "truncated data section"},
        {16, 8, 83, DF_ERR_FORMAT, "'b' (bytes 64..84) lies outside the 83-byte"},
        {16, 8, 0, DF_ERR_FORMAT, "'a' (bytes 0..24) lies outside"},
        {4, 4, 2, DF_ERR_UNSUPPORTED, "version 2"},
        {4, 4, 0, DF_ERR_UNSUPPORTED, "version 0"},
        {0, 1, 'X', DF_ERR_FORMAT, "bad magic"},
        {32, 2, 0, DF_ERR_FORMAT, "bad key"},           /* key_len 0 */
        {32, 2, 0xFFFF, DF_ERR_FORMAT, "truncated metadata"},
        {38, 4, 0xFFFFFFFFu, DF_ERR_FORMAT, "truncated metadata"}, /* val_len of "arch" */
        {38, 4, 0xFFFFFFF0u, DF_ERR_FORMAT, "truncated metadata"},
    };
    for (size_t i = 0; i < sizeof hdr / sizeof hdr[0]; i++) {
        memcpy(c, b, len);
        le(c + hdr[i].at, hdr[i].v, hdr[i].n);
        fix_crcs(c, len);
        char what[32];
        snprintf(what, sizeof what, "header case %zu", i);
        expect_fail(c, len, hdr[i].code, hdr[i].part, what);
    }
    /* checksums themselves */
    memcpy(c, b, len);
    c[28] ^= 1;
    expect_fail(c, len, DF_ERR_FORMAT, "header checksum", "header crc");
    memcpy(c, b, len);
    c[24] ^= 1;
    le(c + 28, df_crc32(c, 28), 4);
    expect_fail(c, len, DF_ERR_FORMAT, "checksum mismatch", "body crc");
    memcpy(c, b, len);
    c[len - 1] ^= 1;
    le(c + 28, df_crc32(c, 28), 4);
    expect_fail(c, len, DF_ERR_FORMAT, "checksum mismatch", "data byte");
    /* nonzero padding (the tables end before byte 128) */
    memcpy(c, b, len);
    c[120] = 1;
    fix_crcs(c, len);
    expect_fail(c, len, DF_ERR_FORMAT, "padding", "padding");
    /* short files */
    expect_fail(b, 31, DF_ERR_FORMAT, "too short", "31 bytes");
    expect_fail(b, 0, DF_ERR_FORMAT, "too short", "0 bytes");

    /* tensor records */
    mspec m1[2] = {{"k", "v"}, {"k", "w"}}, mbad[1] = {{"k", "\xff"}}, mnul[1] = {{"k\x7f", "v"}};
    struct {
        tspec t[2];
        int nt;
        size_t dsize;
        df_status code;
        const char *part;
    } tc[] = {
        {{{"x", -1, 0, 0, {1}, 0, 4}}, 1, 4, DF_ERR_FORMAT, "1..4"},
        {{{"x", -1, 0, 5, {1, 1, 1, 1}, 0, 4}}, 1, 4, DF_ERR_FORMAT, "1..4"},
        {{{"x", -1, 0, 1, {0}, 0, 0}}, 1, 4, DF_ERR_FORMAT, "dimension 0 is 0"},
        {{{"x", -1, 0, 1, {0x80000000u}, 0, 0x200000000ull}}, 1, 4, DF_ERR_FORMAT, "dimension 0 is 2147483648"},
        {{{"x", -1, 0, 4, {0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF}, 0, 4}}, 1, 4, DF_ERR_FORMAT, "overflows"},
        {{{"x", -1, 0, 2, {65536, 65536}, 0, 1ull << 34}}, 1, 4, DF_ERR_FORMAT, "outside"},
        {{{"x", -1, 0, 1, {2}, 0, 4}}, 1, 8, DF_ERR_FORMAT, "has 4 bytes but its shape needs 8"},
        {{{"x", -1, 0, 1, {1}, 0, UINT64_MAX}}, 1, 4, DF_ERR_FORMAT, "shape needs 4"},
        {{{"x", -1, 0, 1, {1}, 4, 4}}, 1, 8, DF_ERR_FORMAT, "not 64-byte aligned"},
        {{{"x", -1, 0, 1, {1}, 64, 4}}, 1, 64, DF_ERR_FORMAT, "outside"},
        {{{"x", -1, 0, 1, {1}, UINT64_MAX - 63, 4}}, 1, 4, DF_ERR_FORMAT, "outside"},
        {{{"x", -1, 0, 1, {2}, 0, 8}}, 1, 4, DF_ERR_FORMAT, "outside"},
        {{{"x", -1, 1, 1, {1}, 0, 4}}, 1, 4, DF_ERR_UNSUPPORTED, "dtype 1"},
        {{{"x", 0, 0, 1, {1}, 0, 4}}, 1, 4, DF_ERR_FORMAT, "bad name"},
        {{{"x\ty", -1, 0, 1, {1}, 0, 4}}, 1, 4, DF_ERR_FORMAT, "bad name"},
        {{{"x", 0xFFFF, 0, 1, {1}, 0, 4}}, 1, 4, DF_ERR_FORMAT, "truncated tensor table"},
        {{{"x", -1, 0, 1, {1}, 0, 4}, {"x", -1, 0, 1, {1}, 0, 4}}, 2, 4, DF_ERR_FORMAT, "duplicate tensor name 'x'"},
        {{{"x", -1, 0, 1, {1}, 0, 4}, {"y", -1, 0, 1, {1}, 0, 4}}, 2, 4, DF_OK, ""}, /* overlap is allowed */
    };
    for (size_t i = 0; i < sizeof tc / sizeof tc[0]; i++) {
        char what[32];
        snprintf(what, sizeof what, "tensor case %zu", i);
        size_t n = encode(c, sizeof c, NULL, 0, tc[i].t, tc[i].nt, data, tc[i].dsize);
        expect_fail(c, n, tc[i].code, tc[i].part, what);
    }
    tspec one = {"x", -1, 0, 1, {1}, 0, 4};
    size_t n = encode(c, sizeof c, m1, 2, &one, 1, data, 4);
    expect_fail(c, n, DF_ERR_FORMAT, "duplicate metadata key 'k'", "duplicate key");
    n = encode(c, sizeof c, mbad, 1, &one, 1, data, 4);
    expect_fail(c, n, DF_ERR_FORMAT, "not NUL-free UTF-8", "bad utf8 value");
    n = encode(c, sizeof c, mnul, 1, &one, 1, data, 4);
    expect_fail(c, n, DF_ERR_FORMAT, "bad key", "DEL in key");
}

/* Random structural mutations with valid CRCs: must fail cleanly or yield tensors inside the buffer. */
static void test_mutations(void) {
    uint8_t b[512];
    size_t len = encode_ref(b, sizeof b);
    unsigned s = 12345;
    int ok = 0, inside = 1;
    for (int it = 0; it < 20000; it++) {
        uint8_t c[600];
        memcpy(c, b, len);
        size_t n = len;
        int muts = 1 + it % 4;
        for (int k = 0; k < muts && n > 8; k++) {
            s = s * 1103515245u + 12345u;
            size_t at = 8 + (s >> 8) % (n - 8); /* counts, sizes, tables, padding, data */
            s = s * 1103515245u + 12345u;
            int kind = (s >> 16) % 4;
            if (kind == 0) c[at] = (uint8_t)(s >> 24);
            else if (kind == 1) c[at] ^= (uint8_t)(1u << ((s >> 24) & 7));
            else if (kind == 2) c[at] = (s >> 24) & 1 ? 0xFF : 0;
            else n = at; /* truncate */
        }
        if (n < 32) continue;
        fix_crcs(c, n);
        dfw_file f;
        uint8_t *keep;
        if (parse_copy(c, n, &f, &keep) == DF_OK) {
            ok++;
            for (int i = 0; i < f.n_tensors; i++) {
                const uint8_t *p = (const uint8_t *)f.tensors[i].data;
                inside &= p >= keep && p + f.tensors[i].count * 4 <= keep + n;
            }
            dfw_free(&f);
        }
        free(keep);
    }
    CHECK(inside, "every accepted tensor lies inside its buffer");
    printf("mutations: %d of 20000 still parsed (CRC fixed up)\n", ok);
}

/* Messages that wrap the previous one (df_fail(s, "%s: %s", path, df_errmsg())) keep it intact. */
static void test_error_context(void) {
    df_fail(DF_ERR_FORMAT, "inner %s %d", "message", 42);
    df_status s = df_fail(DF_ERR_IO, "%s: %s", "some/file.dfw", df_errmsg());
    CHECK(s == DF_ERR_IO, "status passed through");
    CHECK(!strcmp(df_errmsg(), "some/file.dfw: inner message 42"), "wrapped message: '%s'", df_errmsg());
    df_fail(DF_ERR_ARG, "%s | %s", df_errmsg(), df_errmsg());
    CHECK(!strcmp(df_errmsg(), "some/file.dfw: inner message 42 | some/file.dfw: inner message 42"), "twice: '%s'",
          df_errmsg());
}

int main(void) {
    test_error_context();
    test_crc();
    test_reference_layout();
    test_round_trip();
    test_params();
    test_writer_errors();
    test_truncations_and_flips();
    test_crafted();
    test_mutations();
    return check_summary("test_dfw");
}
