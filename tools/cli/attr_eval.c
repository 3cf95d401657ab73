#include <stdio.h>
#include <stdlib.h>

#include "attr_eval.h"
#include "cli.h"

void attr_count_hits(double hit[ZOO_NATTR], const float *logits, const float *attr, int B) {
    for (int b = 0; b < B; b++)
        for (int k = 0; k < ZOO_NATTR; k++)
            hit[k] += (logits[b * ZOO_NATTR + k] > 0) == (attr[b * ZOO_NATTR + k] > 0.5f);
}

void attr_print_acc(FILE *f, const double acc[ZOO_NATTR + 1]) {
    for (int k = 0; k < ZOO_NATTR; k++) fprintf(f, "%s%s %.3f", k ? "  " : "", zoo_attr_names[k], acc[k]);
    fprintf(f, "  (mean %.3f)", acc[ZOO_NATTR]);
}

df_status attr_eval_real(attrcls *c, const celeba_set *s, int n, int B, double acc[ZOO_NATTR + 1], const char *label) {
    int S = attrcls_get_config(c)->size;
    if (n > s->n) n = s->n;
    if (n < 1) return df_fail(DF_ERR_ARG, "no faces to classify");
    size_t img = (size_t)3 * S * S;
    float *x = malloc(B * img * sizeof(float)), *attr = malloc((size_t)B * ZOO_NATTR * sizeof(float));
    float *logits = malloc((size_t)B * ZOO_NATTR * sizeof(float));
    int *idx = malloc(B * sizeof(int));
    double hit[ZOO_NATTR] = {0}, last = cli_now();
    df_status st = x && attr && logits && idx ? DF_OK : df_fail(DF_ERR_NOMEM, "out of memory");
    for (int b0 = 0; !st && b0 < n; b0 += B) {
        int nb = n - b0 < B ? n - b0 : B;
        for (int b = 0; b < nb; b++) idx[b] = b0 + b;
        if (!(st = celeba_load_batch(s, idx, nb, x, attr, S, NULL)) && !(st = attrcls_forward(c, logits, x, nb)))
            attr_count_hits(hit, logits, attr, nb);
        if (label && (cli_now() - last >= 5 || b0 + nb == n)) {
            cli_progress("%s: %d/%d faces classified", label, b0 + nb, n);
            last = cli_now();
        }
    }
    if (label) cli_progress_done();
    acc[ZOO_NATTR] = 0;
    for (int k = 0; k < ZOO_NATTR; k++) {
        acc[k] = hit[k] / n;
        acc[ZOO_NATTR] += acc[k] / ZOO_NATTR;
    }
    free(x), free(attr), free(logits), free(idx);
    return st;
}
