/* libFuzzer target for df_image_decode (JPEG/PNG/BMP through the structure checks, EXIF and stb_image).
 * Decoded images are read in full.  With DF_FUZZ_SEEDS=<dir>, LLVMFuzzerInitialize writes small PNG, JPEG
 * (plain and with an EXIF orientation) and BMP files there first (tests/fuzz/corpus/fuzz_image adds
 * progressive and restart-marker JPEGs).  An stb assert that fails is a clean decoding failure for the
 * library (core/io/stb/df_stb.h) but a finding here: the target traps, so that the input is kept and looked at
 * (DF_FUZZ_STB_ASSERTS=ok accepts them).  Under MemorySanitizer every byte of a decoded image must be
 * initialised (copying heap garbage into pixels is no "use" MSan would report by itself). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "stb/df_stb.h"

#if defined(__has_feature)
#if __has_feature(memory_sanitizer)
#include <sanitizer/msan_interface.h>
#define DF_FUZZ_MSAN 1
#endif
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int asserts_ok = -1;
    if (asserts_ok < 0) {
        const char *e = getenv("DF_FUZZ_STB_ASSERTS");
        asserts_ok = e && strcmp(e, "ok") == 0;
    }
    unsigned long asserts = df_stb_assert_count();
    /* Valid huge images only cost time and memory here (the limit itself is tested in test_image). */
    int w, h, c;
    if (size <= INT_MAX && stbi_info_from_memory(data, (int)size, &w, &h, &c) && (int64_t)w * h > (1 << 22)) {
        if (!asserts_ok && df_stb_assert_count() != asserts) __builtin_trap();
        return 0;
    }
    df_image img;
    df_status st = df_image_decode(&img, data, size);
    if (!asserts_ok && df_stb_assert_count() != asserts) __builtin_trap(); /* an stb invariant failed */
    if (st == DF_OK) {
        size_t n = (size_t)img.w * img.h * 3;
        volatile unsigned sum = img.rgb[n - 1]; /* the whole buffer is there */
        for (size_t i = 0; i < n; i += 61) sum += img.rgb[i];
        (void)sum;
#ifdef DF_FUZZ_MSAN
        __msan_check_mem_is_initialized(img.rgb, n); /* every pixel comes from the file, none from old heap */
#endif
        df_image_free(&img);
    }
    return 0;
}

static FILE *seed_file;
static void to_file(void *ctx, void *d, int n) { fwrite(d, 1, (size_t)n, (FILE *)ctx); }
static void to_mem(void *ctx, void *d, int n) { /* ctx: {uint8_t b[65536]; size_t n;} */
    struct { uint8_t b[65536]; size_t n; } *m = ctx;
    if (m->n + (size_t)n <= sizeof m->b) memcpy(m->b + m->n, d, (size_t)n);
    m->n += (size_t)n;
}

static void seed(const char *dir, const char *name, const uint8_t *prefix, size_t np, int kind, int comp) {
    static uint8_t px[24 * 16 * 4];
    for (int i = 0; i < (int)sizeof px; i++) px[i] = (uint8_t)(i * 37 + (i >> 6) * 11);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!(seed_file = fopen(path, "wb"))) return;
    if (kind == 0) stbi_write_png_to_func(to_file, seed_file, 24, 16, comp, px, 24 * comp);
    if (kind == 1) stbi_write_bmp_to_func(to_file, seed_file, 24, 16, comp, px);
    if (kind == 2) {
        /* JPEG: SOI, then the optional segment, then the rest of a written JPEG */
        static struct { uint8_t b[65536]; size_t n; } j;
        j.n = 0;
        stbi_write_jpg_to_func(to_mem, &j, 24, 16, comp, px, 80);
        if (j.n > 2 && j.n < sizeof j.b) {
            fwrite(j.b, 1, 2, seed_file);
            if (np) fwrite(prefix, 1, np, seed_file);
            fwrite(j.b + 2, 1, j.n - 2, seed_file);
        }
    }
    fclose(seed_file);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *dir = getenv("DF_FUZZ_SEEDS");
    if (!dir) return 0;
    /* APP1 Exif, little endian, IFD0 with Orientation = 6 */
    static const uint8_t exif[] = {0xFF, 0xE1, 0, 34, 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0,
                                   1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0};
    seed(dir, "rgb.png", NULL, 0, 0, 3);
    seed(dir, "gray.png", NULL, 0, 0, 1);
    seed(dir, "rgba.png", NULL, 0, 0, 4);
    seed(dir, "rgb.bmp", NULL, 0, 1, 3);
    seed(dir, "rgba.bmp", NULL, 0, 1, 4);
    seed(dir, "plain.jpg", NULL, 0, 2, 3);
    seed(dir, "exif6.jpg", exif, sizeof exif, 2, 3);
    return 0;
}
