/* BlazeFace face detector: forward pass, anchors, decoding, weighted NMS, photos of any size (blazeface.h). */
#include "blazeface.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfw.h"
#include "resample.h"

#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

#define BF_COORDS 16 /* regressor values per anchor: box (4) + 6 keypoints (12) */

/* Four floats in one vector register: the compilers' vector extension (SSE2 natively, SIMD128 in wasm), so the
 * fused kernels below are one code for both; loads and stores are unaligned. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
static inline v4f vld(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vst(float *p, v4f v) { memcpy(p, &v, sizeof v); }
static inline v4f vsplat(const float *p) { /* the float at p in every lane */
#ifdef __wasm_simd128__
    return (v4f)wasm_v128_load32_splat(p);
#else
    float x = *p;
    return (v4f){x, x, x, x};
#endif
}
static inline v4f vrelu(v4f a) { /* a > 0 ? a : 0, lane by lane */
    v4f z = {0, 0, 0, 0};
    return (v4f)((v4i)a & (v4i)(a > z));
}
static inline v4f vmax(v4f a, v4f b) { /* a > b ? a : b, lane by lane */
    v4i m = (v4i)(a > b);
    return (v4f)(((v4i)a & m) | ((v4i)b & ~m));
}
/* Lanes 0, 2, 4, 6 and 1, 3, 5, 7 of the eight floats a, b (a stride-2 row split into its two phases). */
static inline v4f veven(v4f a, v4f b) {
#ifdef __clang__
    return __builtin_shufflevector(a, b, 0, 2, 4, 6);
#else
    return __builtin_shuffle(a, b, (v4i){0, 2, 4, 6});
#endif
}
static inline v4f vodd(v4f a, v4f b) {
#ifdef __clang__
    return __builtin_shufflevector(a, b, 1, 3, 5, 7);
#else
    return __builtin_shuffle(a, b, (v4i){1, 3, 5, 7});
#endif
}

typedef struct {
    df_conv dw, pw;
    int w_dw, w_pw, b_pw;
    int stride, skip; /* skip: 1 residual, 0 none */
    size_t pwt;       /* offset of the pointwise weights, transposed and padded, in blazeface.fw */
} bf_block;

/* Buffers of one forward pass, grown on demand (blazeface_forward keeps them for the next call). */
enum { BUF_XIN, BUF_ACT0, BUF_ACT1, BUF_RING, BUF_T, BUF_POOL, BUF_ZERO, BUF_HC0, BUF_HC1, BUF_HR0, BUF_HR1, BUF_WS, BUF_N };

struct blazeface {
    int S, K, nb, stride;
    df_conv stem;
    int stem_w, stem_b;
    bf_block B[BF_MAX_BLOCKS];
    int head_block[2], A[2];
    df_conv cls[2], reg[2];
    int cls_w[2], cls_b[2], reg_w[2], reg_b[2];
    df_params p;
    /* the fused kernels' weights: the stem [3][K][K][C0'] and each block's pointwise [C][Co'] (C' rounded up to 4,
     * zeros after), then the padded biases [C0'] and [Co'] */
    float *fw;
    size_t stem_wt, stem_bt, pw_bt[BF_MAX_BLOCKS];
    float *buf[BUF_N];
    size_t cap[BUF_N];                           /* floats allocated in buf[i] */
    bf_face *cand;                               /* candidates of one view */
    int cap_cand;
};

/* ------------------------------------------------------------------ loading */
static df_status dims_of(const dfw_file *f, const char *name, int ndim, int *dims) {
    const dfw_tensor *t = dfw_find(f, name);
    if (!t) return df_fail(DF_ERR_FORMAT, "blazeface: tensor %s missing", name);
    if (t->ndim != ndim) return df_fail(DF_ERR_FORMAT, "blazeface: tensor %s has %d dimensions, not %d", name, t->ndim, ndim);
    for (int i = 0; i < ndim; i++) dims[i] = t->dims[i];
    return DF_OK;
}

/* Declare tensor `name` with the file's shape, which must be [o, i, k, k] with the given i (and k when k > 0). */
static df_status declare_conv(blazeface *m, const dfw_file *f, const char *name, int cin, int k, df_conv *cv, int *wi,
                              int *bi, int with_bias) {
    char tn[DF_NAME_MAX];
    int d[4];
    snprintf(tn, sizeof tn, "%s%s", name, with_bias ? ".w" : "");
    df_status s = dims_of(f, tn, 4, d);
    if (s) return s;
    int groups = with_bias ? 1 : cin;
    if (d[0] < 1 || d[0] > 4096 || d[1] != cin / groups || d[2] != d[3] || (k > 0 && d[2] != k) || d[2] < 1 || d[2] > 7 ||
        (groups > 1 && d[0] != cin))
        return df_fail(DF_ERR_FORMAT, "blazeface: tensor %s has shape [%d, %d, %d, %d], expected [*, %d, %s]", tn, d[0],
                       d[1], d[2], d[3], cin / groups, k == 3 ? "3, 3" : k == 1 ? "1, 1" : "K, K");
    *cv = (df_conv){cin, d[0], d[2], d[3], 1, 0, groups, DF_PAD_ZERO};
    if ((*wi = df_params_declare(&m->p, tn, 4, d)) < 0) return DF_ERR_ARG;
    if (with_bias) {
        snprintf(tn, sizeof tn, "%s.b", name);
        int bd[1] = {d[0]};
        if ((s = dims_of(f, tn, 1, d)) != DF_OK) return s;
        if (d[0] != bd[0]) return df_fail(DF_ERR_FORMAT, "blazeface: tensor %s has %d values, expected %d", tn, d[0], bd[0]);
        if ((*bi = df_params_declare(&m->p, tn, 1, bd)) < 0) return DF_ERR_ARG;
    }
    return DF_OK;
}

static df_status parse_structure(blazeface *m, const dfw_file *f) {
    char blocks[4 * BF_MAX_BLOCKS + 8], heads[32];
    long S;
    if (dfw_meta_int(f, "size", &S) != DF_OK || S < 32 || S > BF_MAX_INPUT)
        return df_fail(DF_ERR_FORMAT, "blazeface: meta \"size\" must be an integer in 32..%d", BF_MAX_INPUT);
    m->S = (int)S;
    if (dfw_meta_get(f, "blocks", blocks, sizeof blocks) != DF_OK)
        return df_fail(DF_ERR_FORMAT, "blazeface: meta \"blocks\" missing or longer than %d blocks", BF_MAX_BLOCKS);
    if (dfw_meta_get(f, "heads", heads, sizeof heads) != DF_OK ||
        sscanf(heads, "%d,%d", &m->head_block[0], &m->head_block[1]) != 2)
        return df_fail(DF_ERR_FORMAT, "blazeface: meta \"heads\" must be two block indices \"i,j\"");
    m->nb = 0;
    for (const char *p = blocks; *p;) {
        if (m->nb == BF_MAX_BLOCKS || (p[0] != '1' && p[0] != '2') || (p[1] != 'r' && p[1] != 'n') ||
            (p[2] != ',' && p[2] != 0))
            return df_fail(DF_ERR_FORMAT, "blazeface: meta \"blocks\" is not a list of up to %d of 1r, 1n, 2r, 2n",
                           BF_MAX_BLOCKS);
        m->B[m->nb].stride = p[0] - '0';
        m->B[m->nb].skip = p[1] == 'r';
        m->nb++;
        p += p[2] ? 3 : 2;
    }
    if (m->nb < 1 || m->head_block[0] < 0 || m->head_block[0] >= m->head_block[1] || m->head_block[1] != m->nb - 1)
        return df_fail(DF_ERR_FORMAT, "blazeface: heads %d,%d do not fit %d blocks (the second must be the last)",
                       m->head_block[0], m->head_block[1], m->nb);
    /* total stride: the stem halves, every stride-2 block halves again */
    m->stride = 2;
    for (int k = 0; k < m->nb; k++) m->stride *= m->B[k].stride;
    if (m->S % m->stride)
        return df_fail(DF_ERR_FORMAT, "blazeface: size %d is not a multiple of the network's stride %d", m->S, m->stride);
    return DF_OK;
}

/* The fused kernels' copies of the weights (blazeface.fw): output channels last and padded to a multiple of 4,
 * so that a kernel reads the weights of 4 output channels side by side. */
static df_status arrange_weights(blazeface *m) {
    int K = m->stem.kh, C0 = m->stem.cout, C04 = (C0 + 3) & ~3, C = C0;
    size_t n = (size_t)3 * K * K * C04 + C04;
    for (int k = 0; k < m->nb; k++) {
        int Co4 = (m->B[k].pw.cout + 3) & ~3;
        n += (size_t)C * Co4 + Co4;
        C = m->B[k].pw.cout;
    }
    if (!(m->fw = calloc(n, sizeof(float)))) return df_fail(DF_ERR_NOMEM, "blazeface: out of memory");
    const float *w = df_params_get(&m->p, m->stem_w), *b = df_params_get(&m->p, m->stem_b);
    size_t at = 0;
    m->stem_wt = at;
    for (int o = 0; o < C0; o++)
        for (int t = 0; t < 3 * K * K; t++) m->fw[at + (size_t)t * C04 + o] = w[(size_t)o * 3 * K * K + t];
    at += (size_t)3 * K * K * C04;
    m->stem_bt = at;
    memcpy(m->fw + at, b, (size_t)C0 * sizeof(float));
    at += C04;
    C = C0;
    for (int k = 0; k < m->nb; k++) {
        bf_block *bk = &m->B[k];
        int Co = bk->pw.cout, Co4 = (Co + 3) & ~3;
        w = df_params_get(&m->p, bk->w_pw), b = df_params_get(&m->p, bk->b_pw);
        bk->pwt = at;
        for (int o = 0; o < Co; o++)
            for (int c = 0; c < C; c++) m->fw[at + (size_t)c * Co4 + o] = w[(size_t)o * C + c];
        at += (size_t)C * Co4;
        m->pw_bt[k] = at;
        memcpy(m->fw + at, b, (size_t)Co * sizeof(float));
        at += Co4;
        C = Co;
    }
    return DF_OK;
}

df_status blazeface_load(blazeface **out, const uint8_t *buf, size_t len) {
    if (!out) return df_fail(DF_ERR_ARG, "blazeface: NULL output");
    *out = NULL;
    dfw_file f;
    df_status s = dfw_parse(&f, buf, len);
    if (s) return s;
    char arch[64];
    if (dfw_meta_get(&f, "arch", arch, sizeof arch) != DF_OK || strcmp(arch, BLAZEFACE_ARCH) != 0) {
        dfw_free(&f);
        return df_fail(DF_ERR_UNSUPPORTED, "blazeface: not a %s weight file (meta \"arch\")", BLAZEFACE_ARCH);
    }
    blazeface *m = calloc(1, sizeof *m);
    if (!m) {
        dfw_free(&f);
        return df_fail(DF_ERR_NOMEM, "blazeface: out of memory");
    }
    s = parse_structure(m, &f);
    if (!s) s = declare_conv(m, &f, "stem", 3, 0, &m->stem, &m->stem_w, &m->stem_b, 1);
    if (!s && m->stem.kh % 2 == 0) s = df_fail(DF_ERR_FORMAT, "blazeface: the stem kernel must have an odd size");
    m->stem.stride = 2;
    int C = m->stem.cout;
    for (int k = 0; k < m->nb && !s; k++) {
        bf_block *b = &m->B[k];
        char name[DF_NAME_MAX];
        snprintf(name, sizeof name, "b%d.dw", k);
        s = declare_conv(m, &f, name, C, 3, &b->dw, &b->w_dw, NULL, 0);
        b->dw.stride = b->stride;
        b->dw.pad = b->stride == 1 ? 1 : 0; /* stride 2: explicit bottom/right pad */
        snprintf(name, sizeof name, "b%d.pw", k);
        if (!s) s = declare_conv(m, &f, name, C, 1, &b->pw, &b->w_pw, &b->b_pw, 1);
        if (!s && b->skip && b->pw.cout < C)
            s = df_fail(DF_ERR_FORMAT, "blazeface: block %d narrows %d -> %d channels around a skip", k, C, b->pw.cout);
        if (!s) C = b->pw.cout;
        for (int i = 0; i < 2 && !s; i++)
            if (m->head_block[i] == k) {
                snprintf(name, sizeof name, "cls%d", i);
                s = declare_conv(m, &f, name, C, 1, &m->cls[i], &m->cls_w[i], &m->cls_b[i], 1);
                snprintf(name, sizeof name, "reg%d", i);
                if (!s) s = declare_conv(m, &f, name, C, 1, &m->reg[i], &m->reg_w[i], &m->reg_b[i], 1);
                m->A[i] = m->cls[i].cout;
                if (!s && (m->A[i] > 64 || m->reg[i].cout != BF_COORDS * m->A[i]))
                    s = df_fail(DF_ERR_FORMAT, "blazeface: head %d has %d anchors per cell and %d regressor channels "
                                "(expected %d per anchor)", i, m->A[i], m->reg[i].cout, BF_COORDS);
            }
    }
    if (!s) s = df_params_alloc(&m->p, 0);
    if (!s) s = dfw_load_params(&f, &m->p);
    for (size_t i = 0; !s && i < m->p.total; i++)
        if (!isfinite(m->p.data[i])) s = df_fail(DF_ERR_FORMAT, "blazeface: a weight is not finite");
    if (!s) s = arrange_weights(m);
    dfw_free(&f);
    if (s) {
        blazeface_free(m);
        return s;
    }
    *out = m;
    return DF_OK;
}

static void free_buffers(blazeface *m) {
    for (int i = 0; i < BUF_N; i++) free(m->buf[i]), m->buf[i] = NULL, m->cap[i] = 0;
    free(m->cand);
    m->cand = NULL;
    m->cap_cand = 0;
}

void blazeface_release(blazeface *m) {
    if (m) free_buffers(m);
}

void blazeface_free(blazeface *m) {
    if (!m) return;
    free_buffers(m);
    free(m->fw);
    df_params_free(&m->p);
    free(m);
}

int blazeface_size(const blazeface *m) { return m ? m->S : 0; }
int blazeface_stride(const blazeface *m) { return m ? m->stride : 0; }

/* ------------------------------------------------------------------ anchors */
static df_status check_input(const blazeface *m, int H, int W) {
    if (H < m->stride || W < m->stride || H > BF_MAX_INPUT || W > BF_MAX_INPUT || H % m->stride || W % m->stride)
        return df_fail(DF_ERR_ARG, "blazeface: input %d x %d is not a multiple of %d in %d..%d", W, H, m->stride,
                       m->stride, BF_MAX_INPUT);
    return DF_OK;
}

/* Stride (input pixels per cell) of head i. */
static int head_stride(const blazeface *m, int i) {
    int t = 2;
    for (int k = 0; k <= m->head_block[i]; k++) t *= m->B[k].stride;
    return t;
}

int blazeface_anchors(const blazeface *m, int H, int W, float *xy, int cap) {
    if (!m) return df_fail(DF_ERR_ARG, "blazeface: NULL model"), -1;
    if (check_input(m, H, W)) return -1;
    int n = 0;
    for (int i = 0; i < 2; i++) {
        int t = head_stride(m, i), h = H / t, w = W / t;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int a = 0; a < m->A[i]; a++, n++)
                    if (xy && n < cap) xy[2 * n] = (x + 0.5f) * t, xy[2 * n + 1] = (y + 0.5f) * t;
    }
    return n;
}

/* ------------------------------------------------------------------ forward */
/* The forward pass is fused so that each activation is written once and read once (a row at a time, the
 * intermediate rows staying in the cache): the stem (conv KxK/2 + ReLU) reads its input from planes made once per
 * view, and each block computes, for one output row, the depthwise row of every channel, then the pointwise
 * convolution, bias, skip and ReLU of that row.  The same floats as the layer-by-layer pass up to rounding (the
 * sums are taken in another order); tests/test_blazeface.c compares the two.
 *
 * The stem's input (BUF_XIN) for an H x W detector input: padded TensorFlow-"same" for the KxK/2 stem (P = K - 2
 * rows and columns, P / 2 before, the rest after) and split by column parity: planes [3][2][H + P][pitch], phase 0
 * holding the padded columns 0, 2, 4, ..., phase 1 the columns 1, 3, 5, ...; every tap of a row of the stem's
 * output then reads contiguous floats. */
static int xin_pitch(const blazeface *m, int W) { return (W / 2 + m->stem.kw + 8 + 3) & ~3; }
static size_t xin_floats(const blazeface *m, int H, int W) { return (size_t)6 * (H + m->stem.kh - 2) * xin_pitch(m, W); }
/* Floats per row of a block's ring of input rows (input w wide: a zero before for stride 1, zeros after) and per
 * row of its depthwise result and max-pooled skip (output ow wide; the kernels run to a multiple of 8). */
static int ring_pitch(int w) { return ((w + 3) & ~3) + 24; }
static int row_pitch(int ow) { return ((ow + 7) & ~7) + 8; }

static df_status grow(blazeface *m, int i, size_t n) {
    if (n <= m->cap[i]) return DF_OK;
    free(m->buf[i]);
    m->cap[i] = 0;
    if (!(m->buf[i] = malloc(n * sizeof(float)))) return DF_ERR_NOMEM;
    m->cap[i] = n;
    return DF_OK;
}

/* Size the buffers for an H x W input (one planning walk over the layers); each grows only when needed. */
static df_status reserve(blazeface *m, int H, int W) {
    size_t need[BUF_N];
    for (int i = 0; i < BUF_N; i++) need[i] = 1;
    need[BUF_XIN] = xin_floats(m, H, W);
    int h = H / 2, w = W / 2, C = m->stem.cout;
    size_t act = (size_t)C * h * w;
    if (act < (size_t)3 * H * W) act = (size_t)3 * H * W; /* run_view's crop, before the stem */
    for (int k = 0; k < m->nb; k++) {
        const bf_block *b = &m->B[k];
        int oh = h / b->stride, ow = w / b->stride, Co = b->pw.cout;
        size_t x = (size_t)3 * C * ring_pitch(w);
        if (x > need[BUF_RING]) need[BUF_RING] = x;
        if ((x = (size_t)C * row_pitch(ow)) > need[BUF_T]) need[BUF_T] = need[BUF_POOL] = x;
        if ((size_t)ring_pitch(w) > need[BUF_ZERO]) need[BUF_ZERO] = (size_t)ring_pitch(w);
        if ((x = (size_t)Co * oh * ow) > act) act = x;
        h = oh, w = ow, C = Co;
        for (int i = 0; i < 2; i++)
            if (m->head_block[i] == k) {
                need[BUF_HC0 + i] = (size_t)m->cls[i].cout * h * w, need[BUF_HR0 + i] = (size_t)m->reg[i].cout * h * w;
                if ((x = df_conv2d_workspace(&m->reg[i], h, w)) > need[BUF_WS]) need[BUF_WS] = x;
                if ((x = df_conv2d_workspace(&m->cls[i], h, w)) > need[BUF_WS]) need[BUF_WS] = x;
            }
    }
    need[BUF_ACT0] = need[BUF_ACT1] = act;
    int ok = 1;
    for (int i = 0; i < BUF_N; i++) ok &= grow(m, i, need[i]) == DF_OK;
    int na = blazeface_anchors(m, H, W, NULL, 0);
    if (ok && na > m->cap_cand) {
        free(m->cand);
        m->cap_cand = (m->cand = malloc((size_t)na * sizeof(bf_face))) ? na : 0;
        ok = m->cand != NULL;
    }
    if (!ok) {
        free_buffers(m);
        return df_fail(DF_ERR_NOMEM, "blazeface: cannot allocate buffers for a %d x %d input", W, H);
    }
    memset(m->buf[BUF_ZERO], 0, m->cap[BUF_ZERO] * sizeof(float));
    return DF_OK;
}

/* The stem's input planes (BUF_XIN) of an H x W detector input whose pixels are src [3][sh][sw] placed at
 * (ox, oy), -1 (black) elsewhere. */
static void fill_input(blazeface *m, const float *src, int sw, int sh, int ox, int oy, int H, int W) {
    int P = m->stem.kh - 2, top = P / 2, Hp = H + P, pitch = xin_pitch(m, W);
    float *x = m->buf[BUF_XIN];
    memset(x, 0, xin_floats(m, H, W) * sizeof(float));
    for (int c = 0; c < 3; c++) {
        float *ph[2] = {x + (size_t)2 * c * Hp * pitch, x + (size_t)(2 * c + 1) * Hp * pitch};
        for (int y = 0; y < H; y++) {
            float *r[2] = {ph[0] + (size_t)(y + top) * pitch, ph[1] + (size_t)(y + top) * pitch};
            const float *sr = y >= oy && y < oy + sh ? src + ((size_t)c * sh + (y - oy)) * sw - ox : NULL;
            for (int X = 0; X < W; X++) {
                int col = X + top; /* the padded column */
                r[col & 1][col >> 1] = sr && X >= ox && X < ox + sw ? sr[X] : -1.0f;
            }
        }
    }
}

/* d[0 .. n) = s[0 .. n), inline: in wasm a memcpy of 512 bytes or more is a call into JavaScript (emscripten's
 * memcpy_big), which costs more than copying one row. */
static inline void copy_row(float *d, const float *s, int n) {
    int i = 0;
    for (; i + 4 <= n; i += 4) vst(d + i, vld(s + i));
    for (; i < n; i++) d[i] = s[i];
}

/* n (1..8) floats of a, b to d. */
static inline void store8(float *d, v4f a, v4f b, int n) {
    if (n >= 8) {
        vst(d, a), vst(d + 4, b);
        return;
    }
    float t[8];
    vst(t, a), vst(t + 4, b);
    memcpy(d, t, (size_t)n * sizeof(float));
}
/* n (1..8) floats from s, zeros after. */
static inline void load8(const float *s, int n, v4f *a, v4f *b) {
    if (n >= 8) {
        *a = vld(s), *b = vld(s + 4);
        return;
    }
    float t[8] = {0};
    memcpy(t, s, (size_t)n * sizeof(float));
    *a = vld(t), *b = vld(t + 4);
}

/* out [C0, H/2, W/2] = ReLU(bias + the stem's KxK/2 convolution), from BUF_XIN. */
static void stem_forward(const blazeface *m, float *out, int H, int W) {
    const int K = m->stem.kh, Hp = H + K - 2, pitch = xin_pitch(m, W), C0 = m->stem.cout, C4 = (C0 + 3) & ~3;
    const int h = H / 2, w = W / 2;
    const size_t plane = (size_t)h * w, phase = (size_t)Hp * pitch;
    const float *x = m->buf[BUF_XIN], *wt = m->fw + m->stem_wt, *bias = m->fw + m->stem_bt;
    for (int y = 0; y < h; y++)
        for (int x0 = 0; x0 < w; x0 += 8)
            for (int o = 0; o < C4; o += 4) {
                v4f a0 = vsplat(bias + o), a1 = vsplat(bias + o + 1), a2 = vsplat(bias + o + 2), a3 = vsplat(bias + o + 3);
                v4f b0 = a0, b1 = a1, b2 = a2, b3 = a3;
                for (int c = 0; c < 3; c++)
                    for (int ky = 0; ky < K; ky++) {
                        const float *e = x + 2 * c * phase + (size_t)(2 * y + ky) * pitch + x0, *d = e + phase;
                        const float *wk = wt + (size_t)(c * K + ky) * K * C4 + o;
                        for (int kx = 0; kx < K; kx++, wk += C4) {
                            const float *s = (kx & 1 ? d : e) + (kx >> 1);
                            v4f u = vld(s), v = vld(s + 4), q;
                            q = vsplat(wk), a0 += q * u, b0 += q * v;
                            q = vsplat(wk + 1), a1 += q * u, b1 += q * v;
                            q = vsplat(wk + 2), a2 += q * u, b2 += q * v;
                            q = vsplat(wk + 3), a3 += q * u, b3 += q * v;
                        }
                    }
                int n = w - x0 < 8 ? w - x0 : 8;
                float *d = out + (size_t)o * plane + (size_t)y * w + x0;
                store8(d, vrelu(a0), vrelu(b0), n);
                if (o + 1 < C0) store8(d + plane, vrelu(a1), vrelu(b1), n);
                if (o + 2 < C0) store8(d + 2 * plane, vrelu(a2), vrelu(b2), n);
                if (o + 3 < C0) store8(d + 3 * plane, vrelu(a3), vrelu(b3), n);
            }
}

/* Block k: in [C, h, w] -> out [Co, h/s, w/s] = ReLU(pointwise(depthwise 3x3/s (in)) + bias + skip), the
 * depthwise zero-padded ("same" for s = 1, bottom/right for s = 2), the skip the input itself (s = 1) or its
 * 2x2/2 max pool, none for channels >= C or a block without one.  Input rows go through a ring of three
 * padded rows per channel (BUF_RING), the depthwise row to BUF_T, the pooled skip row to BUF_POOL. */
static void block_forward(blazeface *m, int k, float *out, const float *in, int C, int h, int w) {
    const bf_block *b = &m->B[k];
    const int s = b->stride, Co = b->pw.cout, C4 = (Co + 3) & ~3, oh = h / s, ow = w / s, lp = s == 1;
    const int rp = ring_pitch(w), tp = row_pitch(ow), ow8 = (ow + 7) & ~7;
    const size_t hw = (size_t)h * w, ohw = (size_t)oh * ow;
    const float *dw = df_params_get(&m->p, b->w_dw), *wt = m->fw + b->pwt, *bias = m->fw + m->pw_bt[k];
    const float *zero = m->buf[BUF_ZERO];
    float *ring = m->buf[BUF_RING], *t = m->buf[BUF_T], *pool = m->buf[BUF_POOL];
    memset(ring, 0, (size_t)3 * C * rp * sizeof(float));
    int loaded = -1; /* input rows 0 .. loaded have been in the ring (row r in slot r % 3) */
    for (int oy = 0; oy < oh; oy++) {
        const int r0 = s * oy - lp; /* the depthwise window's first input row */
        while (loaded < r0 + 2 && loaded + 1 < h) {
            loaded++;
            float *slot = ring + (size_t)(loaded % 3) * C * rp + lp;
            for (int c = 0; c < C; c++) copy_row(slot + (size_t)c * rp, in + c * hw + (size_t)loaded * w, w);
        }
        for (int c = 0; c < C; c++) {
            const float *r[3];
            for (int i = 0; i < 3; i++) {
                int rr = r0 + i;
                r[i] = rr < 0 || rr >= h ? zero : ring + ((size_t)(rr % 3) * C + c) * rp;
            }
            const float *kw = dw + 9 * c;
            const v4f k0 = vsplat(kw), k1 = vsplat(kw + 1), k2 = vsplat(kw + 2), k3 = vsplat(kw + 3), k4 = vsplat(kw + 4),
                      k5 = vsplat(kw + 5), k6 = vsplat(kw + 6), k7 = vsplat(kw + 7), k8 = vsplat(kw + 8);
            float *tc = t + (size_t)c * tp;
            if (s == 1) {
                for (int x = 0; x < ow8; x += 4) {
                    v4f a = k0 * vld(r[0] + x) + k1 * vld(r[0] + x + 1) + k2 * vld(r[0] + x + 2);
                    a += k3 * vld(r[1] + x) + k4 * vld(r[1] + x + 1) + k5 * vld(r[1] + x + 2);
                    a += k6 * vld(r[2] + x) + k7 * vld(r[2] + x + 1) + k8 * vld(r[2] + x + 2);
                    vst(tc + x, a);
                }
                continue;
            }
            for (int x = 0; x < ow8; x += 4) {
                const float *q0 = r[0] + 2 * x, *q1 = r[1] + 2 * x, *q2 = r[2] + 2 * x;
                v4f u = vld(q0), v = vld(q0 + 4), p = vld(q0 + 2), q = vld(q0 + 6);
                v4f a = k0 * veven(u, v) + k1 * vodd(u, v) + k2 * veven(p, q);
                u = vld(q1), v = vld(q1 + 4), p = vld(q1 + 2), q = vld(q1 + 6);
                a += k3 * veven(u, v) + k4 * vodd(u, v) + k5 * veven(p, q);
                u = vld(q2), v = vld(q2 + 4), p = vld(q2 + 2), q = vld(q2 + 6);
                a += k6 * veven(u, v) + k7 * vodd(u, v) + k8 * veven(p, q);
                vst(tc + x, a);
            }
            if (b->skip) /* rows 2 oy and 2 oy + 1 exist: h is even */
                for (int x = 0; x < ow8; x += 4) {
                    const float *q0 = r[0] + 2 * x, *q1 = r[1] + 2 * x;
                    v4f u = vld(q0), v = vld(q0 + 4), p = vld(q1), q = vld(q1 + 4);
                    vst(pool + (size_t)c * tp + x, vmax(vmax(veven(u, v), vodd(u, v)), vmax(veven(p, q), vodd(p, q))));
                }
        }
        /* pointwise + bias + skip + ReLU of the row; the skip of channel c at sk + c * sp */
        const int nsk = b->skip ? C : 0;
        const float *sk = s == 1 ? in + (size_t)oy * w : pool;
        const size_t sp = s == 1 ? hw : (size_t)tp;
        for (int x = 0; x < ow; x += 8) {
            const int n = ow - x < 8 ? ow - x : 8;
            for (int o = 0; o < C4; o += 4) {
                v4f a0 = vsplat(bias + o), a1 = vsplat(bias + o + 1), a2 = vsplat(bias + o + 2), a3 = vsplat(bias + o + 3);
                v4f b0 = a0, b1 = a1, b2 = a2, b3 = a3;
                const float *tc = t + x, *wc = wt + o;
                for (int c = 0; c < C; c++, tc += tp, wc += C4) {
                    v4f u = vld(tc), v = vld(tc + 4), q;
                    q = vsplat(wc), a0 += q * u, b0 += q * v;
                    q = vsplat(wc + 1), a1 += q * u, b1 += q * v;
                    q = vsplat(wc + 2), a2 += q * u, b2 += q * v;
                    q = vsplat(wc + 3), a3 += q * u, b3 += q * v;
                }
                v4f acc[8] = {a0, b0, a1, b1, a2, b2, a3, b3};
                for (int j = 0; j < 4 && o + j < Co; j++) {
                    v4f u = acc[2 * j], v = acc[2 * j + 1];
                    if (o + j < nsk) {
                        v4f p, q;
                        load8(sk + (size_t)(o + j) * sp + x, n, &p, &q);
                        u += p, v += q;
                    }
                    store8(out + (size_t)(o + j) * ohw + (size_t)oy * ow + x, vrelu(u), vrelu(v), n);
                }
            }
        }
    }
}

static void conv(const blazeface *m, float *out, const float *in, const df_conv *cv, int wi, int bi, int H, int W) {
    df_conv2d_forward(out, in, df_params_get(&m->p, wi), bi >= 0 ? df_params_get(&m->p, bi) : NULL, cv, 1, H, W,
                      m->buf[BUF_WS]);
}

/* Keep the best `cap` candidates: insert f, replacing the worst when full. */
static void keep(bf_face *c, int *n, int cap, const bf_face *f) {
    if (*n < cap) {
        c[(*n)++] = *f;
        return;
    }
    int worst = 0;
    for (int i = 1; i < cap; i++)
        if (c[i].score < c[worst].score) worst = i;
    if (f->score > c[worst].score) c[worst] = *f;
}

/* Decode head i (maps h x w at stride t) into candidates with score >= min_score. */
static void decode_head(const blazeface *m, int i, int h, int w, float min_score, bf_face *out, int cap, int *n) {
    int t = head_stride(m, i), A = m->A[i];
    size_t hw = (size_t)h * w;
    const float *hcls = m->buf[BUF_HC0 + i], *hreg = m->buf[BUF_HR0 + i];
    float lmin = logf(min_score / (1.0f - min_score));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int a = 0; a < A; a++) {
                size_t p = (size_t)y * w + x;
                float logit = hcls[a * hw + p];
                if (!(logit >= lmin)) continue;
                logit = logit < -100.0f ? -100.0f : logit > 100.0f ? 100.0f : logit;
                const float *r = hreg + (size_t)a * BF_COORDS * hw + p;
                float ax = (x + 0.5f) * t, ay = (y + 0.5f) * t, cx = ax + r[0], cy = ay + r[hw];
                float bw = r[2 * hw], bh = r[3 * hw];
                bf_face f = {cx - 0.5f * bw, cy - 0.5f * bh, cx + 0.5f * bw, cy + 0.5f * bh, 1.0f / (1.0f + expf(-logit)), {{0}}};
                for (int k = 0; k < BF_KEYPOINTS; k++)
                    f.kp[k][0] = ax + r[(4 + 2 * k) * hw], f.kp[k][1] = ay + r[(5 + 2 * k) * hw];
                keep(out, n, cap, &f);
            }
}

/* The network on the input planes of an H x W input (fill_input; reserve done). */
static void forward_planes(blazeface *m, int H, int W, float min_score, bf_face *out, int cap, int *n) {
    float *cur = m->buf[BUF_ACT0], *nxt = m->buf[BUF_ACT1];
    stem_forward(m, cur, H, W);
    int h = H / 2, w = W / 2, C = m->stem.cout;
    for (int k = 0; k < m->nb; k++) {
        const bf_block *b = &m->B[k];
        block_forward(m, k, nxt, cur, C, h, w);
        float *t = cur;
        cur = nxt, nxt = t;
        h /= b->stride, w /= b->stride, C = b->pw.cout;
        for (int i = 0; i < 2; i++)
            if (m->head_block[i] == k) {
                conv(m, m->buf[BUF_HC0 + i], cur, &m->cls[i], m->cls_w[i], m->cls_b[i], h, w);
                conv(m, m->buf[BUF_HR0 + i], cur, &m->reg[i], m->reg_w[i], m->reg_b[i], h, w);
                decode_head(m, i, h, w, min_score, out, cap, n);
            }
    }
}

df_status blazeface_forward(blazeface *m, const float *x, int H, int W, float min_score, bf_face *out, int cap,
                            int *n) {
    if (!m || !x || !out || !n || cap < 1) return df_fail(DF_ERR_ARG, "blazeface: bad arguments");
    *n = 0;
    if (!(min_score > 0.0f && min_score < 1.0f)) return df_fail(DF_ERR_ARG, "blazeface: min_score must be in (0, 1)");
    df_status s = check_input(m, H, W);
    if (!s) s = reserve(m, H, W);
    if (s) return s;
    fill_input(m, x, W, H, 0, 0, H, W);
    forward_planes(m, H, W, min_score, out, cap, n);
    return DF_OK;
}

/* ------------------------------------------------------------------ weighted non-maximum suppression */
static double iou_d(const bf_face *a, const bf_face *b) {
    double ix = fmin(a->x1, b->x1) - fmax(a->x0, b->x0), iy = fmin(a->y1, b->y1) - fmax(a->y0, b->y0);
    if (ix <= 0 || iy <= 0) return 0.0;
    double inter = ix * iy,
           uni = ((double)a->x1 - a->x0) * ((double)a->y1 - a->y0) + ((double)b->x1 - b->x0) * ((double)b->y1 - b->y0) - inter;
    return uni > 0 ? inter / uni : 0.0;
}

float bf_iou(const bf_face *a, const bf_face *b) { return (float)iou_d(a, b); }

static int by_score(const void *a, const void *b) {
    float x = ((const bf_face *)a)->score, y = ((const bf_face *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Take the best remaining detection and every remaining one that overlaps it by IoU > threshold (itself
 * included); output the best (weighted = 0) or, MediaPipe's WEIGHTED algorithm, their score-weighted mean box and
 * keypoints with the best score. */
int bf_nms(bf_face *f, int n, float thr, int weighted) {
    if (!f || n <= 0) return 0;
    qsort(f, (size_t)n, sizeof *f, by_score);
    int out = 0; /* f[0 .. out): merged detections; f[out .. out + n): the rest, best first */
    while (n > 0) {
        bf_face *r = f + out, best = r[0], acc = {0};
        float wsum = 0;
        int rest = 0;
        for (int i = 0; i < n; i++) {
            if (i > 0 && !(iou_d(&best, &r[i]) > thr)) { /* IoU in double: as a JavaScript reference */
                r[1 + rest++] = r[i]; /* 1 + rest <= i: compaction in place keeps the order */
                continue;
            }
            float s = r[i].score;
            wsum += s;
            acc.x0 += s * r[i].x0, acc.y0 += s * r[i].y0, acc.x1 += s * r[i].x1, acc.y1 += s * r[i].y1;
            for (int k = 0; k < BF_KEYPOINTS; k++) acc.kp[k][0] += s * r[i].kp[k][0], acc.kp[k][1] += s * r[i].kp[k][1];
        }
        if (weighted && wsum > 0) {
            best.x0 = acc.x0 / wsum, best.y0 = acc.y0 / wsum, best.x1 = acc.x1 / wsum, best.y1 = acc.y1 / wsum;
            for (int k = 0; k < BF_KEYPOINTS; k++) best.kp[k][0] = acc.kp[k][0] / wsum, best.kp[k][1] = acc.kp[k][1] / wsum;
        }
        f[out++] = best;
        n = rest;
    }
    return out;
}

int bf_drop_nested(bf_face *f, int n) {
    int out = 0;
    for (int i = 0; i < n; i++) {
        double si = fmax(f[i].x1 - f[i].x0, f[i].y1 - f[i].y0), ai = (double)(f[i].x1 - f[i].x0) * (f[i].y1 - f[i].y0);
        int nested = 0;
        for (int j = 0; j < n && !nested; j++) {
            double sj = fmax(f[j].x1 - f[j].x0, f[j].y1 - f[j].y0);
            if (j == i || !(si <= BF_NESTED_SIDE * sj) || !(ai > 0)) continue;
            double w = fmin(f[i].x1, f[j].x1) - fmax(f[i].x0, f[j].x0), h = fmin(f[i].y1, f[j].y1) - fmax(f[i].y0, f[j].y0);
            nested = w > 0 && h > 0 && w * h >= BF_NESTED_INSIDE * ai;
        }
        if (!nested) f[out++] = f[i];
    }
    return out;
}

/* ------------------------------------------------------------------ photos of any size */
/* The smallest face (box side, detector input pixels) the full-range model finds reliably, and the ratio of
 * face sizes one scale covers: a photo is searched at scales this far apart.  Tiles overlap by 1.5x the largest
 * face of their level (BF_MIN_FACE_PX * BF_LEVEL_RATIO), so a level may stretch to BF_LEVEL_STRETCH (faces up to
 * 108 input pixels, still whole in a tile) rather than add a level: a 4:3 photo searched for faces of 3 % of its
 * short side needs a ratio of 4.17 between the whole-photo view and the finest scale, one level, not two. */
#define BF_MIN_FACE_PX 24.0
#define BF_LEVEL_RATIO 4.0
#ifndef BF_LEVEL_STRETCH
#define BF_LEVEL_STRETCH 4.5
#endif
#define BF_VIEW_IOU 0.5f   /* the same face seen in two views */
#define BF_EDGE_MARGIN 2.0f /* input pixels: a box this close to a tile's inner edge is a cut face */

bf_opts bf_default_opts(void) {
    bf_opts o = {0.5f, 0.03f, BF_MAX_INPUT, 1280L * 1024};
    return o;
}

/* The pixels the views are resampled from: the photo itself (k = 1, `channels` 3 or 4) or, when the finest scale
 * shrinks it k >= 2 times, its k x k box means (3 channels, W / k x H / k: photo pixel x is source pixel x / k). */
typedef struct {
    const uint8_t *px;
    int W, H, channels, k;
} bf_source;

/* The k x k box means of an 8-bit photo (channels 3 or 4) as a new W / k x H / k RGB image (the last W % k columns
 * and H % k rows dropped): one pass over the photo, so that no view reads all of it (k <= 16). */
static uint8_t *box_shrink(const uint8_t *rgb, int W, int H, int channels, int k) {
    int sw = W / k, sh = H / k;
    size_t n = (size_t)sw * k * channels, row = (size_t)W * channels;
    uint8_t *dst = malloc((size_t)sw * sh * 3);
    uint16_t *acc = malloc(n * sizeof *acc);
    if (!dst || !acc) {
        free(dst), free(acc);
        return NULL;
    }
    const float inv = 1.0f / (float)(k * k);
    for (int y = 0; y < sh; y++) {
        const uint8_t *r = rgb + (size_t)y * k * row;
        for (size_t i = 0; i < n; i++) acc[i] = r[i];
        for (int j = 1; j < k; j++) {
            r += row;
            for (size_t i = 0; i < n; i++) acc[i] = (uint16_t)(acc[i] + r[i]); /* <= 16 x 255 */
        }
        uint8_t *d = dst + (size_t)y * sw * 3;
        for (int x = 0; x < sw; x++) {
            const uint16_t *a = acc + (size_t)x * k * channels;
            for (int c = 0; c < 3; c++) {
                unsigned sum = 0;
                for (int j = 0; j < k; j++) sum += a[j * channels + c];
                d[3 * x + c] = (uint8_t)(sum * inv + 0.5f);
            }
        }
    }
    free(acc);
    return dst;
}

/* One detector input: the photo rectangle [px0, px0 + pw) x [py0, py0 + ph) resampled to cw x ch pixels at
 * (ox, oy) of a tw x th input (the rest -1, black); cut[0..3]: the left, top, right, bottom input edges are
 * cuts through the photo (tiles), not its borders. */
typedef struct {
    double px0, py0, pw, ph;
    int cw, ch, ox, oy, tw, th;
    int cut[4];
} bf_view;

static df_status run_view(blazeface *m, const bf_source *src, int W, int H, const bf_view *v, float min_score,
                          bf_face *faces, int cap, int *n) {
    df_status s = check_input(m, v->th, v->tw);
    if (!s) s = reserve(m, v->th, v->tw);
    if (s) return s;
    size_t np = (size_t)v->cw * v->ch;
    int ch = src->channels;
    float *crop = m->buf[BUF_ACT1]; /* scratch until the forward pass (reserve makes it hold [3, th, tw]) */
    if (v->px0 == 0 && v->py0 == 0 && v->pw == W && v->ph == H) {
        uint8_t *u8 = malloc(np * ch);
        if (!u8) return df_fail(DF_ERR_NOMEM, "blazeface: out of memory");
        s = rs_resize_u8(u8, v->cw, v->ch, src->px, src->W, src->H, ch, ch, RS_TRIANGLE_AA);
        for (size_t p = 0; !s && p < np; p++)
            for (int c = 0; c < 3; c++) crop[c * np + p] = u8[p * ch + c] / 127.5f - 1.0f;
        free(u8);
    } else {
        double k = src->k;
        s = rs_crop_u8_planar(crop, v->ch, v->cw, src->px, src->W, src->H, ch, v->px0 / k, v->py0 / k, v->pw / k,
                              v->ph / k, RS_TRIANGLE_AA);
    }
    if (s) return s;
    fill_input(m, crop, v->cw, v->ch, v->ox, v->oy, v->th, v->tw);
    int nc = 0;
    forward_planes(m, v->th, v->tw, min_score, m->cand, m->cap_cand, &nc);
    nc = bf_nms(m->cand, nc, BF_NMS_IOU, 1);
    double sx = v->pw / v->cw, sy = v->ph / v->ch;
    for (int i = 0; i < nc; i++) {
        bf_face f = m->cand[i];
        if ((v->cut[0] && f.x0 < v->ox + BF_EDGE_MARGIN) || (v->cut[1] && f.y0 < v->oy + BF_EDGE_MARGIN) ||
            (v->cut[2] && f.x1 > v->ox + v->cw - BF_EDGE_MARGIN) || (v->cut[3] && f.y1 > v->oy + v->ch - BF_EDGE_MARGIN))
            continue;
        f.x0 = (float)(v->px0 + (f.x0 - v->ox) * sx), f.x1 = (float)(v->px0 + (f.x1 - v->ox) * sx);
        f.y0 = (float)(v->py0 + (f.y0 - v->oy) * sy), f.y1 = (float)(v->py0 + (f.y1 - v->oy) * sy);
        for (int k = 0; k < BF_KEYPOINTS; k++)
            f.kp[k][0] = (float)(v->px0 + (f.kp[k][0] - v->ox) * sx), f.kp[k][1] = (float)(v->py0 + (f.kp[k][1] - v->oy) * sy);
        keep(faces, n, cap, &f);
    }
    return DF_OK;
}

/* Tiles of a photo side L (input pixels Ls = L * sc) cut into n: the side t of each (a multiple of the stride, at
 * least Ls / n plus the overlaps), so that n tiles spread evenly from one end to the other overlap by >= overlap. */
static int tile_side(double Ls, int n, int stride, int overlap) {
    double need = n == 1 ? ceil(Ls) : ceil((Ls + (double)(n - 1) * overlap) / n);
    return ((int)need + stride - 1) / stride * stride;
}

/* Every tile of the photo at scale sc: the fewest input pixels in all (the network's time is proportional to
 * them), with sides up to max_tile and areas up to max_tile_area; along each axis n tiles of equal side spread
 * evenly, neighbours overlapping by `overlap` input pixels (a face that small lies whole in one of them). */
static df_status run_scale(blazeface *m, const bf_source *src, int W, int H, double sc, const bf_opts *o,
                           bf_face *faces, int cap, int *n) {
    int overlap = (int)(BF_MIN_FACE_PX * BF_LEVEL_RATIO * 1.5), nx = 0, ny = 0, tw = 0, th = 0;
    double Lw = W * sc, Lh = H * sc, best = 0;
    /* a side of t >= overlap + stride advances, so counts up to Ls / stride + 1 cover every useful layout */
    int mx = (int)(Lw / m->stride) + 1, my = (int)(Lh / m->stride) + 1;
    for (int i = 1; i <= mx; i++) {
        int a = tile_side(Lw, i, m->stride, overlap);
        if (a > o->max_tile) continue;
        for (int j = 1; j <= my; j++) {
            int b = tile_side(Lh, j, m->stride, overlap);
            if (b > o->max_tile || (double)a * b > o->max_tile_area) continue;
            double px = (double)i * j * a * b;
            if (!nx || px < best) best = px, nx = i, ny = j, tw = a, th = b;
        }
    }
    if (!nx) return df_fail(DF_ERR_ARG, "blazeface: no tiling of a %d x %d photo at scale %g fits max_tile %d", W, H,
                            sc, o->max_tile);
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            bf_view v = {0, 0, W, H, 0, 0, 0, 0, tw, th, {i > 0, j > 0, i < nx - 1, j < ny - 1}};
            if (nx == 1)
                v.cw = (int)fmin(tw, fmax(1.0, round(W * sc)));
            else
                v.cw = tw, v.pw = tw / sc, v.px0 = i * (W - v.pw) / (nx - 1);
            if (ny == 1)
                v.ch = (int)fmin(th, fmax(1.0, round(H * sc)));
            else
                v.ch = th, v.ph = th / sc, v.py0 = j * (H - v.ph) / (ny - 1);
            df_status s = run_view(m, src, W, H, &v, o->min_score, faces, cap, n);
            if (s) return s;
        }
    return DF_OK;
}

df_status blazeface_detect(blazeface *m, const uint8_t *rgb, int W, int H, int channels, const bf_opts *opts,
                           bf_face *faces, int cap, int *n) {
    if (!m || !rgb || !faces || !n || cap < 1) return df_fail(DF_ERR_ARG, "blazeface: bad arguments");
    *n = 0;
    bf_opts o = opts ? *opts : bf_default_opts();
    if (W < 1 || H < 1 || W > 65536 || H > 65536 || (channels != 3 && channels != 4))
        return df_fail(DF_ERR_ARG, "blazeface: photo %d x %d with %d channels (1..65536 pixels a side, 3 or 4 channels)",
                       W, H, channels);
    if (!(o.min_score > 0.0f && o.min_score < 1.0f) || !(o.min_face > 0.0f && o.min_face <= 1.0f))
        return df_fail(DF_ERR_ARG, "blazeface: min_score must be in (0, 1) and min_face in (0, 1]");
    if (o.max_tile < m->S || o.max_tile > BF_MAX_INPUT || o.max_tile % m->stride)
        return df_fail(DF_ERR_ARG, "blazeface: max_tile %d is not a multiple of %d in %d..%d", o.max_tile, m->stride,
                       m->S, BF_MAX_INPUT);
    if (o.max_tile_area < (long)m->S * m->S || o.max_tile_area > (long)BF_MAX_INPUT * BF_MAX_INPUT)
        return df_fail(DF_ERR_ARG, "blazeface: max_tile_area %ld is not in %ld..%ld pixels", o.max_tile_area,
                       (long)m->S * m->S, (long)BF_MAX_INPUT * BF_MAX_INPUT);
    /* the whole photo, letterboxed into S x S */
    int S = m->S, L = W > H ? W : H;
    double sc0 = (double)S / L;
    bf_view v = {0, 0, W, H, (int)fmax(1.0, round(W * sc0)), (int)fmax(1.0, round(H * sc0)), 0, 0, S, S, {0, 0, 0, 0}};
    v.cw = v.cw > S ? S : v.cw, v.ch = v.ch > S ? S : v.ch;
    v.ox = (S - v.cw) / 2, v.oy = (S - v.ch) / 2;
    /* finer scales, down to faces of min_face at BF_MIN_FACE_PX input pixels (never above the photo's resolution) */
    double fpx = o.min_face * (W < H ? W : H), scf = fmin(1.0, BF_MIN_FACE_PX / fpx);
    int levels = scf > sc0 * 1.25 ? (int)ceil(log(scf / sc0) / log(BF_LEVEL_STRETCH)) : 0;
    /* every view is resampled from the photo's k x k box means, k the finest scale's whole shrink factor */
    bf_source src = {rgb, W, H, channels, 1};
    int k = (int)floor(1.0 / (levels ? scf : sc0));
    uint8_t *shrunk = NULL;
    if (k >= 2) {
        k = k > 16 ? 16 : k;
        if (!(shrunk = box_shrink(rgb, W, H, channels, k))) return df_fail(DF_ERR_NOMEM, "blazeface: out of memory");
        src = (bf_source){shrunk, W / k, H / k, 3, k};
    }
    df_status s = run_view(m, &src, W, H, &v, o.min_score, faces, cap, n);
    for (int l = 1; l <= levels && !s; l++)
        s = run_scale(m, &src, W, H, sc0 * pow(scf / sc0, (double)l / levels), &o, faces, cap, n);
    free(shrunk);
    if (s) {
        *n = 0;
        return s;
    }
    /* across scales and overlapping tiles: the best-scoring view of a face wins (no averaging of boxes that the
     * model predicted at different scales).  Views of one face overlap by far more than MediaPipe's 0.3, which
     * would also remove neighbours that one view's weighted NMS has already kept apart. */
    *n = bf_nms(faces, *n, BF_VIEW_IOU, 0);
    *n = bf_drop_nested(faces, *n);
    return DF_OK;
}
