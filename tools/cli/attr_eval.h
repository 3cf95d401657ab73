/* Shared by attr-train and zoo-quality: an attribute classifier's accuracy on real faces of a CelebA split. */
#ifndef DF_CLI_ATTR_EVAL_H
#define DF_CLI_ATTR_EVAL_H

#include <stdio.h>

#include "attrcls.h"
#include "celeba.h"

/* Classify the first n faces of s in batches of B; acc[k] = fraction of faces whose logit k has the sign of the
 * label (logit > 0 <=> attribute 1), acc[ZOO_NATTR] = the mean over the five.  Progress lines on stderr are
 * prefixed by label (NULL: silent). */
df_status attr_eval_real(attrcls *c, const celeba_set *s, int n, int B, double acc[ZOO_NATTR + 1], const char *label);
/* hit[k] += number of the B rows where (logits[b,k] > 0) == (attr[b,k] > 0.5). */
void attr_count_hits(double hit[ZOO_NATTR], const float *logits, const float *attr, int B);
/* "Black_Hair 0.912 Blond_Hair ... (mean 0.893)" on f. */
void attr_print_acc(FILE *f, const double acc[ZOO_NATTR + 1]);

#endif
