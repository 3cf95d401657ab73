/* PNG encoding of a photo, native: the page's encoder (core/io/png_fast.h, Up filter) against stb_image_write's
 * PNG writer (df_image_encode, the CLI's), alternated in one process on the same pixels.
 *
 *   bench_png [IN.png|jpg] [--runs N]
 *
 * Without IN: a synthetic 4000 x 3000 photo-like picture (smooth gradients plus sensor-like noise).  Prints each
 * encoder's median time and file size, and the ratios. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image.h"
#include "png_fast.h"

#include "bench_clock.h"

int main(int argc, char **argv) {
    const char *in = NULL;
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (argv[i][0] != '-') in = argv[i];
        else {
            fprintf(stderr, "usage: bench_png [IN] [--runs N]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 100) runs = 5;
    int w = 4000, h = 3000;
    uint8_t *rgb = NULL;
    df_image img = {0};
    if (in) {
        if (df_image_load(&img, in)) {
            fprintf(stderr, "bench_png: %s: %s\n", in, df_errmsg());
            return 1;
        }
        w = img.w, h = img.h, rgb = img.rgb;
    } else {
        rgb = malloc((size_t)w * h * 3);
        if (!rgb) return 1;
        uint32_t r = 12345;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) {
                    r = r * 1664525u + 1013904223u;
                    int v = (int)(40 + 150.0 * (x + y * (c + 1)) / (w + 3.0 * h)) + (int)(r >> 29) - 4;
                    rgb[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
    }
    uint8_t *rgba = malloc((size_t)w * h * 4);
    if (!rgba) return 1;
    for (size_t k = 0; k < (size_t)w * h; k++) {
        memcpy(rgba + 4 * k, rgb + 3 * k, 3);
        rgba[4 * k + 3] = 255;
    }
    double *tf = malloc(runs * sizeof(double)), *ts = malloc(runs * sizeof(double));
    size_t lf = 0, ls = 0;
    for (int i = 0; i < runs; i++) {
        uint8_t *out = NULL;
        double t0 = now_ms();
        if (png_fast_encode(rgba, w, h, 0, 2, &out, &lf)) return fprintf(stderr, "png_fast: %s\n", df_errmsg()), 1;
        tf[i] = now_ms() - t0;
        free(out);
        out = NULL;
        t0 = now_ms();
        if (df_image_encode(rgb, w, h, DF_FMT_PNG, 0, &out, &ls)) return fprintf(stderr, "stb: %s\n", df_errmsg()), 1;
        ts[i] = now_ms() - t0;
        free(out);
    }
    qsort(tf, runs, sizeof *tf, cmp_double);
    qsort(ts, runs, sizeof *ts, cmp_double);
    double mf = tf[runs / 2], ms = ts[runs / 2];
    printf("%dx%d, %d runs alternated, medians\n", w, h, runs);
    printf("png_fast (Up, Huffman + runs)   %8.1f ms  %10zu bytes\n", mf, lf);
    printf("stb_image_write PNG             %8.1f ms  %10zu bytes\n", ms, ls);
    printf("ratio stb / png_fast: time %.2fx, size %.2fx\n", ms / mf, (double)ls / lf);
    free(tf), free(ts), free(rgba);
    if (in) df_image_free(&img);
    else free(rgb);
    return 0;
}
