/* Nearest x2 upsampling followed by a 3x3, stride-1, zero-pad-1 convolution, without the upsampled image
 * (inference; training runs the two layers, whose backward it needs).
 *
 * The phase trick.  Along one axis, with u[y] = x[y/2] (zero outside) and o[y] = w0 u[y-1] + w1 u[y] + w2 u[y+1]:
 *   even outputs y = 2i:     o = w0 x[i-1] + (w1 + w2) x[i]
 *   odd outputs  y = 2i + 1: o = (w0 + w1) x[i] + w2 x[i+1]
 * (x's zero padding is u's), so each output parity is a 2-tap filter of x with summed weights, and in 2-D each
 * parity (py, px) is a 2x2 convolution of x whose taps are the tensor product of the 1-D sums: 4 multiply-adds
 * per output and input channel instead of 9.  The four parities read the same windows: on the grid of 2x2
 * windows x[gy-1..gy][gx-1..gx], 0 <= gy <= H, 0 <= gx <= W, output pixel (2i + py, 2j + px) is parity (py, px)'s
 * window (i + py, j + px).  So one 2x2 convolution of x zero-padded by a pixel, with 4*cout output channels (the
 * folded weights of the four parities stacked), yields every output pixel once.  It runs on df_conv2d_forward over
 * bands of grid rows, each band's padded input rows copied into the workspace first, and the band's tile of four
 * parities is scattered into the interleaved output.  Workspace: the folded weights and one band. */
#include <string.h>

#include "df.h"

#define TILE_FLOATS (1 << 18) /* a band: its padded input rows and its tile of four parities */

/* 1-D folding: tap t of parity p (on x[i - 1 + p + t]) is the sum of the 3-tap weights k with FOLD[p][t][k]. */
static const unsigned char FOLD[2][2][3] = {{{1, 0, 0}, {0, 1, 1}}, {{1, 1, 0}, {0, 0, 1}}};

typedef struct {
    int cin, cout, H, W, R; /* R: grid rows per band */
    df_conv c2;             /* the 2x2 convolution cin -> 4*cout, unpadded (the band copy carries the padding) */
    size_t nw, nx, nt;      /* floats, 16-aligned: folded weights and bias, band input, tile */
} plan;

static size_t align16(size_t n) { return (n + 15) / 16 * 16; }

static plan make_plan(int cin, int cout, int H, int W) {
    plan p = {cin, cout, H, W, 0, {cin, 4 * cout, 2, 2, 1, 0, 1, DF_PAD_ZERO}, 0, 0, 0};
    size_t row = (size_t)cin * (W + 2) + (size_t)4 * cout * (W + 1);
    size_t R = TILE_FLOATS / row;
    p.R = R < 1 ? 1 : R > (size_t)H + 1 ? H + 1 : (int)R;
    p.nw = align16((size_t)16 * cout * cin) + align16((size_t)4 * cout);
    p.nx = align16((size_t)cin * (p.R + 1) * (W + 2));
    p.nt = align16((size_t)4 * cout * p.R * (W + 1));
    return p;
}

size_t df_upconv3x3_workspace(int cin, int cout, int H, int W) {
    plan p = make_plan(cin, cout, H, W);
    return p.nw + p.nx + p.nt + df_conv2d_workspace(&p.c2, p.R + 1, W + 2);
}

/* wf [4*cout, cin, 2, 2]: row q*cout + co holds parity q = 2*py + px. */
static void fold_weights(float *wf, const float *w, int cin, int cout) {
    for (int q = 0; q < 4; q++)
        for (int co = 0; co < cout; co++)
            for (int ci = 0; ci < cin; ci++) {
                const float *k = w + ((size_t)co * cin + ci) * 9;
                float *f = wf + (((size_t)q * cout + co) * cin + ci) * 4;
                for (int t = 0; t < 4; t++) {
                    const unsigned char *fy = FOLD[q >> 1][t >> 1], *fx = FOLD[q & 1][t & 1];
                    float s = 0.0f;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++)
                            if (fy[ky] && fx[kx]) s += k[ky * 3 + kx];
                    f[t] = s;
                }
            }
}

typedef struct {
    const plan *p;
    float *out, *xb;
    const float *x, *tile;
    int gy0, r; /* the band: grid rows [gy0, gy0 + r) */
} band_job;

/* xb [cin, r + 1, W + 2] = rows gy0 - 1 .. gy0 + r - 1 of x, zero-padded by a column each side and by zero rows
 * outside the image. */
static void copy_run(void *ctx, int c0, int c1) {
    const band_job *j = ctx;
    int H = j->p->H, W = j->p->W;
    for (int c = c0; c < c1; c++)
        for (int t = 0; t <= j->r; t++) {
            float *d = j->xb + ((size_t)c * (j->r + 1) + t) * (W + 2);
            int y = j->gy0 - 1 + t;
            d[0] = d[W + 1] = 0.0f;
            if (y >= 0 && y < H)
                memcpy(d + 1, j->x + ((size_t)c * H + y) * W, (size_t)W * sizeof(float));
            else
                memset(d + 1, 0, (size_t)W * sizeof(float));
        }
}

/* Grid row gy holds output row 2*gy of the even-row parities and row 2*gy - 1 of the odd-row ones; along a row,
 * grid column j gives the even output column 2j and grid column j + 1 the odd one 2j + 1. */
static void scatter_run(void *ctx, int c0, int c1) {
    const band_job *j = ctx;
    int H = j->p->H, W = j->p->W, cout = j->p->cout;
    size_t plane = (size_t)j->r * (W + 1);
    for (int co = c0; co < c1; co++)
        for (int t = 0; t < j->r; t++)
            for (int py = 0; py < 2; py++) {
                int i = j->gy0 + t - py;
                if (i < 0 || i >= H) continue;
                const float *even = j->tile + (size_t)(2 * py * cout + co) * plane + (size_t)t * (W + 1);
                const float *odd = even + (size_t)cout * plane + 1;
                float *o = j->out + ((size_t)co * 2 * H + 2 * i + py) * 2 * W;
                for (int x = 0; x < W; x++) o[2 * x] = even[x], o[2 * x + 1] = odd[x];
            }
}

void df_upconv3x3_forward(float *out, const float *inp, const float *weight, const float *bias, int cin, int cout,
                          int B, int H, int W, float *ws) {
    plan p = make_plan(cin, cout, H, W);
    float *wf = ws, *bf = ws + align16((size_t)16 * cout * cin), *xb = ws + p.nw, *tile = xb + p.nx;
    fold_weights(wf, weight, cin, cout);
    if (bias)
        for (int q = 0; q < 4; q++) memcpy(bf + (size_t)q * cout, bias, (size_t)cout * sizeof(float));
    for (int b = 0; b < B; b++)
        for (int gy0 = 0; gy0 <= H; gy0 += p.R) {
            band_job j = {&p, out + (size_t)b * cout * 4 * H * W, xb, inp + (size_t)b * cin * H * W, tile, gy0,
                          H + 1 - gy0 < p.R ? H + 1 - gy0 : p.R};
            df_parallel_for(cin, copy_run, &j);
            df_conv2d_forward(tile, xb, wf, bias ? bf : NULL, &p.c2, 1, j.r + 1, W + 2, tile + p.nt);
            df_parallel_for(cout, scatter_run, &j);
        }
}
