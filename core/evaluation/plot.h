/* Charts for the report, drawn into 8-bit RGB buffers (save them with df_image_save): grouped bar charts,
 * line charts (x-y series) and image grids, with a built-in 5x7 pixel font (printable ASCII). */
#ifndef DF_PLOT_H
#define DF_PLOT_H

#include "df.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A canvas: w x h interleaved RGB, malloc'd.  Colours are 0xRRGGBB. */
typedef struct {
    int w, h;
    uint8_t *rgb;
} df_canvas;

df_status df_canvas_create(df_canvas *c, int w, int h, uint32_t bg); /* 1..16384 on each side */
void df_canvas_free(df_canvas *c);
/* Filled rectangle, clipped to the canvas. */
void df_canvas_fill(df_canvas *c, int x, int y, int w, int h, uint32_t color);
/* Line of width 1 from (x0, y0) to (x1, y1), clipped. */
void df_canvas_line(df_canvas *c, int x0, int y0, int x1, int y1, uint32_t color);
/* Text with its top-left corner at (x, y); glyphs are 5x7 in a 6x9 cell, times scale (>= 1); characters
 * outside printable ASCII draw as '?'.  Returns the width drawn in pixels. */
int df_canvas_text(df_canvas *c, int x, int y, const char *s, uint32_t color, int scale);
int df_text_width(const char *s, int scale);
#define DF_TEXT_HEIGHT 9 /* line height at scale 1 */
/* Planar [3, H, W] image in [-1, 1] (clamped) with its top-left corner at (x, y), each pixel drawn as a
 * scale x scale block, clipped. */
void df_canvas_image(df_canvas *c, int x, int y, const float *img, int H, int W, int scale);

/* The i-th colour of the chart palette (cycles after 10). */
uint32_t df_plot_color(int i);

/* Grouped bar chart: values[g * nseries + s] is the bar of series s in group g (NAN: no bar, "n/a").
 * Auto y range when ymax <= ymin: [min(0, min), max(0, max)] widened to round ticks; with logy, a logarithmic
 * axis over whole decades (values <= 0 get no bar; ymin/ymax, if given, are rounded out to decades).  Value labels (format
 * value_fmt, e.g. "%.2f"; NULL: none) are drawn above the bars when they fit.  The canvas is created here
 * (width 0: sized to the data; height 0: 420). */
typedef struct {
    const char *title, *ylabel;
    int ngroups, nseries;
    const char *const *groups;  /* [ngroups] x-axis labels */
    const char *const *series;  /* [nseries] legend entries (NULL or nseries == 1 with NULL: no legend) */
    const double *values;
    double ymin, ymax;
    const char *value_fmt;
    int width, height;
    int logy;
} df_bar_chart;
df_status df_plot_bars(df_canvas *c, const df_bar_chart *b);

/* Line chart: series s has npoints[s] points (x[s][k], y[s][k]) joined by lines, with square markers and an
 * optional label per point (point_labels[s][k], NULL: none).  Auto ranges when max <= min. */
typedef struct {
    const char *title, *xlabel, *ylabel;
    int nseries;
    const char *const *series;
    const int *npoints;
    const double *const *x, *const *y;
    const char *const *const *point_labels;
    double xmin, xmax, ymin, ymax;
    int width, height; /* 0: 640 x 420 */
} df_line_chart;
df_status df_plot_lines(df_canvas *c, const df_line_chart *l);

/* Image grid: rows x cols cells of planar [3, H, W] images in [-1, 1] (cells[r * cols + c], NULL: empty),
 * each shown at integer scale, with column titles above and row labels at the left (either may be NULL).
 * Layout: 4-pixel margins and gaps; without title, titles and labels, cell (r, c) starts at
 * (4 + c (W scale + 4), 4 + r (H scale + 4)) and the canvas is (4 + cols (W scale + 4)) x (4 + rows (H scale + 4)). */
typedef struct {
    int rows, cols, H, W, scale;
    const float *const *cells;
    const char *const *col_titles;
    const char *const *row_labels;
    const char *title;
} df_image_grid;
df_status df_plot_grid(df_canvas *c, const df_image_grid *g);

#ifdef __cplusplus
}
#endif
#endif
