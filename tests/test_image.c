/* Image I/O: test images are generated here with stb_image_write (PNG gray/gray+alpha/RGB/RGBA, BMP, JPEG)
 * and EXIF-tagged JPEGs are built by splicing an APP1 segment (both byte orders) into a written JPEG; the
 * expected pixel placement for orientations 1..8 comes from the EXIF spec's "0th row / 0th column" table.
 * Also: empty, truncated and corrupt files, unsupported formats, a header claiming 20000x20000, atomic
 * writes, file reading limits, the fuzzer's finds (tests/fuzz/corpus/fuzz_image), stb's asserts as clean
 * failures (df_stb_guard), and the [-1, 1] pixel conversion. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "dfw.h"
#include "image.h"
#include "stb/df_stb.h"

/* ------------------------------------------------------------------ helpers */
typedef struct {
    uint8_t *p;
    size_t n;
} blob;

static void blob_write(void *ctx, void *data, int size) {
    blob *b = ctx;
    b->p = realloc(b->p, b->n + (size_t)size);
    memcpy(b->p + b->n, data, (size_t)size);
    b->n += (size_t)size;
}

enum { PNG, BMP, JPG };
static blob make(int kind, int w, int h, int comp, const uint8_t *px) {
    blob b = {NULL, 0};
    if (kind == PNG) stbi_write_png_to_func(blob_write, &b, w, h, comp, px, w * comp);
    if (kind == BMP) stbi_write_bmp_to_func(blob_write, &b, w, h, comp, px);
    if (kind == JPG) stbi_write_jpg_to_func(blob_write, &b, w, h, comp, px, 95);
    return b;
}

/* Pattern with distinct channels; comp 1..4. */
static uint8_t *pattern(int w, int h, int comp) {
    uint8_t *p = malloc((size_t)w * h * comp);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < comp; c++) p[(y * w + x) * comp + c] = (uint8_t)(x * 7 + y * 13 + c * 71);
    return p;
}

/* Decode a copy in an exactly-sized heap block (ASan sees any overread). */
static df_status decode(df_image *img, const uint8_t *b, size_t n) {
    uint8_t *c = malloc(n ? n : 1);
    if (n) memcpy(c, b, n);
    df_status st = df_image_decode(img, c, n);
    free(c);
    return st;
}

static int has(const char *part) { return strstr(df_errmsg(), part) != NULL; }

static void be(uint8_t *p, uint32_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}
static void le(uint8_t *p, uint32_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* ------------------------------------------------------------------ lossless formats */
static void test_png_bmp(void) {
    const int w = 13, h = 7;
    for (int comp = 1; comp <= 4; comp++) {
        uint8_t *px = pattern(w, h, comp);
        blob b = make(PNG, w, h, comp, px);
        df_image img;
        CHECK(decode(&img, b.p, b.n) == DF_OK, "png comp %d: %s", comp, df_errmsg());
        CHECK(img.w == w && img.h == h, "png comp %d size", comp);
        int want = (comp <= 2 ? DF_IMG_NOTE_GRAY_EXPANDED : 0) | (comp % 2 == 0 ? DF_IMG_NOTE_ALPHA_DROPPED : 0);
        CHECK(img.notes == want, "png comp %d notes %d want %d", comp, img.notes, want);
        int bad = 0;
        for (int i = 0; img.rgb && i < w * h; i++)
            for (int c = 0; c < 3; c++) bad += img.rgb[i * 3 + c] != px[i * comp + (comp <= 2 ? 0 : c)];
        CHECK(img.rgb && bad == 0, "png comp %d: %d wrong bytes", comp, bad);
        df_image_free(&img);
        free(b.p);
        free(px);
    }
    for (int comp = 3; comp <= 4; comp++) {
        uint8_t *px = pattern(w, h, comp);
        blob b = make(BMP, w, h, comp, px);
        df_image img;
        CHECK(decode(&img, b.p, b.n) == DF_OK && img.w == w && img.h == h, "bmp comp %d: %s", comp, df_errmsg());
        CHECK(img.notes == (comp == 4 ? DF_IMG_NOTE_ALPHA_DROPPED : 0), "bmp comp %d notes %d", comp, img.notes);
        int bad = 0;
        for (int i = 0; img.rgb && i < w * h; i++)
            for (int c = 0; c < 3; c++) bad += img.rgb[i * 3 + c] != px[i * comp + c];
        CHECK(img.rgb && bad == 0, "bmp comp %d: %d wrong bytes", comp, bad);
        df_image_free(&img);
        free(b.p);
        free(px);
    }
}

/* ------------------------------------------------------------------ JPEG and EXIF */
/* Quadrant colours of the stored image: TL red, TR green, BL blue, BR yellow. */
static const uint8_t quad_rgb[4][3] = {{230, 20, 20}, {20, 230, 20}, {20, 20, 230}, {230, 230, 20}};

/* APP1 Exif with IFD0 = {0x010F Make "abc", 0x0112 Orientation o} in the given byte order. */
static size_t exif_app1(uint8_t *a, int o, int little) {
    void (*put)(uint8_t *, uint32_t, int) = little ? le : be;
    uint8_t *t = a + 10; /* FF E1 len(2) "Exif\0\0" */
    memcpy(t, little ? "II" : "MM", 2);
    put(t + 2, 42, 2);
    put(t + 4, 8, 4);
    put(t + 8, 2, 2); /* two entries */
    uint8_t *e = t + 10;
    put(e, 0x010F, 2), put(e + 2, 2, 2), put(e + 4, 4, 4), memcpy(e + 8, "abc", 4);
    e += 12;
    put(e, 0x0112, 2), put(e + 2, 3, 2), put(e + 4, 1, 4), put(e + 8, (uint32_t)o, 2), put(e + 10, 0, 2);
    put(e + 12, 0, 4); /* no next IFD */
    size_t tiff = 8 + 2 + 24 + 4, seg = 2 + 6 + tiff;
    a[0] = 0xFF, a[1] = 0xE1;
    be(a + 2, (uint32_t)seg, 2);
    memcpy(a + 4, "Exif\0\0", 6);
    return 2 + seg;
}

static blob splice_after_soi(const blob *j, const uint8_t *seg, size_t n) {
    blob b = {malloc(j->n + n), j->n + n};
    memcpy(b.p, j->p, 2);
    memcpy(b.p + 2, seg, n);
    memcpy(b.p + 2 + n, j->p + 2, j->n - 2);
    return b;
}

static int near_rgb(const uint8_t *p, const uint8_t *q) {
    return abs(p[0] - q[0]) < 40 && abs(p[1] - q[1]) < 40 && abs(p[2] - q[2]) < 40;
}

static void test_jpeg_exif(void) {
    const int w = 48, h = 32; /* quadrants 24x16 */
    uint8_t *px = malloc(w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) memcpy(px + 3 * (y * w + x), quad_rgb[(y >= h / 2) * 2 + (x >= w / 2)], 3);
    blob j = make(JPG, w, h, 3, px);
    df_image img;
    CHECK(decode(&img, j.p, j.n) == DF_OK && img.w == w && img.h == h && img.notes == 0, "plain jpeg: %s", df_errmsg());
    double err = 0;
    for (int i = 0; img.rgb && i < w * h * 3; i++) err += abs(img.rgb[i] - px[i]);
    CHECK(img.rgb && err / (w * h * 3) < 6, "jpeg mean abs error %.2f", err / (w * h * 3));
    df_image_free(&img);

    /* Display corner (TL, TR, BL, BR) -> stored quadrant, from the EXIF spec's description of where the stored
     * 0th row and 0th column go (e.g. 6: 0th row = visual right side, 0th column = visual top). */
    static const int shows[9][4] = {
        {0}, {0, 1, 2, 3}, {1, 0, 3, 2}, {3, 2, 1, 0}, {2, 3, 0, 1},
        {0, 2, 1, 3}, {2, 0, 3, 1}, {3, 1, 2, 0}, {1, 3, 0, 2},
    };
    for (int o = 1; o <= 8; o++)
        for (int little = 0; little < 2; little++) {
            uint8_t app1[64];
            size_t n = exif_app1(app1, o, little);
            blob b = splice_after_soi(&j, app1, n);
            CHECK(decode(&img, b.p, b.n) == DF_OK, "orientation %d: %s", o, df_errmsg());
            int ow = o >= 5 ? h : w, oh = o >= 5 ? w : h;
            CHECK(img.w == ow && img.h == oh, "orientation %d (%s): size %dx%d", o, little ? "II" : "MM", img.w, img.h);
            CHECK(img.notes == (o == 1 ? 0 : DF_IMG_NOTE_EXIF_ROTATED), "orientation %d notes %d", o, img.notes);
            for (int corner = 0; img.rgb && img.w == ow && corner < 4; corner++) {
                int x = (corner & 1) ? ow * 3 / 4 : ow / 4, y = (corner & 2) ? oh * 3 / 4 : oh / 4;
                const uint8_t *p = img.rgb + 3 * (y * ow + x);
                CHECK(near_rgb(p, quad_rgb[shows[o][corner]]), "orientation %d %s corner %d: got %d,%d,%d", o,
                      little ? "II" : "MM", corner, p[0], p[1], p[2]);
            }
            /* the exact corner pixel of stored (0,0) is where the table says */
            df_image_free(&img);
            free(b.p);
        }

    /* malformed EXIF is ignored (orientation 1), never read out of bounds */
    uint8_t app1[64];
    for (int variant = 0; variant < 5; variant++) {
        size_t n = exif_app1(app1, 6, 1);
        if (variant == 0) le(app1 + 14, 0xFFFFFFF0u, 4);   /* IFD offset far outside */
        if (variant == 1) le(app1 + 18, 0xFFFF, 2);        /* entry count beyond the segment */
        if (variant == 2) le(app1 + 12, 43, 2);            /* not 42 */
        if (variant == 3) le(app1 + 20 + 12 + 2, 4, 2);    /* orientation type LONG, not SHORT */
        if (variant == 4) le(app1 + 20 + 12 + 8, 9, 2);    /* orientation 9 */
        blob b = splice_after_soi(&j, app1, n);
        CHECK(decode(&img, b.p, b.n) == DF_OK && img.w == w && img.notes == 0, "malformed exif %d: %s", variant,
              df_errmsg());
        df_image_free(&img);
        free(b.p);
    }
    /* an APP1 segment whose length runs past the end is a truncated file */
    size_t n = exif_app1(app1, 6, 1);
    be(app1 + 2, 0xFFF0, 2);
    blob b = splice_after_soi(&j, app1, n);
    CHECK(decode(&img, b.p, b.n) == DF_ERR_FORMAT, "APP1 past the end");
    free(b.p);

    /* gray JPEG */
    uint8_t *g = pattern(w, h, 1);
    blob jg = make(JPG, w, h, 1, g);
    CHECK(decode(&img, jg.p, jg.n) == DF_OK, "gray input jpeg: %s", df_errmsg()); /* stb writes it as YCbCr */
    CHECK(img.rgb && abs(img.rgb[0] - img.rgb[1]) <= 2 && abs(img.rgb[1] - img.rgb[2]) <= 2, "gray jpeg R=G=B");
    df_image_free(&img);
    free(jg.p);
    free(g);
    free(j.p);
    free(px);
}

/* ------------------------------------------------------------------ bad inputs */
static void test_bad_inputs(void) {
    df_image img;
    CHECK(decode(&img, NULL, 0) == DF_ERR_FORMAT && has("empty"), "empty: %s", df_errmsg());
    CHECK(img.rgb == NULL && img.w == 0, "failure leaves the image empty");

    const int w = 40, h = 30;
    uint8_t *px = pattern(w, h, 3);
    blob f[3] = {make(PNG, w, h, 3, px), make(JPG, w, h, 3, px), make(BMP, w, h, 3, px)};
    const char *fn[3] = {"PNG", "JPEG", "BMP"};
    for (int k = 0; k < 3; k++) {
        size_t n = f[k].n;
        size_t cuts[] = {1, 2, 3, 8, 12, 20, 33, 60, 100, n / 3, n / 2, n - 12, n - 2, n - 1};
        int bad = 0;
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            df_status st = decode(&img, f[k].p, cuts[i]);
            int magic_whole = cuts[i] >= (k == 0 ? 8u : k == 1 ? 3u : 2u);
            if (st == DF_OK || (magic_whole && st != DF_ERR_FORMAT)) {
                bad++;
                fprintf(stderr, "%s cut at %zu of %zu: %s %s\n", fn[k], cuts[i], n, df_status_name(st), df_errmsg());
            }
            df_image_free(&img);
        }
        CHECK(bad == 0, "%s: %d truncations accepted", fn[k], bad);
        /* every cut of the PNG fails (chunk structure); JPEG: every cut before the end marker */
        for (size_t cut = 0; k < 2 && cut < n; cut++) {
            if (decode(&img, f[k].p, cut) == DF_OK) bad++;
            df_image_free(&img);
        }
        CHECK(bad == 0, "%s: %d of %zu cuts accepted", fn[k], bad, n);
    }
    CHECK(decode(&img, f[1].p, f[1].n - 2) == DF_ERR_FORMAT && has("truncated JPEG"), "jpeg without EOI: %s",
          df_errmsg());
    CHECK(decode(&img, f[2].p, f[2].n - 1) == DF_ERR_FORMAT && has("truncated BMP"), "short bmp: %s", df_errmsg());
    CHECK(decode(&img, f[0].p, f[0].n - 12) == DF_ERR_FORMAT && has("no IEND"), "png without IEND: %s", df_errmsg());

    /* corrupt bytes: every single-byte change of the PNG after the signature fails (chunk CRCs) */
    int bad = 0;
    for (size_t i = 8; i < f[0].n; i++) {
        f[0].p[i] ^= 0x10;
        if (decode(&img, f[0].p, f[0].n) == DF_OK) bad++;
        df_image_free(&img);
        f[0].p[i] ^= 0x10;
    }
    CHECK(bad == 0, "png: %d of %zu byte changes accepted", bad, f[0].n - 8);
    for (int k = 0; k < 3; k++) { /* garbage right after the magic */
        uint8_t *c = malloc(f[k].n);
        memcpy(c, f[k].p, f[k].n);
        size_t from = k == 0 ? 8 : k == 1 ? 3 : 2;
        for (size_t i = from; i < from + 30; i++) c[i] = (uint8_t)(i * 37 + 11);
        df_status st = decode(&img, c, f[k].n); /* garbage may also claim a huge size */
        CHECK(st == DF_ERR_FORMAT || st == DF_ERR_NOMEM, "%s garbage header: %s", fn[k], df_errmsg());
        df_image_free(&img);
        free(c);
    }
    /* random byte changes in the JPEG and BMP (no checksums there): decode or fail, never crash */
    unsigned seed = 99;
    for (int it = 0; it < 600; it++) {
        int k = 1 + it % 2;
        uint8_t *c = malloc(f[k].n);
        memcpy(c, f[k].p, f[k].n);
        for (int m = 0; m < 1 + it % 5; m++) {
            seed = seed * 1103515245u + 12345u;
            c[3 + (seed >> 8) % (f[k].n - 3)] = (uint8_t)(seed >> 24);
        }
        if (decode(&img, c, f[k].n) == DF_OK) CHECK(img.w > 0 && img.h > 0 && img.rgb, "mutated %s", fn[k]);
        df_image_free(&img);
        free(c);
    }
    for (int k = 0; k < 3; k++) free(f[k].p);
    free(px);

    /* unsupported formats are named */
    const uint8_t gif[] = "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
    const uint8_t webp[] = "RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00";
    const uint8_t text[] = "hello, this is not an image";
    CHECK(decode(&img, gif, sizeof gif - 1) == DF_ERR_UNSUPPORTED && has("unsupported image format (GIF)"), "gif: %s",
          df_errmsg());
    CHECK(decode(&img, webp, sizeof webp - 1) == DF_ERR_UNSUPPORTED && has("unsupported image format (WebP)"),
          "webp: %s", df_errmsg());
    CHECK(decode(&img, text, sizeof text - 1) == DF_ERR_UNSUPPORTED && has("unsupported image format"), "text: %s",
          df_errmsg());

    /* headers claiming huge or empty images: signature, IHDR, IEND with valid CRCs and no pixel data */
    struct {
        uint32_t w, h;
        uint8_t color;
        df_status want;
        const char *part;
    } hdr[] = {
        {20000, 20000, 0, DF_ERR_NOMEM, "20000x20000 PNG exceeds the limit"}, /* gray: stb would accept the header */
        {20000, 20000, 2, DF_ERR_NOMEM, "20000x20000 PNG exceeds the limit"}, /* RGB: stb would call it too large */
        {100000, 1001, 0, DF_ERR_NOMEM, "exceeds the limit"},
        {0, 10, 2, DF_ERR_FORMAT, "no pixels"},
        {10, 0, 2, DF_ERR_FORMAT, "no pixels"},
        {0x80000000u, 1, 2, DF_ERR_NOMEM, "limit"},
        {0xFFFFFFFFu, 0xFFFFFFFFu, 2, DF_ERR_NOMEM, "limit"},
    };
    for (size_t i = 0; i < sizeof hdr / sizeof hdr[0]; i++) {
        uint8_t p[8 + 25 + 12];
        memcpy(p, "\x89PNG\r\n\x1a\n", 8);
        be(p + 8, 13, 4);
        memcpy(p + 12, "IHDR", 4);
        be(p + 16, hdr[i].w, 4);
        be(p + 20, hdr[i].h, 4);
        p[24] = 8, p[25] = hdr[i].color, p[26] = p[27] = p[28] = 0;
        be(p + 29, df_crc32(p + 12, 17), 4);
        be(p + 33, 0, 4);
        memcpy(p + 37, "IEND", 4);
        be(p + 41, df_crc32(p + 37, 4), 4);
        df_status st = decode(&img, p, sizeof p);
        CHECK(st == hdr[i].want && has(hdr[i].part) && img.rgb == NULL, "header %ux%u: %s %s", hdr[i].w, hdr[i].h,
              df_status_name(st), df_errmsg());
    }
}

/* ------------------------------------------------------------------ encode, save, files */
static int count_entries(const char *dir, const char *containing) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.' && (!containing || strstr(e->d_name, containing))) n++;
    if (d) closedir(d);
    return n;
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    char p[1024];
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) remove_tree(p);
        else unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

static void test_encode_save(void) {
    const int w = 21, h = 11;
    uint8_t *px = pattern(w, h, 3), *out;
    size_t n;
    df_image img;
    CHECK(df_image_encode(px, w, h, DF_FMT_PNG, 0, &out, &n) == DF_OK, "encode png");
    CHECK(decode(&img, out, n) == DF_OK && img.w == w && img.h == h && memcmp(img.rgb, px, w * h * 3) == 0,
          "png round trip exact");
    df_image_free(&img);
    free(out);
    CHECK(df_image_encode(px, w, h, DF_FMT_JPEG, 90, &out, &n) == DF_OK, "encode jpeg");
    CHECK(decode(&img, out, n) == DF_OK && img.w == w && img.h == h, "jpeg decodes");
    df_image_free(&img);
    free(out);
    CHECK(df_image_encode(px, w, h, DF_FMT_JPEG, 0, &out, &n) == DF_ERR_ARG && out == NULL, "quality 0");
    CHECK(df_image_encode(px, w, h, DF_FMT_JPEG, 101, &out, &n) == DF_ERR_ARG, "quality 101");
    CHECK(df_image_encode(px, 0, h, DF_FMT_PNG, 0, &out, &n) == DF_ERR_ARG, "width 0");
    CHECK(df_image_encode(px, w, h, (df_image_format)7, 0, &out, &n) == DF_ERR_ARG, "unknown format");

    df_image_format fmt;
    CHECK(df_image_format_from_path("a/b.PNG", &fmt) == DF_OK && fmt == DF_FMT_PNG, ".PNG");
    CHECK(df_image_format_from_path("x.jpeg", &fmt) == DF_OK && fmt == DF_FMT_JPEG, ".jpeg");
    CHECK(df_image_format_from_path("x.Jpg", &fmt) == DF_OK && fmt == DF_FMT_JPEG, ".Jpg");
    CHECK(df_image_format_from_path("x.gif", &fmt) == DF_ERR_ARG && df_image_format_from_path("noext", &fmt) == DF_ERR_ARG &&
              df_image_format_from_path("dir.png/file", &fmt) == DF_ERR_ARG,
          "unknown extensions");

    const char *base = getenv("TMPDIR");
    char dir[512], path[600], sub[600];
    snprintf(dir, sizeof dir, "%s/dftest-image-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp failed");
        free(px);
        return;
    }
    snprintf(path, sizeof path, "%s/out.png", dir);
    CHECK(df_image_save(path, px, w, h, DF_FMT_PNG, 0) == DF_OK, "save: %s", df_errmsg());
    CHECK(df_image_load(&img, path) == DF_OK && img.w == w && memcmp(img.rgb, px, w * h * 3) == 0, "load back");
    df_image_free(&img);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0644, "saved file mode 0644");
    /* overwrite with a JPEG under the same name: replaced atomically */
    CHECK(df_image_save(path, px, w, h, DF_FMT_JPEG, 80) == DF_OK, "overwrite");
    uint8_t *raw;
    size_t rawn;
    CHECK(df_read_file(path, 1 << 20, &raw, &rawn) == DF_OK && rawn > 3 && raw[0] == 0xFF && raw[1] == 0xD8,
          "overwritten with JPEG bytes");
    free(raw);
    CHECK(count_entries(dir, NULL) == 1 && count_entries(dir, ".tmp-") == 0, "no temporary files left");

    /* failures leave nothing behind */
    snprintf(sub, sizeof sub, "%s/missing/x.png", dir);
    CHECK(df_image_save(sub, px, w, h, DF_FMT_PNG, 0) == DF_ERR_IO && has("missing/x.png"), "missing dir: %s",
          df_errmsg());
    snprintf(sub, sizeof sub, "%s/adir", dir);
    mkdir(sub, 0755);
    CHECK(df_image_save(sub, px, w, h, DF_FMT_PNG, 0) == DF_ERR_IO, "rename onto a directory fails");
    CHECK(count_entries(dir, NULL) == 2 && count_entries(dir, ".tmp-") == 0 && count_entries(sub, NULL) == 0,
          "no temporary file after a failed rename");
    if (geteuid() != 0) {
        chmod(sub, 0500);
        snprintf(path, sizeof path, "%s/adir/x.png", dir);
        CHECK(df_image_save(path, px, w, h, DF_FMT_PNG, 0) == DF_ERR_IO && count_entries(sub, NULL) == 0,
              "unwritable dir: fails and leaves nothing");
        chmod(sub, 0755);
    } else {
        printf("(running as root: the read-only directory case is skipped)\n");
    }
    CHECK(df_image_save(path, px, w, h, DF_FMT_JPEG, 0) == DF_ERR_ARG, "bad quality: nothing written");

    /* df_write_file_atomic / df_read_file and its limit */
    uint8_t bytes[100];
    for (int i = 0; i < 100; i++) bytes[i] = (uint8_t)(i * 3);
    snprintf(path, sizeof path, "%s/bytes.bin", dir);
    CHECK(df_write_file_atomic(path, bytes, 100) == DF_OK, "write bytes");
    CHECK(df_read_file(path, 100, &raw, &rawn) == DF_OK && rawn == 100 && memcmp(raw, bytes, 100) == 0, "read 100/100");
    free(raw);
    CHECK(df_read_file(path, 99, &raw, &rawn) == DF_ERR_NOMEM && raw == NULL && has("limit"), "limit 99: %s",
          df_errmsg());
    CHECK(df_write_file_atomic(path, NULL, 0) == DF_OK && df_read_file(path, 10, &raw, &rawn) == DF_OK && rawn == 0,
          "empty file");
    free(raw);
    CHECK(df_read_file(dir, 100, &raw, &rawn) == DF_ERR_IO, "directory");
    CHECK(df_read_file(sub + 0, 100, &raw, &rawn) == DF_ERR_IO, "directory 2");
    snprintf(path, sizeof path, "%s/nothere", dir);
    CHECK(df_read_file(path, 100, &raw, &rawn) == DF_ERR_IO && has("nothere"), "missing file: %s", df_errmsg());
    CHECK(df_image_load(&img, path) == DF_ERR_IO, "load missing");
    /* an empty file on disk */
    snprintf(path, sizeof path, "%s/empty.png", dir);
    df_write_file_atomic(path, "", 0);
    CHECK(df_image_load(&img, path) == DF_ERR_FORMAT && has("empty.png") && has("empty file"), "load empty: %s",
          df_errmsg());
    if (access("/dev/zero", R_OK) == 0)
        CHECK(df_read_file("/dev/zero", 1000, &raw, &rawn) == DF_ERR_NOMEM, "endless stream stops at the limit");
    remove_tree(dir);
    free(px);
}

/* ------------------------------------------------------------------ fuzzing finds, stb's asserts */
/* tests/fuzz/corpus/fuzz_image: JPEGs the fuzzer or a review found, each once decoded from memory nothing wrote
 *   jpeg-undefined-huffman-table.jpg    a scan uses an AC Huffman table no DHT defined (v2.27: MSan report)
 *   jpeg-progressive-no-first-dc-scan.jpg  AC scans on coefficients no first DC scan cleared (v2.30: MSan report)
 *   jpeg-missing-component-scan.jpg     a baseline file without the scan of one component (Cr)
 * and seeds for decoder paths stb_image_write cannot make (progressive, restart markers, progressive grey; made
 * from one JPEG with jpegtran, which keeps the coefficients: all three decode to the same image). */
static char corpus_dir[1200];

static df_status decode_file(df_image *img, const char *name) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", corpus_dir, name);
    uint8_t *buf;
    size_t n;
    memset(img, 0, sizeof *img);
    df_status st = df_read_file(path, 1 << 20, &buf, &n);
    if (st) return st;
    st = decode(img, buf, n);
    free(buf);
    return st;
}

/* Leaves freed heap blocks of many sizes holding `fill` (a decoder that reads memory it never wrote then
 * decodes differently after 0x00 and after 0xFF; MemorySanitizer cannot see every such read). */
static void heap_garbage(uint8_t fill) {
    enum { N = 300 };
    void *b[N];
    for (int i = 0; i < N; i++) {
        size_t n = i < 256 ? (size_t)(i + 1) * 16 : (size_t)(i - 255) * 4096;
        if ((b[i] = malloc(n))) memset(b[i], fill, n);
    }
    for (int i = N - 1; i >= 0; i--) free(b[i]);
}

typedef struct {
    int step;
    void *keep;
} guard_probe;

static void assert_midway(void *ctx) {
    guard_probe *g = ctx;
    void *a = df_stb_malloc(100), *b = df_stb_malloc(2000), *c = df_stb_malloc(30);
    b = df_stb_realloc(b, 70000);
    df_stb_free(c);
    g->step = 1;
    STBI_ASSERT(a != b && g->step == 2); /* fails: a, b must be freed by the guard (LeakSanitizer checks) */
    g->step = 3;
}

static void allocate_and_return(void *ctx) {
    guard_probe *g = ctx;
    g->keep = df_stb_malloc(64);
    void *tmp = df_stb_realloc(NULL, 10);
    df_stb_free(tmp);
    STBI_ASSERT(g->keep != NULL);
    g->step = 1;
}

static void nested_inner(void *ctx) {
    guard_probe *g = ctx;
    g->step = 2;
    STBI_ASSERT(ctx == NULL);
    g->step = 3;
}
static void nested_outer(void *ctx) {
    guard_probe *g = ctx;
    g->keep = df_stb_malloc(10); /* freed when the outer guard fails */
    g->step = 1;
    df_stb_guard(nested_inner, g); /* an assert in here ends the outer guard */
    g->step = 4;
}

static void test_fuzz_finds(void) {
    const char *sd = getenv("DF_SOURCE_DIR");
    if (sd) snprintf(corpus_dir, sizeof corpus_dir, "%s/tests/fuzz/corpus/fuzz_image", sd);
    else { /* the source file's own directory */
        snprintf(corpus_dir, sizeof corpus_dir, "%s", __FILE__);
        char *slash = strrchr(corpus_dir, '/');
        snprintf(slash ? slash + 1 : corpus_dir, sizeof corpus_dir - (slash ? (size_t)(slash + 1 - corpus_dir) : 0),
                 "fuzz/corpus/fuzz_image");
    }
    DIR *d = opendir(corpus_dir);
    CHECK(d != NULL, "cannot open %s", corpus_dir);
    int files = 0;
    unsigned long asserts0 = df_stb_assert_count();
    for (struct dirent *e; d && (e = readdir(d));) { /* every input: decodes or fails cleanly */
        if (e->d_name[0] == '.') continue;
        df_image img;
        df_status st = decode_file(&img, e->d_name);
        CHECK(st == DF_OK ? img.w > 0 && img.h > 0 && img.rgb != NULL
                          : (st == DF_ERR_FORMAT || st == DF_ERR_NOMEM || st == DF_ERR_UNSUPPORTED) && !img.rgb,
              "%s: %s %s", e->d_name, df_status_name(st), df_errmsg());
        df_image_free(&img);
        files++;
    }
    if (d) closedir(d);
    CHECK(files >= 6, "%d files in %s", files, corpus_dir);

    /* the finds decode the same whatever the heap held before */
    struct {
        const char *name;
        df_status want;
        const char *msg;
    } finds[] = {
        {"jpeg-undefined-huffman-table.jpg", DF_ERR_FORMAT, "corrupt JPEG (undefined AC huff)"},
        {"jpeg-progressive-no-first-dc-scan.jpg", DF_OK, ""},
        {"jpeg-missing-component-scan.jpg", DF_OK, ""}, /* Cr as all-zero coefficients: within 2 levels of libjpeg */
    };
    for (size_t f = 0; f < sizeof finds / sizeof finds[0]; f++) {
        df_image img[2];
        char msg[2][512];
        df_status st[2];
        for (int k = 0; k < 2; k++) {
            heap_garbage(k ? 0xFF : 0x00);
            st[k] = decode_file(&img[k], finds[f].name);
            snprintf(msg[k], sizeof msg[k], "%s", st[k] ? df_errmsg() : "");
            CHECK(st[k] == finds[f].want && strstr(msg[k], finds[f].msg) &&
                      (st[k] ? !img[k].rgb : img[k].w == 32 && img[k].h == 24),
                  "%s: %s %s", finds[f].name, df_status_name(st[k]), msg[k]);
        }
        CHECK(st[0] == st[1] && strcmp(msg[0], msg[1]) == 0, "%s: '%s' then '%s'", finds[f].name, msg[0], msg[1]);
        if (st[0] == DF_OK && st[1] == DF_OK)
            CHECK(memcmp(img[0].rgb, img[1].rgb, 32 * 24 * 3) == 0, "%s: the pixels depend on the heap", finds[f].name);
        df_image_free(&img[0]);
        df_image_free(&img[1]);
    }
    CHECK(df_stb_assert_count() == asserts0, "the fuzz inputs reached an stb assert (%s)", df_stb_assert_where());

    /* progressive, restart markers, progressive grey: the same coefficients, the same pixels */
    df_image p, r, g;
    CHECK(decode_file(&p, "progressive.jpg") == DF_OK && p.w == 32 && p.h == 24, "progressive: %s", df_errmsg());
    CHECK(decode_file(&r, "restart.jpg") == DF_OK && r.w == 32 && r.h == 24, "restart: %s", df_errmsg());
    CHECK(decode_file(&g, "gray-progressive.jpg") == DF_OK && g.w == 32 && g.h == 24 &&
              (g.notes & DF_IMG_NOTE_GRAY_EXPANDED), "grey progressive: %s", df_errmsg());
    if (p.rgb && r.rgb) CHECK(memcmp(p.rgb, r.rgb, 32 * 24 * 3) == 0, "progressive and restart decodes differ");
    int grey_bad = 0, spread = 0;
    for (int i = 0; g.rgb && i < 32 * 24; i++) {
        grey_bad += g.rgb[3 * i] != g.rgb[3 * i + 1] || g.rgb[3 * i] != g.rgb[3 * i + 2];
        spread |= g.rgb[3 * i] ^ g.rgb[0];
    }
    CHECK(g.rgb && grey_bad == 0 && spread, "grey progressive: %d non-grey pixels", grey_bad);
    df_image_free(&p);
    df_image_free(&r);
    df_image_free(&g);

    /* the guard: a failed stb assert ends the guarded call and frees what stb allocated in it */
    guard_probe gp = {0, NULL};
    CHECK(df_stb_guard(assert_midway, &gp) == -1 && gp.step == 1, "failed assert: guard %d", gp.step);
    CHECK(strstr(df_stb_assert_where(), "test_image.c:") != NULL, "assert named: '%s'", df_stb_assert_where());
    CHECK(df_stb_assert_count() == asserts0 + 1, "assert counted");
    gp = (guard_probe){0, NULL};
    CHECK(df_stb_guard(allocate_and_return, &gp) == 0 && gp.step == 1 && gp.keep, "guard without a failure");
    free(gp.keep); /* what stb returns is the caller's, a plain malloc block */
    gp = (guard_probe){0, NULL};
    CHECK(df_stb_guard(nested_outer, &gp) == -1 && gp.step == 2, "nested guards: step %d", gp.step);
    CHECK(df_stb_assert_count() == asserts0 + 2, "nested: one assert counted");
    STBI_ASSERT(files < 0); /* outside a guard: counted, never an abort */
    CHECK(df_stb_assert_count() == asserts0 + 3, "unguarded assert counted");

    /* stb_image_write's PNG compressor holds a block per hash bucket (up to 16384) inside the guard */
    const int ew = 512, eh = 384;
    uint8_t *noise = malloc((size_t)ew * eh * 3);
    unsigned s = 7;
    for (size_t i = 0; i < (size_t)ew * eh * 3; i++) {
        s = s * 1103515245u + 12345u;
        noise[i] = (uint8_t)((i % 3 == 0 ? (s >> 16) : i / 7) & 255);
    }
    for (int fmt = 0; fmt < 2; fmt++) {
        uint8_t *enc = NULL;
        size_t en = 0;
        df_status st = df_image_encode(noise, ew, eh, fmt ? DF_FMT_JPEG : DF_FMT_PNG, 90, &enc, &en);
        CHECK(st == DF_OK && en > 1000, "encode %dx%d %s: %s", ew, eh, fmt ? "JPEG" : "PNG", st ? df_errmsg() : "");
        df_image back;
        if (st == DF_OK && decode(&back, enc, en) == DF_OK) {
            CHECK(back.w == ew && back.h == eh && (fmt || memcmp(back.rgb, noise, (size_t)ew * eh * 3) == 0),
                  "%s round trip", fmt ? "JPEG" : "PNG");
            df_image_free(&back);
        } else {
            CHECK(st != DF_OK, "decoding the encoded %s: %s", fmt ? "JPEG" : "PNG", df_errmsg());
        }
        free(enc);
    }
    free(noise);
    CHECK(df_stb_assert_count() == asserts0 + 3, "encoding reached an stb assert (%s)", df_stb_assert_where());
}

/* Leaves the stack below the caller holding `fill` (a decoder's uninitialised locals then hold it). */
static __attribute__((noinline)) void stack_garbage(uint8_t fill) {
    volatile uint8_t junk[32768];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = fill;
}

/* A palette BMP whose pixels use an index past its palette decodes those pixels black, whatever the stack held;
 * one whose pixel offset points into its own header is refused. */
static void test_bmp_short_palette(void) {
    enum { W = 8, H = 2 };
    uint8_t f[14 + 40 + 4 + 4 * H];
    memset(f, 0, sizeof f);
    f[0] = 'B', f[1] = 'M';
    le(f + 2, sizeof f, 4);
    le(f + 10, 14 + 40 + 4, 4); /* pixels right after a one-entry palette */
    le(f + 14, 40, 4);
    le(f + 18, W, 4), le(f + 22, H, 4), le(f + 26, 1, 2), le(f + 28, 1, 2); /* 1 plane, 1 bit per pixel */
    le(f + 46, 1, 4);                                                    /* one colour used */
    f[54] = 30, f[55] = 200, f[56] = 10;                                 /* entry 0: B, G, R */
    f[58] = 0xF0, f[62] = 0x0F; /* bottom row: 4 x index 1, 4 x index 0; top row the other way */
    df_image img[2];
    for (int k = 0; k < 2; k++) {
        stack_garbage(k ? 0xFF : 0x5A);
        CHECK(decode(&img[k], f, sizeof f) == DF_OK && img[k].w == W && img[k].h == H, "short palette: %s",
              df_errmsg());
    }
    for (int y = 0; img[0].rgb && img[1].rgb && y < H; y++)
        for (int x = 0; x < W; x++) {
            int idx1 = (y == 1) == (x < 4); /* the file's bottom row is the image's last */
            const uint8_t *p = img[0].rgb + 3 * (y * W + x), *q = img[1].rgb + 3 * (y * W + x);
            uint8_t want[3] = {idx1 ? 0 : 10, idx1 ? 0 : 200, idx1 ? 0 : 30};
            CHECK(memcmp(p, want, 3) == 0 && memcmp(q, want, 3) == 0, "short palette (%d,%d): %d %d %d / %d %d %d", x,
                  y, p[0], p[1], p[2], q[0], q[1], q[2]);
        }
    df_image_free(&img[0]);
    df_image_free(&img[1]);
    le(f + 10, 35, 4); /* pixels "inside" the 40-byte header: a negative palette size */
    CHECK(decode(&img[0], f, sizeof f) == DF_ERR_FORMAT && !img[0].rgb, "pixel offset in the header: %s",
          df_errmsg());
}

/* ------------------------------------------------------------------ pixel conversion */
static void test_pixels(void) {
    const int w = 16, h = 16; /* 256 pixels: every byte value in every channel */
    uint8_t rgba[256 * 4], back[256 * 4];
    float planar[3 * 256];
    for (int i = 0; i < 256; i++)
        for (int c = 0; c < 4; c++) rgba[i * 4 + c] = (uint8_t)(i * (c * 2 + 1) + c * 50);
    df_rgb8_to_planar(planar, rgba, w, h, 4);
    double maxerr = 0;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 256; i++) {
            double want = rgba[i * 4 + c] / 127.5 - 1.0, d = fabs(planar[c * 256 + i] - want);
            if (d > maxerr) maxerr = d;
        }
    CHECK(maxerr < 1e-7, "rgba -> planar error %g", maxerr);
    CHECK(planar[0] == -1.0f + rgba[0] / 127.5f && planar[256] == rgba[1] / 127.5f - 1.0f, "planar layout [3,H,W]");
    memset(back, 7, sizeof back);
    df_planar_to_rgb8(back, planar, w, h, 4);
    int bad = 0;
    for (int i = 0; i < 256; i++) {
        for (int c = 0; c < 3; c++) bad += back[i * 4 + c] != rgba[i * 4 + c];
        bad += back[i * 4 + 3] != 255;
    }
    CHECK(bad == 0, "round trip rgba: %d wrong bytes", bad);
    uint8_t rgb[256 * 3], rgb2[256 * 3];
    for (int i = 0; i < 256 * 3; i++) rgb[i] = (uint8_t)(i * 5 + 1);
    df_rgb8_to_planar(planar, rgb, w, h, 3);
    df_planar_to_rgb8(rgb2, planar, w, h, 3);
    CHECK(memcmp(rgb, rgb2, sizeof rgb) == 0, "round trip rgb");

    /* rounding and clamping: 1x8 image, one channel at a time */
    float v[3 * 8];
    const float vals[8] = {-2.0f, 2.0f, NAN, -INFINITY, INFINITY, (10.4f / 127.5f) - 1.0f, (10.6f / 127.5f) - 1.0f, 0.0f};
    const uint8_t want[8] = {0, 255, 0, 0, 255, 10, 11, 128};
    for (int c = 0; c < 3; c++) memcpy(v + c * 8, vals, sizeof vals);
    uint8_t o[24];
    df_planar_to_rgb8(o, v, 8, 1, 3);
    for (int i = 0; i < 8; i++) CHECK(o[i * 3] == want[i] && o[i * 3 + 2] == want[i], "value %d -> %d want %d", i, o[i * 3], want[i]);
}

/* df_diff_rgba8 against a plain loop: linf and squared error over RGB, changed pixels (any byte, alpha too), their
 * box, a region (clipped) outside which nothing is compared. */
static void test_diff(void) {
    const int w = 37, h = 23;
    uint8_t a[37 * 23 * 4], b[37 * 23 * 4];
    for (int i = 0; i < w * h * 4; i++) a[i] = b[i] = (uint8_t)(i * 7 + i / 5);
    const int edits[5][4] = {{5, 4, 0, 3}, {30, 4, 2, -7}, {12, 19, 1, 2}, {6, 10, 3, 9}, {36, 22, 0, 1}};
    for (int k = 0; k < 5; k++) {
        int i = (edits[k][1] * w + edits[k][0]) * 4 + edits[k][2], d = abs(edits[k][3]);
        b[i] = (uint8_t)(a[i] >= 128 ? a[i] - d : a[i] + d);
    }
    df_diff r;
    CHECK(df_diff_rgba8(a, b, w, h, 0, 0, w, h, &r) == DF_OK, "diff: %s", df_errmsg());
    CHECK(r.linf == 7 && r.se == 9 + 49 + 4 + 1 && r.changed == 5, "linf %d, se %g, changed %ld", r.linf, r.se, r.changed);
    CHECK(r.x0 == 5 && r.y0 == 4 && r.x1 == 37 && r.y1 == 23, "box %d %d %d %d", r.x0, r.y0, r.x1, r.y1);
    CHECK(df_diff_rgba8(a, b, w, h, -4, 3, 31, 11, &r) == DF_OK && r.changed == 3 && r.linf == 7 && r.se == 9 + 49 &&
              r.x0 == 5 && r.y0 == 4 && r.x1 == 31 && r.y1 == 11,
          "region: changed %ld, linf %d, box %d %d %d %d", r.changed, r.linf, r.x0, r.y0, r.x1, r.y1);
    CHECK(df_diff_rgba8(a, a, w, h, 0, 0, w, h, &r) == DF_OK && r.changed == 0 && r.linf == 0 && r.se == 0 && r.x0 >= r.x1,
          "equal photos");
    CHECK(df_diff_rgba8(a, b, 0, h, 0, 0, w, h, &r) == DF_ERR_ARG, "width 0 refused");
    CHECK(df_diff_rgba8(NULL, b, w, h, 0, 0, w, h, &r) == DF_ERR_ARG, "NULL refused");
}

int main(void) {
    test_diff();
    test_png_bmp();
    test_bmp_short_palette();
    test_jpeg_exif();
    test_bad_inputs();
    test_fuzz_finds();
    test_encode_save();
    test_pixels();
    return check_summary("test_image");
}
