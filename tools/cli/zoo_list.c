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

void graph_list_free(graph_list *g) {
    for (int i = 0; g && i < g->n; i++) graph_free(g->g[i]);
    if (g) g->n = 0;
}

/* The file name without directory and .dfw, "#2", ... appended for a name already taken in names[0..n). */
static void model_name(char *out, const char *f, char (*names)[64], int n) {
    const char *base = strrchr(f, '/');
    base = base ? base + 1 : f;
    size_t bl = strlen(base);
    if (bl > 4 && !strcmp(base + bl - 4, ".dfw")) bl -= 4;
    if (bl > 50) bl = 50;
    snprintf(out, 64, "%.*s", (int)bl, base);
    for (int j = 0, dup = 1; j < n; j++)
        if (!strcmp(names[j], out)) snprintf(out + bl, 64 - bl, "#%d", ++dup);
}

df_status model_list_load(zoo_list *l, graph_list *g, const char *csv) {
    memset(l, 0, sizeof *l);
    if (g) memset(g, 0, sizeof *g);
    char *copy = strdup(csv ? csv : ""), *save = NULL;
    if (!copy) return df_fail(DF_ERR_NOMEM, "out of memory");
    char names[2 * ZOO_LIST_MAX][64]; /* every name so far, both kinds: one name space */
    int nn = 0;
    df_status s = DF_OK;
    for (char *f = strtok_r(copy, ",", &save); f && !s; f = strtok_r(NULL, ",", &save)) {
        if (l->n + (g ? g->n : 0) == ZOO_LIST_MAX) {
            s = df_fail(DF_ERR_ARG, "at most %d models", ZOO_LIST_MAX);
            break;
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        int graph = 0;
        if ((s = df_read_file(f, MAX_WEIGHTS, &buf, &len)) == DF_OK) {
            graph = graph_is_graph_file(buf, len);
            if (graph && !g)
                s = df_fail(DF_ERR_UNSUPPORTED, "%s is an imported model (%s): only dadfi eval and dadfi deepfake "
                                                "take those here", f, GRAPH_ARCH);
            else if (graph) {
                g->crc[g->n] = df_crc32(buf, len);
                if ((s = graph_load(&g->g[g->n], buf, len)) != DF_OK) s = df_fail(s, "%s: %s", f, df_errmsg());
            } else {
                l->crc[l->n] = df_crc32(buf, len);
                if ((s = zoo_load(&l->m[l->n], buf, len, 0)) != DF_OK) s = df_fail(s, "%s: %s", f, df_errmsg());
            }
        }
        free(buf);
        if (s) break;
        model_name(names[nn], f, names, nn);
        if (graph) {
            snprintf(g->name[g->n++], 64, "%.63s", names[nn++]);
            continue;
        }
        snprintf(l->name[l->n], 64, "%.63s", names[nn++]);
        if (l->n > 0 && zoo_get_config(l->m[l->n])->size != zoo_get_config(l->m[0])->size)
            s = df_fail(DF_ERR_ARG, "%s takes %d x %d faces, %s %d x %d: one size for all models", f,
                        zoo_get_config(l->m[l->n])->size, zoo_get_config(l->m[l->n])->size, l->name[0],
                        zoo_get_config(l->m[0])->size, zoo_get_config(l->m[0])->size);
        l->n++;
    }
    free(copy);
    if (!s && l->n + (g ? g->n : 0) == 0) s = df_fail(DF_ERR_ARG, "no model files given");
    if (s) zoo_list_free(l), graph_list_free(g);
    return s;
}

df_status zoo_list_load(zoo_list *l, const char *csv, int *S) {
    df_status s = model_list_load(l, NULL, csv);
    if (!s && S) *S = zoo_get_config(l->m[0])->size;
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
