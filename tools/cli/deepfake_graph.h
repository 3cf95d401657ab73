/* dadfi deepfake on an imported graph model (deepfake_graph.c). */
#ifndef DF_DEEPFAKE_GRAPH_H
#define DF_DEEPFAKE_GRAPH_H

#include <stddef.h>
#include <stdint.h>

/* Run the graph in buf on the photo `in`, write `out`; size 0: the model's own side.  Returns an exit code. */
int deepfake_graph(const char *cmd, const char *model, const uint8_t *buf, size_t len, const char *in,
                   const char *out, int crop, long size, int quality);

#endif
