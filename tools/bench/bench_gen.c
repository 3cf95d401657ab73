/* Gen forward timing, native (the reference for tools/bench/wasm_gen.mjs): one image of S x S per call.
 *
 *   bench_gen [--weights F.dfw | --width C] [--sizes 256,512] [--runs N] [--threads T]
 *
 * Prints one JSON line per size: {"size":S,"ms":median,"gflop":...,"gflops":...,"isa":"avx2","threads":T}.
 * The kernel set follows DF_ISA (scalar|avx2|avx512; default: the best the CPU has).  Input: the same
 * deterministic pattern as tools/bench/gen_graph.mjs benchInput(). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen.h"
#include "image.h"

#include "bench_clock.h"

int main(int argc, char **argv) {
    const char *weights = NULL, *sizes = "256,512";
    int width = 16, runs = 7, threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--weights") && i + 1 < argc) weights = argv[++i];
        else if (!strcmp(argv[i], "--width") && i + 1 < argc) width = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) sizes = argv[++i];
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_gen [--weights F.dfw | --width C] [--sizes 256,512] [--runs N] [--threads T]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 1000 || threads < 1) {
        fprintf(stderr, "bench_gen: bad --runs or --threads\n");
        return 2;
    }
    df_set_threads(threads);
    gen_model *g = NULL;
    df_status s;
    if (weights) {
        uint8_t *buf = NULL;
        size_t len = 0;
        s = df_read_file(weights, (size_t)1 << 30, &buf, &len);
        if (!s) s = gen_load(&g, buf, len, 0);
        free(buf);
    } else {
        gen_config cfg = {width, 0.1f, 0, 0};
        s = gen_create(&g, &cfg, 1, 0);
    }
    if (s) {
        fprintf(stderr, "bench_gen: %s\n", df_errmsg());
        return 1;
    }
    for (const char *p = sizes; *p;) {
        int S = atoi(p);
        if (S < 8 || S % 8 || S > 4096) {
            fprintf(stderr, "bench_gen: sizes must be multiples of 8 in 8..4096\n");
            return 2;
        }
        size_t n = (size_t)3 * S * S;
        float *x = malloc(n * sizeof(float)), *d = malloc(n * sizeof(float));
        double *t = malloc(runs * sizeof(double));
        if (!x || !d || !t) return 1;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < S; y++)
                for (int i = 0; i < S; i++)
                    x[((size_t)c * S + y) * S + i] = (float)(0.6 * sin((i + 3.0 * c) / 17) * cos(y / 23.0) +
                                                             0.1 * sin(i * 1.7 + y * 2.3));
        for (int k = 0; k < 2 && !s; k++) s = gen_forward(g, d, x, 1, S, S); /* warm-up (plans the arena) */
        for (int r = 0; r < runs && !s; r++) {
            double t0 = now_ms();
            s = gen_forward(g, d, x, 1, S, S);
            t[r] = now_ms() - t0;
        }
        if (s) {
            fprintf(stderr, "bench_gen: %s\n", df_errmsg());
            return 1;
        }
        qsort(t, runs, sizeof(double), cmp_double);
        double gflop = gen_flops(gen_get_config(g), S, S) / 1e9, ms = t[runs / 2];
        printf("{\"size\":%d,\"ms\":%.3f,\"gflop\":%.4f,\"gflops\":%.2f,\"isa\":\"%s\",\"threads\":%d,\"width\":%d}\n", S,
               ms, gflop, gflop / (ms / 1e3), df_isa_name(df_isa_active()), df_get_threads(), gen_get_config(g)->width);
        free(x), free(d), free(t);
        p = strchr(p, ',');
        if (!p) break;
        p++;
    }
    gen_free(g);
    return 0;
}
