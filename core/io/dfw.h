/* .dfw: one versioned weight container for every network (and for training checkpoints).
 *
 * Parsed from a memory buffer (the browser has no file system); every length and offset is checked:
 * the buffer is untrusted.  Layout (little endian), version 1:
 *   header   : bytes 0..31: magic "DFW1" (4 bytes), u32 version, u32 n_meta, u32 n_tensors, u64 data_size,
 *              u32 crc32 of everything after the header (bytes 32..end: tables, padding and data),
 *              u32 crc32 of the header's first 28 bytes
 *   meta     : n_meta x { u16 key_len, key, u32 val_len, val }   key: 1..255 printable ASCII bytes (0x20..0x7e),
 *              unique; val: UTF-8, no NUL inside
 *   tensors  : n_tensors x { u16 name_len, name, u8 dtype(0 = f32), u8 ndim (1..4), u32 dims[ndim],
 *              u64 offset (bytes from data start, 64-aligned), u64 nbytes }
 *              name: 1..255 printable ASCII bytes, unique; dims 1..INT_MAX; nbytes = 4 * prod(dims);
 *              [offset, offset + nbytes) inside the data section
 *   padding  : zero bytes up to the next 64-byte boundary (from the start of the file)
 *   data     : data_size bytes; the file ends exactly there
 * Limits: n_meta <= DFW_MAX_META, n_tensors <= DFW_MAX_TENSORS.
 * Checkpoints are the same container with tensors "opt.m/<name>", "opt.v/<name>" and meta "step"
 * (dfw_writer_params adds the moments; the caller adds "step" with dfw_writer_meta_int).
 */
#ifndef DF_DFW_H
#define DF_DFW_H

#include "df.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DFW_MAX_META 256
#define DFW_MAX_TENSORS 4096
#define DFW_MAX_KEY 255

typedef struct {
    const char *key; size_t key_len;   /* NOT NUL-terminated views into the buffer */
    const char *val; size_t val_len;
} dfw_meta;

typedef struct {
    const char *name; size_t name_len; /* view into the buffer */
    int ndim;
    int dims[4];
    size_t count;                      /* product of dims */
    const float *data;                 /* view into the buffer; may be unaligned (use memcpy) */
} dfw_tensor;

typedef struct {
    uint32_t version;
    int n_meta, n_tensors;
    dfw_meta *meta;       /* malloc'd arrays owned by the dfw_file */
    dfw_tensor *tensors;
} dfw_file;

/* Parse buf (not copied: keep it alive while the dfw_file is used).  On failure *f is zeroed. */
df_status dfw_parse(dfw_file *f, const uint8_t *buf, size_t len);
void dfw_free(dfw_file *f);
/* Meta value as a NUL-terminated copy into out (size outsz); DF_ERR_FORMAT if absent or too long. */
df_status dfw_meta_get(const dfw_file *f, const char *key, char *out, size_t outsz);
df_status dfw_meta_int(const dfw_file *f, const char *key, long *out);
df_status dfw_meta_float(const dfw_file *f, const char *key, double *out);
/* 1 if the file has meta `key` (for optional keys that older files lack), else 0. */
int dfw_meta_has(const dfw_file *f, const char *key);
const dfw_tensor *dfw_find(const dfw_file *f, const char *name);
/* Copy a named tensor into dst, checking that its shape equals (ndim, dims). */
df_status dfw_read_tensor(const dfw_file *f, const char *name, float *dst, int ndim, const int *dims);
/* Load every tensor of p (by name and shape) from f; the error names the first missing or mismatched tensor.
 * If p has Adam moments (m, v) and f is a checkpoint (has "opt.m/<first tensor>"), the moments are loaded too. */
df_status dfw_load_params(const dfw_file *f, df_params *p);

/* Writer: collect meta and tensors (pointers are borrowed until dfw_writer_finish), then serialise.
 * Names and keys are copied; call dfw_writer_free when done (also after a failure).  Setting an existing meta
 * key replaces its value; a duplicate tensor name is an error. */
typedef struct {
    int n_meta, n_tensors;
    char *meta_keys[DFW_MAX_META];
    char *meta_vals[DFW_MAX_META];
    struct { char *name; int ndim; int dims[4]; const float *data; } t[DFW_MAX_TENSORS];
} dfw_writer;

void dfw_writer_init(dfw_writer *w);
df_status dfw_writer_meta(dfw_writer *w, const char *key, const char *val);
df_status dfw_writer_meta_int(dfw_writer *w, const char *key, long val);
df_status dfw_writer_meta_float(dfw_writer *w, const char *key, double val);
df_status dfw_writer_tensor(dfw_writer *w, const char *name, int ndim, const int *dims, const float *data);
/* Add every tensor of p (and, if with_opt and p->m/v exist, their Adam moments). */
df_status dfw_writer_params(dfw_writer *w, const df_params *p, int with_opt);
/* Serialise to a malloc'd buffer (*out, *outlen); caller frees. */
df_status dfw_writer_finish(dfw_writer *w, uint8_t **out, size_t *outlen);
void dfw_writer_free(dfw_writer *w);

uint32_t df_crc32(const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
