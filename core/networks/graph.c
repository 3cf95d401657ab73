/* Imported image-to-image graphs (graph.h): load with every field checked, plan memory per input size, forward,
 * input-gradient backward.
 *
 * Node row (GRAPH_ROW floats; integers stored exactly; unused fields must be 0):
 *   [0] op   [1] in0 (value index <= node index)   [2] in1 (GRAPH_ADD; -1 otherwise)
 *   GRAPH_CONV      [3] cin [4] cout [5] kh [6] kw [7] stride [8] pad [9] pad mode (0 zero, 1 reflect) [10] has bias
 *   GRAPH_CONVT     [3] cin [4] cout [5] k [6] stride [7] pad [8] out_pad [9] has bias
 *   GRAPH_PAD       [3] top [4] bottom [5] left [6] right [7] mode (GRAPH_PAD_*)
 *   GRAPH_INSTNORM  [3] C [4] eps
 */
#include "graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfw.h"

#define MAX_K 64
#define MAX_STRIDE 16
#define MAX_PAD 1024
#define MAX_PARAM_FLOATS ((size_t)1 << 29) /* 2 GiB of weights */
#define MAX_VALUE_FLOATS ((size_t)1 << 30)

typedef struct {
    int op, in0, in1;
    df_conv cv;
    df_convT ct;
    int pad[4], pad_mode; /* top, bottom, left, right */
    float eps;
    int cout;             /* channels of the output value */
    const float *w, *b, *gamma, *beta; /* into the weight block */
    float *mean, *rstd;   /* instance norm statistics (arena) */
} gnode;

typedef struct {
    int C, H, W;
    size_t n;             /* B * C * H * W */
    float *data, *grad;   /* arena views (grad only with keep) */
    int last_use;         /* last node reading the value (n_nodes for the output) */
} gvalue;

struct graph_model {
    graph_info info;
    int n;
    gnode *nodes;
    gvalue *vals;         /* n + 1 */
    float *weights;
    df_arena arena;
    int B, H, W, keep;    /* planned (B = 0: none) */
    float *ws;            /* convolution workspace */
    int *buf_of, *gbuf_of;/* value -> buffer (planning scratch; gbuf_of -1: no gradient) */
    float **fb, **gb;     /* buffer -> arena view (planning scratch) */
    int fwd_keep_valid;   /* a keep-forward ran at the planned size */
    void (*progress)(void *ctx, float done); /* graph_set_progress */
    void *progress_ctx;
};

/* ------------------------------------------------------------------ small ops (padding) */
static int pad_src(int i, int n, int mode) {
    /* source index of padded position i (relative to the image, may be < 0 or >= n); -1 = zero */
    if (i >= 0 && i < n) return i;
    if (mode == GRAPH_PAD_ZERO) return -1;
    if (mode == GRAPH_PAD_REFLECT) {
        if (n == 1) return 0;
        int p = 2 * (n - 1);
        i = i % p;
        if (i < 0) i += p;
        return i < n ? i : p - i;
    }
    int p = 2 * n; /* symmetric */
    i = i % p;
    if (i < 0) i += p;
    return i < n ? i : p - 1 - i;
}

/* out [BC, H + t + b, W + l + r] = pad(inp [BC, H, W]). */
static void pad_forward(float *out, const float *inp, int BC, int H, int W, const int *pd, int mode) {
    int OH = H + pd[0] + pd[1], OW = W + pd[2] + pd[3];
    for (int c = 0; c < BC; c++) {
        const float *x = inp + (size_t)c * H * W;
        float *y = out + (size_t)c * OH * OW;
        for (int oy = 0; oy < OH; oy++) {
            int sy = pad_src(oy - pd[0], H, mode);
            float *yr = y + (size_t)oy * OW;
            if (sy < 0) {
                memset(yr, 0, sizeof(float) * (size_t)OW);
                continue;
            }
            const float *xr = x + (size_t)sy * W;
            for (int ox = 0; ox < pd[2]; ox++) {
                int sx = pad_src(ox - pd[2], W, mode);
                yr[ox] = sx < 0 ? 0.0f : xr[sx];
            }
            memcpy(yr + pd[2], xr, sizeof(float) * (size_t)W);
            for (int ox = pd[2] + W; ox < OW; ox++) {
                int sx = pad_src(ox - pd[2], W, mode);
                yr[ox] = sx < 0 ? 0.0f : xr[sx];
            }
        }
    }
}

/* dinp += the adjoint of pad_forward applied to dout. */
static void pad_backward(float *dinp, const float *dout, int BC, int H, int W, const int *pd, int mode) {
    int OH = H + pd[0] + pd[1], OW = W + pd[2] + pd[3];
    for (int c = 0; c < BC; c++) {
        float *dx = dinp + (size_t)c * H * W;
        const float *dy = dout + (size_t)c * OH * OW;
        for (int oy = 0; oy < OH; oy++) {
            int sy = pad_src(oy - pd[0], H, mode);
            if (sy < 0) continue;
            const float *dyr = dy + (size_t)oy * OW;
            float *dxr = dx + (size_t)sy * W;
            for (int ox = 0; ox < OW; ox++) {
                int sx = pad_src(ox - pd[2], W, mode);
                if (sx >= 0) dxr[sx] += dyr[ox];
            }
        }
    }
}

/* ------------------------------------------------------------------ load */
static const char *op_name(int op) {
    switch (op) {
    case GRAPH_CONV: return "conv";
    case GRAPH_CONVT: return "convT";
    case GRAPH_PAD: return "pad";
    case GRAPH_INSTNORM: return "instnorm";
    case GRAPH_RELU: return "relu";
    case GRAPH_TANH: return "tanh";
    case GRAPH_ADD: return "add";
    default: return "?";
    }
}

/* Integer field: finite, integral, in [lo, hi]. */
static int field_int(const float *row, int k, int lo, int hi, int *out) {
    float v = row[k];
    if (!(v >= (float)lo && v <= (float)hi) || v != floorf(v)) return -1;
    *out = (int)v;
    return 0;
}

static df_status meta_int_in(const dfw_file *f, const char *key, long lo, long hi, int *out) {
    long v;
    if (dfw_meta_int(f, key, &v) || v < lo || v > hi)
        return df_fail(DF_ERR_FORMAT, "graph: meta '%s' missing or outside %ld..%ld", key, lo, hi);
    *out = (int)v;
    return DF_OK;
}

static df_status meta_float_in(const dfw_file *f, const char *key, float *out) {
    double v;
    if (dfw_meta_float(f, key, &v) || !isfinite(v) || fabs(v) > 1e6)
        return df_fail(DF_ERR_FORMAT, "graph: meta '%s' missing or not a finite number", key);
    *out = (float)v;
    return DF_OK;
}

/* Declare (count) or copy a tensor "n<i>.<suffix>" of the given shape into the weight block. */
static df_status take_tensor(const dfw_file *f, int i, const char *suffix, int ndim, const int *dims, float *block,
                             size_t *used, const float **out) {
    char name[64];
    snprintf(name, sizeof name, "n%d.%s", i, suffix);
    size_t count = 1;
    for (int d = 0; d < ndim; d++) count *= (size_t)dims[d];
    if (count > MAX_PARAM_FLOATS || *used > MAX_PARAM_FLOATS - count)
        return df_fail(DF_ERR_FORMAT, "graph: node %d: weights too large", i);
    if (block) {
        df_status s = dfw_read_tensor(f, name, block + *used, ndim, dims);
        if (s) return df_fail(s, "graph: node %d (%s): %s", i, suffix, df_errmsg());
        *out = block + *used;
    } else if (!dfw_find(f, name)) {
        return df_fail(DF_ERR_FORMAT, "graph: node %d: tensor '%s' missing", i, name);
    }
    *used += (count + 15) & ~(size_t)15; /* 64-byte aligned views */
    return DF_OK;
}

/* Parse and check the node rows; with block != NULL, point the weights into it. */
static df_status parse_nodes(graph_model *g, const dfw_file *f, const float *rows, float *block, size_t *used) {
    int n = g->n;
    int *chan = malloc(sizeof(int) * (size_t)(n + 1));
    if (!chan) return df_fail(DF_ERR_NOMEM, "graph: out of memory");
    chan[0] = g->info.in_channels;
    df_status s = DF_OK;
    *used = 0;
    for (int i = 0; i < n && !s; i++) {
        const float *row = rows + (size_t)i * GRAPH_ROW;
        gnode *nd = &g->nodes[i];
        memset(nd, 0, sizeof *nd);
        int nf = 3; /* fields used: 0..nf-1 */
        if (field_int(row, 0, GRAPH_CONV, GRAPH_ADD, &nd->op)) {
            s = df_fail(DF_ERR_FORMAT, "graph: node %d: unknown op %g", i, (double)row[0]);
            break;
        }
        const char *on = op_name(nd->op);
        if (field_int(row, 1, 0, i, &nd->in0) || field_int(row, 2, -1, i, &nd->in1) ||
            ((nd->op == GRAPH_ADD) != (nd->in1 >= 0))) {
            s = df_fail(DF_ERR_FORMAT, "graph: node %d (%s): bad input index", i, on);
            break;
        }
        int cin = chan[nd->in0], bad = 0;
        switch (nd->op) {
        case GRAPH_CONV: {
            int ci, co, kh, kw, st, pd, mode, hb;
            bad = field_int(row, 3, 1, GRAPH_MAX_CHANNELS, &ci) || field_int(row, 4, 1, GRAPH_MAX_CHANNELS, &co) ||
                  field_int(row, 5, 1, MAX_K, &kh) || field_int(row, 6, 1, MAX_K, &kw) ||
                  field_int(row, 7, 1, MAX_STRIDE, &st) || field_int(row, 8, 0, MAX_K, &pd) ||
                  field_int(row, 9, DF_PAD_ZERO, DF_PAD_REFLECT, &mode) || field_int(row, 10, 0, 1, &hb) ||
                  ci != cin || pd >= kh || pd >= kw;
            nf = 11;
            if (bad) break;
            nd->cv = (df_conv){ci, co, kh, kw, st, pd, 1, mode};
            nd->cout = co;
            int wd[4] = {co, ci, kh, kw};
            s = take_tensor(f, i, "w", 4, wd, block, used, &nd->w);
            if (!s && hb) s = take_tensor(f, i, "b", 1, &co, block, used, &nd->b);
            break;
        }
        case GRAPH_CONVT: {
            int ci, co, k, st, pd, op, hb;
            bad = field_int(row, 3, 1, GRAPH_MAX_CHANNELS, &ci) || field_int(row, 4, 1, GRAPH_MAX_CHANNELS, &co) ||
                  field_int(row, 5, 1, MAX_K, &k) || field_int(row, 6, 1, MAX_STRIDE, &st) ||
                  field_int(row, 7, 0, MAX_K, &pd) || field_int(row, 8, 0, MAX_STRIDE, &op) ||
                  field_int(row, 9, 0, 1, &hb) || ci != cin || pd >= k || op >= st;
            nf = 10;
            if (bad) break;
            nd->ct = (df_convT){ci, co, k, st, pd, op};
            nd->cout = co;
            int wd[4] = {ci, co, k, k};
            s = take_tensor(f, i, "w", 4, wd, block, used, &nd->w);
            if (!s && hb) s = take_tensor(f, i, "b", 1, &co, block, used, &nd->b);
            break;
        }
        case GRAPH_PAD:
            for (int k = 0; k < 4 && !bad; k++) bad = field_int(row, 3 + k, 0, MAX_PAD, &nd->pad[k]);
            bad = bad || field_int(row, 7, GRAPH_PAD_ZERO, GRAPH_PAD_SYMMETRIC, &nd->pad_mode);
            nf = 8;
            nd->cout = cin;
            break;
        case GRAPH_INSTNORM: {
            int C;
            bad = field_int(row, 3, 1, GRAPH_MAX_CHANNELS, &C) || C != cin || !(row[4] > 0.0f && row[4] < 1.0f);
            nf = 5;
            if (bad) break;
            nd->eps = row[4];
            nd->cout = C;
            s = take_tensor(f, i, "gamma", 1, &C, block, used, &nd->gamma);
            if (!s) s = take_tensor(f, i, "beta", 1, &C, block, used, &nd->beta);
            break;
        }
        case GRAPH_ADD:
            bad = chan[nd->in1] != cin;
            nd->cout = cin;
            break;
        default: /* relu, tanh */
            nd->cout = cin;
            break;
        }
        for (int k = nf; k < GRAPH_ROW && !bad; k++) bad = row[k] != 0.0f;
        if (bad && !s) s = df_fail(DF_ERR_FORMAT, "graph: node %d (%s): bad or inconsistent fields", i, on);
        chan[i + 1] = nd->cout;
    }
    if (!s && chan[n] != g->info.out_channels)
        s = df_fail(DF_ERR_FORMAT, "graph: the last node has %d channels, meta out_channels says %d", chan[n],
                    g->info.out_channels);
    free(chan);
    return s;
}

int graph_is_graph_file(const uint8_t *buf, size_t len) {
    dfw_file f;
    if (!buf || dfw_parse(&f, buf, len)) return 0;
    char arch[64];
    int is = !dfw_meta_get(&f, "arch", arch, sizeof arch) && !strcmp(arch, GRAPH_ARCH);
    dfw_free(&f);
    return is;
}

df_status graph_load(graph_model **out, const uint8_t *buf, size_t len) {
    if (!out) return df_fail(DF_ERR_ARG, "graph_load: NULL output");
    *out = NULL;
    dfw_file f;
    df_status s = dfw_parse(&f, buf, len);
    if (s) return s;
    graph_model *g = calloc(1, sizeof *g);
    float *rows = NULL;
    if (!g) {
        s = df_fail(DF_ERR_NOMEM, "graph: out of memory");
        goto fail;
    }
    char arch[64], order[16];
    if (dfw_meta_get(&f, "arch", arch, sizeof arch) || strcmp(arch, GRAPH_ARCH)) {
        s = df_fail(DF_ERR_UNSUPPORTED, "graph: not an imported graph (meta arch must be '%s')", GRAPH_ARCH);
        goto fail;
    }
    int ver = 0;
    graph_info *in = &g->info;
    if ((s = meta_int_in(&f, "graph_version", 1, 1000, &ver))) goto fail;
    if (ver != GRAPH_VERSION) {
        s = df_fail(DF_ERR_UNSUPPORTED, "graph: version %d (this build reads %d)", ver, GRAPH_VERSION);
        goto fail;
    }
    if ((s = meta_int_in(&f, "in_channels", 1, GRAPH_MAX_CHANNELS, &in->in_channels)) ||
        (s = meta_int_in(&f, "out_channels", 1, GRAPH_MAX_CHANNELS, &in->out_channels)) ||
        (s = meta_int_in(&f, "size_multiple", 1, 4096, &in->size_multiple)) ||
        (s = meta_int_in(&f, "size", 1, 16384, &in->size)) || (s = meta_float_in(&f, "in_min", &in->in_min)) ||
        (s = meta_float_in(&f, "in_max", &in->in_max)) || (s = meta_float_in(&f, "out_min", &in->out_min)) ||
        (s = meta_float_in(&f, "out_max", &in->out_max)))
        goto fail;
    if (!(in->in_max > in->in_min) || !(in->out_max > in->out_min)) {
        s = df_fail(DF_ERR_FORMAT, "graph: empty input or output range");
        goto fail;
    }
    if (in->size % in->size_multiple) {
        s = df_fail(DF_ERR_FORMAT, "graph: size %d is not a multiple of size_multiple %d", in->size,
                    in->size_multiple);
        goto fail;
    }
    if (dfw_meta_get(&f, "channel_order", order, sizeof order) || (strcmp(order, "rgb") && strcmp(order, "bgr"))) {
        s = df_fail(DF_ERR_FORMAT, "graph: meta channel_order must be rgb or bgr");
        goto fail;
    }
    in->bgr = !strcmp(order, "bgr");
    if (in->bgr && (in->in_channels != 3 || in->out_channels != 3)) {
        s = df_fail(DF_ERR_FORMAT, "graph: channel_order bgr needs 3 input and output channels");
        goto fail;
    }
    if (dfw_meta_has(&f, "name") && dfw_meta_get(&f, "name", in->name, sizeof in->name)) in->name[0] = 0;
    const dfw_tensor *t = dfw_find(&f, "graph.nodes");
    if (!t || t->ndim != 2 || t->dims[1] != GRAPH_ROW || t->dims[0] < 1 || t->dims[0] > GRAPH_MAX_NODES) {
        s = df_fail(DF_ERR_FORMAT, "graph: tensor graph.nodes missing or not [1..%d, %d]", GRAPH_MAX_NODES,
                    GRAPH_ROW);
        goto fail;
    }
    g->n = in->n_nodes = t->dims[0];
    rows = malloc(sizeof(float) * t->count);
    g->nodes = calloc((size_t)g->n, sizeof *g->nodes);
    g->vals = calloc((size_t)g->n + 1, sizeof *g->vals);
    g->buf_of = malloc(sizeof(int) * (size_t)(g->n + 1));
    g->gbuf_of = malloc(sizeof(int) * (size_t)(g->n + 1));
    g->fb = malloc(sizeof(float *) * (size_t)(g->n + 1));
    g->gb = malloc(sizeof(float *) * (size_t)(g->n + 1));
    if (!rows || !g->nodes || !g->vals || !g->buf_of || !g->gbuf_of || !g->fb || !g->gb) {
        s = df_fail(DF_ERR_NOMEM, "graph: out of memory");
        goto fail;
    }
    memcpy(rows, t->data, sizeof(float) * t->count);
    size_t used;
    if ((s = parse_nodes(g, &f, rows, NULL, &used))) goto fail; /* checks, sizes the block */
    in->n_params = used;
    g->weights = malloc(sizeof(float) * (used ? used : 1) + 64);
    if (!g->weights) {
        s = df_fail(DF_ERR_NOMEM, "graph: cannot allocate %zu weights", used);
        goto fail;
    }
    if ((s = parse_nodes(g, &f, rows, g->weights, &used))) goto fail;
    free(rows);
    dfw_free(&f);
    *out = g;
    return DF_OK;
fail:
    free(rows);
    dfw_free(&f);
    graph_free(g);
    return s;
}

void graph_free(graph_model *g) {
    if (!g) return;
    df_arena_free(&g->arena);
    free(g->nodes), free(g->vals), free(g->weights), free(g->buf_of), free(g->gbuf_of), free(g->fb), free(g->gb);
    free(g);
}

const graph_info *graph_get_info(const graph_model *g) { return &g->info; }

/* ------------------------------------------------------------------ shapes */
/* Fill vals[].C/H/W/n for (B, H, W); the reason of a failure names the node. */
static df_status shapes(const graph_model *g, gvalue *v, int B, int H, int W) {
    if (B < 1 || H < 1 || W < 1 || H > 65536 || W > 65536)
        return df_fail(DF_ERR_ARG, "graph: bad input size %d x %d x %d", B, H, W);
    if (H % g->info.size_multiple || W % g->info.size_multiple)
        return df_fail(DF_ERR_ARG, "graph: input %d x %d: height and width must be multiples of %d", H, W,
                       g->info.size_multiple);
    v[0].C = g->info.in_channels, v[0].H = H, v[0].W = W;
    for (int i = 0; i <= g->n; i++) {
        if (i > 0) {
            const gnode *nd = &g->nodes[i - 1];
            const gvalue *a = &v[nd->in0];
            int oh = a->H, ow = a->W, ok = 1;
            switch (nd->op) {
            case GRAPH_CONV: {
                const df_conv *c = &nd->cv;
                ok = a->H + 2 * c->pad >= c->kh && a->W + 2 * c->pad >= c->kw &&
                     (c->pad_mode != DF_PAD_REFLECT || (c->pad < a->H && c->pad < a->W));
                if (ok) oh = df_conv_out(a->H, c->kh, c->stride, c->pad), ow = df_conv_out(a->W, c->kw, c->stride, c->pad);
                break;
            }
            case GRAPH_CONVT:
                oh = df_convT_out(a->H, &nd->ct), ow = df_convT_out(a->W, &nd->ct);
                ok = oh >= 1 && ow >= 1;
                break;
            case GRAPH_PAD:
                if (nd->pad_mode == GRAPH_PAD_REFLECT)
                    ok = nd->pad[0] < a->H && nd->pad[1] < a->H && nd->pad[2] < a->W && nd->pad[3] < a->W;
                else if (nd->pad_mode == GRAPH_PAD_SYMMETRIC)
                    ok = nd->pad[0] <= a->H && nd->pad[1] <= a->H && nd->pad[2] <= a->W && nd->pad[3] <= a->W;
                oh = a->H + nd->pad[0] + nd->pad[1], ow = a->W + nd->pad[2] + nd->pad[3];
                break;
            case GRAPH_ADD:
                ok = v[nd->in1].H == a->H && v[nd->in1].W == a->W;
                break;
            default:
                break;
            }
            if (!ok || oh < 1 || ow < 1 || oh > 65536 || ow > 65536)
                return df_fail(DF_ERR_ARG, "graph: input %d x %d does not fit node %d (%s) (its input is %d x %d)", H,
                               W, i - 1, op_name(nd->op), a->H, a->W);
            v[i].C = nd->cout, v[i].H = oh, v[i].W = ow;
        }
        double n = (double)B * v[i].C * v[i].H * v[i].W;
        if (n > (double)MAX_VALUE_FLOATS)
            return df_fail(DF_ERR_NOMEM, "graph: input %d x %d x %d is too large (value %d has %.0f floats)", B, H, W,
                           i, n);
        v[i].n = (size_t)n;
    }
    return DF_OK;
}

df_status graph_output_size(const graph_model *g, int H, int W, int *OH, int *OW) {
    gvalue *v = malloc(sizeof *v * (size_t)(g->n + 1));
    if (!v) return df_fail(DF_ERR_NOMEM, "graph: out of memory");
    df_status s = shapes(g, v, 1, H, W);
    if (!s) *OH = v[g->n].H, *OW = v[g->n].W;
    free(v);
    return s;
}

/* Multiply-adds x 2 of node i for one image, from the shapes in v (0 for the ops that are not convolutions). */
static double node_flops(const graph_model *g, const gvalue *v, int i) {
    const gnode *nd = &g->nodes[i];
    if (nd->op == GRAPH_CONV)
        return 2.0 * v[i + 1].H * v[i + 1].W * nd->cv.cout * nd->cv.cin * nd->cv.kh * nd->cv.kw;
    if (nd->op == GRAPH_CONVT)
        return 2.0 * v[nd->in0].H * v[nd->in0].W * nd->ct.cout * nd->ct.cin * nd->ct.k * nd->ct.k;
    return 0;
}

double graph_flops(const graph_model *g, int H, int W) {
    gvalue *v = malloc(sizeof *v * (size_t)(g->n + 1));
    if (!v || shapes(g, v, 1, H, W)) {
        free(v);
        return -1;
    }
    double fl = 0;
    for (int i = 0; i < g->n; i++) fl += node_flops(g, v, i);
    free(v);
    return fl;
}

df_status graph_check_image_model(const graph_model *g) {
    if (!g) return df_fail(DF_ERR_ARG, "graph: NULL model");
    const graph_info *in = &g->info;
    if (in->in_channels != 3 || in->out_channels != 3)
        return df_fail(DF_ERR_UNSUPPORTED, "imported model: an image model needs 3 input and 3 output channels (%d, %d)",
                       in->in_channels, in->out_channels);
    int oh = 0, ow = 0;
    df_status s = graph_output_size(g, in->size, in->size, &oh, &ow);
    if (s != DF_OK) return s;
    if (oh != in->size || ow != in->size)
        return df_fail(DF_ERR_UNSUPPORTED, "imported model: its output (%d x %d) is not the size of its input (%d)", ow,
                       oh, in->size);
    return DF_OK;
}

void graph_set_progress(graph_model *g, void (*fn)(void *ctx, float done), void *ctx) {
    if (g) g->progress = fn, g->progress_ctx = ctx;
}

/* ------------------------------------------------------------------ planning
 * Buffers are assigned greedily: a value takes the smallest free buffer that holds it, else the largest free one
 * (grown), else a new one.  Values are freed after their last reader (forward) or after their producer's
 * backward (gradients, walked in reverse). */
typedef struct {
    size_t *cap;
    int *busy;
    int nb;
} pool;

static int pool_take(pool *p, size_t need) {
    int best = -1, big = -1;
    for (int b = 0; b < p->nb; b++) {
        if (p->busy[b]) continue;
        if (p->cap[b] >= need && (best < 0 || p->cap[b] < p->cap[best])) best = b;
        if (big < 0 || p->cap[b] > p->cap[big]) big = b;
    }
    if (best < 0 && big >= 0) best = big, p->cap[big] = need;
    if (best < 0) best = p->nb++, p->cap[best] = need;
    p->busy[best] = 1;
    return best;
}

/* Assign buffers.  keep: forward values all distinct; gradients reuse in reverse. */
static void assign(graph_model *g, pool *fp, pool *gp) {
    int n = g->n;
    gvalue *v = g->vals;
    for (int i = 0; i <= n; i++) v[i].last_use = i == n ? n : -1;
    for (int i = 0; i < n; i++) {
        const gnode *nd = &g->nodes[i];
        v[nd->in0].last_use = i;
        if (nd->in1 >= 0) v[nd->in1].last_use = i;
    }
    if (g->keep) {
        for (int i = 0; i <= n; i++) g->buf_of[i] = pool_take(fp, v[i].n);
        /* gradients: the output's first, then in reverse node order each input's before its backward */
        for (int i = 0; i <= n; i++) g->gbuf_of[i] = -1;
        g->gbuf_of[n] = pool_take(gp, v[n].n);
        for (int i = n - 1; i >= 0; i--) {
            const gnode *nd = &g->nodes[i];
            int ins[2] = {nd->in0, nd->in1};
            for (int k = 0; k < 2; k++)
                if (ins[k] >= 0 && g->gbuf_of[ins[k]] < 0) g->gbuf_of[ins[k]] = pool_take(gp, v[ins[k]].n);
            if (g->gbuf_of[i + 1] >= 0) gp->busy[g->gbuf_of[i + 1]] = 0; /* value i + 1's gradient is consumed */
        }
    } else {
        g->buf_of[0] = pool_take(fp, v[0].n);
        for (int i = 0; i < n; i++) {
            g->buf_of[i + 1] = pool_take(fp, v[i + 1].n);
            for (int k = 0; k <= i + 1; k++)
                if (v[k].last_use == i && k != i + 1) fp->busy[g->buf_of[k]] = 0;
            if (v[i + 1].last_use < 0) fp->busy[g->buf_of[i + 1]] = 0; /* unread */
        }
    }
}

static void point(graph_model *g, const pool *fp, const pool *gp, int B) {
    df_arena *a = &g->arena;
    float **fb = g->fb, **gb = g->gb;
    size_t ws = 0;
    for (int b = 0; b < fp->nb; b++) fb[b] = df_arena_floats(a, fp->cap[b]);
    for (int b = 0; b < gp->nb; b++) gb[b] = df_arena_floats(a, gp->cap[b]);
    for (int i = 0; i <= g->n; i++) {
        g->vals[i].data = fb[g->buf_of[i]];
        g->vals[i].grad = g->keep && g->gbuf_of[i] >= 0 ? gb[g->gbuf_of[i]] : NULL;
    }
    for (int i = 0; i < g->n; i++) {
        gnode *nd = &g->nodes[i];
        const gvalue *x = &g->vals[nd->in0];
        size_t w = 0;
        if (nd->op == GRAPH_CONV) w = df_conv2d_workspace(&nd->cv, x->H, x->W);
        if (nd->op == GRAPH_CONVT) w = df_convT_workspace(&nd->ct, x->H, x->W);
        if (w > ws) ws = w;
        nd->mean = nd->rstd = NULL;
        if (nd->op == GRAPH_INSTNORM) {
            nd->mean = df_arena_floats(a, (size_t)B * nd->cout);
            nd->rstd = df_arena_floats(a, (size_t)B * nd->cout);
        }
    }
    g->ws = df_arena_floats(a, ws ? ws : 1);
}

static df_status plan(graph_model *g, int B, int H, int W, int keep) {
    if (g->B == B && g->H == H && g->W == W && g->keep == keep) return DF_OK;
    g->B = 0, g->fwd_keep_valid = 0;
    df_status s = shapes(g, g->vals, B, H, W);
    if (s) return s;
    int nb = g->n + 1;
    pool fp = {calloc((size_t)nb, sizeof(size_t)), calloc((size_t)nb, sizeof(int)), 0};
    pool gp = {calloc((size_t)nb, sizeof(size_t)), calloc((size_t)nb, sizeof(int)), 0};
    if (!fp.cap || !fp.busy || !gp.cap || !gp.busy) {
        s = df_fail(DF_ERR_NOMEM, "graph: out of memory");
        goto done;
    }
    g->keep = keep;
    assign(g, &fp, &gp);
    df_arena_plan(&g->arena);
    point(g, &fp, &gp, B);
    if ((s = df_arena_commit(&g->arena))) goto done;
    point(g, &fp, &gp, B);
    g->B = B, g->H = H, g->W = W;
done:
    free(fp.cap), free(fp.busy), free(gp.cap), free(gp.busy);
    return s;
}

/* ------------------------------------------------------------------ forward / backward */
/* Engine [-1, 1] RGB <-> the model's channel order and range: m = a * e + b per channel, channel c <-> src(c). */
static int chan_src(const graph_model *g, int c) { return g->info.bgr ? 2 - c : c; }

df_status graph_forward(graph_model *g, float *y, const float *x, int B, int H, int W, int keep) {
    if (!g || !y || !x) return df_fail(DF_ERR_ARG, "graph_forward: NULL argument");
    df_status s = plan(g, B, H, W, keep != 0);
    if (s) return s;
    const graph_info *in = &g->info;
    gvalue *v = g->vals;
    size_t hw = (size_t)H * W;
    float a = (in->in_max - in->in_min) / 2, b0 = (in->in_max + in->in_min) / 2;
    for (int bb = 0; bb < B; bb++)
        for (int c = 0; c < in->in_channels; c++) {
            const float *src = x + ((size_t)bb * in->in_channels + chan_src(g, c)) * hw;
            float *dst = v[0].data + ((size_t)bb * in->in_channels + c) * hw;
            for (size_t i = 0; i < hw; i++) dst[i] = a * src[i] + b0;
        }
    double fl_total = 0, fl_done = 0;
    if (g->progress)
        for (int i = 0; i < g->n; i++) fl_total += node_flops(g, v, i);
    for (int i = 0; i < g->n; i++) {
        gnode *nd = &g->nodes[i];
        const gvalue *p = &v[nd->in0];
        gvalue *o = &v[i + 1];
        switch (nd->op) {
        case GRAPH_CONV:
            df_conv2d_forward(o->data, p->data, nd->w, nd->b, &nd->cv, B, p->H, p->W, g->ws);
            break;
        case GRAPH_CONVT:
            df_convT_forward(o->data, p->data, nd->w, nd->b, &nd->ct, B, p->H, p->W, g->ws);
            break;
        case GRAPH_PAD:
            pad_forward(o->data, p->data, B * p->C, p->H, p->W, nd->pad, nd->pad_mode);
            break;
        case GRAPH_INSTNORM:
            df_instnorm_forward(o->data, nd->mean, nd->rstd, p->data, nd->gamma, nd->beta, B, p->C, p->H * p->W,
                                nd->eps);
            break;
        case GRAPH_RELU:
            df_act_forward(o->data, p->data, p->n, DF_ACT_RELU, 0);
            break;
        case GRAPH_TANH:
            df_act_forward(o->data, p->data, p->n, DF_ACT_TANH, 0);
            break;
        case GRAPH_ADD:
            df_add_forward(o->data, p->data, v[nd->in1].data, p->n);
            break;
        }
        if (g->progress && (nd->op == GRAPH_CONV || nd->op == GRAPH_CONVT) && fl_total > 0) {
            fl_done += node_flops(g, v, i);
            g->progress(g->progress_ctx, (float)(fl_done / fl_total));
        }
    }
    const gvalue *out = &v[g->n];
    size_t ohw = (size_t)out->H * out->W;
    float ra = 2 / (in->out_max - in->out_min), rb = -1 - in->out_min * ra;
    for (int bb = 0; bb < B; bb++)
        for (int c = 0; c < in->out_channels; c++) {
            const float *src = out->data + ((size_t)bb * in->out_channels + chan_src(g, c)) * ohw;
            float *dst = y + ((size_t)bb * in->out_channels + c) * ohw;
            for (size_t i = 0; i < ohw; i++) dst[i] = ra * src[i] + rb;
        }
    g->fwd_keep_valid = g->keep;
    return DF_OK;
}

df_status graph_backward(graph_model *g, float *dx, const float *dy) {
    if (!g || !dy) return df_fail(DF_ERR_ARG, "graph_backward: NULL argument");
    if (!g->B || !g->keep || !g->fwd_keep_valid)
        return df_fail(DF_ERR_ARG, "graph_backward: needs a graph_forward with keep != 0 first");
    const graph_info *in = &g->info;
    gvalue *v = g->vals;
    int B = g->B, n = g->n;
    char *ready = calloc((size_t)n + 1, 1); /* gradient buffer zeroed / written */
    if (!ready) return df_fail(DF_ERR_NOMEM, "graph: out of memory");
    const gvalue *out = &v[n];
    size_t ohw = (size_t)out->H * out->W;
    float ra = 2 / (in->out_max - in->out_min);
    for (int bb = 0; bb < B; bb++)
        for (int c = 0; c < in->out_channels; c++) {
            const float *src = dy + ((size_t)bb * in->out_channels + chan_src(g, c)) * ohw;
            float *dst = out->grad + ((size_t)bb * in->out_channels + c) * ohw;
            for (size_t i = 0; i < ohw; i++) dst[i] = ra * src[i];
        }
    ready[n] = 1;
    for (int i = n - 1; i >= 0; i--) {
        gnode *nd = &g->nodes[i];
        gvalue *p = &v[nd->in0], *o = &v[i + 1];
        int ins[2] = {nd->in0, nd->in1};
        for (int k = 0; k < 2; k++)
            if (ins[k] >= 0 && !ready[ins[k]]) {
                memset(v[ins[k]].grad, 0, sizeof(float) * v[ins[k]].n);
                ready[ins[k]] = 1;
            }
        if (!ready[i + 1]) continue; /* value never read: no gradient */
        switch (nd->op) {
        case GRAPH_CONV:
            df_conv2d_backward(p->grad, NULL, NULL, o->grad, p->data, nd->w, &nd->cv, B, p->H, p->W, g->ws);
            break;
        case GRAPH_CONVT:
            df_convT_backward(p->grad, NULL, NULL, o->grad, p->data, nd->w, &nd->ct, B, p->H, p->W, g->ws);
            break;
        case GRAPH_PAD:
            pad_backward(p->grad, o->grad, B * p->C, p->H, p->W, nd->pad, nd->pad_mode);
            break;
        case GRAPH_INSTNORM:
            df_instnorm_backward(p->grad, NULL, NULL, o->grad, p->data, nd->mean, nd->rstd, nd->gamma, B, p->C,
                                 p->H * p->W);
            break;
        case GRAPH_RELU:
            df_act_backward(p->grad, o->grad, p->data, o->data, p->n, DF_ACT_RELU, 0);
            break;
        case GRAPH_TANH:
            df_act_backward(p->grad, o->grad, p->data, o->data, p->n, DF_ACT_TANH, 0);
            break;
        case GRAPH_ADD:
            df_add_backward(p->grad, v[nd->in1].grad, o->grad, p->n);
            break;
        }
    }
    if (dx && ready[0]) {
        size_t hw = (size_t)g->H * g->W;
        float a = (in->in_max - in->in_min) / 2;
        for (int bb = 0; bb < B; bb++)
            for (int c = 0; c < in->in_channels; c++) {
                const float *src = v[0].grad + ((size_t)bb * in->in_channels + c) * hw;
                float *dst = dx + ((size_t)bb * in->in_channels + chan_src(g, c)) * hw;
                for (size_t i = 0; i < hw; i++) dst[i] += a * src[i];
            }
    }
    free(ready);
    return DF_OK;
}
