/* A list of zoo models loaded from comma-separated weight files (train-gen, train-universal, pgd), and for dadfi
 * eval also the imported models (graph.h) among them. */
#ifndef DF_CLI_ZOO_LIST_H
#define DF_CLI_ZOO_LIST_H

#include "graph.h"
#include "zoo.h"

#define ZOO_LIST_MAX 16

typedef struct {
    int n;
    zoo_model *m[ZOO_LIST_MAX];
    char name[ZOO_LIST_MAX][64];   /* file name without directory and .dfw ("#2", ... for duplicates) */
    uint32_t crc[ZOO_LIST_MAX];    /* CRC-32 of each file */
} zoo_list;

typedef struct {
    int n;
    graph_model *g[ZOO_LIST_MAX];
    char name[ZOO_LIST_MAX][64];   /* as zoo_list's */
    uint32_t crc[ZOO_LIST_MAX];    /* CRC-32 of each file */
} graph_list;

/* Load "F1,F2,..."; all models must share one input size (returned in *S if non-NULL).  An imported model's file
 * is refused with a message that says so. */
df_status zoo_list_load(zoo_list *l, const char *csv, int *S);
/* The same, with imported models (meta arch "dadfi-graph") going to g, each at its own size; l may be empty
 * then (at least one model of either kind).  At most ZOO_LIST_MAX in all. */
df_status model_list_load(zoo_list *l, graph_list *g, const char *csv);
void zoo_list_free(zoo_list *l);
void graph_list_free(graph_list *g);
/* The names joined by commas into out (truncated to outsz). */
void zoo_list_names(const zoo_list *l, char *out, size_t outsz);

#endif
