/* Charts into RGB buffers (plot.h): a 5x7 pixel font, grouped bars, x-y lines, image grids. */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ font
 * Printable ASCII 32..126, 7 rows of 5 pixels each (bit 4 = leftmost column); drawn for this project. */
static const uint8_t font5x7[95][7] = {
    {0x00,0x00,0x00,0x00,0x00,0x00,0x00}, {0x04,0x04,0x04,0x04,0x04,0x00,0x04}, {0x0a,0x0a,0x00,0x00,0x00,0x00,0x00}, {0x0a,0x0a,0x1f,0x0a,0x1f,0x0a,0x0a}, {0x04,0x0f,0x14,0x0e,0x05,0x1e,0x04}, {0x18,0x19,0x02,0x04,0x08,0x13,0x03},
    {0x0c,0x12,0x14,0x08,0x15,0x12,0x0d}, {0x04,0x04,0x00,0x00,0x00,0x00,0x00}, {0x02,0x04,0x08,0x08,0x08,0x04,0x02}, {0x08,0x04,0x02,0x02,0x02,0x04,0x08}, {0x00,0x04,0x15,0x0e,0x15,0x04,0x00}, {0x00,0x04,0x04,0x1f,0x04,0x04,0x00},
    {0x00,0x00,0x00,0x00,0x0c,0x04,0x08}, {0x00,0x00,0x00,0x1f,0x00,0x00,0x00}, {0x00,0x00,0x00,0x00,0x00,0x0c,0x0c}, {0x00,0x01,0x02,0x04,0x08,0x10,0x00}, {0x0e,0x11,0x13,0x15,0x19,0x11,0x0e}, {0x04,0x0c,0x04,0x04,0x04,0x04,0x0e},
    {0x0e,0x11,0x01,0x02,0x04,0x08,0x1f}, {0x1f,0x02,0x04,0x02,0x01,0x11,0x0e}, {0x02,0x06,0x0a,0x12,0x1f,0x02,0x02}, {0x1f,0x10,0x1e,0x01,0x01,0x11,0x0e}, {0x06,0x08,0x10,0x1e,0x11,0x11,0x0e}, {0x1f,0x01,0x02,0x04,0x08,0x08,0x08},
    {0x0e,0x11,0x11,0x0e,0x11,0x11,0x0e}, {0x0e,0x11,0x11,0x0f,0x01,0x02,0x0c}, {0x00,0x0c,0x0c,0x00,0x0c,0x0c,0x00}, {0x00,0x0c,0x0c,0x00,0x0c,0x04,0x08}, {0x02,0x04,0x08,0x10,0x08,0x04,0x02}, {0x00,0x00,0x1f,0x00,0x1f,0x00,0x00},
    {0x08,0x04,0x02,0x01,0x02,0x04,0x08}, {0x0e,0x11,0x01,0x02,0x04,0x00,0x04}, {0x0e,0x11,0x01,0x0d,0x15,0x15,0x0e}, {0x0e,0x11,0x11,0x1f,0x11,0x11,0x11}, {0x1e,0x11,0x11,0x1e,0x11,0x11,0x1e}, {0x0e,0x11,0x10,0x10,0x10,0x11,0x0e},
    {0x1c,0x12,0x11,0x11,0x11,0x12,0x1c}, {0x1f,0x10,0x10,0x1e,0x10,0x10,0x1f}, {0x1f,0x10,0x10,0x1e,0x10,0x10,0x10}, {0x0e,0x11,0x10,0x17,0x11,0x11,0x0f}, {0x11,0x11,0x11,0x1f,0x11,0x11,0x11}, {0x0e,0x04,0x04,0x04,0x04,0x04,0x0e},
    {0x07,0x02,0x02,0x02,0x02,0x12,0x0c}, {0x11,0x12,0x14,0x18,0x14,0x12,0x11}, {0x10,0x10,0x10,0x10,0x10,0x10,0x1f}, {0x11,0x1b,0x15,0x15,0x11,0x11,0x11}, {0x11,0x11,0x19,0x15,0x13,0x11,0x11}, {0x0e,0x11,0x11,0x11,0x11,0x11,0x0e},
    {0x1e,0x11,0x11,0x1e,0x10,0x10,0x10}, {0x0e,0x11,0x11,0x11,0x15,0x12,0x0d}, {0x1e,0x11,0x11,0x1e,0x14,0x12,0x11}, {0x0f,0x10,0x10,0x0e,0x01,0x01,0x1e}, {0x1f,0x04,0x04,0x04,0x04,0x04,0x04}, {0x11,0x11,0x11,0x11,0x11,0x11,0x0e},
    {0x11,0x11,0x11,0x11,0x11,0x0a,0x04}, {0x11,0x11,0x11,0x15,0x15,0x15,0x0a}, {0x11,0x11,0x0a,0x04,0x0a,0x11,0x11}, {0x11,0x11,0x11,0x0a,0x04,0x04,0x04}, {0x1f,0x01,0x02,0x04,0x08,0x10,0x1f}, {0x0e,0x08,0x08,0x08,0x08,0x08,0x0e},
    {0x00,0x10,0x08,0x04,0x02,0x01,0x00}, {0x0e,0x02,0x02,0x02,0x02,0x02,0x0e}, {0x04,0x0a,0x11,0x00,0x00,0x00,0x00}, {0x00,0x00,0x00,0x00,0x00,0x00,0x1f}, {0x08,0x04,0x00,0x00,0x00,0x00,0x00}, {0x00,0x00,0x0e,0x01,0x0f,0x11,0x0f},
    {0x10,0x10,0x16,0x19,0x11,0x11,0x1e}, {0x00,0x00,0x0e,0x10,0x10,0x11,0x0e}, {0x01,0x01,0x0d,0x13,0x11,0x11,0x0f}, {0x00,0x00,0x0e,0x11,0x1f,0x10,0x0e}, {0x06,0x09,0x08,0x1c,0x08,0x08,0x08}, {0x00,0x0f,0x11,0x11,0x0f,0x01,0x0e},
    {0x10,0x10,0x16,0x19,0x11,0x11,0x11}, {0x04,0x00,0x0c,0x04,0x04,0x04,0x0e}, {0x02,0x00,0x06,0x02,0x02,0x12,0x0c}, {0x10,0x10,0x12,0x14,0x18,0x14,0x12}, {0x0c,0x04,0x04,0x04,0x04,0x04,0x0e}, {0x00,0x00,0x1a,0x15,0x15,0x11,0x11},
    {0x00,0x00,0x16,0x19,0x11,0x11,0x11}, {0x00,0x00,0x0e,0x11,0x11,0x11,0x0e}, {0x00,0x00,0x1e,0x11,0x1e,0x10,0x10}, {0x00,0x00,0x0d,0x13,0x0f,0x01,0x01}, {0x00,0x00,0x16,0x19,0x10,0x10,0x10}, {0x00,0x00,0x0e,0x10,0x0e,0x01,0x1e},
    {0x08,0x08,0x1c,0x08,0x08,0x09,0x06}, {0x00,0x00,0x11,0x11,0x11,0x13,0x0d}, {0x00,0x00,0x11,0x11,0x11,0x0a,0x04}, {0x00,0x00,0x11,0x11,0x15,0x15,0x0a}, {0x00,0x00,0x11,0x0a,0x04,0x0a,0x11}, {0x00,0x00,0x11,0x11,0x0f,0x01,0x0e},
    {0x00,0x00,0x1f,0x02,0x04,0x08,0x1f}, {0x02,0x04,0x04,0x08,0x04,0x04,0x02}, {0x04,0x04,0x04,0x04,0x04,0x04,0x04}, {0x08,0x04,0x04,0x02,0x04,0x04,0x08}, {0x00,0x00,0x08,0x15,0x02,0x00,0x00},
};

#define CELL_W 6
#define AXIS_COLOR 0x333333
#define GRID_COLOR 0xdddddd
#define TEXT_COLOR 0x111111

/* ------------------------------------------------------------------ canvas */
df_status df_canvas_create(df_canvas *c, int w, int h, uint32_t bg) {
    if (!c) return df_fail(DF_ERR_ARG, "plot: NULL canvas");
    c->w = c->h = 0;
    c->rgb = NULL;
    if (w < 1 || h < 1 || w > 16384 || h > 16384) return df_fail(DF_ERR_ARG, "plot: canvas %d x %d out of range", w, h);
    if (!(c->rgb = malloc((size_t)w * h * 3))) return df_fail(DF_ERR_NOMEM, "plot: cannot allocate %d x %d", w, h);
    c->w = w;
    c->h = h;
    df_canvas_fill(c, 0, 0, w, h, bg);
    return DF_OK;
}

void df_canvas_free(df_canvas *c) {
    if (!c) return;
    free(c->rgb);
    c->rgb = NULL;
    c->w = c->h = 0;
}

static void put(df_canvas *c, int x, int y, uint32_t color) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    uint8_t *p = c->rgb + ((size_t)y * c->w + x) * 3;
    p[0] = (uint8_t)(color >> 16);
    p[1] = (uint8_t)(color >> 8);
    p[2] = (uint8_t)color;
}

void df_canvas_fill(df_canvas *c, int x, int y, int w, int h, uint32_t color) {
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > c->w ? c->w : x + w, y1 = y + h > c->h ? c->h : y + h;
    for (int yy = y0; yy < y1; yy++)
        for (int xx = x0; xx < x1; xx++) put(c, xx, yy, color);
}

/* Bresenham */
void df_canvas_line(df_canvas *c, int x0, int y0, int x1, int y1, uint32_t color) {
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1, dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1, err = dx + dy;
    for (;;) {
        put(c, x0, y0, color);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
    }
}

int df_text_width(const char *s, int scale) { return s ? (int)strlen(s) * CELL_W * (scale < 1 ? 1 : scale) : 0; }

int df_canvas_text(df_canvas *c, int x, int y, const char *s, uint32_t color, int scale) {
    if (!s) return 0;
    if (scale < 1) scale = 1;
    int x0 = x;
    for (; *s; s++, x += CELL_W * scale) {
        int ch = (unsigned char)*s;
        const uint8_t *g = font5x7[(ch < 32 || ch > 126 ? '?' : ch) - 32];
        for (int r = 0; r < 7; r++)
            for (int col = 0; col < 5; col++)
                if (g[r] >> (4 - col) & 1) df_canvas_fill(c, x + col * scale, y + r * scale, scale, scale, color);
    }
    return x - x0;
}

static uint8_t to8(float v) {
    float t = (v + 1.0f) * 127.5f + 0.5f;
    return (uint8_t)(t < 0.0f ? 0.0f : t > 255.0f ? 255.0f : t);
}

void df_canvas_image(df_canvas *c, int x, int y, const float *img, int H, int W, int scale) {
    if (scale < 1) scale = 1;
    size_t hw = (size_t)H * W;
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            size_t p = (size_t)i * W + j;
            uint32_t col = (uint32_t)to8(img[p]) << 16 | (uint32_t)to8(img[hw + p]) << 8 | to8(img[2 * hw + p]);
            df_canvas_fill(c, x + j * scale, y + i * scale, scale, scale, col);
        }
}

uint32_t df_plot_color(int i) {
    static const uint32_t pal[10] = {0x4e79a7, 0xf28e2b, 0xe15759, 0x76b7b2, 0x59a14f,
                                     0xedc948, 0xb07aa1, 0xff9da7, 0x9c755f, 0xbab0ac};
    return pal[(i % 10 + 10) % 10];
}

/* ------------------------------------------------------------------ axes */
typedef struct {
    double lo, hi, step;
    int dec; /* decimals of the tick labels */
    int log; /* values are log10 of the data: ticks label 10^v */
} axis;

/* Round ticks (1, 2, 5 x 10^k, about 5 of them) covering [lo, hi]. */
static axis nice_axis(double lo, double hi) {
    axis a = {0};
    if (!isfinite(lo) || !isfinite(hi)) lo = 0, hi = 1;
    if (hi <= lo) hi = lo + (lo == 0 ? 1 : fabs(lo) * 0.1);
    double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw))), n = raw / mag;
    a.step = (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    int d = (int)-floor(log10(a.step) + 1e-9);
    a.dec = d < 0 ? 0 : d > 6 ? 6 : d;
    return a;
}

typedef struct {
    int x0, y0, x1, y1; /* plot area, inclusive-exclusive */
    axis ax, ay;
} frame;

static int ypix(const frame *f, double v) {
    return f->y1 - 1 - (int)lround((v - f->ay.lo) / (f->ay.hi - f->ay.lo) * (f->y1 - 1 - f->y0));
}
static int xpix(const frame *f, double v) {
    return f->x0 + (int)lround((v - f->ax.lo) / (f->ax.hi - f->ax.lo) * (f->x1 - 1 - f->x0));
}

static int tick_label(char *buf, size_t n, double v, const axis *a) {
    if (a->log) return snprintf(buf, n, "%g", pow(10.0, round(v)));
    if (fabs(v) < 1e-12) v = 0;
    return snprintf(buf, n, "%.*f", a->dec, v);
}

static int y_label_width(axis a) {
    int w = 0;
    char buf[48];
    for (double v = a.lo; v <= a.hi + a.step * 0.5; v += a.step) {
        tick_label(buf, sizeof buf, v, &a);
        int t = df_text_width(buf, 1);
        if (t > w) w = t;
    }
    return w;
}

/* Horizontal grid lines with y tick labels at the left, and the y axis. */
static void draw_y(df_canvas *c, const frame *f) {
    char buf[48];
    for (double v = f->ay.lo; v <= f->ay.hi + f->ay.step * 0.5; v += f->ay.step) {
        int y = ypix(f, v);
        df_canvas_fill(c, f->x0, y, f->x1 - f->x0, 1, GRID_COLOR);
        tick_label(buf, sizeof buf, v, &f->ay);
        df_canvas_text(c, f->x0 - 6 - df_text_width(buf, 1), y - 3, buf, TEXT_COLOR, 1);
    }
    df_canvas_fill(c, f->x0, f->y0, 1, f->y1 - f->y0, AXIS_COLOR);
    if (!f->ay.log && f->ay.lo <= 0 && f->ay.hi >= 0) df_canvas_fill(c, f->x0, ypix(f, 0), f->x1 - f->x0, 1, AXIS_COLOR);
    else df_canvas_fill(c, f->x0, f->y1 - 1, f->x1 - f->x0, 1, AXIS_COLOR);
}

/* Legend entries (colour square + name) laid out in rows within [x, x + maxw); returns the height used.
 * With draw == 0 only measures. */
static int legend(df_canvas *c, int x, int y, int maxw, const char *const *names, int n, int draw) {
    if (!names) return 0;
    int cx = x, cy = y;
    for (int i = 0; i < n; i++) {
        int w = 12 + df_text_width(names[i] ? names[i] : "", 1) + 14;
        if (cx > x && cx + w > x + maxw) {
            cx = x;
            cy += 13;
        }
        if (draw) {
            df_canvas_fill(c, cx, cy, 9, 9, df_plot_color(i));
            df_canvas_text(c, cx + 12, cy + 1, names[i] ? names[i] : "", TEXT_COLOR, 1);
        }
        cx += w;
    }
    return n ? cy - y + 13 : 0;
}

/* Title (scale 2), legend and y label at the top; returns the y where the plot area may start. */
static int header(df_canvas *c, const char *title, const char *ylabel, const char *const *series, int nseries,
                  int draw) {
    int y = 8;
    if (title) {
        if (draw) df_canvas_text(c, 10, y, title, TEXT_COLOR, 2);
        y += 2 * DF_TEXT_HEIGHT + 6;
    }
    if (series && nseries > 0) y += legend(c, 10, y, c->w - 20, series, nseries, draw) + 4;
    if (ylabel) {
        if (draw) df_canvas_text(c, 10, y, ylabel, TEXT_COLOR, 1);
        y += DF_TEXT_HEIGHT + 6;
    }
    return y + 4;
}

/* Label centred at cx, cut with ".." to at most maxw pixels. */
static void centred_label(df_canvas *c, int cx, int y, const char *s, int maxw) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s ? s : "");
    int maxc = maxw / CELL_W;
    if (maxc < 3) maxc = 3;
    if ((int)strlen(buf) > maxc && maxc < (int)sizeof buf) {
        buf[maxc] = 0;
        buf[maxc - 1] = buf[maxc - 2] = '.';
    }
    df_canvas_text(c, cx - df_text_width(buf, 1) / 2, y, buf, TEXT_COLOR, 1);
}

/* ------------------------------------------------------------------ bar chart */
df_status df_plot_bars(df_canvas *c, const df_bar_chart *b) {
    if (!c || !b || b->ngroups < 1 || b->nseries < 1 || !b->values || b->ngroups * b->nseries > 100000)
        return df_fail(DF_ERR_ARG, "plot: bar chart needs groups, series and values");
    double lo = b->logy ? INFINITY : 0, hi = b->logy ? -INFINITY : 0;
    for (int i = 0; i < b->ngroups * b->nseries; i++) {
        double v = b->values[i];
        if (!isfinite(v) || (b->logy && v <= 0)) continue;
        if (b->logy) v = log10(v);
        lo = fmin(lo, v), hi = fmax(hi, v);
    }
    axis ay;
    if (b->logy) {
        if (b->ymax > b->ymin && b->ymin > 0) lo = log10(b->ymin), hi = log10(b->ymax);
        if (!isfinite(lo)) lo = 0, hi = 1;
        ay = (axis){floor(lo), ceil(hi), 1, 0, 1};
        if (ay.hi <= ay.lo) ay.hi = ay.lo + 1;
    } else if (b->ymax > b->ymin) {
        ay = nice_axis(b->ymin, b->ymax);
        ay.lo = b->ymin, ay.hi = b->ymax;
    } else {
        ay = nice_axis(lo, hi);
    }
    int left = 16 + y_label_width(ay), right = 16, bottom = 2 * DF_TEXT_HEIGHT + 12;
    int barw = b->nseries > 1 ? 14 : 28, gw = b->nseries * barw + 18;
    int W = b->width > 0 ? b->width : left + right + b->ngroups * gw;
    if (b->width <= 0 && W < 480) W = 480;
    int H = b->height > 0 ? b->height : 420;
    df_status s = df_canvas_create(c, W, H, 0xffffff);
    if (s) return s;
    const char *const *legend_names = b->nseries > 1 || (b->series && b->series[0]) ? b->series : NULL;
    int top = header(c, b->title, b->ylabel, legend_names, b->nseries, 1);
    frame f = {left, top, W - right, H - bottom, {0, 1, 1, 0, 0}, ay};
    if (f.y1 - f.y0 < 40) {
        df_canvas_free(c);
        return df_fail(DF_ERR_ARG, "plot: bar chart height %d too small for its header", H);
    }
    draw_y(c, &f);
    gw = (f.x1 - f.x0) / b->ngroups;
    barw = (gw - 10) / b->nseries;
    if (barw < 1) barw = 1;
    for (int g = 0; g < b->ngroups; g++) {
        int gx = f.x0 + g * gw + (gw - barw * b->nseries) / 2;
        for (int k = 0; k < b->nseries; k++) {
            double v = b->values[g * b->nseries + k];
            int x = gx + k * barw;
            if (!isfinite(v) || (ay.log && v <= 0)) {
                if (barw >= 18) df_canvas_text(c, x, ypix(&f, ay.lo < 0 && ay.hi > 0 ? 0 : ay.lo) - 10, "n/a", 0x888888, 1);
                continue;
            }
            double base = ay.log || ay.lo > 0 ? ay.lo : ay.hi < 0 ? ay.hi : 0, p = ay.log ? log10(v) : v;
            double vc = p < ay.lo ? ay.lo : p > ay.hi ? ay.hi : p;
            int y0 = ypix(&f, base), y1 = ypix(&f, vc);
            int top_y = y0 < y1 ? y0 : y1, h = abs(y1 - y0) + 1;
            df_canvas_fill(c, x, top_y, barw > 2 ? barw - 1 : barw, h, df_plot_color(k));
            if (b->value_fmt) {
                char buf[32];
                snprintf(buf, sizeof buf, b->value_fmt, v);
                int tw = df_text_width(buf, 1);
                if (tw <= barw + 2) df_canvas_text(c, x + (barw - tw) / 2, p >= base ? y1 - 10 : y1 + 3, buf, TEXT_COLOR, 1);
            }
        }
        centred_label(c, f.x0 + g * gw + gw / 2, f.y1 + 6, b->groups ? b->groups[g] : "", gw - 4);
    }
    return DF_OK;
}

/* ------------------------------------------------------------------ line chart */
df_status df_plot_lines(df_canvas *c, const df_line_chart *l) {
    if (!c || !l || l->nseries < 1 || !l->npoints || !l->x || !l->y)
        return df_fail(DF_ERR_ARG, "plot: line chart needs series and points");
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int s = 0; s < l->nseries; s++)
        for (int k = 0; k < l->npoints[s]; k++) {
            double x = l->x[s][k], y = l->y[s][k];
            if (!isfinite(x) || !isfinite(y)) continue;
            xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
        }
    axis ax = l->xmax > l->xmin ? nice_axis(l->xmin, l->xmax) : nice_axis(xlo, xhi);
    axis ay = l->ymax > l->ymin ? nice_axis(l->ymin, l->ymax) : nice_axis(ylo, yhi);
    if (l->xmax > l->xmin) ax.lo = l->xmin, ax.hi = l->xmax;
    if (l->ymax > l->ymin) ay.lo = l->ymin, ay.hi = l->ymax;
    int W = l->width > 0 ? l->width : 640, H = l->height > 0 ? l->height : 420;
    df_status st = df_canvas_create(c, W, H, 0xffffff);
    if (st) return st;
    int top = header(c, l->title, l->ylabel, l->series, l->nseries, 1);
    frame f = {16 + y_label_width(ay), top, W - 24, H - 2 * DF_TEXT_HEIGHT - 14, ax, ay};
    if (f.y1 - f.y0 < 40 || f.x1 - f.x0 < 40) {
        df_canvas_free(c);
        return df_fail(DF_ERR_ARG, "plot: line chart %d x %d too small", W, H);
    }
    draw_y(c, &f);
    char buf[48];
    for (double v = ax.lo; v <= ax.hi + ax.step * 0.5; v += ax.step) {
        int x = xpix(&f, v);
        df_canvas_fill(c, x, f.y1 - 1, 1, 4, AXIS_COLOR);
        tick_label(buf, sizeof buf, v, &ax);
        df_canvas_text(c, x - df_text_width(buf, 1) / 2, f.y1 + 5, buf, TEXT_COLOR, 1);
    }
    if (l->xlabel) df_canvas_text(c, f.x1 - df_text_width(l->xlabel, 1), H - DF_TEXT_HEIGHT - 2, l->xlabel, TEXT_COLOR, 1);
    for (int s = 0; s < l->nseries; s++) {
        uint32_t col = df_plot_color(s);
        int px = 0, py = 0, have = 0;
        for (int k = 0; k < l->npoints[s]; k++) {
            double x = l->x[s][k], y = l->y[s][k];
            if (!isfinite(x) || !isfinite(y)) {
                have = 0;
                continue;
            }
            int X = xpix(&f, x), Y = ypix(&f, y);
            if (have) {
                df_canvas_line(c, px, py, X, Y, col);
                df_canvas_line(c, px, py + 1, X, Y + 1, col);
            }
            df_canvas_fill(c, X - 2, Y - 2, 5, 5, col);
            if (l->point_labels && l->point_labels[s] && l->point_labels[s][k])
                df_canvas_text(c, X + 5, Y - 10, l->point_labels[s][k], col, 1);
            px = X, py = Y, have = 1;
        }
    }
    return DF_OK;
}

/* ------------------------------------------------------------------ image grid */
df_status df_plot_grid(df_canvas *c, const df_image_grid *g) {
    if (!c || !g || g->rows < 1 || g->cols < 1 || g->H < 1 || g->W < 1 || !g->cells)
        return df_fail(DF_ERR_ARG, "plot: image grid needs rows, cols, sizes and cells");
    int scale = g->scale < 1 ? 1 : g->scale, gap = 4, cw = g->W * scale, ch = g->H * scale;
    int left = gap, top = gap;
    for (int r = 0; g->row_labels && r < g->rows; r++) {
        int w = df_text_width(g->row_labels[r], 1) + 2 * gap;
        if (w > left) left = w;
    }
    if (g->title) top += 2 * DF_TEXT_HEIGHT + 6;
    if (g->col_titles) top += DF_TEXT_HEIGHT + 4;
    long W = left + (long)g->cols * (cw + gap), H = top + (long)g->rows * (ch + gap);
    if (W > 16384 || H > 16384) return df_fail(DF_ERR_ARG, "plot: image grid %ld x %ld too large", W, H);
    df_status s = df_canvas_create(c, (int)W, (int)H, 0xffffff);
    if (s) return s;
    if (g->title) df_canvas_text(c, gap, gap, g->title, TEXT_COLOR, 2);
    for (int j = 0; g->col_titles && j < g->cols; j++)
        centred_label(c, left + j * (cw + gap) + cw / 2, top - DF_TEXT_HEIGHT - 2, g->col_titles[j], cw + gap);
    for (int r = 0; r < g->rows; r++) {
        int y = top + r * (ch + gap);
        if (g->row_labels) df_canvas_text(c, gap, y + ch / 2 - 4, g->row_labels[r], TEXT_COLOR, 1);
        for (int j = 0; j < g->cols; j++) {
            const float *img = g->cells[r * g->cols + j];
            int x = left + j * (cw + gap);
            if (img) df_canvas_image(c, x, y, img, g->H, g->W, scale);
            else df_canvas_fill(c, x, y, cw, ch, 0xeeeeee);
        }
    }
    return DF_OK;
}
