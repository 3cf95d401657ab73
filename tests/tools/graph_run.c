/* Test and benchmark helper for imported graphs (core/networks/graph.h), driven by tests/js/graph_import.test.mjs
 * and tools/bench/graph_tfjs.mjs:
 *   graph_run MODEL.dfw IN.f32 OUT.f32 B H W [DY.f32 DX.f32] [--repeat N]
 * IN [B, C, H, W] float32 in the engine's convention (RGB, [-1, 1]); OUT the output likewise.  With DY and DX:
 * DX = the input gradient of sum(DY . OUT).  --repeat N runs the forward N more times and prints the fastest
 * in milliseconds ("forward_ms X") on stdout.
 *   graph_run --prepare PHOTO S OUT.f32
 * writes the photo's centred square resized to S x S ([3, S, S], RGB, [-1, 1]) as the CLI prepares it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "celeba.h"
#include "graph.h"
#include "image.h"

static int fail(const char *what) {
    fprintf(stderr, "graph_run: %s: %s\n", what, df_errmsg());
    return 1;
}

static float *read_floats(const char *path, size_t n) {
    uint8_t *buf;
    size_t len;
    if (df_read_file(path, (size_t)1 << 32, &buf, &len)) return NULL;
    if (len != n * sizeof(float)) {
        df_fail(DF_ERR_FORMAT, "%s: %zu bytes, expected %zu", path, len, n * sizeof(float));
        free(buf);
        return NULL;
    }
    return (float *)buf;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int prepare(const char *photo, int S, const char *out) {
    df_image img = {0};
    if (S < 1 || S > 4096) return fail("size");
    if (df_image_load(&img, photo)) return fail("photo");
    float *x = malloc((size_t)3 * S * S * sizeof(float));
    if (!x || celeba_prepare(x, S, img.rgb, img.w, img.h, 1, 0)) return fail("preparing");
    if (df_write_file_atomic(out, (const uint8_t *)x, (size_t)3 * S * S * sizeof(float))) return fail(out);
    free(x);
    df_image_free(&img);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "--prepare")) return prepare(argv[2], atoi(argv[3]), argv[4]);
    long repeat = 0;
    if (argc >= 3 && !strcmp(argv[argc - 2], "--repeat")) {
        repeat = atol(argv[argc - 1]);
        argc -= 2;
    }
    if (argc != 7 && argc != 9) {
        fprintf(stderr, "usage: graph_run MODEL.dfw IN.f32 OUT.f32 B H W [DY.f32 DX.f32] [--repeat N]\n");
        return 2;
    }
    int B = atoi(argv[4]), H = atoi(argv[5]), W = atoi(argv[6]), OH, OW, grad = argc == 9;
    uint8_t *buf;
    size_t len;
    graph_model *g = NULL;
    if (df_read_file(argv[1], (size_t)1 << 31, &buf, &len)) return fail("reading the model");
    df_status s = graph_load(&g, buf, len);
    free(buf);
    if (s) return fail(argv[1]);
    const graph_info *in = graph_get_info(g);
    if (graph_output_size(g, H, W, &OH, &OW)) return fail("input size");
    size_t nin = (size_t)B * in->in_channels * H * W, nout = (size_t)B * in->out_channels * OH * OW;
    float *x = read_floats(argv[2], nin), *y = malloc(nout * sizeof(float));
    if (!x || !y) return fail("input");
    if (graph_forward(g, y, x, B, H, W, grad)) return fail("forward");
    double best = 1e30;
    for (long r = 0; r < repeat; r++) {
        double t0 = now_ms();
        if (graph_forward(g, y, x, B, H, W, grad)) return fail("forward");
        double t = now_ms() - t0;
        if (t < best) best = t;
    }
    if (repeat > 0) printf("forward_ms %.3f\n", best);
    if (df_write_file_atomic(argv[3], (const uint8_t *)y, nout * sizeof(float))) return fail("writing the output");
    if (grad) {
        float *dy = read_floats(argv[7], nout), *dx = calloc(nin, sizeof(float));
        if (!dy || !dx) return fail("gradient input");
        if (graph_backward(g, dx, dy)) return fail("backward");
        if (df_write_file_atomic(argv[8], (const uint8_t *)dx, nin * sizeof(float))) return fail("writing dx");
        free(dy), free(dx);
    }
    free(x), free(y);
    graph_free(g);
    return 0;
}
