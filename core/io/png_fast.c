/* A fast lossless PNG encoder (png_fast.h): per-row filters, then deflate with Huffman coding and runs only. */
#include "png_fast.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_BYTES (256 * 1024) /* filtered bytes per deflate block (one Huffman table each) */
#define MIN_RUN 8                /* shortest run of the previous byte coded as a match (one 8-byte compare) */
#define NLIT 286                 /* literals, end of block, length codes 257..285 */

struct png_fast {
    const uint8_t *src;
    int w, h, ch, filter, y;
    size_t stride;              /* w * ch */
    uint8_t *rows[2];           /* RGB rows (ch 3): the current and the previous one */
    uint8_t *filt;              /* filtered rows of one call (filter byte + stride each) */
    size_t filt_cap;
    uint8_t *cand;              /* adaptive filtering: 5 candidate rows */
    uint8_t *out;               /* the bytes handed back */
    size_t out_cap, pos;
    uint64_t bits;              /* bit writer: pending bits (LSB first) */
    int nbits;
    uint32_t adler_a, adler_b;
};

/* ------------------------------------------------------------------ CRC-32 (slice by 8) */
static uint32_t crc_tab[8][256];
static int crc_ready;
static void crc_init(void) {
    if (crc_ready) return;
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_tab[0][n] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int n = 0; n < 256; n++) crc_tab[t][n] = (crc_tab[t - 1][n] >> 8) ^ crc_tab[0][crc_tab[t - 1][n] & 255];
    crc_ready = 1;
}
static uint32_t crc32_update(uint32_t c, const uint8_t *p, size_t n) {
    c = ~c;
    while (n >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4), memcpy(&hi, p + 4, 4); /* little-endian hosts (x86, wasm) */
        lo ^= c;
        c = crc_tab[7][lo & 255] ^ crc_tab[6][(lo >> 8) & 255] ^ crc_tab[5][(lo >> 16) & 255] ^ crc_tab[4][lo >> 24] ^
            crc_tab[3][hi & 255] ^ crc_tab[2][(hi >> 8) & 255] ^ crc_tab[1][(hi >> 16) & 255] ^ crc_tab[0][hi >> 24];
        p += 8, n -= 8;
    }
    while (n--) c = crc_tab[0][(c ^ *p++) & 255] ^ (c >> 8);
    return ~c;
}

/* ------------------------------------------------------------------ Adler-32 */
static void adler_update(png_fast *st, const uint8_t *p, size_t n) {
    uint32_t a = st->adler_a, b = st->adler_b;
    while (n) {
        size_t k = n < 5552 ? n : 5552; /* the most bytes before b can overflow 32 bits */
        n -= k;
        /* 16 bytes a step: b += 16a + sum (16 - j) x_j, a += sum x_j (the sums vectorise) */
        while (k >= 16) {
            uint32_t s = 0, ws = 0;
            for (int j = 0; j < 16; j++) s += p[j], ws += (uint32_t)(16 - j) * p[j];
            b += 16 * a + ws, a += s;
            p += 16, k -= 16;
        }
        while (k--) a += *p++, b += a;
        a %= 65521u, b %= 65521u;
    }
    st->adler_a = a, st->adler_b = b;
}

/* ------------------------------------------------------------------ output */
static void put_bytes(png_fast *st, const void *p, size_t n) { memcpy(st->out + st->pos, p, n), st->pos += n; }
static void put_be32(png_fast *st, uint32_t v) {
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put_bytes(st, b, 4);
}
/* Branch-free bit writer: the 64-bit accumulator is stored whole after every write (out has 8 bytes of slack)
 * and the whole bytes are kept; v < 2^n, n <= 56 - 7. */
static inline void put_bits(png_fast *st, uint64_t v, int n) {
    uint64_t b = st->bits | v << st->nbits;
    int k = st->nbits + n;
    memcpy(st->out + st->pos, &b, 8); /* little-endian: the first bits in the first byte */
    st->pos += (size_t)(k >> 3);
    st->bits = b >> (k & 56);
    st->nbits = k & 7;
}

/* ------------------------------------------------------------------ Huffman codes */
/* Code lengths (at most maxlen bits) for freq[0..n): 0 for unused symbols; at least two symbols get a code. */
static void huff_lengths(const uint32_t *freq_in, int n, int maxlen, uint8_t *len) {
    uint32_t freq[NLIT];
    for (int i = 0; i < n; i++) freq[i] = freq_in[i];
    int used = 0;
    for (int i = 0; i < n; i++) used += freq[i] != 0;
    for (int i = 0; used < 2 && i < n; i++) /* a complete code needs two symbols */
        if (!freq[i]) freq[i] = 1, used++;
    for (;;) {
        /* two-queue Huffman: leaves sorted by frequency, internal nodes created in nondecreasing order */
        int leaf[NLIT], nl = 0;
        for (int i = 0; i < n; i++) if (freq[i]) leaf[nl++] = i;
        for (int i = 1; i < nl; i++) { /* insertion sort (n <= 286, once per block) */
            int s = leaf[i], j = i;
            while (j > 0 && freq[leaf[j - 1]] > freq[s]) leaf[j] = leaf[j - 1], j--;
            leaf[j] = s;
        }
        uint64_t w[2 * NLIT];
        int parent[2 * NLIT], nn = nl, li = 0, ni = nl;
        for (int i = 0; i < nl; i++) w[i] = freq[leaf[i]];
        for (int k = 0; k < nl - 1; k++) {
            int pick[2];
            for (int t = 0; t < 2; t++)
                pick[t] = (li < nl && (ni >= nn || w[li] <= w[ni])) ? li++ : ni++;
            w[nn] = w[pick[0]] + w[pick[1]];
            parent[pick[0]] = parent[pick[1]] = nn++;
        }
        int depth[2 * NLIT], maxd = 0;
        depth[nn - 1] = 0;
        for (int i = nn - 2; i >= 0; i--) { depth[i] = depth[parent[i]] + 1; if (depth[i] > maxd) maxd = depth[i]; }
        if (maxd <= maxlen) {
            memset(len, 0, (size_t)n);
            for (int i = 0; i < nl; i++) len[leaf[i]] = (uint8_t)depth[i];
            return;
        }
        for (int i = 0; i < n; i++) if (freq[i]) freq[i] = (freq[i] >> 1) | 1; /* flatten and retry */
    }
}

/* Canonical codes, bit-reversed for the LSB-first bit writer. */
static void huff_codes(const uint8_t *len, int n, uint32_t *code) {
    int count[16] = {0}, next[16];
    for (int i = 0; i < n; i++) count[len[i]]++;
    count[0] = 0;
    int c = 0;
    for (int b = 1; b < 16; b++) c = (c + count[b - 1]) << 1, next[b] = c;
    for (int i = 0; i < n; i++) {
        if (!len[i]) { code[i] = 0; continue; }
        uint32_t v = (uint32_t)next[len[i]]++, r = 0;
        for (int b = 0; b < len[i]; b++) r = (r << 1) | ((v >> b) & 1);
        code[i] = r;
    }
}

/* ------------------------------------------------------------------ deflate: literals and runs */
/* Length L (3..258) -> symbol 257.., extra bits and their value. */
static void length_code(int L, int *sym, int *nextra, int *extra) {
    static const int base[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
    static const int ebits[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    int s = 28;
    while (base[s] > L) s--;
    *sym = 257 + s, *nextra = ebits[s], *extra = L - base[s];
}

/* Whether a run of the previous byte starts at p[i]: p[i..i+8) all equal p[i-1] (i >= 1, i + 8 <= n); one
 * compare a byte, rarely true on photos. */
static inline int run_starts(const uint8_t *p, size_t i, size_t n) {
    if (i + MIN_RUN > n) return 0;
    uint64_t x;
    memcpy(&x, p + i, 8);
    return x == p[i - 1] * 0x0101010101010101ull;
}
/* Bit k set iff byte k of x is zero. */
static inline uint32_t zero_bytes(uint64_t x) {
    const uint64_t l = 0x7f7f7f7f7f7f7f7full;
    uint64_t t = ~(((x & l) + l) | x) & ~l; /* 0x80 in each zero byte */
    return (uint32_t)(((t >> 7) * 0x0102040810204080ull) >> 56);
}
/* With i >= 1 and i + 16 <= n: bit t (t < 8) set iff a run starts at p[i+t] (run_starts), from two 8-byte
 * compares: bit k of m says p[i-1+k] == p[i+k]; a run at i+t needs bits t..t+7. */
static inline uint32_t runs_in8(const uint8_t *p, size_t i) {
    uint64_t a, b, c, d;
    memcpy(&a, p + i - 1, 8), memcpy(&b, p + i, 8), memcpy(&c, p + i + 7, 8), memcpy(&d, p + i + 8, 8);
    uint32_t m = zero_bytes(a ^ b) | zero_bytes(c ^ d) << 8;
    m &= m >> 1, m &= m >> 2, m &= m >> 4;
    return m & 0xff;
}
/* The run's length (>= MIN_RUN, at most 258). */
static inline int run_len(const uint8_t *p, size_t i, size_t n) {
    uint64_t c8 = p[i - 1] * 0x0101010101010101ull, x;
    size_t lim = n - i < 258 ? n - i : 258, j = MIN_RUN;
    while (j + 8 <= lim && (memcpy(&x, p + i + j, 8), x == c8)) j += 8;
    while (j < lim && p[i + j] == (uint8_t)c8) j++;
    return (int)j;
}

/* One dynamic-Huffman block for p[0..n) (p[-1] readable when first is 0: runs may start at once). */
static void deflate_block(png_fast *st, const uint8_t *p, size_t n, int first, int final) {
    uint32_t freq[NLIT] = {0}, f1[256] = {0}, f2[256] = {0}, f3[256] = {0}, dfreq[2] = {1, 1};
    size_t i = 0;
    if (first && n) freq[p[0]]++, i = 1;
    while (i < n) {
        /* 8 literals at once when no run starts among them; else byte by byte up to the run */
        uint32_t rm = i + 16 <= n ? runs_in8(p, i) : 1;
        if (!rm) {
            freq[p[i]]++, f1[p[i + 1]]++, f2[p[i + 2]]++, f3[p[i + 3]]++;
            freq[p[i + 4]]++, f1[p[i + 5]]++, f2[p[i + 6]]++, f3[p[i + 7]]++;
            i += 8;
            continue;
        }
        for (size_t e = i + 8 < n ? i + 8 : n; i < e;) {
            if (run_starts(p, i, n)) {
                int r = run_len(p, i, n), sym, ne, ev;
                length_code(r, &sym, &ne, &ev);
                freq[sym]++, i += (size_t)r;
                break;
            }
            freq[p[i++]]++;
        }
    }
    for (int k = 0; k < 256; k++) freq[k] += f1[k] + f2[k] + f3[k];
    freq[256] = 1;
    uint8_t len[NLIT + 2];
    uint32_t code[NLIT];
    huff_lengths(freq, NLIT, 15, len);
    int hlit = NLIT;
    while (hlit > 257 && !len[hlit - 1]) hlit--;
    huff_codes(len, hlit, code);
    uint8_t dlen[2];
    huff_lengths(dfreq, 2, 15, dlen); /* distance codes 0 and 1, one bit each (code 0: distance 1) */
    len[hlit] = dlen[0], len[hlit + 1] = dlen[1];

    /* the code lengths, run-length coded with symbols 16 (repeat previous 3-6), 17 (zeros 3-10), 18 (zeros 11-138) */
    int total = hlit + 2, cl_sym[NLIT + 2], cl_extra[NLIT + 2], ncl = 0;
    uint32_t cl_freq[19] = {0};
    for (int k = 0; k < total;) {
        int v = len[k], r = 1;
        while (k + r < total && len[k + r] == v) r++;
        if (v == 0 && r >= 3) {
            int m = r > 138 ? 138 : r;
            if (m >= 11) cl_sym[ncl] = 18, cl_extra[ncl++] = m - 11;
            else cl_sym[ncl] = 17, cl_extra[ncl++] = m - 3;
            k += m;
        } else if (v != 0 && r >= 4) {
            cl_sym[ncl] = v, cl_extra[ncl++] = 0;
            int m = r - 1 > 6 ? 6 : r - 1;
            cl_sym[ncl] = 16, cl_extra[ncl++] = m - 3;
            k += 1 + m;
        } else {
            cl_sym[ncl] = v, cl_extra[ncl++] = 0;
            k++;
        }
    }
    for (int k = 0; k < ncl; k++) cl_freq[cl_sym[k]]++;
    uint8_t cl_len[19];
    uint32_t cl_code[19];
    huff_lengths(cl_freq, 19, 7, cl_len);
    huff_codes(cl_len, 19, cl_code);
    static const int order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    int hclen = 19;
    while (hclen > 4 && !cl_len[order[hclen - 1]]) hclen--;

    put_bits(st, (uint32_t)final, 1);
    put_bits(st, 2, 2); /* dynamic Huffman */
    put_bits(st, (uint32_t)(hlit - 257), 5);
    put_bits(st, 2 - 1, 5);
    put_bits(st, (uint32_t)(hclen - 4), 4);
    for (int k = 0; k < hclen; k++) put_bits(st, cl_len[order[k]], 3);
    for (int k = 0; k < ncl; k++) {
        int s = cl_sym[k];
        put_bits(st, cl_code[s], cl_len[s]);
        if (s == 16) put_bits(st, (uint32_t)cl_extra[k], 2);
        else if (s == 17) put_bits(st, (uint32_t)cl_extra[k], 3);
        else if (s == 18) put_bits(st, (uint32_t)cl_extra[k], 7);
    }

    /* the data: a run's length code, its extra bits and distance code 0 in one write (<= 15 + 5 + 15 bits) */
    uint32_t rcode[259];
    int rbits[259];
    for (int L = MIN_RUN; L <= 258; L++) {
        int sym, ne, ev;
        length_code(L, &sym, &ne, &ev);
        if (!len[sym]) { rbits[L] = 0; continue; }
        rcode[L] = code[sym] | ((uint32_t)ev << len[sym]);
        rbits[L] = len[sym] + ne;
    }
    uint32_t dcode[2];
    huff_codes(dlen, 2, dcode);
    uint32_t lit[256]; /* code | length << 24 */
    for (int k = 0; k < 256; k++) lit[k] = code[k] | (uint32_t)len[k] << 24;
    i = 0;
    if (first && n) put_bits(st, code[p[0]], len[p[0]]), i = 1;
    while (i < n) { /* the same tokens as above */
        uint32_t rm = i + 16 <= n ? runs_in8(p, i) : 1;
        if (!rm) {
            uint64_t b = st->bits;
            int k = st->nbits;
            for (int g = 0; g < 8; g += 4) { /* 4 literals (<= 60 bits) then a store, on top of < 8 pending bits: */
                uint32_t c0 = lit[p[i + g]], c1 = lit[p[i + g + 1]]; /* two stores per group keep it within 64 */
                b |= (uint64_t)(c0 & 0xffffff) << k, k += (int)(c0 >> 24);
                b |= (uint64_t)(c1 & 0xffffff) << k, k += (int)(c1 >> 24);
                memcpy(st->out + st->pos, &b, 8), st->pos += (size_t)(k >> 3), b = b >> (k & 56), k &= 7;
                uint32_t c2 = lit[p[i + g + 2]], c3 = lit[p[i + g + 3]];
                b |= (uint64_t)(c2 & 0xffffff) << k, k += (int)(c2 >> 24);
                b |= (uint64_t)(c3 & 0xffffff) << k, k += (int)(c3 >> 24);
                memcpy(st->out + st->pos, &b, 8), st->pos += (size_t)(k >> 3), b = b >> (k & 56), k &= 7;
            }
            st->bits = b, st->nbits = k;
            i += 8;
            continue;
        }
        for (size_t e = i + 8 < n ? i + 8 : n; i < e;) {
            if (run_starts(p, i, n)) {
                int r = run_len(p, i, n);
                put_bits(st, rcode[r] | (uint64_t)dcode[0] << rbits[r], rbits[r] + dlen[0]);
                i += (size_t)r;
                break;
            }
            put_bits(st, code[p[i]], len[p[i]]);
            i++;
        }
    }
    put_bits(st, code[256], len[256]);
}

/* ------------------------------------------------------------------ filters */
static inline uint8_t paeth(int a, int b, int c) {
    int pa = b - c, pb = a - c, pc = a + b - 2 * c;
    pa = pa < 0 ? -pa : pa, pb = pb < 0 ? -pb : pb, pc = pc < 0 ? -pc : pc;
    return (uint8_t)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

/* out[0..stride) = row filtered with filter f (prev NULL: the first row, an all-zero row above). */
static void filter_row(uint8_t *out, const uint8_t *row, const uint8_t *prev, size_t stride, int ch, int f) {
    size_t i;
    switch (f) {
    case 0: memcpy(out, row, stride); break;
    case 1:
        for (i = 0; i < (size_t)ch; i++) out[i] = row[i];
        for (; i < stride; i++) out[i] = (uint8_t)(row[i] - row[i - ch]);
        break;
    case 2:
        if (!prev) { memcpy(out, row, stride); break; }
        for (i = 0; i < stride; i++) out[i] = (uint8_t)(row[i] - prev[i]);
        break;
    case 3:
        if (!prev) {
            for (i = 0; i < (size_t)ch; i++) out[i] = row[i];
            for (; i < stride; i++) out[i] = (uint8_t)(row[i] - (row[i - ch] >> 1));
            break;
        }
        for (i = 0; i < (size_t)ch; i++) out[i] = (uint8_t)(row[i] - (prev[i] >> 1));
        for (; i < stride; i++) out[i] = (uint8_t)(row[i] - ((row[i - ch] + prev[i]) >> 1));
        break;
    default:
        if (!prev) { filter_row(out, row, prev, stride, ch, 1); break; } /* Paeth over zeros = Sub */
        for (i = 0; i < (size_t)ch; i++) out[i] = (uint8_t)(row[i] - prev[i]);
        for (; i < stride; i++) out[i] = (uint8_t)(row[i] - paeth(row[i - ch], prev[i], prev[i - ch]));
        break;
    }
}

static uint32_t row_cost(const uint8_t *p, size_t n) { /* sum of |filtered byte| as signed */
    uint32_t s = 0;
    for (size_t i = 0; i < n; i++) { int v = (int8_t)p[i]; s += (uint32_t)(v < 0 ? -v : v); }
    return s;
}

/* ------------------------------------------------------------------ API */
df_status png_fast_begin(png_fast **out, const uint8_t *rgba, int w, int h, int channels, int filter) {
    *out = NULL;
    if (!rgba || w <= 0 || h <= 0 || w > 65535 || h > 65535) return df_fail(DF_ERR_ARG, "png: bad image size %dx%d", w, h);
    if (channels != 0 && channels != 3 && channels != 4) return df_fail(DF_ERR_ARG, "png: channels must be 0, 3 or 4");
    if (filter < PNG_FAST_ADAPTIVE || filter > 4) return df_fail(DF_ERR_ARG, "png: bad filter %d", filter);
    crc_init();
    png_fast *st = calloc(1, sizeof *st);
    if (!st) return df_fail(DF_ERR_NOMEM, "png: out of memory");
    st->src = rgba, st->w = w, st->h = h, st->filter = filter;
    if (!channels) {
        size_t n = (size_t)w * h;
        uint8_t all = 255;
        for (size_t i = 0; i < n; i++) all &= rgba[4 * i + 3];
        channels = all == 255 ? 3 : 4;
    }
    st->ch = channels;
    st->stride = (size_t)w * channels;
    st->adler_a = 1;
    if (channels == 3) {
        st->rows[0] = malloc(st->stride), st->rows[1] = malloc(st->stride);
        if (!st->rows[0] || !st->rows[1]) { png_fast_free(st); return df_fail(DF_ERR_NOMEM, "png: out of memory"); }
    }
    if (filter == PNG_FAST_ADAPTIVE && !(st->cand = malloc(5 * st->stride))) {
        png_fast_free(st);
        return df_fail(DF_ERR_NOMEM, "png: out of memory");
    }
    *out = st;
    return DF_OK;
}

int png_fast_channels(const png_fast *st) { return st ? st->ch : 0; }

/* Row y of the image with st->ch channels (an RGB copy into one of two buffers when ch is 3). */
static const uint8_t *get_row(png_fast *st, int y) {
    const uint8_t *s = st->src + (size_t)y * st->w * 4;
    if (st->ch == 4) return s;
    uint8_t *d = st->rows[y & 1];
    for (int x = 0; x < st->w; x++) d[3 * x] = s[4 * x], d[3 * x + 1] = s[4 * x + 1], d[3 * x + 2] = s[4 * x + 2];
    return d;
}

df_status png_fast_next(png_fast *st, int rows, const uint8_t **out, size_t *len, int *rows_left) {
    *out = NULL, *len = 0;
    if (!st || rows < 1) return df_fail(DF_ERR_ARG, "png: bad arguments");
    if (st->y >= st->h) { *rows_left = 0; return DF_OK; }
    if (rows > st->h - st->y) rows = st->h - st->y;
    size_t line = st->stride + 1, nfilt = (size_t)rows * line;
    if (nfilt > st->filt_cap) {
        free(st->filt);
        if (!(st->filt = malloc(nfilt))) { st->filt_cap = 0; return df_fail(DF_ERR_NOMEM, "png: out of memory"); }
        st->filt_cap = nfilt;
    }
    /* worst case: 15 bits a byte, block headers, the PNG header, chunk framing, the end */
    size_t need = nfilt * 2 + (nfilt / BLOCK_BYTES + 1) * 400 + 256;
    if (need > st->out_cap) {
        free(st->out);
        if (!(st->out = malloc(need))) { st->out_cap = 0; return df_fail(DF_ERR_NOMEM, "png: out of memory"); }
        st->out_cap = need;
    }
    /* filter */
    const uint8_t *prev = st->y > 0 ? (st->ch == 4 ? st->src + (size_t)(st->y - 1) * st->w * 4 : st->rows[(st->y - 1) & 1]) : NULL;
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = get_row(st, st->y + r);
        uint8_t *f = st->filt + (size_t)r * line;
        if (st->filter >= 0) {
            f[0] = (uint8_t)st->filter;
            filter_row(f + 1, row, prev, st->stride, st->ch, st->filter);
        } else {
            int best = 0;
            uint32_t bestc = 0xffffffffu;
            for (int k = 0; k < 5; k++) {
                uint8_t *c = st->cand + (size_t)k * st->stride;
                filter_row(c, row, prev, st->stride, st->ch, k);
                uint32_t cost = row_cost(c, st->stride);
                if (cost < bestc) bestc = cost, best = k;
            }
            f[0] = (uint8_t)best;
            memcpy(f + 1, st->cand + (size_t)best * st->stride, st->stride);
        }
        prev = row;
    }
    adler_update(st, st->filt, nfilt);

    st->pos = 0;
    size_t chunk_start;
    if (st->y == 0) {
        static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
        put_bytes(st, sig, 8);
        uint8_t ihdr[17] = {'I', 'H', 'D', 'R'};
        for (int k = 0; k < 4; k++) ihdr[4 + k] = (uint8_t)(st->w >> (24 - 8 * k)), ihdr[8 + k] = (uint8_t)(st->h >> (24 - 8 * k));
        ihdr[12] = 8, ihdr[13] = st->ch == 4 ? 6 : 2; /* 8 bits; RGBA or RGB; deflate, adaptive filters, no interlace */
        put_be32(st, 13);
        put_bytes(st, ihdr, 17);
        put_be32(st, crc32_update(0, ihdr, 17));
        chunk_start = st->pos;
        put_bytes(st, "\0\0\0\0IDAT\x78\x01", 10); /* zlib header: deflate, 32K window, fastest */
    } else {
        chunk_start = st->pos;
        put_bytes(st, "\0\0\0\0IDAT", 8);
    }
    int last = st->y + rows >= st->h;
    for (size_t off = 0; off < nfilt; off += BLOCK_BYTES) {
        size_t n = nfilt - off < BLOCK_BYTES ? nfilt - off : BLOCK_BYTES;
        /* runs continue from the previous block (distance 1 reaches back into it); the first byte of the stream
         * and of each call starts afresh (the previous call's bytes are gone) */
        deflate_block(st, st->filt + off, n, off == 0, last && off + n == nfilt);
    }
    st->y += rows;
    if (last) {
        if (st->nbits) st->out[st->pos++] = (uint8_t)st->bits, st->bits = 0, st->nbits = 0; /* pad the last byte */
        put_be32(st, (st->adler_b << 16) | st->adler_a);
    }
    size_t dlen = st->pos - chunk_start - 8;
    uint8_t *c = st->out + chunk_start;
    c[0] = (uint8_t)(dlen >> 24), c[1] = (uint8_t)(dlen >> 16), c[2] = (uint8_t)(dlen >> 8), c[3] = (uint8_t)dlen;
    put_be32(st, crc32_update(0, c + 4, dlen + 4));
    if (last) put_bytes(st, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    *out = st->out, *len = st->pos, *rows_left = st->h - st->y;
    return DF_OK;
}

void png_fast_free(png_fast *st) {
    if (!st) return;
    free(st->rows[0]), free(st->rows[1]), free(st->filt), free(st->cand), free(st->out);
    free(st);
}

df_status png_fast_encode(const uint8_t *rgba, int w, int h, int channels, int filter, uint8_t **out, size_t *len) {
    *out = NULL, *len = 0;
    png_fast *st;
    df_status s = png_fast_begin(&st, rgba, w, h, channels, filter);
    if (s) return s;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    int left = h;
    while (left > 0) {
        const uint8_t *p;
        size_t k;
        if ((s = png_fast_next(st, 64, &p, &k, &left))) break;
        if (n + k > cap) {
            size_t nc = (n + k) * 2;
            uint8_t *nb = realloc(buf, nc);
            if (!nb) { s = df_fail(DF_ERR_NOMEM, "png: out of memory"); break; }
            buf = nb, cap = nc;
        }
        memcpy(buf + n, p, k), n += k;
    }
    png_fast_free(st);
    if (s) { free(buf); return s; }
    *out = buf, *len = n;
    return DF_OK;
}
