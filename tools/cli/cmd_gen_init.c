/* dadfi gen-init: write a randomly initialised Gen (for tests and as a training starting point). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gen.h"
#include "image.h"

static void help(void) {
    printf("usage: dadfi gen-init [--width C] [--out-scale S] [--seed N] OUT.dfw\n\n"
           "Writes an untrained Gen with seeded random weights: useful for tests and benchmarks; it does not\n"
           "protect anything. Train one with `dadfi train-gen`.\n"
           "  --width C      base width c (default 16: 1.4 GFLOP per 256x256 image)\n"
           "  --out-scale S  delta = S * tanh(.) (default 0.1)\n"
           "  --seed N       random seed (default 1)\n");
}

int cmd_gen_init(int argc, char **argv) {
    long width = 16, seed = 1;
    double scale = 0.1;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            help();
            return EXIT_OK;
        } else if (!strcmp(a, "--width") && i + 1 < argc) {
            if (cli_parse_long(argv[++i], 1, 256, &width))
                return cli_usage_error("gen-init", "--width must be an integer in 1..256");
        } else if (!strcmp(a, "--out-scale") && i + 1 < argc) {
            if (cli_parse_float(argv[++i], 1e-6, 2.0, &scale))
                return cli_usage_error("gen-init", "--out-scale must be in (0, 2]");
        } else if (!strcmp(a, "--seed") && i + 1 < argc) {
            if (cli_parse_long(argv[++i], 0, 0x7fffffffL, &seed))
                return cli_usage_error("gen-init", "--seed must be a non-negative integer");
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("gen-init", "unknown option or missing value: '%s'", a);
        } else if (!out) {
            out = a;
        } else {
            return cli_usage_error("gen-init", "give exactly one output file");
        }
    }
    if (!out) return cli_usage_error("gen-init", "give an output file");
    gen_config cfg = {(int)width, (float)scale, 0, 0};
    gen_model *g = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (gen_create(&g, &cfg, (uint64_t)seed, 0) != DF_OK || gen_save(g, 0, 0, &buf, &len) != DF_OK ||
        df_write_file_atomic(out, buf, len) != DF_OK) {
        gen_free(g);
        free(buf);
        return cli_runtime_error("gen-init", out);
    }
    gen_free(g);
    free(buf);
    return EXIT_OK;
}
