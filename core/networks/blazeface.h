/* BlazeFace (Bazarevsky et al. 2019; MediaPipe face detection, Apache-2.0): finds faces, their boxes and six
 * keypoints, in photos of any size.  Inference only.  The weights are MediaPipe's tfjs graph models (short-range
 * 128 x 128 "blazeface-front", full-range 256 x 256 "blazeface"), converted by tools/convert_blazeface.mjs into
 * a .dfw; they are never part of the project.
 *
 * Network (the converter reads it from the graph and refuses anything else):
 *   stem     conv KxK/2 (3 -> C0) + ReLU, TensorFlow "same" padding (a stride-2 window on an even size pads
 *            (K-2)/2 at the top/left, the rest at the bottom/right)
 *   block k  depthwise 3x3/s (C), conv 1x1 (C -> C') + bias, then  r: + skip (the input, 2x2/2 max-pooled when
 *            s = 2, zero channels appended when C' > C), ReLU;  n: ReLU only.  s = 2 pads the bottom/right only.
 *   heads    on two block outputs (strides 8 and 16 for the 128 model, 16 and 32 for the 256 model): conv 1x1
 *            classifier [A, h, w] (A anchors per cell) and regressor [16 A, h, w]
 * Input: [3, H, W] RGB in [-1, 1] (x / 127.5 - 1); the model was trained at S x S but is fully convolutional:
 * any H, W that are multiples of the largest head stride (a larger input is a sliding window of the model).
 *
 * Anchors (MediaPipe SsdAnchorsCalculator, fixed_anchor_size, anchor_offset 0.5, aspect ratio 1 plus the
 * interpolated scale): head i with an h x w map at stride t = H / h has A_i anchors per cell centred at
 * ((x + 0.5) t, (y + 0.5) t), cells in row-major order, the A_i anchors of a cell consecutive; all 128 x 128 / 256 x
 * 256 anchors: 16x16x2 + 8x8x6 = 896.
 * Decoding (TensorsToDetectionsCalculator with x/y/w/h_scale = S, reverse_output_order): regressor values
 * r[0..15] of an anchor at (ax, ay) give, in input pixels, centre (ax + r0, ay + r1), size (r2, r3), keypoint k at
 * (ax + r[4+2k], ay + r[5+2k]); score = sigmoid(clamp(logit, -100, 100)).  Overlapping detections are merged by
 * weighted non-maximum suppression (IoU > 0.3; the box and keypoints are the score-weighted mean of the group,
 * the score that of the best).
 * Keypoints, in MediaPipe's order (the person's right/left): right eye, left eye, nose tip, mouth centre, right
 * ear tragion, left ear tragion.
 *
 * Weight file: meta "arch" = "blazeface", "size" (S: 128 or 256), "blocks" (one "<s><r|n>" per block, comma
 * separated, e.g. "1r,2r,2n"), "heads" (the two block indices the heads read); tensors "stem.w" [C0,3,K,K],
 * "stem.b", "b<k>.dw" [C,1,3,3], "b<k>.pw.w" [C',C,1,1], "b<k>.pw.b" [C'], "cls<i>.w" [A,C,1,1], "cls<i>.b",
 * "reg<i>.w" [16A,C,1,1], "reg<i>.b".
 */
#ifndef DF_BLAZEFACE_H
#define DF_BLAZEFACE_H

#include "df.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BLAZEFACE_ARCH "blazeface"
#define BF_KEYPOINTS 6
#define BF_MAX_BLOCKS 64
#define BF_MAX_INPUT 2048     /* largest H or W blazeface_forward accepts */
#define BF_NMS_IOU 0.3f       /* MediaPipe's suppression threshold */

/* A face: box [x0, x1) x [y0, y1) and keypoints in pixels of the image it was found in. */
typedef struct {
    float x0, y0, x1, y1;
    float score;
    float kp[BF_KEYPOINTS][2];
} bf_face;

typedef struct blazeface blazeface;

/* Parse a .dfw buffer (untrusted: meta and every shape are checked). */
df_status blazeface_load(blazeface **m, const uint8_t *buf, size_t len);
void blazeface_free(blazeface *m);
int blazeface_size(const blazeface *m);   /* S, the size the model was trained at */
int blazeface_stride(const blazeface *m); /* H and W must be multiples of this */

/* Anchor centres of an H x W input, in pixels: xy[2 i], xy[2 i + 1] (if xy != NULL and cap allows).  Returns the
 * anchor count, or -1 (error set) for a bad size. */
int blazeface_anchors(const blazeface *m, int H, int W, float *xy, int cap);

/* Run the network on x [3, H, W] in [-1, 1] and decode every anchor whose score is >= min_score, in input
 * pixels, before suppression: out[0 .. *n) (at most cap; the best ones are kept).  Buffers grow with H x W and
 * are kept for the next call. */
df_status blazeface_forward(blazeface *m, const float *x, int H, int W, float min_score, bf_face *out, int cap,
                            int *n);

/* Non-maximum suppression in place (groups: the best remaining face and all that overlap it by IoU > iou_threshold):
 * faces[0 .. return) are the groups' results, best score first; weighted != 0: MediaPipe's weighted mean of each
 * group (blazeface_forward's candidates), else the group's best face (blazeface_detect across views). */
int bf_nms(bf_face *faces, int n, float iou_threshold, int weighted);
float bf_iou(const bf_face *a, const bf_face *b);
/* Drop every face whose box lies mostly inside a much larger face's box (at least BF_NESTED_INSIDE of its area,
 * its side at most BF_NESTED_SIDE of the other's): the finer scales find parts of a large face (an eye and its
 * brow, the mouth) as small faces of their own, which would put protection squares at the wrong scale inside the
 * real face's.  Keeps the order; returns the new count. */
#define BF_NESTED_INSIDE 0.6
#define BF_NESTED_SIDE 0.6
int bf_drop_nested(bf_face *faces, int n);

/* ------------------------------------------------------------------ photos of any size */
typedef struct {
    float min_score; /* 0.5 (MediaPipe's threshold) */
    float min_face;  /* smallest face to look for, as a fraction of the photo's short side (0.03) */
    int max_tile;    /* largest detector input side of a tile (BF_MAX_INPUT; a multiple of the stride, >= S) */
    long max_tile_area; /* largest tile in detector input pixels (1280 x 1024: memory ~62 bytes a pixel) */
} bf_opts;
bf_opts bf_default_opts(void);

/* Faces in an 8-bit photo (W x H, `channels` 3 or 4 interleaved, rows contiguous; RGB first), in photo pixels,
 * best first: faces[0 .. *n) (at most cap).  The detector sees resized copies (stb's antialiased triangle
 * filter, from the photo's k x k box means when the finest scale shrinks it k >= 2 times): the whole photo
 * letterboxed (centred, black borders) into S x S, then, when faces of min_face would be too small there, finer scales (at most the photo's own) cut into overlapping tiles (sides of at most max_tile,
 * areas of at most max_tile_area pixels; of the layouts that fit, the one with the fewest pixels in all);
 * faces cut by a tile's inner edge are left to the tile that holds them whole.  Each view's candidates are merged
 * by weighted NMS, the views' faces by plain NMS.  Memory is bounded by the tile, not by the photo. */
df_status blazeface_detect(blazeface *m, const uint8_t *rgb, int W, int H, int channels, const bf_opts *opts,
                           bf_face *faces, int cap, int *n);
/* Free the working buffers the last detection grew (tens of MB for a large photo's tiles); the next detection
 * makes them again.  Lets the memory serve something else meanwhile (the whole-photo path's Gen). */
void blazeface_release(blazeface *m);

#ifdef __cplusplus
}
#endif
#endif
