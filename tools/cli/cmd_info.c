/* dadfi info: describe a .dfw weight file. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dfw.h"
#include "gen.h"
#include "image.h"

static void help(void) {
    printf("usage: dadfi info FILE.dfw\n\n"
           "Prints a weight file's metadata, its tensors with shapes, the parameter count and, for a Gen file,\n"
           "the FLOPs for one 256x256 image. Checks the file's integrity (checksums) on the way.\n");
}

int cmd_info(int argc, char **argv) {
    if (argc >= 2 && cli_is_help(argv[1])) {
        help();
        return EXIT_OK;
    }
    if (argc != 2) return cli_usage_error("info", "give exactly one weight file");
    uint8_t *buf = NULL;
    size_t len = 0;
    if (df_read_file(argv[1], 1u << 30, &buf, &len) != DF_OK) return cli_runtime_error("info", argv[1]);
    dfw_file f;
    if (dfw_parse(&f, buf, len) != DF_OK) {
        free(buf);
        return cli_runtime_error("info", argv[1]);
    }
    printf("file: %s (%zu bytes, container version %u)\n", argv[1], len, f.version);
    printf("metadata:\n");
    for (int i = 0; i < f.n_meta; i++)
        printf("  %.*s = %.*s\n", (int)f.meta[i].key_len, f.meta[i].key, (int)f.meta[i].val_len, f.meta[i].val);
    size_t params = 0, opt = 0;
    printf("tensors:\n");
    for (int i = 0; i < f.n_tensors; i++) {
        const dfw_tensor *t = &f.tensors[i];
        int is_opt = t->name_len > 4 && !strncmp(t->name, "opt.", 4);
        if (is_opt) {
            opt += t->count;
            continue;
        }
        params += t->count;
        printf("  %-28.*s [", (int)t->name_len, t->name);
        for (int d = 0; d < t->ndim; d++) printf("%s%d", d ? ", " : "", t->dims[d]);
        printf("]\n");
    }
    printf("parameters: %zu (%.2f MB as float32)\n", params, params * 4.0 / 1e6);
    if (opt) printf("optimiser state: %zu floats (training checkpoint)\n", opt);
    char arch[64];
    if (dfw_meta_get(&f, "arch", arch, sizeof arch) == DF_OK && !strcmp(arch, GEN_ARCH)) {
        long width = 0;
        double scale = 0.1;
        dfw_meta_int(&f, "width", &width);
        dfw_meta_float(&f, "out_scale", &scale);
        gen_config cfg = {(int)width, (float)scale, 0, 0};
        printf("FLOPs per 256x256 image: %.3f GFLOP\n", gen_flops(&cfg, 256, 256) / 1e9);
    }
    dfw_free(&f);
    free(buf);
    return EXIT_OK;
}
