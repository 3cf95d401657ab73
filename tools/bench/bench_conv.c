/* Convolution throughput on the layer shapes of Gen (width 16, 256x256 input) and of a StarGAN-style
 * generator: forward and backward (input + weight + bias gradients) GFLOP/s with 1 and 2 threads.
 *
 *   bench_conv [--json] [--set gen|stargan|cartoon|all] [--only SUBSTRING] [--min-ms N] [--threads N]
 *              [--isa scalar|avx2|avx512] [--list]
 * --list prints the selected shapes as JSON without timing (tools/bench/ort_conv.mjs runs the same ones).
 * 3x3 stride-1 layers that pass the Winograd gate (core/kernels/winograd.c: >= 32 channels in and out, >= 2048
 * channel pairs and output pixels) run Winograd F(4x4, 3x3); DF_WINOGRAD=0 times the GEMM path instead.  The
 * FLOPs counted stay the direct convolution's ("effective" GFLOP/s).
 *
 * FLOPs: forward 2*cout*(cin/groups)*k*k*OH*OW per image; backward counts twice that (dinp + dweight).
 * Each timing is the best of several runs after a warm-up; runs repeat until --min-ms has elapsed. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "df.h"

typedef struct {
    const char *set, *name;
    int cin, cout, k, stride, H; /* square input H x H, pad (k-1)/2 (k = 4: pad 1), zero padding */
} shape;

static const shape shapes[] = {
    {"gen", "enc1 3->16 s2 @256", 3, 16, 3, 2, 256},
    {"gen", "enc2 16->32 s2 @128", 16, 32, 3, 2, 128},
    {"gen", "enc3 32->64 s2 @64", 32, 64, 3, 2, 64},
    {"gen", "res 64->64 @32", 64, 64, 3, 1, 32},
    {"gen", "dec1 64->32 @64", 64, 32, 3, 1, 64},
    {"gen", "dec2 32->16 @128", 32, 16, 3, 1, 128},
    {"gen", "dec3 16->16 @256", 16, 16, 3, 1, 256},
    {"gen", "out 16->3 @256", 16, 3, 3, 1, 256},
    {"stargan", "64->64 @128", 64, 64, 3, 1, 128},
    {"stargan", "128->128 @64", 128, 128, 3, 1, 64},
    {"stargan", "256->256 @32", 256, 256, 3, 1, 32},
    {"stargan", "down 64->128 4x4 s2 @128", 64, 128, 4, 2, 128},
    {"stargan", "down 128->256 4x4 s2 @64", 128, 256, 4, 2, 64},
    /* the CartoonGAN generators (tools/bench/graph_ort.mjs): 17 of the first, 2 of the second, 1 of the third */
    {"cartoon", "cg res 256->256 @64", 256, 256, 3, 1, 64},
    {"cartoon", "cg 128->128 @128", 128, 128, 3, 1, 128},
    {"cartoon", "cg 64->64 @256", 64, 64, 3, 1, 256},
    {"cartoon", "cg in 3->64 7x7 @256", 3, 64, 7, 1, 256},
    {"cartoon", "cg down 64->128 s2 @256", 64, 128, 3, 2, 256},
    {"cartoon", "cg down 128->256 s2 @128", 128, 256, 3, 2, 128},
    {"cartoon", "cg out 64->3 7x7 @256", 64, 3, 7, 1, 256},
};

static int pad_of(int k) { return k == 4 ? 1 : (k - 1) / 2; }

static const char *opt_set = "all", *opt_only = NULL;
static int selected(const shape *S) {
    return (!strcmp(opt_set, "all") || !strcmp(opt_set, S->set)) && (!opt_only || strstr(S->name, opt_only));
}

#include "bench_clock.h"
static double now(void) { return now_ms() / 1e3; }

typedef struct {
    df_conv c;
    int H, OH;
    float *x, *w, *b, *y, *dy, *dx, *dw, *db, *ws;
} layer;

static double time_best(const layer *L, int backward, double min_s) {
    double best = 1e30, start = now();
    int runs = 0;
    do {
        double t = now();
        if (backward)
            df_conv2d_backward(L->dx, L->dw, L->db, L->dy, L->x, L->w, &L->c, 1, L->H, L->H, L->ws);
        else
            df_conv2d_forward(L->y, L->x, L->w, L->b, &L->c, 1, L->H, L->H, L->ws);
        t = now() - t;
        if (runs++ > 0 && t < best) best = t; /* first run is the warm-up */
    } while (runs < 3 || now() - start < min_s);
    return best;
}

static float *filled(size_t n, unsigned seed) {
    float *p = malloc(sizeof(float) * n);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) * (1.0f / 8388608.0f) - 1.0f;
    }
    return p;
}

int main(int argc, char **argv) {
    int json = 0, maxt = 2, list = 0;
    double min_ms = 300;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--list")) list = 1;
        else if (!strcmp(argv[i], "--set") && i + 1 < argc) opt_set = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) opt_only = argv[++i];
        else if (!strcmp(argv[i], "--min-ms") && i + 1 < argc) min_ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) maxt = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
            const char *want = argv[++i];
            int ok = 0;
            for (int k = DF_ISA_SCALAR; k <= DF_ISA_WASM128; k++)
                if (!strcmp(want, df_isa_name((df_isa)k))) ok = df_isa_force((df_isa)k) == DF_OK;
            if (!ok) {
                fprintf(stderr, "ISA %s not available\n", want);
                return 1;
            }
        } else {
            fprintf(stderr, "usage: %s [--json] [--list] [--set gen|stargan|cartoon|all] [--only TEXT] [--min-ms N] [--threads N] "
                    "[--isa NAME]\n",
                    argv[0]);
            return 2;
        }
    }
    if (maxt < 1) maxt = 1;
    if (list) {
        printf("[");
        const char *sep = "\n";
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const shape *S = &shapes[s];
            if (!selected(S)) continue;
            printf("%s  {\"set\": \"%s\", \"name\": \"%s\", \"cin\": %d, \"cout\": %d, \"k\": %d, \"stride\": %d, "
                   "\"pad\": %d, \"H\": %d}",
                   sep, S->set, S->name, S->cin, S->cout, S->k, S->stride, pad_of(S->k), S->H);
            sep = ",\n";
        }
        printf("\n]\n");
        return 0;
    }
    if (json)
        printf("{\"isa\": \"%s\", \"results\": [\n", df_isa_name(df_isa_active()));
    else
        printf("ISA %s; GFLOP/s (best run); bwd = input + weight gradients (2x the forward FLOPs)\n"
               "%-28s %8s %8s %8s %8s %8s %8s %7s\n",
               df_isa_name(df_isa_active()), "layer", "fwd1T", "bwd1T", "fwd2T", "bwd2T", "f2T/1T", "b2T/1T",
               "bwd/fwd");
    int first = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const shape *S = &shapes[s];
        if (!selected(S)) continue;
        layer L;
        int pad = pad_of(S->k);
        L.c = (df_conv){S->cin, S->cout, S->k, S->k, S->stride, pad, 1, DF_PAD_ZERO};
        L.H = S->H, L.OH = df_conv_out(S->H, S->k, S->stride, pad);
        size_t nx = (size_t)S->cin * S->H * S->H, ny = (size_t)S->cout * L.OH * L.OH,
               nw = (size_t)S->cout * S->cin * S->k * S->k;
        L.x = filled(nx, 1), L.w = filled(nw, 2), L.b = filled(S->cout, 3), L.y = filled(ny, 4);
        L.dy = filled(ny, 5), L.dx = filled(nx, 6), L.dw = filled(nw, 7), L.db = filled(S->cout, 8);
        L.ws = filled(df_conv2d_workspace(&L.c, S->H, S->H), 9);
        double flops = 2.0 * S->cout * S->cin * S->k * S->k * L.OH * L.OH;
        double gf[2][2] = {{0}}; /* [threads-1][backward] */
        for (int t = 1; t <= maxt && t <= 2; t++) {
            df_set_threads(t);
            for (int bw = 0; bw < 2; bw++) gf[t - 1][bw] = (bw ? 2 : 1) * flops / time_best(&L, bw, min_ms * 1e-3) * 1e-9;
        }
        double f2 = gf[1][0] > 0 ? gf[1][0] / gf[0][0] : 0, b2 = gf[1][1] > 0 ? gf[1][1] / gf[0][1] : 0;
        if (json)
            printf("%s  {\"set\": \"%s\", \"name\": \"%s\", \"cin\": %d, \"cout\": %d, \"k\": %d, \"stride\": %d, "
                   "\"H\": %d, \"fwd_1t\": %.2f, \"bwd_1t\": %.2f, \"fwd_2t\": %.2f, \"bwd_2t\": %.2f, "
                   "\"fwd_2t_over_1t\": %.3f, \"bwd_2t_over_1t\": %.3f, \"bwd_over_fwd\": %.3f}",
                   first ? "" : ",\n", S->set, S->name, S->cin, S->cout, S->k, S->stride, S->H, gf[0][0], gf[0][1],
                   gf[1][0], gf[1][1], f2, b2, gf[0][1] / gf[0][0]);
        else
            printf("%-28s %8.1f %8.1f %8.1f %8.1f %8.2f %8.2f %7.2f\n", S->name, gf[0][0], gf[0][1], gf[1][0],
                   gf[1][1], f2, b2, gf[0][1] / gf[0][0]);
        first = 0;
        fflush(stdout);
        free(L.x), free(L.w), free(L.b), free(L.y), free(L.dy), free(L.dx), free(L.dw), free(L.db), free(L.ws);
    }
    if (json) printf("\n]}\n");
    return 0;
}
