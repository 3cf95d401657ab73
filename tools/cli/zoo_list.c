#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "zoo_list.h"

#define MAX_WEIGHTS ((size_t)1 << 30)

void zoo_list_free(zoo_list *l) {
    for (int i = 0; i < l->n; i++) zoo_free(l->m[i]);
    l->n = 0;
}

df_status zoo_list_load(zoo_list *l, const char *csv, int *S) {
    memset(l, 0, sizeof *l);
    char *copy = strdup(csv ? csv : ""), *save = NULL;
    if (!copy) return df_fail(DF_ERR_NOMEM, "out of memory");
    df_status s = DF_OK;
    for (char *f = strtok_r(copy, ",", &save); f && !s; f = strtok_r(NULL, ",", &save)) {
        if (l->n == ZOO_LIST_MAX) {
            s = df_fail(DF_ERR_ARG, "at most %d models", ZOO_LIST_MAX);
            break;
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        if ((s = df_read_file(f, MAX_WEIGHTS, &buf, &len)) == DF_OK) {
            l->crc[l->n] = df_crc32(buf, len);
            if ((s = zoo_load(&l->m[l->n], buf, len, 0)) != DF_OK) s = df_fail(s, "%s: %s", f, df_errmsg());
        }
        free(buf);
        if (s) break;
        const char *base = strrchr(f, '/');
        base = base ? base + 1 : f;
        size_t bl = strlen(base);
        if (bl > 4 && !strcmp(base + bl - 4, ".dfw")) bl -= 4;
        if (bl > 50) bl = 50;
        snprintf(l->name[l->n], 64, "%.*s", (int)bl, base);
        for (int j = 0, dup = 1; j < l->n; j++)
            if (!strcmp(l->name[j], l->name[l->n])) snprintf(l->name[l->n] + bl, 64 - bl, "#%d", ++dup);
        if (l->n > 0 && zoo_get_config(l->m[l->n])->size != zoo_get_config(l->m[0])->size)
            s = df_fail(DF_ERR_ARG, "%s takes %d x %d faces, %s %d x %d: one size for all models", f,
                        zoo_get_config(l->m[l->n])->size, zoo_get_config(l->m[l->n])->size, l->name[0],
                        zoo_get_config(l->m[0])->size, zoo_get_config(l->m[0])->size);
        l->n++;
    }
    free(copy);
    if (!s && l->n == 0) s = df_fail(DF_ERR_ARG, "no model files given");
    if (s) zoo_list_free(l);
    else if (S) *S = zoo_get_config(l->m[0])->size;
    return s;
}

void zoo_list_names(const zoo_list *l, char *out, size_t outsz) {
    size_t k = 0;
    if (outsz) out[0] = 0;
    for (int i = 0; i < l->n && k + 1 < outsz; i++) {
        int w = snprintf(out + k, outsz - k, "%s%s", i ? "," : "", l->name[i]);
        if (w < 0) break;
        k += (size_t)w;
    }
}
