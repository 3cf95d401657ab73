/* Test helper for tests/js/eval.test.mjs: tiny random networks and two tiny data sets for `dadfi eval`.
 *   eval_fixtures DIR
 * writes DIR/{stargan,attgan,style}.dfw (zoo models of input size 32), DIR/gen.dfw (width 4), DIR/universal.dfw
 * (tensor "delta" [3,32,32], +-0.05 pattern), DIR/cartoon.dfw (an imported model, graph.h: input side 64, BGR in
 * [0, 255], a 1x1 convolution mixing the channels, then tanh), DIR/celeba/ (labels.csv in the CelebA layout, 6 PNG faces 44x54
 * split over the partitions) and DIR/utk/ (labels.csv with age, gender, race; 4 PNG faces 40x40). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dfw.h"
#include "gen.h"
#include "graph.h"
#include "image.h"
#include "zoo.h"

static int fail(const char *what) {
    fprintf(stderr, "eval_fixtures: %s: %s\n", what, df_errmsg());
    return 1;
}

static int write_buf(const char *dir, const char *name, uint8_t *buf, size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    df_status s = df_write_file_atomic(path, buf, len);
    free(buf);
    return s ? fail(path) : 0;
}

/* A face-like test picture: skin-toned disc on a coloured background with "hair" on top. */
static int picture(const char *path, int w, int h, unsigned seed) {
    uint8_t *rgb = malloc((size_t)w * h * 3);
    if (!rgb) return 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double dx = (x - w / 2.0) / (w * 0.3), dy = (y - h * 0.55) / (h * 0.35), r = dx * dx + dy * dy;
            uint8_t *p = rgb + ((size_t)y * w + x) * 3;
            int hair = y < h * 0.3 && r < 2.5;
            p[0] = (uint8_t)(r < 1 ? 200 + (seed * 13) % 40 : hair ? 40 + seed * 30 % 150 : 60 + (x * 3 + seed * 50) % 120);
            p[1] = (uint8_t)(r < 1 ? 150 + (seed * 7) % 40 : hair ? 30 + seed * 20 % 100 : 90 + (y * 2 + seed * 30) % 100);
            p[2] = (uint8_t)(r < 1 ? 120 + (seed * 5) % 30 : hair ? 20 : 140 + (x + y + seed * 10) % 100);
        }
    df_status s = df_image_save(path, rgb, w, h, DF_FMT_PNG, 0);
    free(rgb);
    return s ? fail(path) : 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: eval_fixtures DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    char path[1024];
    uint8_t *buf;
    size_t len;
    const char *fam[ZOO_NFAMILIES] = {"stargan", "attgan", "style"};
    for (int f = 0; f < ZOO_NFAMILIES; f++) {
        zoo_config c = zoo_default_config((zoo_family)f);
        c.size = 32, c.width = 4, c.dwidth = 2, c.nres = f == ZOO_ATTGAN ? 0 : 1, c.sdim = 4, c.zdim = 2;
        zoo_model *m;
        char name[64];
        snprintf(name, sizeof name, "%s.dfw", fam[f]);
        if (zoo_create(&m, &c, 10 + f, 0) || zoo_save(m, 0, &buf, &len)) return fail(name);
        zoo_free(m);
        if (write_buf(dir, name, buf, len)) return 1;
    }
    gen_model *g;
    gen_config gc = {4, 1.0f, 0, 0};
    if (gen_create(&g, &gc, 5, 0) || gen_save(g, 0, 0, &buf, &len)) return fail("gen");
    gen_free(g);
    if (write_buf(dir, "gen.dfw", buf, len)) return 1;

    float delta[3 * 32 * 32];
    for (int i = 0; i < 3 * 32 * 32; i++) delta[i] = (i * 7919 % 13) < 6 ? -0.05f : 0.05f;
    dfw_writer w;
    dfw_writer_init(&w);
    int dims[3] = {3, 32, 32};
    if (dfw_writer_meta(&w, "arch", "dadfi-universal") || dfw_writer_tensor(&w, "delta", 3, dims, delta) ||
        dfw_writer_finish(&w, &buf, &len))
        return fail("universal");
    dfw_writer_free(&w);
    if (write_buf(dir, "universal.dfw", buf, len)) return 1;

    /* an imported model: 1x1 convolution (channel mixing, bias), tanh */
    float rows[2 * GRAPH_ROW] = {GRAPH_CONV, 0, -1, 3, 3, 1, 1, 1, 0, 0, 1, 0, GRAPH_TANH, 1, -1};
    float cw[9] = {0.004f, -0.006f, 0.003f, 0.001f, 0.005f, -0.002f, -0.007f, 0.002f, 0.006f}, cb[3] = {-0.2f, 0.1f, 0.3f};
    int rd[2] = {2, GRAPH_ROW}, wd[4] = {3, 3, 1, 1}, bd[1] = {3};
    dfw_writer_init(&w);
    if (dfw_writer_meta(&w, "arch", GRAPH_ARCH) || dfw_writer_meta_int(&w, "graph_version", GRAPH_VERSION) ||
        dfw_writer_meta_int(&w, "in_channels", 3) || dfw_writer_meta_int(&w, "out_channels", 3) ||
        dfw_writer_meta(&w, "channel_order", "bgr") || dfw_writer_meta_float(&w, "in_min", 0) ||
        dfw_writer_meta_float(&w, "in_max", 255) || dfw_writer_meta_float(&w, "out_min", -1) ||
        dfw_writer_meta_float(&w, "out_max", 1) || dfw_writer_meta_int(&w, "size_multiple", 4) ||
        dfw_writer_meta_int(&w, "size", 64) || dfw_writer_meta(&w, "name", "cartoon") ||
        dfw_writer_tensor(&w, "graph.nodes", 2, rd, rows) || dfw_writer_tensor(&w, "n0.w", 4, wd, cw) ||
        dfw_writer_tensor(&w, "n0.b", 1, bd, cb) || dfw_writer_finish(&w, &buf, &len))
        return fail("cartoon");
    dfw_writer_free(&w);
    if (write_buf(dir, "cartoon.dfw", buf, len)) return 1;

    /* CelebA layout: 6 faces, partitions 0, 1, 2, 2, 2, 2 */
    static const char *attrs[6] = {"1,0,0,1,1", "0,1,0,0,1", "0,0,1,1,0", "1,0,0,0,1", "0,1,0,1,1", "0,0,0,0,0"};
    snprintf(path, sizeof path, "%s/celeba", dir);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/celeba/images", dir);
    mkdir(path, 0777);
    char csv[4096];
    int off = snprintf(csv, sizeof csv, "file,identity,partition,Black_Hair,Blond_Hair,Brown_Hair,Male,Young\n");
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/celeba/images/%06d.png", dir, i + 1);
        if (picture(path, 44, 54, (unsigned)i)) return 1;
        off += snprintf(csv + off, sizeof csv - off, "%06d.png,%d,%d,%s\n", i + 1, i / 2 + 1, i < 2 ? i : 2, attrs[i]);
    }
    snprintf(path, sizeof path, "%s/celeba/labels.csv", dir);
    if (df_write_file_atomic(path, csv, strlen(csv))) return fail(path);

    /* UTKFace layout: 4 faces, both genders, races 0..3 */
    snprintf(path, sizeof path, "%s/utk", dir);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/utk/images", dir);
    mkdir(path, 0777);
    off = snprintf(csv, sizeof csv, "file,age,gender,race,timestamp\n");
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "%d_%d_%d_2017.jpg.chip.png", 20 + i, i % 2, i);
        snprintf(path, sizeof path, "%s/utk/images/%s", dir, name);
        if (picture(path, 40, 40, (unsigned)(i + 7))) return 1;
        off += snprintf(csv + off, sizeof csv - off, "%s,%d,%d,%d,2017\n", name, 20 + i, i % 2, i);
    }
    snprintf(path, sizeof path, "%s/utk/labels.csv", dir);
    if (df_write_file_atomic(path, csv, strlen(csv))) return fail(path);
    return 0;
}
