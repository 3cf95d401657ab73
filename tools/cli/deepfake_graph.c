/* dadfi deepfake --model F for imported graphs (core/networks/graph.h, written by tools/convert_tfjs_graph.mjs):
 * the photo's centred square (or the whole picture) resized to the model's side, converted to its channel order and
 * range by graph_forward, the output written as an image. */
#include <stdlib.h>
#include <string.h>

#include "celeba.h"
#include "cli.h"
#include "deepfake_graph.h"
#include "dfw.h"
#include "graph.h"
#include "image.h"

int deepfake_graph(const char *cmd, const char *model, const uint8_t *buf, size_t len, const char *in,
                   const char *out, int crop, long size, int quality) {
    df_image_format fmt;
    if (df_image_format_from_path(out, &fmt)) return cli_usage_error(cmd, "output '%s' must end in .png, .jpg or .jpeg", out);
    graph_model *g = NULL;
    if (graph_load(&g, buf, len)) return cli_runtime_error(cmd, model);
    const graph_info *gi = graph_get_info(g);
    int S = size > 0 ? (int)size : gi->size, OH, OW, rc = EXIT_OK;
    df_image img = {0};
    float *x = NULL, *y = NULL;
    uint8_t *rgb = NULL;
    if (gi->in_channels != 3 || gi->out_channels != 3) {
        graph_free(g);
        df_fail(DF_ERR_UNSUPPORTED, "the model maps %d to %d channels, not an RGB image to an RGB image",
                gi->in_channels, gi->out_channels);
        return cli_runtime_error(cmd, model);
    }
    if (S % gi->size_multiple || graph_output_size(g, S, S, &OH, &OW)) {
        graph_free(g);
        return cli_usage_error(cmd, "--size %d: the model takes sides that are multiples of %d", S, gi->size_multiple);
    }
    if (df_image_load(&img, in)) { /* the message names the file */
        rc = cli_runtime_error(cmd, NULL);
        goto done;
    }
    x = malloc((size_t)3 * S * S * sizeof(float));
    y = malloc((size_t)3 * OH * OW * sizeof(float));
    rgb = malloc((size_t)3 * OH * OW);
    if (!x || !y || !rgb) {
        df_fail(DF_ERR_NOMEM, "out of memory");
        rc = cli_runtime_error(cmd, "preparing the photo");
        goto done;
    }
    if (celeba_prepare(x, S, img.rgb, img.w, img.h, crop, 0)) {
        rc = cli_runtime_error(cmd, "preparing the photo");
        goto done;
    }
    if (!crop && img.w != img.h)
        fprintf(stderr, "dadfi %s: note: %dx%d picture stretched to %dx%d (--no-crop)\n", cmd, img.w, img.h, S, S);
    double t0 = cli_now();
    if (graph_forward(g, y, x, 1, S, S, 0)) {
        rc = cli_runtime_error(cmd, "running the model");
        goto done;
    }
    double dt = cli_now() - t0;
    df_planar_to_rgb8(rgb, y, OW, OH, 3);
    if (df_image_save(out, rgb, OW, OH, fmt, quality)) {
        rc = cli_runtime_error(cmd, NULL);
        goto done;
    }
    fprintf(stderr, "wrote %s: %dx%d, %s%s%s (imported graph, %d nodes, %.1f M parameters, %.1f GFLOP, %.2f s)\n", out,
            OW, OH, gi->name[0] ? "model " : "", gi->name, gi->name[0] ? "" : "model", gi->n_nodes, gi->n_params / 1e6,
            graph_flops(g, S, S) / 1e9, dt);
done:
    free(x), free(y), free(rgb);
    df_image_free(&img);
    graph_free(g);
    return rc;
}
