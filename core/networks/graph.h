/* Imported image-to-image models: a generic graph of the engine's layers, read from a .dfw that
 * tools/convert_tfjs_graph.mjs writes from a TensorFlow.js graph model (e.g. the CartoonGAN generators).
 *
 * A graph is a list of nodes in execution order.  Value 0 is the model's input; node i writes value i + 1;
 * the last node's value is the output.  Every value is a float tensor [B, C, H, W] (NCHW, in the MODEL's channel
 * order and pixel range; graph_forward converts from and to the engine's convention).  Ops:
 *
 *   GRAPH_CONV      conv2d (+bias): weight [cout, cin, kh, kw] (OIHW), symmetric pad, zero or reflect padding
 *   GRAPH_CONVT     transposed conv (+bias), df_convT semantics: weight [cin, cout, k, k],
 *                   OH = (H - 1) * stride - 2 * pad + k + out_pad
 *   GRAPH_PAD       spatial padding top/bottom/left/right: zero, reflect (edge excluded) or symmetric (edge repeated)
 *   GRAPH_INSTNORM  instance norm with affine gamma/beta [C] and eps
 *   GRAPH_RELU, GRAPH_TANH, GRAPH_ADD (two values of one shape)
 *
 * File (.dfw): meta "arch" = GRAPH_ARCH, "graph_version" = 1, "in_channels", "out_channels", "channel_order"
 * (rgb | bgr: the model's order of 3-channel images), "in_min", "in_max", "out_min", "out_max" (the model's pixel
 * range, which the engine's [-1, 1] maps to affinely), "size_multiple" (H and W must be multiples of it), "size"
 * (the side the model is used at), optional "source" and "name" (free text).  Tensors: "graph.nodes"
 * [n, GRAPH_ROW] (one row per node, see graph.c for the fields), "n<i>.w", "n<i>.b" (conv / convT weight and
 * bias), "n<i>.gamma", "n<i>.beta" (instance norm).  The file is untrusted: every count, index, size and shape is
 * checked on load, every spatial size when a forward pass is planned.
 *
 * Memory: weights in one block; activations in one arena planned per (B, H, W, keep) on the first forward of
 * that size.  Without keep (inference), values whose last reader has run give their memory to later values;
 * with keep (PGD, training a protector against the model), every activation stays for graph_backward, whose
 * input-gradient buffers are planned the same way in reverse order.  No parameter gradients: imported weights
 * are fixed.
 */
#ifndef DF_GRAPH_H
#define DF_GRAPH_H

#include "df.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GRAPH_ARCH "dadfi-graph"
#define GRAPH_VERSION 1
#define GRAPH_ROW 12          /* floats per node row in "graph.nodes" */
#define GRAPH_MAX_NODES 4096
#define GRAPH_MAX_CHANNELS 65536

enum {
    GRAPH_CONV = 1,
    GRAPH_CONVT = 2,
    GRAPH_PAD = 3,
    GRAPH_INSTNORM = 4,
    GRAPH_RELU = 5,
    GRAPH_TANH = 6,
    GRAPH_ADD = 7,
};
enum { GRAPH_PAD_ZERO = 0, GRAPH_PAD_REFLECT = 1, GRAPH_PAD_SYMMETRIC = 2 };

typedef struct {
    int in_channels, out_channels;
    int bgr;                       /* 1: 3-channel values are BGR in the model (the engine's are RGB) */
    float in_min, in_max;          /* the model's input range (engine -1 -> in_min, +1 -> in_max) */
    float out_min, out_max;        /* the model's output range (-> engine [-1, 1]) */
    int size_multiple;             /* H, W multiples of this */
    int size;                      /* the side the model is meant to run at (the CLI's default) */
    int n_nodes;
    size_t n_params;               /* floats */
    char name[64];                 /* meta "name" (may be empty) */
} graph_info;

typedef struct graph_model graph_model; /* opaque: nodes, weights, activation arena */

/* 1 if buf is a .dfw whose meta "arch" is GRAPH_ARCH (an imported model; graph_load still checks the rest). */
int graph_is_graph_file(const uint8_t *buf, size_t len);
/* Whether g maps a 3-channel image of its own side (info->size) to one of the same size, as an image-to-image
 * deepfake model must for the preview and the evaluation (DF_ERR_UNSUPPORTED with the reason if not). */
df_status graph_check_image_model(const graph_model *g);
/* Parse a graph weight file from memory (buf is not kept). */
df_status graph_load(graph_model **g, const uint8_t *buf, size_t len);
void graph_free(graph_model *g);
const graph_info *graph_get_info(const graph_model *g);
/* Output side for an input of H x W (DF_ERR_ARG with the reason if the graph cannot take that size). */
df_status graph_output_size(const graph_model *g, int H, int W, int *OH, int *OW);
/* Multiply-adds x 2 of one image of H x W (convolutions only); < 0 if the size is invalid. */
double graph_flops(const graph_model *g, int H, int W);

/* y [B, out_channels, OH, OW] = model(x [B, in_channels, H, W]), both in the engine's convention (RGB, [-1, 1]):
 * x is mapped to the model's channel order and range on the way in, the output back on the way out.
 * keep != 0 keeps every activation for graph_backward (more memory). */
df_status graph_forward(graph_model *g, float *y, const float *x, int B, int H, int W, int keep);
/* Progress of graph_forward (long passes: a CartoonGAN at 256 x 256 is ~100 GFLOP): fn(ctx, done) after each
 * convolution, done in (0, 1] the share of the pass's convolution FLOPs finished; fn NULL turns it off. */
void graph_set_progress(graph_model *g, void (*fn)(void *ctx, float done), void *ctx);
/* dx [B, in_channels, H, W] += d(sum dy . y)/dx for the last graph_forward (which must have used keep != 0). */
df_status graph_backward(graph_model *g, float *dx, const float *dy);

#ifdef __cplusplus
}
#endif
#endif
