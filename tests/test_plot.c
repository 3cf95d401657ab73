/* Charts (core/evaluation/plot.h): bar heights proportional to the values (linear and logarithmic axes), image grid
 * placement and pixel values, glyphs, clipping. */
#include "check.h"
#include "plot.h"

static uint32_t px(const df_canvas *c, int x, int y) {
    const uint8_t *p = c->rgb + ((size_t)y * c->w + x) * 3;
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Height in pixels of the longest vertical run of colour col in column x. */
static int run_height(const df_canvas *c, int x, uint32_t col) {
    int best = 0, cur = 0;
    for (int y = 0; y < c->h; y++) {
        cur = px(c, x, y) == col ? cur + 1 : 0;
        if (cur > best) best = cur;
    }
    return best;
}

/* Height of series s's bar: the tallest run of its colour over all columns. */
static int bar_height(const df_canvas *c, int s) {
    int best = 0;
    for (int x = 0; x < c->w; x++) {
        int h = run_height(c, x, df_plot_color(s));
        if (h > best) best = h;
    }
    return best;
}

static void test_bars(void) {
    /* one group per bar so every series colour marks one bar; legend squares are 9 px high */
    const char *groups[1] = {"g"}, *series[3] = {"a", "b", "c"};
    double v[3] = {0.25, 0.5, 1.0};
    df_bar_chart b = {"title", "y", 1, 3, groups, series, v, 0.0, 1.0, "%.2f", 0, 0, 0};
    df_canvas c;
    CHECK(df_plot_bars(&c, &b) == DF_OK, "bars: %s", df_errmsg());
    int h0 = bar_height(&c, 0), h1 = bar_height(&c, 1), h2 = bar_height(&c, 2);
    CHECK(h2 > 200, "full bar is tall (%d px)", h2);
    CHECK(abs(2 * h1 - h2) <= 2 && abs(4 * h0 - h2) <= 4, "heights proportional: %d %d %d", h0, h1, h2);
    df_canvas_free(&c);

    double lv[3] = {1.0, 10.0, 100.0};
    b.values = lv, b.ymin = b.ymax = 0, b.logy = 1, b.value_fmt = NULL;
    CHECK(df_plot_bars(&c, &b) == DF_OK, "log bars");
    h0 = bar_height(&c, 0), h1 = bar_height(&c, 1), h2 = bar_height(&c, 2);
    /* 1 sits on the axis bottom (a 1-px bar; the 9-px legend square is the tallest run of its colour) */
    CHECK(h0 <= 9 && h2 > 200 && abs(2 * h1 - h2) <= 3, "log axis: equal steps per decade (%d %d %d)", h0, h1, h2);
    df_canvas_free(&c);

    double bad[3] = {NAN, -1.0, 2.0};
    b.values = bad;
    CHECK(df_plot_bars(&c, &b) == DF_OK, "missing and non-positive values on a log axis draw no bar");
    CHECK(bar_height(&c, 0) <= 9 && bar_height(&c, 1) <= 9 && bar_height(&c, 2) > 50, "only the positive bar is drawn");
    df_canvas_free(&c);
    b.ngroups = 0;
    CHECK(df_plot_bars(&c, &b) != DF_OK, "no groups is an error");
}

static void test_grid(void) {
    enum { H = 5, W = 7, SC = 2 };
    float img[3 * H * W];
    for (int i = 0; i < 3 * H * W; i++) img[i] = (float)(i % 9) / 4.5f - 1.0f; /* -1 .. 0.78, no rounding ties */
    const float *cells[4] = {img, NULL, NULL, img};
    df_image_grid g = {2, 2, H, W, SC, cells, NULL, NULL, NULL};
    df_canvas c;
    CHECK(df_plot_grid(&c, &g) == DF_OK, "grid");
    CHECK(c.w == 4 + 2 * (W * SC + 4) && c.h == 4 + 2 * (H * SC + 4), "grid size %d x %d", c.w, c.h);
    int bad = 0;
    for (int cell = 0; cell < 4; cell += 3) {
        int x0 = 4 + (cell % 2) * (W * SC + 4), y0 = 4 + (cell / 2) * (H * SC + 4);
        for (int y = 0; y < H * SC; y++)
            for (int x = 0; x < W * SC; x++) {
                int p = (y / SC) * W + x / SC;
                uint32_t want = 0;
                for (int ch = 0; ch < 3; ch++) {
                    long v = lround((img[ch * H * W + p] + 1.0) * 127.5);
                    want = want << 8 | (uint32_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
                bad += px(&c, x0 + x, y0 + y) != want;
            }
    }
    CHECK(bad == 0, "grid cells hold the images at scale %d (%d wrong pixels)", SC, bad);
    CHECK(px(&c, 4 + W * SC + 4, 4) == 0xeeeeee, "empty cell is light grey");
    CHECK(px(&c, 0, 0) == 0xffffff, "margin is white");
    df_canvas_free(&c);
}

static void test_text_and_clipping(void) {
    df_canvas c;
    CHECK(df_canvas_create(&c, 20, 12, 0xffffff) == DF_OK, "canvas");
    int w = df_canvas_text(&c, 1, 1, "L|", 0x000000, 1);
    CHECK(w == 12 && w == df_text_width("L|", 1), "text width 6 px per glyph (%d)", w);
    /* 'L': left column 7 px high, bottom row 5 px wide */
    int left = 0, bottom = 0;
    for (int y = 1; y < 8; y++) left += px(&c, 1, y) == 0;
    for (int x = 1; x < 6; x++) bottom += px(&c, x, 7) == 0;
    CHECK(left == 7 && bottom == 5 && px(&c, 3, 3) == 0xffffff, "glyph L (%d, %d)", left, bottom);
    df_canvas_fill(&c, -5, -5, 100, 6, 0x123456); /* clipped, must not write outside */
    df_canvas_line(&c, -10, -10, 30, 30, 0x654321);
    df_canvas_text(&c, 15, 8, "\x01\xff", 0, 3);
    CHECK(px(&c, 1, 0) == 0x123456 && px(&c, 19, 0) == 0x123456 && px(&c, 1, 1) != 0x123456, "clipped fill");
    CHECK(px(&c, 5, 5) == 0x654321, "line through the canvas");
    df_canvas_free(&c);
    CHECK(df_canvas_create(&c, 0, 5, 0) != DF_OK && df_canvas_create(&c, 5, 20000, 0) != DF_OK, "bad sizes refused");
}

int main(void) {
    test_bars();
    test_grid();
    test_text_and_clipping();
    return check_summary("test_plot");
}
