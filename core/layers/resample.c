/* Resampling (see resample.h): the differentiable warp and the real resizes through stb_image_resize2. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "resample.h"

/* ------------------------------------------------------------------ stb_image_resize2 (vendored, static) */
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Weverything"
#elif defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wstrict-aliasing"
#endif
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_STATIC
#define STBIR_ASSERT(x) ((void)0) /* arguments are checked before every call: never abort */
#include "stb/stb_image_resize2.h"
#if defined(__clang__)
#pragma clang diagnostic pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* ------------------------------------------------------------------ kernels */
static const char *const KNAMES[RS_NKERNELS] = {"bilinear", "bicubic", "area", "triangle-aa", "bicubic-aa"};

const char *rs_kernel_name(rs_kernel k) { return (unsigned)k < RS_NKERNELS ? KNAMES[k] : "?"; }

int rs_kernel_parse(const char *name) {
    for (int k = 0; k < RS_NKERNELS; k++)
        if (name && !strcmp(name, KNAMES[k])) return k;
    return -1;
}

int rs_kernel_antialiased(rs_kernel k) { return k == RS_AREA || k == RS_TRIANGLE_AA || k == RS_BICUBIC_AA; }

static inline double cubic(double t, double a) {
    t = fabs(t);
    if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
    return 0;
}

static double radius(int k) { return k == RS_BICUBIC || k == RS_BICUBIC_AA ? 2.0 : k == RS_AREA ? 0.5 : 1.0; }

#define MAX_TAPS 128

/* Taps of one axis: input indices i0 .. i0 + n - 1 (unclamped) and normalised weights w[n] for a sample at u
 * with footprint f (input pixels per output pixel, >= 1 for widened kernels, 1 otherwise). */
static int taps(double u, double f, int k, int *i0, float *w) {
    double R = radius(k) * f;
    int lo, hi;
    if (k == RS_AREA) {
        lo = (int)floor(u - R), hi = (int)ceil(u + R) - 1;
    } else {
        lo = (int)ceil(u - R - 0.5), hi = (int)floor(u + R - 0.5);
    }
    if (hi < lo) hi = lo;
    int n = hi - lo + 1;
    if (n > MAX_TAPS) n = MAX_TAPS; /* unreachable for f <= RS_MAX_SHRINK */
    double sum = 0, wd[MAX_TAPS];
    for (int j = 0; j < n; j++) {
        double c = lo + j + 0.5, v;
        if (k == RS_AREA) {
            double a = fmax(c - 0.5, u - R), b = fmin(c + 0.5, u + R);
            v = b > a ? b - a : 0;
        } else {
            double t = (c - u) / f;
            v = k == RS_BICUBIC ? cubic(t, -0.75) : k == RS_BICUBIC_AA ? cubic(t, -0.5) : fmax(0.0, 1 - fabs(t));
        }
        wd[j] = v;
        sum += v;
    }
    if (fabs(sum) < 1e-12) { /* degenerate (cannot happen for these kernels): nearest pixel */
        *i0 = (int)floor(u);
        w[0] = 1;
        return 1;
    }
    for (int j = 0; j < n; j++) w[j] = (float)(wd[j] / sum);
    *i0 = lo;
    return n;
}

static double shrink_of(const rs_affine *m) { return sqrt(fabs(m->a[0] * m->a[4] - m->a[1] * m->a[3])); }

rs_affine rs_square_map(double cx, double cy, double side, double theta, int S) {
    double s = side / S, c = cos(theta) * s, n = sin(theta) * s;
    /* local (lx, ly) = (x - S/2, y - S/2) * s; u = cx + cos lx - sin ly; v = cy + sin lx + cos ly */
    rs_affine m = {{c, -n, cx - (c - n) * S / 2, n, c, cy - (n + c) * S / 2}};
    return m;
}

rs_affine rs_rect_map(double x0, double y0, double w, double h, int OW, int OH) {
    rs_affine m = {{w / OW, 0, x0, 0, h / OH, y0}};
    return m;
}

df_status rs_warp_check(const rs_affine *maps, const int *kernels, int B, int C, int H, int W, int OH, int OW) {
    if (!maps || !kernels || B < 1 || C < 1 || H < 1 || W < 1 || OH < 1 || OW < 1 || H > 65536 || W > 65536 ||
        OH > 65536 || OW > 65536)
        return df_fail(DF_ERR_ARG, "resample: bad warp sizes");
    for (int b = 0; b < B; b++) {
        for (int j = 0; j < 6; j++)
            if (!isfinite(maps[b].a[j]) || fabs(maps[b].a[j]) > 1e6) return df_fail(DF_ERR_ARG, "resample: bad warp map");
        const double *a = maps[b].a;
        double f = fmax(hypot(a[0], a[1]), hypot(a[3], a[4]));
        if (!(shrink_of(&maps[b]) > 1.0 / (RS_MAX_SHRINK * RS_MAX_SHRINK) && f <= RS_MAX_SHRINK))
            return df_fail(DF_ERR_ARG, "resample: warp scale factor %.3g outside [1/%g, %g]", f, RS_MAX_SHRINK,
                           RS_MAX_SHRINK);
        if ((unsigned)kernels[b] >= RS_NKERNELS) return df_fail(DF_ERR_ARG, "resample: unknown kernel %d", kernels[b]);
    }
    return DF_OK;
}

static inline int clampi(int v, int hi) { return v < 0 ? 0 : v > hi ? hi : v; }

typedef struct {
    float *out;
    const float *in;
    float *din;
    const float *dout;
    const rs_affine *maps;
    const int *kernels;
    int C, H, W, OH, OW;
} warp_job;

/* Forward through an axis-aligned map (a1 = a3 = 0: u depends on x only, v on y only): each column's and each
 * row's taps are computed once, not once per pixel, and each input row's horizontal sums once, not once per
 * output row that reads it; the sums are those of warp_image, in the same order (the same floats).  Returns 0
 * (nothing done) when the tables cannot be allocated. */
static int warp_axis_aligned(const warp_job *j, int b, double fx, double fy) {
    const rs_affine *m = &j->maps[b];
    int k = j->kernels[b], C = j->C, H = j->H, W = j->W, OH = j->OH, OW = j->OW;
    /* taps per sample: at most those of the widest footprint (taps() caps them at MAX_TAPS) */
    int mx = (int)ceil(2 * radius(k) * fx) + 2, my = (int)ceil(2 * radius(k) * fy) + 2;
    mx = mx > MAX_TAPS ? MAX_TAPS : mx, my = my > MAX_TAPS ? MAX_TAPS : my;
    int *nxs = malloc(sizeof(int) * ((size_t)OW * (mx + 1) + (size_t)OH * (my + 1)));
    float *wxs = malloc(sizeof(float) * ((size_t)OW * mx + (size_t)OH * my));
    if (!nxs || !wxs) {
        free(nxs), free(wxs);
        return 0;
    }
    int *ixs = nxs + OW, *nys = ixs + (size_t)OW * mx, *iys = nys + OH;
    float *wys = wxs + (size_t)OW * mx, wt[MAX_TAPS];
    int ok = 1;
    for (int x = 0; x < OW && ok; x++) {
        int x0, n = taps(m->a[0] * (x + 0.5) + m->a[2], fx, k, &x0, wt);
        ok = n <= mx, nxs[x] = n;
        for (int t = 0; t < n && ok; t++) ixs[(size_t)x * mx + t] = clampi(x0 + t, W - 1), wxs[(size_t)x * mx + t] = wt[t];
    }
    for (int y = 0; y < OH && ok; y++) {
        int y0, n = taps(m->a[4] * (y + 0.5) + m->a[5], fy, k, &y0, wt);
        ok = n <= my, nys[y] = n;
        for (int t = 0; t < n && ok; t++) iys[(size_t)y * my + t] = clampi(y0 + t, H - 1), wys[(size_t)y * my + t] = wt[t];
    }
    size_t pin = (size_t)H * W, pout = (size_t)OH * OW;
    /* Two passes with those sums: each input row's horizontal sums r at every output column, made once (rows no
     * output reads are skipped), then each output row the weighted sum of its rows' r (vectorisable along x). */
    float *hs = ok ? malloc(sizeof(float) * (size_t)H * OW) : NULL;
    unsigned char *used = ok ? calloc((size_t)H, 1) : NULL;
    ok = ok && hs && used;
    for (int y = 0; y < OH && ok; y++)
        for (int t = 0; t < nys[y]; t++) used[iys[(size_t)y * my + t]] = 1;
    for (int c = 0; c < C && ok; c++) {
        const float *src = j->in + ((size_t)b * C + c) * pin;
        float *out = j->out + ((size_t)b * C + c) * pout;
        for (int sy = 0; sy < H; sy++) {
            if (!used[sy]) continue;
            const float *row = src + (size_t)sy * W;
            float *h = hs + (size_t)sy * OW;
            for (int x = 0; x < OW; x++) {
                const int *ix = ixs + (size_t)x * mx;
                const float *wx = wxs + (size_t)x * mx;
                int nx = nxs[x];
                float r = 0;
                for (int tx = 0; tx < nx; tx++) r += wx[tx] * row[ix[tx]];
                h[x] = r;
            }
        }
        for (int y = 0; y < OH; y++) {
            const int *iy = iys + (size_t)y * my;
            const float *wy = wys + (size_t)y * my;
            float *restrict o = out + (size_t)y * OW;
            for (int x = 0; x < OW; x++) o[x] = 0;
            for (int ty = 0; ty < nys[y]; ty++) {
                const float *restrict h = hs + (size_t)iy[ty] * OW;
                const float w = wy[ty];
                for (int x = 0; x < OW; x++) o[x] += w * h[x];
            }
        }
    }
    free(nxs), free(wxs), free(hs), free(used);
    return ok;
}

/* One image: forward (out from in) or backward (din from dout) with the same taps. */
static void warp_image(const warp_job *j, int b, int backward) {
    const rs_affine *m = &j->maps[b];
    int k = j->kernels[b], C = j->C, H = j->H, W = j->W, OH = j->OH, OW = j->OW;
    /* footprint per input axis: how many input pixels one output step spans along it */
    int aa = rs_kernel_antialiased(k);
    double fx = aa ? fmax(1.0, hypot(m->a[0], m->a[1])) : 1.0, fy = aa ? fmax(1.0, hypot(m->a[3], m->a[4])) : 1.0;
    if (!backward && m->a[1] == 0 && m->a[3] == 0 && warp_axis_aligned(j, b, fx, fy)) return;
    size_t pin = (size_t)H * W, pout = (size_t)OH * OW;
    int ix[MAX_TAPS], iy[MAX_TAPS];
    float wx[MAX_TAPS], wy[MAX_TAPS];
    for (int y = 0; y < OH; y++)
        for (int x = 0; x < OW; x++) {
            double xc = x + 0.5, yc = y + 0.5;
            double u = m->a[0] * xc + m->a[1] * yc + m->a[2], v = m->a[3] * xc + m->a[4] * yc + m->a[5];
            int x0, y0;
            int nx = taps(u, fx, k, &x0, wx), ny = taps(v, fy, k, &y0, wy);
            for (int t = 0; t < nx; t++) ix[t] = clampi(x0 + t, W - 1);
            for (int t = 0; t < ny; t++) iy[t] = clampi(y0 + t, H - 1);
            size_t o = (size_t)y * OW + x;
            for (int c = 0; c < C; c++) {
                size_t ib = ((size_t)b * C + c) * pin;
                if (!backward) {
                    const float *src = j->in + ib;
                    float acc = 0;
                    for (int ty = 0; ty < ny; ty++) {
                        const float *row = src + (size_t)iy[ty] * W;
                        float r = 0;
                        for (int tx = 0; tx < nx; tx++) r += wx[tx] * row[ix[tx]];
                        acc += wy[ty] * r;
                    }
                    j->out[((size_t)b * C + c) * pout + o] = acc;
                } else {
                    float g = j->dout[((size_t)b * C + c) * pout + o];
                    if (g == 0) continue;
                    float *dst = j->din + ib;
                    for (int ty = 0; ty < ny; ty++) {
                        float *row = dst + (size_t)iy[ty] * W;
                        float gy = g * wy[ty];
                        for (int tx = 0; tx < nx; tx++) row[ix[tx]] += gy * wx[tx];
                    }
                }
            }
        }
}

static void warp_fwd_range(void *ctx, int begin, int end) {
    for (int b = begin; b < end; b++) warp_image(ctx, b, 0);
}
static void warp_bwd_range(void *ctx, int begin, int end) {
    for (int b = begin; b < end; b++) warp_image(ctx, b, 1);
}

void rs_warp_forward(float *out, const float *in, const rs_affine *maps, const int *kernels, int B, int C, int H,
                     int W, int OH, int OW) {
    warp_job j = {out, in, NULL, NULL, maps, kernels, C, H, W, OH, OW};
    df_parallel_for(B, warp_fwd_range, &j);
}

void rs_warp_backward(float *din, const float *dout, const rs_affine *maps, const int *kernels, int B, int C, int H,
                      int W, int OH, int OW) {
    warp_job j = {NULL, NULL, din, dout, maps, kernels, C, H, W, OH, OW};
    df_parallel_for(B, warp_bwd_range, &j); /* images are disjoint: no write conflicts */
}

/* ------------------------------------------------------------------ the layer df.h declares
 * df_resize_bilinear_*: half-pixel bilinear without antialiasing (PyTorch interpolate(mode="bilinear"),
 * tf.image.resize_bilinear(half_pixel_centers=True)): the warp with RS_BILINEAR on an axis-aligned map, every
 * plane an image. */
typedef struct {
    float *out;
    const float *in;
    int H, W, OH, OW, backward;
} plane_job;

static void planes_range(void *ctx, int begin, int end) {
    const plane_job *j = ctx;
    rs_affine m = rs_rect_map(0, 0, j->W, j->H, j->OW, j->OH);
    int k = RS_BILINEAR;
    warp_job w = {j->out, j->in, j->out, j->in, &m, &k, 1, j->H, j->W, j->OH, j->OW};
    for (int p = begin; p < end; p++) {
        w.out = w.din = j->out + (size_t)p * (j->backward ? (size_t)j->H * j->W : (size_t)j->OH * j->OW);
        w.in = w.dout = j->in + (size_t)p * (j->backward ? (size_t)j->OH * j->OW : (size_t)j->H * j->W);
        warp_image(&w, 0, j->backward);
    }
}

void df_resize_bilinear_forward(float *out, const float *inp, int BC, int H, int W, int OH, int OW) {
    plane_job j = {out, inp, H, W, OH, OW, 0};
    df_parallel_for(BC, planes_range, &j);
}

void df_resize_bilinear_backward(float *dinp, const float *dout, int BC, int H, int W, int OH, int OW) {
    if (!dinp) return;
    plane_job j = {dinp, dout, H, W, OH, OW, 1};
    df_parallel_for(BC, planes_range, &j);
}

/* ------------------------------------------------------------------ real resizes */
static stbir_filter stb_filter(rs_kernel k) {
    switch (k) {
    case RS_AREA: return STBIR_FILTER_BOX;
    case RS_TRIANGLE_AA: return STBIR_FILTER_TRIANGLE;
    case RS_BICUBIC_AA: return STBIR_FILTER_CATMULLROM;
    default: return STBIR_FILTER_DEFAULT;
    }
}

static df_status check_sizes(int OW, int OH, int W, int H) {
    if (OW < 1 || OH < 1 || W < 1 || H < 1 || OW > 65536 || OH > 65536 || W > 65536 || H > 65536 ||
        (double)OW * OH > 1e9 || (double)W * H > 1e9)
        return df_fail(DF_ERR_ARG, "resample: bad sizes %dx%d -> %dx%d", W, H, OW, OH);
    return DF_OK;
}

/* Resize through stb: one call of the extended API (datatype, layout, filter, clamp edges, input subrect). */
static df_status stb_resize(void *out, int OW, int OH, int out_stride, const void *in, int W, int H, int in_stride,
                            stbir_pixel_layout layout, stbir_datatype type, rs_kernel k, double s0, double t0,
                            double s1, double t1) {
    STBIR_RESIZE r;
    stbir_resize_init(&r, in, W, H, in_stride, out, OW, OH, out_stride, layout, type);
    stbir_set_edgemodes(&r, STBIR_EDGE_CLAMP, STBIR_EDGE_CLAMP);
    stbir_set_filters(&r, stb_filter(k), stb_filter(k));
    if (!stbir_set_input_subrect(&r, s0, t0, s1, t1)) return df_fail(DF_ERR_ARG, "resample: bad input region");
    int ok = stbir_resize_extended(&r);
    stbir_free_samplers(&r);
    return ok ? DF_OK : df_fail(DF_ERR_NOMEM, "resample: resize failed (out of memory or bad region)");
}

static stbir_pixel_layout layout_of(int channels) {
    return channels == 1 ? STBIR_1CHANNEL : channels == 2 ? STBIR_2CHANNEL : channels == 3 ? STBIR_RGB : STBIR_4CHANNEL;
}

df_status rs_resize_u8(uint8_t *out, int OW, int OH, const uint8_t *in, int W, int H, int stride_px, int channels,
                       rs_kernel k) {
    df_status s = check_sizes(OW, OH, W, H);
    if (s) return s;
    if (!out || !in || channels < 1 || channels > 4 || stride_px != channels || (unsigned)k >= RS_NKERNELS)
        return df_fail(DF_ERR_ARG, "resample: bad arguments");
    if (rs_kernel_antialiased(k) || (OW >= W && OH >= H))
        return stb_resize(out, OW, OH, OW * channels, in, W, H, W * stride_px, layout_of(channels), STBIR_TYPE_UINT8,
                          rs_kernel_antialiased(k) ? k : k == RS_BICUBIC ? RS_BICUBIC_AA : RS_TRIANGLE_AA, 0, 0, 1, 1);
    /* non-antialiased shrink: the warp on float planes, rounded */
    size_t np = (size_t)W * H, nq = (size_t)OW * OH;
    float *a = malloc(np * sizeof(float)), *b = malloc(nq * sizeof(float));
    if (!a || !b) {
        free(a), free(b);
        return df_fail(DF_ERR_NOMEM, "resample: out of memory");
    }
    rs_affine m = rs_rect_map(0, 0, W, H, OW, OH);
    int kk = k;
    for (int c = 0; c < channels; c++) {
        for (size_t p = 0; p < np; p++) a[p] = in[p * stride_px + c];
        rs_warp_forward(b, a, &m, &kk, 1, 1, H, W, OH, OW);
        for (size_t p = 0; p < nq; p++) {
            float v = b[p] + 0.5f;
            out[p * channels + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(a), free(b);
    return DF_OK;
}

df_status rs_resize_planar(float *out, int OH, int OW, const float *in, int C, int H, int W, rs_kernel k) {
    df_status s = check_sizes(OW, OH, W, H);
    if (s) return s;
    if (!out || !in || C < 1 || (unsigned)k >= RS_NKERNELS) return df_fail(DF_ERR_ARG, "resample: bad arguments");
    if (!rs_kernel_antialiased(k) && (OW < W || OH < H)) {
        rs_affine m = rs_rect_map(0, 0, W, H, OW, OH);
        for (int c = 0; c < C; c++) {
            int kk = k;
            rs_warp_forward(out + (size_t)c * OH * OW, in + (size_t)c * H * W, &m, &kk, 1, 1, H, W, OH, OW);
        }
        return DF_OK;
    }
    rs_kernel kk = rs_kernel_antialiased(k) ? k : k == RS_BICUBIC ? RS_BICUBIC_AA : RS_TRIANGLE_AA;
    for (int c = 0; c < C && !s; c++)
        s = stb_resize(out + (size_t)c * OH * OW, OW, OH, OW * (int)sizeof(float), in + (size_t)c * H * W, W, H,
                       W * (int)sizeof(float), STBIR_1CHANNEL, STBIR_TYPE_FLOAT, kk, 0, 0, 1, 1);
    return s;
}

df_status rs_crop_u8_planar(float *out, int OH, int OW, const uint8_t *in, int W, int H, int stride_px, double x0,
                            double y0, double w, double h, rs_kernel k) {
    df_status s = check_sizes(OW, OH, W, H);
    if (s) return s;
    if (!out || !in || stride_px < 3 || stride_px > 4 || (unsigned)k >= RS_NKERNELS || !isfinite(x0) ||
        !isfinite(y0) || !(w > 0) || !(h > 0) || !isfinite(w) || !isfinite(h) || w / OW > RS_MAX_SHRINK ||
        h / OH > RS_MAX_SHRINK || x0 + w <= 0 || y0 + h <= 0 || x0 >= W || y0 >= H)
        return df_fail(DF_ERR_ARG, "resample: bad crop");
    size_t nq = (size_t)OW * OH;
    int aa = rs_kernel_antialiased(k) || (w <= OW && h <= OH);
    int inside = x0 >= 0 && y0 >= 0 && x0 + w <= W && y0 + h <= H;
    if (aa && inside) { /* stb reads the photo itself (no copy: memory stays O(output)) */
        rs_kernel kk = rs_kernel_antialiased(k) ? k : k == RS_BICUBIC ? RS_BICUBIC_AA : RS_TRIANGLE_AA;
        uint8_t *o8 = malloc(nq * stride_px);
        if (!o8) s = df_fail(DF_ERR_NOMEM, "resample: out of memory");
        if (!s)
            s = stb_resize(o8, OW, OH, OW * stride_px, in, W, H, W * stride_px,
                           stride_px == 3 ? STBIR_RGB : STBIR_4CHANNEL, STBIR_TYPE_UINT8, kk, x0 / W, y0 / H,
                           (x0 + w) / W, (y0 + h) / H);
        for (size_t p = 0; !s && p < nq; p++)
            for (int c = 0; c < 3; c++) out[c * nq + p] = o8[p * stride_px + c] / 127.5f - 1.0f;
        free(o8);
    } else if (aa) {
        rs_kernel kk = rs_kernel_antialiased(k) ? k : k == RS_BICUBIC ? RS_BICUBIC_AA : RS_TRIANGLE_AA;
        stbir_pixel_layout lay = stride_px == 3 ? STBIR_RGB : STBIR_4CHANNEL;
        /* stb reads outside its input for regions that reach past the edges: copy the region plus the kernel's
         * reach, edges clamped, and resize that (the same pixels stb's STBIR_EDGE_CLAMP would read) */
        int pad = (int)ceil(2.0 * fmax(1.0, fmax(w / OW, h / OH))) + 2;
        int rx0 = (int)floor(x0) - pad, ry0 = (int)floor(y0) - pad;
        int rw = (int)ceil(x0 + w) + pad - rx0, rh = (int)ceil(y0 + h) + pad - ry0;
        uint8_t *o8 = malloc(nq * stride_px), *reg = malloc((size_t)rw * rh * stride_px);
        if (!o8 || !reg) s = df_fail(DF_ERR_NOMEM, "resample: out of memory");
        for (int y = 0; !s && y < rh; y++) {
            int sy = clampi(ry0 + y, H - 1);
            for (int x = 0; x < rw; x++)
                memcpy(reg + ((size_t)y * rw + x) * stride_px, in + ((size_t)sy * W + clampi(rx0 + x, W - 1)) * stride_px,
                       (size_t)stride_px);
        }
        if (!s)
            s = stb_resize(o8, OW, OH, OW * stride_px, reg, rw, rh, rw * stride_px, lay, STBIR_TYPE_UINT8, kk,
                           (x0 - rx0) / rw, (y0 - ry0) / rh, (x0 + w - rx0) / rw, (y0 + h - ry0) / rh);
        free(reg);
        for (size_t p = 0; !s && p < nq; p++)
            for (int c = 0; c < 3; c++) out[c * nq + p] = o8[p * stride_px + c] / 127.5f - 1.0f;
        free(o8);
    } else {
        /* OpenCV-style bilinear / bicubic shrink: the warp on the crop's float planes, rounded to 8 bits */
        size_t np = (size_t)W * H;
        float *a = malloc(np * sizeof(float)), *tmp = malloc(nq * sizeof(float));
        if (!a || !tmp) s = df_fail(DF_ERR_NOMEM, "resample: out of memory");
        rs_affine m = rs_rect_map(x0, y0, w, h, OW, OH);
        int kk = k;
        for (int c = 0; !s && c < 3; c++) {
            for (size_t p = 0; p < np; p++) a[p] = in[p * stride_px + c];
            rs_warp_forward(tmp, a, &m, &kk, 1, 1, H, W, OH, OW);
            for (size_t p = 0; p < nq; p++) {
                float v = floorf(tmp[p] + 0.5f);
                out[c * nq + p] = (v < 0 ? 0 : v > 255 ? 255 : v) / 127.5f - 1.0f;
            }
        }
        free(a), free(tmp);
    }
    return s;
}

/* ------------------------------------------------------------------ streamed bilinear enlargement */
/* rs_upsample_rows with an stb kernel: bands of output rows, each resized from the input region that maps onto it
 * (stb samples the input around the region, so the bands join exactly as one resize would). */
static df_status upsample_rows_stb(const float *src, int C, int h, int w, int W, int H, rs_kernel k,
                                   void (*row)(void *ctx, int y, const float *r), void *ctx) {
    enum { BAND = 32 };
    float *band = malloc(sizeof(float) * (size_t)BAND * C * W);
    if (!band) return df_fail(DF_ERR_NOMEM, "resample: out of memory for the upsampling rows");
    df_status s = DF_OK;
    for (int y0 = 0; !s && y0 < H; y0 += BAND) {
        int n = H - y0 < BAND ? H - y0 : BAND;
        for (int c = 0; !s && c < C; c++) /* plane c of band row i at band + (i * C + c) * W: the rows' layout */
            s = stb_resize(band + (size_t)c * W, W, n, C * W * (int)sizeof(float), src + (size_t)c * h * w, w, h,
                           w * (int)sizeof(float), STBIR_1CHANNEL, STBIR_TYPE_FLOAT, k, 0, (double)y0 / H, 1,
                           (double)(y0 + n) / H);
        for (int i = 0; !s && i < n; i++) row(ctx, y0 + i, band + (size_t)i * C * W);
    }
    free(band);
    return s;
}

df_status rs_upsample_rows(const float *src, int C, int h, int w, int W, int H, rs_kernel k,
                           void (*row)(void *ctx, int y, const float *r), void *ctx) {
    if (!src || !row || C < 1 || C > 4 || h < 1 || w < 1 || W < 1 || H < 1 || W > 65536 || H > 65536 ||
        W < w || H < h || (k != RS_BILINEAR && k != RS_TRIANGLE_AA && k != RS_BICUBIC_AA))
        return df_fail(DF_ERR_ARG, "resample: bad upsampling arguments");
    if (k == RS_BICUBIC_AA) return upsample_rows_stb(src, C, h, w, W, H, k, row, ctx);
    /* column taps once; the two source rows a destination row needs interpolated horizontally once (cached while
     * consecutive rows share them), then one vertical lerp per value */
    int *tx0 = malloc(sizeof(int) * 2 * (size_t)W);
    float *tax = malloc(sizeof(float) * (size_t)W), *rows = malloc(sizeof(float) * 3 * (size_t)C * W);
    if (!tx0 || !tax || !rows) {
        free(tx0), free(tax), free(rows);
        return df_fail(DF_ERR_NOMEM, "resample: out of memory for the upsampling rows");
    }
    int *tx1 = tx0 + W;
    float *outr = rows + (size_t)2 * C * W;
    double sx = (double)w / W, sy = (double)h / H;
    for (int x = 0; x < W; x++) {
        double fx = (x + 0.5) * sx - 0.5;
        if (fx < 0) fx = 0;
        int x0 = (int)fx;
        if (x0 > w - 1) x0 = w - 1;
        tx0[x] = x0;
        tx1[x] = x0 + 1 < w ? x0 + 1 : w - 1;
        tax[x] = (float)(fx - x0);
    }
    int have[2] = {-1, -1};
    for (int y = 0; y < H; y++) {
        double fy = (y + 0.5) * sy - 0.5;
        if (fy < 0) fy = 0;
        int y0 = (int)fy;
        if (y0 > h - 1) y0 = h - 1;
        int y1 = y0 + 1 < h ? y0 + 1 : h - 1;
        float ay = (float)(fy - y0);
        int want[2] = {y0, y1};
        for (int k = 0; k < 2; k++) {
            float *r = rows + (size_t)k * C * W;
            if (have[k] == want[k]) continue;
            if (k == 0 && have[1] == want[0]) {
                memcpy(r, rows + (size_t)C * W, sizeof(float) * C * (size_t)W);
            } else {
                for (int c = 0; c < C; c++) {
                    const float *d = src + (size_t)c * h * w + (size_t)want[k] * w;
                    float *o = r + (size_t)c * W;
                    for (int x = 0; x < W; x++) o[x] = d[tx0[x]] * (1 - tax[x]) + d[tx1[x]] * tax[x];
                }
            }
            have[k] = want[k];
        }
        for (size_t i = 0; i < (size_t)C * W; i++) outr[i] = rows[i] * (1 - ay) + rows[(size_t)C * W + i] * ay;
        row(ctx, y, outr);
    }
    free(tx0), free(tax), free(rows);
    return DF_OK;
}
