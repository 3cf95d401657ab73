/* The attacker's pipeline: specs, samples and the crop geometry (see attack.h).  The real version, which needs
 * the JPEG codec, is in attack_real.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attack.h"

#define PI 3.14159265358979323846

typedef struct {
    const char *name, *spec;
} preset;

static const preset PRESETS[] = {
    {"lab", "shift=0,scale=0,rot=0,kernel=triangle-aa,jpeg=0,downsize=0"},
    {"jitter", "shift=0.04,scale=0.08,rot=0,kernel=bicubic-aa"},
    {"bilinear", "kernel=bilinear"},
    {"bicubic", "kernel=bicubic"},
    {"area", "kernel=area"},
    {"triangle-aa", "kernel=triangle-aa"},
    {"bicubic-aa", "kernel=bicubic-aa"},
    {"jpeg95", "jpeg=95"},
    {"jpeg90", "jpeg=90"},
    {"jpeg85", "jpeg=85"},
    {"jpeg75", "jpeg=75"},
    {"downsize", "downsize=1080"},
    {"full", "shift=0.04,scale=0.08,rot=5,kernel=any,jpeg=75-95,downsize=1080"},
    {"train", "shift=0.05,scale=0.10,rot=10,kernel=any,jpeg=70-95"},
};

static df_status bad(const char *spec, const char *what) {
    return df_fail(DF_ERR_ARG, "attack spec '%s': %s", spec, what);
}

static int num(const char *v, double lo, double hi, double *out) {
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !isfinite(d) || d < lo || d > hi) return 1;
    *out = d;
    return 0;
}

df_status atk_parse(atk_spec *s, const char *spec) {
    atk_spec o = {0, 0, 0, RS_TRIANGLE_AA, 0, 0, 0};
    if (!spec || !*spec) return bad("", "empty");
    if (strlen(spec) >= 256) return df_fail(DF_ERR_ARG, "attack spec: too long");
    const char *text = spec;
    for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++)
        if (!strcmp(spec, PRESETS[i].name)) text = PRESETS[i].spec;
    char buf[256], *save = NULL;
    strcpy(buf, text);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (!eq) return bad(spec, "expected key=value or a preset (lab, jitter, a kernel, jpeg95/90/85/75, downsize, full, train)");
        *eq = 0;
        const char *k = t, *v = eq + 1;
        double d;
        if (!strcmp(k, "shift")) {
            if (num(v, 0, 0.5, &d)) return bad(spec, "shift must be in [0, 0.5]");
            o.shift = (float)d;
        } else if (!strcmp(k, "scale")) {
            if (num(v, 0, 0.5, &d)) return bad(spec, "scale must be in [0, 0.5]");
            o.scale = (float)d;
        } else if (!strcmp(k, "rot")) {
            if (num(v, 0, 45, &d)) return bad(spec, "rot must be in [0, 45] degrees");
            o.rot = (float)d;
        } else if (!strcmp(k, "kernel")) {
            int kk = !strcmp(v, "any") ? ATK_ANY_KERNEL : rs_kernel_parse(v);
            if (kk == -1 && strcmp(v, "any"))
                return bad(spec, "kernel must be bilinear, bicubic, area, triangle-aa, bicubic-aa or any");
            o.kernel = kk;
        } else if (!strcmp(k, "jpeg")) {
            double lo, hi;
            const char *dash = strchr(v, '-');
            char a[32];
            if (dash && (size_t)(dash - v) < sizeof a) {
                memcpy(a, v, (size_t)(dash - v));
                a[dash - v] = 0;
                if (num(a, 1, 100, &lo) || num(dash + 1, 1, 100, &hi) || lo > hi || lo != floor(lo) || hi != floor(hi))
                    return bad(spec, "jpeg must be a quality 1..100, a range LO-HI, or 0");
            } else {
                if (num(v, 0, 100, &lo) || lo != floor(lo)) return bad(spec, "jpeg must be a quality 1..100, a range LO-HI, or 0");
                hi = lo;
            }
            o.jpeg_lo = (int)lo, o.jpeg_hi = (int)hi;
        } else if (!strcmp(k, "downsize")) {
            if (num(v, 0, 65536, &d) || d != floor(d) || (d > 0 && d < 16)) return bad(spec, "downsize must be 0 or 16..65536 pixels");
            o.downsize = (int)d;
        } else {
            return bad(spec, "unknown key (shift, scale, rot, kernel, jpeg, downsize)");
        }
    }
    *s = o;
    return DF_OK;
}

void atk_format(const atk_spec *s, char *buf, size_t len) {
    char q[32];
    if (s->jpeg_lo == s->jpeg_hi) snprintf(q, sizeof q, "%d", s->jpeg_lo);
    else snprintf(q, sizeof q, "%d-%d", s->jpeg_lo, s->jpeg_hi);
    snprintf(buf, len, "shift=%g,scale=%g,rot=%g,kernel=%s,jpeg=%s,downsize=%d", s->shift, s->scale, s->rot,
             s->kernel == ATK_ANY_KERNEL ? "any" : rs_kernel_name((rs_kernel)s->kernel), q, s->downsize);
}

void atk_draw(atk_sample *o, const atk_spec *s, df_rng *rng) {
    float u[6];
    for (int i = 0; i < 6; i++) u[i] = df_rng_uniform(rng);
    o->dx = s->shift * (2.0 * u[0] - 1.0);
    o->dy = s->shift * (2.0 * u[1] - 1.0);
    o->ds = s->scale * (2.0 * u[2] - 1.0);
    o->theta = s->rot * (2.0 * u[3] - 1.0) * PI / 180.0;
    int k = (int)(u[4] * RS_NKERNELS);
    o->kernel = s->kernel == ATK_ANY_KERNEL ? (k < RS_NKERNELS ? k : RS_NKERNELS - 1) : s->kernel;
    int span = s->jpeg_hi - s->jpeg_lo + 1, q = s->jpeg_lo + (int)(u[5] * span);
    o->jpeg = s->jpeg_lo > 0 ? (q > s->jpeg_hi ? s->jpeg_hi : q) : 0;
}

rs_affine atk_map(const atk_sample *o, double cx, double cy, double side, int S) {
    return rs_square_map(cx + o->dx * side, cy + o->dy * side, side * (1.0 + o->ds), o->theta, S);
}
