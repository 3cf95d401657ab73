/* Attribute classifier (core/networks/attrcls.h) and the multi-output PatchGAN under it: gradients vs finite differences
 * (PatchGAN with cout = 5 + global average pooling), cout <= 1 unchanged, a tiny training run on synthetic images
 * whose attributes are colour / region offsets, save -> load round trips (weights and checkpoints), and rejection
 * of truncated, corrupted, wrong-arch and inconsistent files.  No data needed. */
#include "attrcls.h"
#include "check.h"
#include "gradcheck.h"
#include "patchgan.h"

#define S 32
#define NL 3

static attrcls_config tiny(int width) {
    attrcls_config c = {S, width, NL};
    return c;
}

/* ------------------------------------------------------------------ gradients
 * Central differences through four LeakyReLU layers in float are noisy: one input pixel moves the logits by ~1e-5
 * for h = 1e-3 while they carry ~1e-7 rounding, and a step crosses kinks for a few entries; hence
 * gc_check_quantiles (median, 99th percentile and maximum error bounded separately). */
typedef struct {
    attrcls *c;
    float *out;
    const float *x;
    int B;
} cls_ctx;

static void cls_fwd(void *ctx) {
    cls_ctx *p = ctx;
    attrcls_forward(p->c, p->out, p->x, p->B);
}

static void test_gradients(void) {
    attrcls_config cfg = tiny(4);
    attrcls *c;
    CHECK(attrcls_create(&c, &cfg, 3, 1) == DF_OK, "create: %s", df_errmsg());
    if (!c) return;
    df_params *p = attrcls_params(c);
    int i4 = df_params_find(p, "cls.c4.w");
    CHECK(i4 >= 0 && p->info[i4].dims[0] == ATTRCLS_NATTR && p->info[i4].dims[1] == 16 && p->info[i4].dims[2] == 3,
          "last conv 16 -> 5, 3x3");
    CHECK(df_params_find(p, "cls.c4.b") >= 0 && df_params_find(p, "cls.c5.w") < 0, "tensor names");
    /* biases start at 0: give them values so their gradients matter */
    for (int t = 0; t < p->n; t++) {
        float *b = p->data + p->info[t].offset;
        if (p->info[t].ndim > 1) continue;
        check_fill(b, p->info[t].count, 40 + t);
        for (size_t i = 0; i < p->info[t].count; i++) b[i] *= 0.1f;
    }
    const int B = 2;
    size_t nx = (size_t)B * 3 * S * S, no = (size_t)B * ATTRCLS_NATTR;
    float *x = gc_buf(nx, 1), *out = gc_buf(no, 0), *w = gc_buf(no, 2), *dx = gc_buf(nx, 3);
    for (size_t i = 0; i < p->total; i++) p->grad[i] = 0.25f; /* backward must accumulate */
    cls_ctx cc = {c, out, x, B};
    cls_fwd(&cc);
    CHECK(attrcls_backward(c, dx, w) == DF_OK, "backward: %s", df_errmsg());
    gc_unfill(dx, nx, 3);
    for (size_t i = 0; i < p->total; i++) p->grad[i] -= 0.25f;
    gc_op op = {cls_fwd, &cc, out, no, w};
    gc_check_quantiles("attrcls dx", &op, x, nx, dx, 1e-3f, 1, 2e-3, 1e-2, 1e-1);
    gc_check_quantiles("attrcls params", &op, p->data, p->total, p->grad, 1e-3f, 3, 2e-3, 1e-2, 5e-2);
    /* the gradient must not be trivially zero */
    double gx = 0, gp = 0;
    for (size_t i = 0; i < nx; i++) gx += fabsf(dx[i]);
    for (size_t i = 0; i < p->total; i++) gp += fabsf(p->grad[i]);
    CHECK(gx > 0 && gp > 0, "gradients are zero");
    /* logits = mean of the patch logits: compare with patchgan directly */
    patchgan_config pc = {3, 4, NL, ATTRCLS_NATTR};
    patchgan *d;
    CHECK(patchgan_create(&d, &pc, "cls", 3, 0) == DF_OK, "patchgan cout 5: %s", df_errmsg());
    if (d) {
        memcpy(patchgan_params(d)->data, p->data, p->total * sizeof(float));
        int OH, OW;
        patchgan_out_size(&pc, S, S, &OH, &OW);
        float *patch = malloc((size_t)B * ATTRCLS_NATTR * OH * OW * sizeof(float));
        CHECK(patchgan_forward(d, patch, x, B, S, S) == DF_OK, "patchgan forward: %s", df_errmsg());
        cls_fwd(&cc);
        double maxd = 0;
        for (int b = 0; b < B; b++)
            for (int k = 0; k < ATTRCLS_NATTR; k++) {
                double m = 0;
                for (int j = 0; j < OH * OW; j++) m += patch[((size_t)b * ATTRCLS_NATTR + k) * OH * OW + j];
                m /= OH * OW;
                if (fabs(m - out[b * ATTRCLS_NATTR + k]) > maxd) maxd = fabs(m - out[b * ATTRCLS_NATTR + k]);
            }
        CHECK(maxd < 1e-5, "logits are the mean of the patch logits (diff %g)", maxd);
        free(patch);
        patchgan_free(d);
    }
    CHECK(attrcls_forward(c, out, x, 0) != DF_OK, "B = 0 is rejected");
    free(x), free(out), free(w), free(dx);
    attrcls_free(c);
}

/* cout 0 and 1 build the same single-output discriminator (names, shapes, weights, outputs). */
static void test_patchgan_cout1(void) {
    patchgan_config a = {.cin = 3, .width = 4, .nlayers = 2}, b = {3, 4, 2, 1}, bad = {3, 4, 2, -1};
    patchgan *da = NULL, *db = NULL, *dbad = NULL;
    CHECK(patchgan_create(&da, &a, "idex", 9, 0) == DF_OK && patchgan_create(&db, &b, "idex", 9, 0) == DF_OK,
          "create: %s", df_errmsg());
    CHECK(patchgan_create(&dbad, &bad, "idex", 9, 0) != DF_OK && !dbad, "cout -1 rejected");
    if (!da || !db) return;
    df_params *pa = patchgan_params(da), *pb = patchgan_params(db);
    CHECK(pa->n == pb->n && pa->total == pb->total, "same parameter count");
    int i3 = df_params_find(pa, "idex.c3.w");
    CHECK(i3 >= 0 && pa->info[i3].dims[0] == 1 && pa->info[i3].dims[1] == 8, "last conv 8 -> 1");
    CHECK(pa->total == pb->total && !memcmp(pa->data, pb->data, pa->total * sizeof(float)), "same weights");
    float *x = gc_buf(3 * 16 * 16, 5), oa[16], ob[16];
    CHECK(patchgan_forward(da, oa, x, 1, 16, 16) == DF_OK && patchgan_forward(db, ob, x, 1, 16, 16) == DF_OK,
          "forward");
    CHECK(!memcmp(oa, ob, sizeof oa), "same logits");
    free(x);
    patchgan_free(da);
    patchgan_free(db);
}

/* ------------------------------------------------------------------ training */
/* Synthetic images: attribute k (0/1, random) shifts a colour channel (k = 0, 1, 2), the top half (3) or the
 * left half (4) by +-0.25, over uniform noise in [-0.4, 0.4]. */
static void synth(float *x, float *attr, int B, df_rng *r) {
    for (int b = 0; b < B; b++) {
        float *a = attr + b * ATTRCLS_NATTR, sgn[ATTRCLS_NATTR];
        for (int k = 0; k < ATTRCLS_NATTR; k++) {
            a[k] = (float)(df_rng_u32(r) & 1);
            sgn[k] = a[k] > 0.5f ? 0.25f : -0.25f;
        }
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < S; y++)
                for (int xx = 0; xx < S; xx++) {
                    float v = 0.8f * (df_rng_uniform(r) - 0.5f) + sgn[c];
                    if (y < S / 2) v += sgn[3];
                    if (xx < S / 2) v += sgn[4];
                    x[(((size_t)b * 3 + c) * S + y) * S + xx] = v;
                }
    }
}

static double accuracy(attrcls *c, const float *x, const float *attr, int B) {
    float *lg = malloc((size_t)B * ATTRCLS_NATTR * sizeof(float));
    attrcls_forward(c, lg, x, B);
    int hit = 0;
    for (int i = 0; i < B * ATTRCLS_NATTR; i++) hit += (lg[i] > 0) == (attr[i] > 0.5f);
    free(lg);
    return (double)hit / (B * ATTRCLS_NATTR);
}

static void test_training(void) {
    attrcls_config cfg = tiny(8);
    attrcls *c;
    CHECK(attrcls_create(&c, &cfg, 7, 1) == DF_OK, "create: %s", df_errmsg());
    if (!c) return;
    const int B = 16, NT = 64, STEPS = 150;
    float *x = malloc((size_t)B * 3 * S * S * sizeof(float)), attr[16 * ATTRCLS_NATTR];
    float *tx = malloc((size_t)NT * 3 * S * S * sizeof(float)), tattr[64 * ATTRCLS_NATTR];
    df_rng r;
    df_rng_seed(&r, 1);
    synth(tx, tattr, NT, &r); /* held-out faces */
    double acc0 = accuracy(c, tx, tattr, NT), first = 0, last = 0;
    for (int s = 0; s < STEPS; s++) {
        synth(x, attr, B, &r);
        float loss = 0;
        CHECK(attrcls_train_step(c, x, attr, B, 2e-3f, &loss, NULL) == DF_OK, "train step: %s", df_errmsg());
        if (s < 10) first += loss / 10;
        if (s >= STEPS - 10) last += loss / 10;
    }
    double acc1 = accuracy(c, tx, tattr, NT);
    if (getenv("VERBOSE")) printf("BCE %.4f -> %.4f, held-out accuracy %.3f -> %.3f\n", first, last, acc0, acc1);
    CHECK(first > 0.5 && last < 0.5 * first, "BCE falls clearly: %.4f -> %.4f", first, last);
    CHECK(acc1 > 0.95, "held-out accuracy %.3f (was %.3f)", acc1, acc0);
    CHECK(attrcls_get_step(c) == STEPS, "step count %ld", attrcls_get_step(c));
    /* an inference model cannot train */
    attrcls *inf;
    CHECK(attrcls_create(&inf, &cfg, 7, 0) == DF_OK, "create inference");
    float loss;
    CHECK(attrcls_train_step(inf, x, attr, B, 1e-3f, &loss, NULL) != DF_OK, "train_step without gradients fails");
    attrcls_free(inf);
    free(x), free(tx);
    attrcls_free(c);
}

/* ------------------------------------------------------------------ files */
static df_status save_with(const attrcls *c, int checkpoint, const char *key, const char *val, uint8_t **buf,
                           size_t *len) {
    dfw_writer *w = malloc(sizeof *w);
    dfw_writer_init(w);
    df_status s = attrcls_write(c, w, checkpoint);
    if (!s && key) s = dfw_writer_meta(w, key, val);
    if (!s) s = dfw_writer_finish(w, buf, len);
    dfw_writer_free(w);
    free(w);
    return s;
}

static void test_files(void) {
    attrcls_config cfg = tiny(4);
    attrcls *c, *l = NULL;
    CHECK(attrcls_create(&c, &cfg, 11, 1) == DF_OK, "create: %s", df_errmsg());
    if (!c) return;
    const int B = 3;
    float *x = gc_buf((size_t)B * 3 * S * S, 9), attr[3 * ATTRCLS_NATTR] = {1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1};
    float loss, a[15], b[15];
    for (int s = 0; s < 3; s++) attrcls_train_step(c, x, attr, B, 1e-3f, &loss, NULL);
    CHECK(attrcls_forward(c, a, x, B) == DF_OK, "forward");
    /* weights round trip */
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK(attrcls_save(c, 0, &buf, &len) == DF_OK, "save: %s", df_errmsg());
    CHECK(attrcls_load(&l, buf, len, 0) == DF_OK, "load: %s", df_errmsg());
    if (l) {
        CHECK(attrcls_get_config(l)->size == S && attrcls_get_config(l)->width == 4 && attrcls_get_config(l)->nlayers == NL,
              "config restored");
        CHECK(attrcls_forward(l, b, x, B) == DF_OK && !memcmp(a, b, sizeof a), "identical logits after load");
        attrcls_free(l);
        l = NULL;
    }
    /* every truncation and a flipped byte anywhere are rejected */
    int bad_ok = 0;
    for (size_t n = 0; n < len; n += n < 256 ? 1 : 97) {
        if (attrcls_load(&l, buf, n, 0) == DF_OK) bad_ok++;
        attrcls_free(l), l = NULL;
    }
    CHECK(bad_ok == 0, "%d truncated buffers accepted", bad_ok);
    for (size_t i = 0; i < len; i += 61) {
        buf[i] ^= 0x5a;
        if (attrcls_load(&l, buf, len, 0) == DF_OK) bad_ok++;
        attrcls_free(l), l = NULL;
        buf[i] ^= 0x5a;
    }
    CHECK(bad_ok == 0, "%d corrupted buffers accepted", bad_ok);
    CHECK(*df_errmsg() != 0, "an error message is set");
    free(buf);

    /* checkpoint: Adam state and step restored; the next step equals the uninterrupted one */
    CHECK(attrcls_save(c, 1, &buf, &len) == DF_OK, "save checkpoint: %s", df_errmsg());
    CHECK(attrcls_load(&l, buf, len, 1) == DF_OK, "load checkpoint: %s", df_errmsg());
    if (l) {
        CHECK(attrcls_get_step(l) == 3, "step %ld", attrcls_get_step(l));
        attrcls_train_step(c, x, attr, B, 1e-3f, &loss, NULL);
        attrcls_train_step(l, x, attr, B, 1e-3f, &loss, NULL);
        df_params *pc = attrcls_params(c), *pl = attrcls_params(l);
        CHECK(!memcmp(pc->data, pl->data, pc->total * sizeof(float)), "resumed step == uninterrupted step");
        attrcls_free(l), l = NULL;
    }
    free(buf);

    /* meta that must be rejected */
    struct { const char *key, *val; df_status want; } bad[] = {
        {"arch", "zoo-stargan", DF_ERR_UNSUPPORTED},
        {"attrs", "Black_Hair,Blond_Hair,Brown_Hair,Male", DF_ERR_UNSUPPORTED},
        {"size", "100", DF_ERR_FORMAT},        /* not a multiple of 8 */
        {"size", "4294967328", DF_ERR_FORMAT}, /* would wrap to 32 in an int */
        {"size", "-32", DF_ERR_FORMAT},
        {"size", "thirty-two", DF_ERR_FORMAT},
        {"width", "0", DF_ERR_FORMAT},
        {"width", "8", DF_ERR_FORMAT},         /* tensors are width 4 */
        {"nlayers", "9", DF_ERR_FORMAT},
        {"nlayers", "2", DF_ERR_FORMAT},       /* a tensor is missing / shaped differently */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buf = NULL;
        CHECK(save_with(c, 0, bad[i].key, bad[i].val, &buf, &len) == DF_OK, "write");
        df_status s = attrcls_load(&l, buf, len, 0);
        CHECK(s != DF_OK && !l, "%s = %s accepted", bad[i].key, bad[i].val);
        if (bad[i].want == DF_ERR_UNSUPPORTED) CHECK(s == DF_ERR_UNSUPPORTED, "%s: status %d", bad[i].key, (int)s);
        attrcls_free(l), l = NULL;
        free(buf);
    }
    buf = NULL;
    CHECK(save_with(c, 1, "step", "-4", &buf, &len) == DF_OK, "write");
    CHECK(attrcls_load(&l, buf, len, 1) != DF_OK, "negative step accepted");
    attrcls_free(l), l = NULL;
    free(buf);
    /* a zoo-style file without arch */
    dfw_writer *w = malloc(sizeof *w);
    dfw_writer_init(w);
    float t[4] = {0};
    int dims[1] = {4};
    dfw_writer_tensor(w, "cls.c1.b", 1, dims, t);
    buf = NULL;
    CHECK(dfw_writer_finish(w, &buf, &len) == DF_OK, "write");
    dfw_writer_free(w);
    free(w);
    CHECK(attrcls_load(&l, buf, len, 0) == DF_ERR_UNSUPPORTED && !l, "file without arch");
    free(buf);
    /* bad configs */
    attrcls_config bc[4] = {{S, 4, 0}, {S, 0, NL}, {36, 4, NL}, {2048, 4, NL}};
    for (int i = 0; i < 4; i++) {
        CHECK(attrcls_create(&l, &bc[i], 1, 0) == DF_ERR_ARG && !l, "config %d accepted", i);
        attrcls_free(l), l = NULL;
    }
    free(x);
    attrcls_free(c);
}

int main(void) {
    test_gradients();
    test_patchgan_cout1();
    test_training();
    test_files();
    return check_summary("test_attrcls");
}
