/* Test fixture: a tiny imported model (graph.h) built in memory, for the tests of what consumes graphs. */
#ifndef DF_TEST_GRAPH_FIXTURE_H
#define DF_TEST_GRAPH_FIXTURE_H

#include <stdlib.h>

#include "dfw.h"
#include "graph.h"

/* A graph .dfw (graph.h) of one node: tanh (3 -> 3 channels, engine range, RGB), or with conv1 a 1x1 convolution
 * to `cout` channels; side G. */
static inline df_status tiny_graph(graph_model **g, int G, int conv1, int cout) {
    dfw_writer w;
    dfw_writer_init(&w);
    float row[GRAPH_ROW] = {0}, wt[3 * 8] = {0}, b[8] = {0};
    row[1] = 0, row[2] = -1;
    if (conv1) {
        row[0] = GRAPH_CONV, row[3] = 3, row[4] = (float)cout, row[5] = row[6] = 1, row[7] = 1, row[10] = 1;
        for (int i = 0; i < 3 * cout; i++) wt[i] = 0.1f * (float)(i + 1);
    } else {
        row[0] = GRAPH_TANH;
    }
    int dims[2] = {1, GRAPH_ROW}, wd[4] = {cout, 3, 1, 1}, bd[1] = {cout};
    df_status s = dfw_writer_meta(&w, "arch", GRAPH_ARCH);
    if (!s) s = dfw_writer_meta_int(&w, "graph_version", GRAPH_VERSION);
    if (!s) s = dfw_writer_meta_int(&w, "in_channels", 3);
    if (!s) s = dfw_writer_meta_int(&w, "out_channels", conv1 ? cout : 3);
    if (!s) s = dfw_writer_meta(&w, "channel_order", "rgb");
    if (!s) s = dfw_writer_meta_float(&w, "in_min", -1);
    if (!s) s = dfw_writer_meta_float(&w, "in_max", 1);
    if (!s) s = dfw_writer_meta_float(&w, "out_min", -1);
    if (!s) s = dfw_writer_meta_float(&w, "out_max", 1);
    if (!s) s = dfw_writer_meta_int(&w, "size_multiple", 1);
    if (!s) s = dfw_writer_meta_int(&w, "size", G);
    if (!s) s = dfw_writer_tensor(&w, "graph.nodes", 2, dims, row);
    if (!s && conv1) s = dfw_writer_tensor(&w, "n0.w", 4, wd, wt);
    if (!s && conv1) s = dfw_writer_tensor(&w, "n0.b", 1, bd, b);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!s) s = dfw_writer_finish(&w, &buf, &len);
    dfw_writer_free(&w);
    if (!s) s = graph_load(g, buf, len);
    free(buf);
    return s;
}

#endif
