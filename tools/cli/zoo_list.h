/* A list of zoo models loaded from comma-separated weight files (train-gen, train-universal, pgd). */
#ifndef DF_CLI_ZOO_LIST_H
#define DF_CLI_ZOO_LIST_H

#include "zoo.h"

#define ZOO_LIST_MAX 16

typedef struct {
    int n;
    zoo_model *m[ZOO_LIST_MAX];
    char name[ZOO_LIST_MAX][64];   /* file name without directory and .dfw ("#2", ... for duplicates) */
    uint32_t crc[ZOO_LIST_MAX];    /* CRC-32 of each file */
} zoo_list;

/* Load "F1,F2,..."; all models must share one input size (returned in *S if non-NULL). */
df_status zoo_list_load(zoo_list *l, const char *csv, int *S);
void zoo_list_free(zoo_list *l);
/* The names joined by commas into out (truncated to outsz). */
void zoo_list_names(const zoo_list *l, char *out, size_t outsz);

#endif
