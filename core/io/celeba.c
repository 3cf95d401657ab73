#define _POSIX_C_SOURCE 200809L
/* CelebA subset: labels, face preprocessing, batches (see celeba.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celeba.h"
#include "resample.h"
#include "image.h"

/* ------------------------------------------------------------------ labels.csv */
#define MAX_COLS 256

/* Split one line (no newline) at commas into views; returns the field count (or MAX_COLS + 1 if too many). */
static int split(const char *line, size_t len, const char **f, size_t *fl) {
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || line[i] == ',') {
            if (n == MAX_COLS) return MAX_COLS + 1;
            f[n] = line + start;
            fl[n++] = i - start;
            start = i + 1;
        }
    }
    return n;
}

static int field_is(const char *f, size_t fl, const char *s) { return fl == strlen(s) && memcmp(f, s, fl) == 0; }

static int parse_int(const char *f, size_t fl, long lo, long hi, long *out) {
    if (fl == 0 || fl > 10) return -1;
    long v = 0;
    for (size_t i = 0; i < fl; i++) {
        if (f[i] < '0' || f[i] > '9') return -1;
        v = v * 10 + (f[i] - '0');
    }
    if (v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Image names: [A-Za-z0-9_.-], not starting with '.', at most CELEBA_NAME_MAX - 1 characters. */
static int safe_name(const char *f, size_t fl) {
    if (fl == 0 || fl >= CELEBA_NAME_MAX || f[0] == '.') return 0;
    for (size_t i = 0; i < fl; i++) {
        char c = f[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return 0;
    }
    return 1;
}

void celeba_free(celeba_set *s) {
    free(s->file);
    free(s->identity);
    free(s->partition);
    free(s->attr);
    free(s->dir);
    memset(s, 0, sizeof *s);
}

df_status celeba_parse(celeba_set *s, const char *csv, size_t len, const char *dir, int partition) {
    memset(s, 0, sizeof *s);
    if (!csv || partition < -1 || partition > 2) return df_fail(DF_ERR_ARG, "celeba: bad arguments");
    const char *f[MAX_COLS];
    size_t fl[MAX_COLS];
    /* count lines for the allocation */
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += csv[i] == '\n';
    lines += 1;
    int col_file = -1, col_id = -1, col_part = -1, col_attr[ZOO_NATTR], ncols = 0;
    for (int k = 0; k < ZOO_NATTR; k++) col_attr[k] = -1;
    s->file = malloc(lines * sizeof *s->file);
    s->identity = malloc(lines * sizeof(int));
    s->partition = malloc(lines * sizeof(int));
    s->attr = malloc(lines * ZOO_NATTR * sizeof(float));
    s->dir = dir ? strdup(dir) : NULL;
    if (!s->file || !s->identity || !s->partition || !s->attr || (dir && !s->dir)) {
        celeba_free(s);
        return df_fail(DF_ERR_NOMEM, "celeba: out of memory");
    }
    size_t pos = 0;
    long lineno = 0;
    df_status st = DF_OK;
    while (pos < len) {
        size_t e = pos;
        while (e < len && csv[e] != '\n') e++;
        size_t ll = e - pos;
        if (ll && csv[pos + ll - 1] == '\r') ll--;
        const char *line = csv + pos;
        pos = e + 1;
        lineno++;
        if (lineno == 1 && ll >= 3 && (unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
            (unsigned char)line[2] == 0xBF)
            line += 3, ll -= 3; /* UTF-8 byte order mark */
        if (ll == 0) {
            if (pos >= len) break; /* trailing newline */
            st = df_fail(DF_ERR_FORMAT, "celeba: labels.csv line %ld is empty", lineno);
            break;
        }
        int nf = split(line, ll, f, fl);
        if (nf > MAX_COLS) {
            st = df_fail(DF_ERR_FORMAT, "celeba: labels.csv line %ld has more than %d fields", lineno, MAX_COLS);
            break;
        }
        if (lineno == 1) {
            ncols = nf;
            for (int i = 0; i < nf; i++) {
                if (field_is(f[i], fl[i], "file")) col_file = i;
                if (field_is(f[i], fl[i], "identity")) col_id = i;
                if (field_is(f[i], fl[i], "partition")) col_part = i;
                for (int k = 0; k < ZOO_NATTR; k++)
                    if (field_is(f[i], fl[i], zoo_attr_names[k])) col_attr[k] = i;
            }
            const char *missing = col_file < 0 ? "file" : col_id < 0 ? "identity" : col_part < 0 ? "partition" : NULL;
            for (int k = 0; !missing && k < ZOO_NATTR; k++)
                if (col_attr[k] < 0) missing = zoo_attr_names[k];
            if (missing) {
                st = df_fail(DF_ERR_FORMAT, "celeba: labels.csv header has no column '%s'", missing);
                break;
            }
            continue;
        }
        if (nf != ncols) {
            st = df_fail(DF_ERR_FORMAT, "celeba: labels.csv line %ld has %d fields, the header %d", lineno, nf, ncols);
            break;
        }
        long id, part, a = 0;
        if (!safe_name(f[col_file], fl[col_file])) {
            st = df_fail(DF_ERR_FORMAT, "celeba: labels.csv line %ld: bad file name", lineno);
            break;
        }
        if (parse_int(f[col_id], fl[col_id], 0, 2000000000L, &id) ||
            parse_int(f[col_part], fl[col_part], 0, 2, &part)) {
            st = df_fail(DF_ERR_FORMAT, "celeba: labels.csv line %ld: bad identity or partition", lineno);
            break;
        }
        float av[ZOO_NATTR];
        for (int k = 0; k < ZOO_NATTR && !st; k++) {
            if (parse_int(f[col_attr[k]], fl[col_attr[k]], 0, 1, &a))
                st = df_fail(DF_ERR_FORMAT, "celeba: labels.csv line %ld: %s must be 0 or 1", lineno, zoo_attr_names[k]);
            av[k] = (float)a;
        }
        if (st) break;
        if (partition >= 0 && part != partition) continue;
        int n = s->n++;
        memcpy(s->file[n], f[col_file], fl[col_file]);
        s->file[n][fl[col_file]] = 0;
        s->identity[n] = (int)id;
        s->partition[n] = (int)part;
        memcpy(s->attr + (size_t)n * ZOO_NATTR, av, sizeof av);
    }
    if (!st && lineno == 0) st = df_fail(DF_ERR_FORMAT, "celeba: labels.csv is empty");
    if (!st && s->n == 0) st = df_fail(DF_ERR_FORMAT, "celeba: labels.csv has no rows in partition %d", partition);
    if (st) celeba_free(s);
    return st;
}

#ifndef __EMSCRIPTEN__
df_status celeba_open(celeba_set *s, const char *dir, int partition) {
    memset(s, 0, sizeof *s);
    if (!dir) return df_fail(DF_ERR_ARG, "celeba: no data directory");
    size_t dl = strlen(dir);
    char *path = malloc(dl + 16);
    if (!path) return df_fail(DF_ERR_NOMEM, "celeba: out of memory");
    snprintf(path, dl + 16, "%s/labels.csv", dir);
    uint8_t *buf;
    size_t len;
    df_status st = df_read_file(path, CELEBA_LABELS_MAX, &buf, &len);
    free(path);
    if (st) return st;
    st = celeba_parse(s, (const char *)buf, len, dir, partition);
    free(buf);
    return st;
}

df_status celeba_load(const celeba_set *s, int i, float *out, int size, int flip) {
    if (!s || !s->dir || i < 0 || i >= s->n) return df_fail(DF_ERR_ARG, "celeba_load: bad index %d", i);
    size_t n = strlen(s->dir) + CELEBA_NAME_MAX + 16;
    char *path = malloc(n);
    if (!path) return df_fail(DF_ERR_NOMEM, "celeba: out of memory");
    snprintf(path, n, "%s/images/%s", s->dir, s->file[i]);
    df_image img;
    df_status st = df_image_load(&img, path);
    if (st) { /* the message names the file */
        st = df_fail(st, "celeba: %s", df_errmsg());
    } else {
        st = celeba_prepare(out, size, img.rgb, img.w, img.h, 1, flip);
        df_image_free(&img);
        if (st) st = df_fail(st, "celeba: %s: %s", path, df_errmsg());
    }
    free(path);
    return st;
}

df_status celeba_load_batch(const celeba_set *s, const int *idx, int B, float *x, float *attr, int size,
                            const int *flips) {
    for (int b = 0; b < B; b++) {
        if (idx[b] < 0 || idx[b] >= s->n) return df_fail(DF_ERR_ARG, "celeba: index %d out of range", idx[b]);
        if (attr) memcpy(attr + (size_t)b * ZOO_NATTR, s->attr + (size_t)idx[b] * ZOO_NATTR, ZOO_NATTR * sizeof(float));
        if (x) {
            df_status st = celeba_load(s, idx[b], x + (size_t)b * 3 * size * size, size, flips ? flips[b] : 0);
            if (st) return st;
        }
    }
    return DF_OK;
}
#endif

/* ------------------------------------------------------------------ resize
 * The antialiased triangle filter (PIL's BILINEAR) of resample.h, through stb_image_resize2. */
df_status celeba_prepare(float *out, int size, const uint8_t *rgb, int w, int h, int crop, int flip) {
    if (!out || !rgb || size < 1 || size > 4096 || w < 1 || h < 1 || (long)w * h > 100000000L)
        return df_fail(DF_ERR_ARG, "celeba_prepare: bad arguments");
    int x0 = 0, y0 = 0, cw = w, ch = h;
    if (crop) {
        int side = w < h ? w : h;
        x0 = (w - side) / 2, y0 = (h - side) / 2, cw = ch = side;
    }
    /* crop first, then resize (torchvision CenterCrop + Resize): the filter never reads outside the square */
    const uint8_t *src = rgb;
    uint8_t *sq = NULL;
    if (cw != w || ch != h) {
        if (!(sq = malloc((size_t)cw * ch * 3))) return df_fail(DF_ERR_NOMEM, "celeba_prepare: out of memory");
        for (int y = 0; y < ch; y++) memcpy(sq + (size_t)y * cw * 3, rgb + ((size_t)(y0 + y) * w + x0) * 3, (size_t)cw * 3);
        src = sq;
    }
    df_status s = rs_crop_u8_planar(out, size, size, src, cw, ch, 3, 0, 0, cw, ch, RS_TRIANGLE_AA);
    free(sq);
    if (s || !flip) return s;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < size; y++) {
            float *r = out + ((size_t)c * size + y) * size;
            for (int i = 0, j = size - 1; i < j; i++, j--) {
                float t = r[i];
                r[i] = r[j], r[j] = t;
            }
        }
    return DF_OK;
}

/* ------------------------------------------------------------------ batches */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void celeba_batch_indices(int *idx, int n, int B, uint64_t seed, long step) {
    if (n <= 0) return;
    int *perm = malloc((size_t)n * sizeof(int));
    long cached = -1;
    for (int b = 0; b < B; b++) {
        long g = step * (long)B + b, epoch = g / n;
        if (!perm) { /* out of memory: fall back to a hashed index (still deterministic) */
            idx[b] = (int)(mix64(seed ^ mix64((uint64_t)g)) % (uint64_t)n);
            continue;
        }
        if (epoch != cached) {
            df_rng r;
            df_rng_seed(&r, mix64(seed) ^ mix64((uint64_t)epoch + 0x5eed));
            for (int i = 0; i < n; i++) perm[i] = i;
            for (int i = n - 1; i > 0; i--) {
                int j = (int)(df_rng_u32(&r) % (uint32_t)(i + 1)), t = perm[i];
                perm[i] = perm[j], perm[j] = t;
            }
            cached = epoch;
        }
        idx[b] = perm[g % n];
    }
    free(perm);
}
