/* Fused training kernels for bf16 channels_last tensors on the CPU (see fmnist/accel/kernels.py, which builds
 * this file with gcc -O3 -march=native -fopenmp and loads it with ctypes; OpenMP shares torch's libgomp).
 *
 * A channels_last (N, C, H, W) tensor is, in memory, M = N*H*W rows of C channels: the loops below walk
 * rows and, inside a row, the channels, so the compiler vectorizes over C. Arithmetic is fp32, results
 * are rounded to bf16 as PyTorch rounds them; sums over rows are fp32 within a chunk of rows and double
 * across chunks. Five groups, each a forward and a backward:
 *   BatchNorm (batch statistics) + ReLU; gated conv's ReLU(x + BN(cv) * sigmoid(a)), alone or with the
 *   2x2 max-pooling after it; CBAM spatial attention's pooling and x * mask, alone or with the 2x2
 *   max-pooling after it; 2x2 max-pooling; and the first layer (a 3x3 convolution of the one-channel
 *   image + BatchNorm + ReLU). Where the compiler targets AVX-512, the first layer, the gate's forward
 *   and the attention's reductions over channels are intrinsics (portable C elsewhere): gcc's own
 *   vectorization of them was compute-bound or paid OpenMP simd-reduction set-up per pixel.
 * Eager PyTorch runs each element-wise layer as its own pass over whole tensors, and these layers are
 * memory-bound here; fewer passes (and fewer full-size temporaries) are what make training faster.
 * E.g. BatchNorm + ReLU: eager makes 6 passes forward and backward (BN forward 2, ReLU 1, ReLU backward 1,
 * BN backward 2), these make 4, the backward's ReLU mask recomputed from x instead of read from y.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#define CHUNK 256 /* rows per unit of work and per partial sum */

static inline float bf2f(uint16_t v) {
    uint32_t u = (uint32_t)v << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t f2bf(float f) { /* round to nearest even, NaN stays NaN (as torch does) */
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    return (f != f) ? (uint16_t)((u >> 16) | 0x40u) : (uint16_t)rounded;
}

#if defined(__AVX512F__)
static inline __m512 load_bf16x16(const uint16_t *p) { /* 16 bf16 to fp32 (exact: the bits shifted) */
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}
/* 16 fp32 to bf16, rounded to nearest even (vcvtneps2bf16 where the CPU has it: it also flushes values
 * below 2^-126 to zero, which a ReLU's output this small never needs) */
static inline __m256i bf16x16(__m512 v) {
#if defined(__AVX512BF16__)
    return (__m256i)_mm512_cvtneps_pbh(v);
#else
    __m512i u = _mm512_castps_si512(v), one = _mm512_set1_epi32(1);
    __m512i r = _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)),
                                 _mm512_and_si512(_mm512_srli_epi32(u, 16), one));
    r = _mm512_srli_epi32(r, 16);
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40)));
    return _mm512_cvtepi32_epi16(r);
#endif
}
#endif

static inline int64_t nchunks_of(int64_t m) { return (m + CHUNK - 1) / CHUNK; }

static inline int64_t chunk_end(int64_t k, int64_t m) { return (k + 1) * CHUNK < m ? (k + 1) * CHUNK : m; }

/* Per-channel totals, in double, of the fp32 partial sums that a reduction pass leaves per chunk:
 * part holds, for each chunk, c values of a sum then c values of a second one. */
static void sum_partials(const float *part, int64_t nchunks, int64_t c, double *a, double *b) {
    for (int64_t j = 0; j < c; j++) {
        double sa = 0, sb = 0;
        for (int64_t k = 0; k < nchunks; k++) {
            sa += part[2 * c * k + j];
            sb += part[2 * c * k + c + j];
        }
        a[j] = sa;
        b[j] = sb;
    }
}

/* Per-channel mean and biased variance of x (m rows of c channels). Values are shifted by the first
 * row before squaring, so a mean far from zero does not cancel the variance away. */
static void bn_stats(const uint16_t *restrict x, int64_t m, int64_t c, float *restrict mean, float *restrict var,
              int nthreads) {
    int64_t nchunks = nchunks_of(m);
    float *part = malloc(sizeof(float) * 2 * c * nchunks);
    float *ref = malloc(sizeof(float) * c);
    for (int64_t j = 0; j < c; j++) ref[j] = bf2f(x[j]);
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t k = 0; k < nchunks; k++) {
        float *restrict s = part + 2 * c * k, *restrict ss = s + c;
        for (int64_t j = 0; j < c; j++) s[j] = ss[j] = 0.f;
        int64_t end = chunk_end(k, m);
        for (int64_t i = k * CHUNK; i < end; i++) {
            const uint16_t *restrict row = x + i * c;
            for (int64_t j = 0; j < c; j++) {
                float d = bf2f(row[j]) - ref[j];
                s[j] += d;
                ss[j] += d * d;
            }
        }
    }
    double *s = malloc(sizeof(double) * 2 * c), *ss = s + c;
    sum_partials(part, nchunks, c, s, ss);
    for (int64_t j = 0; j < c; j++) {
        double mu = s[j] / m, v = ss[j] / m - mu * mu;
        mean[j] = (float)(ref[j] + mu);
        var[j] = v > 0 ? (float)v : 0.f;
    }
    free(s);
    free(part);
    free(ref);
}

/* y = ReLU(x * scale + shift), per channel scale = weight / sqrt(var + eps), shift = bias - mean * scale. */
static void bn_relu_forward(const uint16_t *restrict x, int64_t m, int64_t c, const float *restrict scale,
                     const float *restrict shift, uint16_t *restrict y, int nthreads) {
    int64_t nchunks = nchunks_of(m);
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t k = 0; k < nchunks; k++) {
        int64_t end = chunk_end(k, m);
        for (int64_t i = k * CHUNK; i < end; i++) {
            const uint16_t *restrict row = x + i * c;
            uint16_t *restrict out = y + i * c;
            for (int64_t j = 0; j < c; j++) {
                float v = bf2f(row[j]) * scale[j] + shift[j];
                out[j] = f2bf(v < 0.f ? 0.f : v);
            }
        }
    }
}

/* Backward, first pass: with gz = gy where the ReLU passed (x * scale + shift > 0), else 0,
 * sum_g = sum over rows of gz and sum_gx = sum of gz * (x - mean), per channel. */
static void bn_relu_grad_sums(const uint16_t *restrict x, const uint16_t *restrict gy, int64_t m, int64_t c,
                       const float *restrict scale, const float *restrict shift, const float *restrict mean,
                       double *sum_g, double *sum_gx, int nthreads) {
    int64_t nchunks = nchunks_of(m);
    float *part = malloc(sizeof(float) * 2 * c * nchunks);
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t k = 0; k < nchunks; k++) {
        float *restrict s = part + 2 * c * k, *restrict sx = s + c;
        for (int64_t j = 0; j < c; j++) s[j] = sx[j] = 0.f;
        int64_t end = chunk_end(k, m);
        for (int64_t i = k * CHUNK; i < end; i++) {
            const uint16_t *restrict row = x + i * c, *restrict grow = gy + i * c;
            for (int64_t j = 0; j < c; j++) {
                float xv = bf2f(row[j]);
                float g = xv * scale[j] + shift[j] > 0.f ? bf2f(grow[j]) : 0.f;
                s[j] += g;
                sx[j] += g * (xv - mean[j]);
            }
        }
    }
    sum_partials(part, nchunks, c, sum_g, sum_gx);
    free(part);
}

/* Backward, second pass: dx = gz * scale + (x - mean) * p + q, per channel coefficients from
 * bn_backward_coefficients (scale = weight * invstd). */
static void bn_relu_grad_input(const uint16_t *restrict x, const uint16_t *restrict gy, int64_t m, int64_t c,
                        const float *restrict scale, const float *restrict shift, const float *restrict mean,
                        const float *restrict p, const float *restrict q, uint16_t *restrict dx, int nthreads) {
    int64_t nchunks = nchunks_of(m);
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t k = 0; k < nchunks; k++) {
        int64_t end = chunk_end(k, m);
        for (int64_t i = k * CHUNK; i < end; i++) {
            const uint16_t *restrict row = x + i * c, *restrict grow = gy + i * c;
            uint16_t *restrict out = dx + i * c;
            for (int64_t j = 0; j < c; j++) {
                float xv = bf2f(row[j]);
                float g = xv * scale[j] + shift[j] > 0.f ? bf2f(grow[j]) : 0.f;
                out[j] = f2bf(g * scale[j] + (xv - mean[j]) * p[j] + q[j]);
            }
        }
    }
}

/* From batch statistics to stats = [mean, invstd, scale = weight * invstd, shift = bias - mean * scale]
 * (4*c floats, what the backward needs) and the running statistics when running_mean is not NULL
 * (unbiased variance, as BatchNorm2d keeps). */
static void bn_prepare(const uint16_t *x, int64_t m, int64_t c, const float *weight, const float *bias,
                       double eps, double momentum, float *running_mean, float *running_var, float *stats,
                       int nthreads) {
    float *mean = stats, *invstd = stats + c, *scale = stats + 2 * c, *shift = stats + 3 * c;
    float *var = malloc(sizeof(float) * c);
    bn_stats(x, m, c, mean, var, nthreads);
    for (int64_t j = 0; j < c; j++) {
        invstd[j] = (float)(1.0 / sqrt((double)var[j] + eps));
        scale[j] = weight[j] * invstd[j];
        shift[j] = bias[j] - mean[j] * scale[j];
        if (running_mean) {
            double unbiased = m > 1 ? (double)var[j] * m / (m - 1) : var[j];
            running_mean[j] = (float)(running_mean[j] + momentum * (mean[j] - running_mean[j]));
            running_var[j] = (float)(running_var[j] + momentum * (unbiased - running_var[j]));
        }
    }
    free(var);
}

/* Training forward of ReLU(BN(x)) with batch statistics; stats as bn_prepare fills them. */
void bn_relu_train_forward(const uint16_t *x, int64_t m, int64_t c, const float *weight, const float *bias,
                           double eps, double momentum, float *running_mean, float *running_var,
                           float *stats, uint16_t *y, int nthreads) {
    bn_prepare(x, m, c, weight, bias, eps, momentum, running_mean, running_var, stats, nthreads);
    bn_relu_forward(x, m, c, stats + 2 * c, stats + 3 * c, y, nthreads);
}

/* BatchNorm's backward from the sums over rows of g (the gradient at its output) and g * (x - mean):
 * grads (2*c floats) receives d weight and d bias, p and q the coefficients of
 * dx = g * scale + (x - mean) * p + q = k * (g - mean(g) - (x - mean) * invstd^2 * mean(g * (x - mean))),
 * k = scale = weight * invstd. */
static void bn_backward_coefficients(const float *stats, int64_t m, int64_t c, const double *sum_g,
                                     const double *sum_gx, float *grads, float *p, float *q) {
    const float *invstd = stats + c, *scale = stats + 2 * c;
    for (int64_t j = 0; j < c; j++) {
        grads[j] = (float)(sum_gx[j] * invstd[j]);
        grads[c + j] = (float)sum_g[j];
        p[j] = (float)(-scale[j] * invstd[j] * invstd[j] * sum_gx[j] / m);
        q[j] = (float)(-scale[j] * sum_g[j] / m);
    }
}

/* Training backward from the forward's stats: grads (2*c floats) receives d weight and d bias;
 * dx (when not NULL) the input's gradient. */
void bn_relu_train_backward(const uint16_t *x, const uint16_t *gy, int64_t m, int64_t c, const float *stats,
                            float *grads, uint16_t *dx, int nthreads) {
    const float *mean = stats, *scale = stats + 2 * c, *shift = stats + 3 * c;
    double *sum_g = malloc(sizeof(double) * 2 * c), *sum_gx = sum_g + c;
    float *p = malloc(sizeof(float) * 2 * c), *q = p + c;
    bn_relu_grad_sums(x, gy, m, c, scale, shift, mean, sum_g, sum_gx, nthreads);
    bn_backward_coefficients(stats, m, c, sum_g, sum_gx, grads, p, q);
    if (dx) bn_relu_grad_input(x, gy, m, c, scale, shift, mean, p, q, dx, nthreads);
    free(sum_g);
    free(p);
}

/* ---- The residual gated convolution's element-wise part: h = ReLU(x + BN(cv) * sigmoid(a)) ----
 * x the block's input, cv = conv(x) (BatchNorm'd with batch statistics), a = gate(x) before the sigmoid;
 * all (m, c) bf16. Eager PyTorch runs it as BatchNorm, sigmoid, mul, add, ReLU and their five backwards. */

static inline float exp_approx(float v) { /* Cephes' expf: ~1 ulp in fp32, and vectorizes */
    v = v < -87.f ? -87.f : (v > 88.f ? 88.f : v);
    float n = (v * 1.44269504088896341f + 12582912.f) - 12582912.f; /* rounded to an integer */
    float r = v - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float e = p * r * r + r + 1.f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return e * scale;
}

static inline float sigmoid(float v) { return 1.f / (1.f + exp_approx(-v)); }

#if defined(__AVX512F__)
/* sigmoid of 16 floats, exp_approx's arithmetic in intrinsics */
static inline __m512 sigmoid16(__m512 a) {
    __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), _mm512_set1_ps(-87.f)),
                             _mm512_set1_ps(88.f));
    __m512 magic = _mm512_set1_ps(12582912.f);
    __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(v, _mm512_set1_ps(1.44269504088896341f), magic), magic);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), v));
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 e = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.f));
    __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    e = _mm512_mul_ps(e, _mm512_castsi512_ps(bits));
    return _mm512_div_ps(_mm512_set1_ps(1.f), _mm512_add_ps(_mm512_set1_ps(1.f), e));
}
#endif

/* One row of the forward: h = ReLU(x + BN(cv) * sg) and sg = sigmoid(a), bf16. */
static inline void gated_row(const uint16_t *restrict xr, const uint16_t *restrict cr, const uint16_t *restrict ar,
                             int64_t c, const float *restrict scale, const float *restrict shift,
                             uint16_t *restrict out, uint16_t *restrict sout) {
    int64_t j = 0;
#if defined(__AVX512F__)
    for (; j + 16 <= c; j += 16) { /* the loop below in intrinsics: bf16 conversions in one instruction */
        __m256i s16 = bf16x16(sigmoid16(load_bf16x16(ar + j)));
        __m512 sv = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(s16), 16));
        __m512 bnv = _mm512_fmadd_ps(load_bf16x16(cr + j), _mm512_loadu_ps(scale + j), _mm512_loadu_ps(shift + j));
        __m512 v = _mm512_add_ps(load_bf16x16(xr + j), _mm512_mul_ps(bnv, sv));
        _mm256_storeu_si256((__m256i *)(out + j), bf16x16(_mm512_max_ps(v, _mm512_setzero_ps())));
        _mm256_storeu_si256((__m256i *)(sout + j), s16);
    }
#endif
    for (; j < c; j++) {
        uint16_t s16 = f2bf(sigmoid(bf2f(ar[j])));
        float v = bf2f(xr[j]) + (bf2f(cr[j]) * scale[j] + shift[j]) * bf2f(s16);
        out[j] = f2bf(v < 0.f ? 0.f : v);
        sout[j] = s16;
    }
}

/* Forward: h = ReLU(x + BN(cv) * sg), sg = sigmoid(a) also written out (the backward's input, as in
 * eager PyTorch, whose sigmoid backward reads the sigmoid's output). */
void gated_train_forward(const uint16_t *x, const uint16_t *cv, const uint16_t *a, int64_t m, int64_t c,
                         const float *weight, const float *bias, double eps, double momentum,
                         float *running_mean, float *running_var, float *stats, uint16_t *h, uint16_t *sg,
                         int nthreads) {
    bn_prepare(cv, m, c, weight, bias, eps, momentum, running_mean, running_var, stats, nthreads);
    const float *scale = stats + 2 * c, *shift = stats + 3 * c;
    int64_t nchunks = nchunks_of(m);
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t k = 0; k < nchunks; k++) {
        int64_t end = chunk_end(k, m);
        for (int64_t i = k * CHUNK; i < end; i++)
            gated_row(x + i * c, cv + i * c, a + i * c, c, scale, shift, h + i * c, sg + i * c);
    }
}

/* The max of four rows per channel and which held it, as maxpool2_forward (the first of a tie, NaN wins). */
static inline void max4(const uint16_t *restrict p00, const uint16_t *restrict p01, const uint16_t *restrict p10,
                        const uint16_t *restrict p11, int64_t c, uint16_t *restrict o, uint8_t *restrict k) {
    for (int64_t ch = 0; ch < c; ch++) {
        float best = bf2f(p00[ch]);
        uint8_t at = 0;
        float v = bf2f(p01[ch]);
        if (v > best || v != v) { best = v; at = 1; }
        v = bf2f(p10[ch]);
        if (v > best || v != v) { best = v; at = 2; }
        v = bf2f(p11[ch]);
        if (v > best || v != v) { best = v; at = 3; }
        o[ch] = f2bf(best);
        k[ch] = at;
    }
}

/* gated_train_forward followed by 2x2 max-pooling (x, cv, a: (n, hh, ww, c)), without writing h: each
 * window's four rows of h are made in a small buffer and pooled into out (n, hh/2, ww/2, c) and code
 * (as maxpool2_forward's). sg is written for every pixel (the backward reads it). */
void gated_maxpool2_forward(const uint16_t *x, const uint16_t *cv, const uint16_t *a, int64_t n, int64_t hh,
                            int64_t ww, int64_t c, const float *weight, const float *bias, double eps,
                            double momentum, float *running_mean, float *running_var, float *stats, uint16_t *out,
                            uint8_t *code, uint16_t *sg, int nthreads) {
    bn_prepare(cv, n * hh * ww, c, weight, bias, eps, momentum, running_mean, running_var, stats, nthreads);
    const float *scale = stats + 2 * c, *shift = stats + 3 * c;
    int64_t ho = hh / 2, wo = ww / 2;
#pragma omp parallel num_threads(nthreads)
    {
        uint16_t *buf = malloc(sizeof(uint16_t) * 4 * c); /* the heap: c may be large, OpenMP stacks are small */
#pragma omp for schedule(static)
        for (int64_t r = 0; r < n * ho; r++) {
            int64_t b = r / ho, i = r % ho;
            for (int64_t j = 0; j < wo; j++) {
                int64_t p = (b * hh + 2 * i) * ww + 2 * j;
                const int64_t px[4] = {p, p + 1, p + ww, p + ww + 1};
                for (int q = 0; q < 4; q++)
                    gated_row(x + px[q] * c, cv + px[q] * c, a + px[q] * c, c, scale, shift, buf + q * c,
                              sg + px[q] * c);
                int64_t o = ((b * ho + i) * wo + j) * c;
                max4(buf, buf + c, buf + 2 * c, buf + 3 * c, c, out + o, code + o);
                for (int64_t ch = 0; ch < c; ch++) /* the ReLU passed nothing here (the max, bf16, not in */
                    code[o + ch] = (uint16_t)(out[o + ch] - 1u) < 0x7f80u ? code[o + ch] : 4; /* (0, inf]) */
            }
            /* the odd last column and row that the pooling drops: sg only */
            for (int64_t y = 2 * i; ww % 2 && y < 2 * i + 2; y++) {
                int64_t p = (b * hh + y) * ww + ww - 1;
                gated_row(x + p * c, cv + p * c, a + p * c, c, scale, shift, buf, sg + p * c);
            }
            for (int64_t xx = 0; hh % 2 && i == ho - 1 && xx < ww; xx++) {
                int64_t p = (b * hh + hh - 1) * ww + xx;
                gated_row(x + p * c, cv + p * c, a + p * c, c, scale, shift, buf, sg + p * c);
            }
        }
        free(buf);
    }
}

/* Where the backward's gz (the gradient at h where the ReLU passed, else 0) comes from: h and its
 * gradient gh (gated_train_backward), or, after fused pooling (gated_maxpool2_backward), the pooled
 * gradient gp and the pooling's code, which names the window position that passed the gradient (4: none,
 * where the pooled h, the window's max, is not > 0, so the ReLU passed nothing at the max's position). */
typedef struct {
    const uint16_t *h, *gh;                  /* unpooled */
    const uint16_t *gp;                      /* pooled: gp NULL when unpooled */
    const uint8_t *code;
    int64_t hh, ww;                          /* the unpooled height and width */
} gz_source;

/* gz for pixel row i into gz (c floats). */
static inline void gated_gz_row(const gz_source *src, int64_t i, int64_t c, float *restrict gz) {
    if (!src->gp) {
        const uint16_t *restrict hr = src->h + i * c, *restrict gr = src->gh + i * c;
        for (int64_t j = 0; j < c; j++) gz[j] = bf2f(hr[j]) > 0.f ? bf2f(gr[j]) : 0.f;
        return;
    }
    int64_t hh = src->hh, ww = src->ww, ho = hh / 2, wo = ww / 2;
    int64_t b = i / (hh * ww), y = (i / ww) % hh, xx = i % ww;
    if (y / 2 >= ho || xx / 2 >= wo) { /* dropped by the pooling: no gradient */
        for (int64_t j = 0; j < c; j++) gz[j] = 0.f;
        return;
    }
    int64_t o = ((b * ho + y / 2) * wo + xx / 2) * c;
    const uint16_t *restrict g = src->gp + o;
    const uint8_t *restrict k = src->code + o;
    uint8_t q = (uint8_t)(2 * (y % 2) + xx % 2);
    int64_t j = 0;
#if defined(__AVX512F__)
    for (; j + 16 <= c; j += 16) {
        __m512i kv = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(k + j)));
        __mmask16 pass = _mm512_cmpeq_epi32_mask(kv, _mm512_set1_epi32(q));
        _mm512_storeu_ps(gz + j, _mm512_maskz_mov_ps(pass, load_bf16x16(g + j)));
    }
#endif
    for (; j < c; j++) gz[j] = k[j] == q ? bf2f(g[j]) : 0.f;
}

/* One row of the backward's second pass (a function of its own so that every pointer is restrict and
 * the compiler vectorizes it). */
static inline void gated_grad_row(const float *restrict gz, const uint16_t *restrict cr,
                                  const uint16_t *restrict sr, int64_t c, const float *restrict mean,
                                  const float *restrict scale, const float *restrict shift, const float *restrict p,
                                  const float *restrict q, uint16_t *restrict dxr, uint16_t *restrict dcr,
                                  uint16_t *restrict dar, float *restrict da_sum) {
    for (int64_t j = 0; j < c; j++) {
        float cval = bf2f(cr[j]), sg = bf2f(sr[j]);
        dxr[j] = f2bf(gz[j]);
        dcr[j] = f2bf(gz[j] * sg * scale[j] + (cval - mean[j]) * p[j] + q[j]);
        uint16_t da = f2bf(gz[j] * (cval * scale[j] + shift[j]) * sg * (1.f - sg));
        dar[j] = da;
        da_sum[j] += bf2f(da);
    }
}

static inline void gated_sums_row(const float *restrict gz, const uint16_t *restrict cr, const uint16_t *restrict sr,
                                  int64_t c, const float *restrict mean, float *restrict s, float *restrict sx) {
    for (int64_t j = 0; j < c; j++) {
        float gb = gz[j] * bf2f(sr[j]); /* gradient at BN's output */
        s[j] += gb;
        sx[j] += gb * (bf2f(cr[j]) - mean[j]);
    }
}

/* The backward's two passes over m pixel rows, gz from src. */
static void gated_backward(const gz_source *src, const uint16_t *cv, const uint16_t *sg, int64_t m, int64_t c,
                           const float *stats, float *grads, uint16_t *dx, uint16_t *dcv, uint16_t *da,
                           int nthreads) {
    const float *mean = stats, *scale = stats + 2 * c, *shift = stats + 3 * c;
    int64_t nchunks = nchunks_of(m);
    float *part = malloc(sizeof(float) * 2 * c * nchunks);
#pragma omp parallel num_threads(nthreads)
    {
        float *gz = malloc(sizeof(float) * c);
#pragma omp for schedule(static)
        for (int64_t k = 0; k < nchunks; k++) {
            float *restrict s = part + 2 * c * k, *restrict sx = s + c;
            for (int64_t j = 0; j < c; j++) s[j] = sx[j] = 0.f;
            int64_t end = chunk_end(k, m);
            for (int64_t i = k * CHUNK; i < end; i++) {
                gated_gz_row(src, i, c, gz);
                gated_sums_row(gz, cv + i * c, sg + i * c, c, mean, s, sx);
            }
        }
        free(gz);
    }
    double *sum_g = malloc(sizeof(double) * 2 * c), *sum_gx = sum_g + c;
    float *p = malloc(sizeof(float) * 2 * c), *q = p + c;
    sum_partials(part, nchunks, c, sum_g, sum_gx);
    bn_backward_coefficients(stats, m, c, sum_g, sum_gx, grads, p, q);
#pragma omp parallel num_threads(nthreads)
    {
        float *gz = malloc(sizeof(float) * c);
#pragma omp for schedule(static)
        for (int64_t k = 0; k < nchunks; k++) {
            float *restrict s = part + 2 * c * k;
            for (int64_t j = 0; j < c; j++) s[j] = s[c + j] = 0.f;
            int64_t end = chunk_end(k, m);
            for (int64_t i = k * CHUNK; i < end; i++) {
                gated_gz_row(src, i, c, gz);
                gated_grad_row(gz, cv + i * c, sg + i * c, c, mean, scale, shift, p, q, dx + i * c, dcv + i * c,
                               da + i * c, s);
            }
        }
        free(gz);
    }
    sum_partials(part, nchunks, c, sum_g, sum_gx);
    for (int64_t j = 0; j < c; j++) grads[2 * c + j] = (float)sum_g[j];
    free(sum_g);
    free(part);
    free(p);
}

/* Backward from the forward's h, cv, sg and stats. grads: 3*c floats, d weight and d bias of the
 * BatchNorm, then the sum over rows of da (the gate convolution's bias gradient); dx (the residual path's
 * share only: the convolutions add theirs), dcv, da: (m, c) bf16. */
void gated_train_backward(const uint16_t *h, const uint16_t *cv, const uint16_t *sg, const uint16_t *gh,
                          int64_t m, int64_t c, const float *stats, float *grads, uint16_t *dx, uint16_t *dcv,
                          uint16_t *da, int nthreads) {
    gz_source src = {.h = h, .gh = gh};
    gated_backward(&src, cv, sg, m, c, stats, grads, dx, dcv, da, nthreads);
}

/* Backward of gated_maxpool2_forward from gp, the gradient at the pooled output, and its code (which
 * also says where the ReLU passed nothing, so h is neither stored nor recomputed): gz is rebuilt from gp
 * where gated_train_backward reads h and gh; the rest as gated_train_backward. */
void gated_maxpool2_backward(const uint16_t *cv, const uint16_t *sg, const uint16_t *gp, const uint8_t *code,
                             int64_t n, int64_t hh, int64_t ww, int64_t c, const float *stats, float *grads,
                             uint16_t *dx, uint16_t *dcv, uint16_t *da, int nthreads) {
    gz_source src = {.gp = gp, .code = code, .hh = hh, .ww = ww};
    gated_backward(&src, cv, sg, n * hh * ww, c, stats, grads, dx, dcv, da, nthreads);
}

/* ---- CBAM spatial attention: out = x * sigmoid(conv_kxk([mean_c(x); max_c(x)]) + b) ----
 * x (n, h, w, c) bf16. The k x k convolution (2 channels in, 1 out) is tiny (2*k*k multiply-adds per
 * pixel) but costs oneDNN more in overhead than all the rest; here it runs on planar fp32 maps padded by
 * k/2 ("pp", (n, 2, h + 2*(k/2), w + 2*(k/2)), zeroed by the caller), one image row at a time so the
 * loop over the row's pixels vectorizes. The mask is kept in fp32. */

/* Reductions over one pixel's channels run in 16 lanes that the compiler keeps in vector registers, then
 * the rest: an omp simd reduction over so short a loop (c = 32 to 256) costs more in setting up and
 * folding its per-lane arrays than the loop itself (3-4x slower here). */
#define LANES 16

/* The mean and the max of a row of c channels, and the first channel holding the max (the last if none
 * does: a NaN row[0]; NaN elsewhere never wins). */
static inline void channel_mean_max(const uint16_t *restrict row, int64_t c, float *mean, float *mx, int64_t *at) {
    float sum = 0.f, best = bf2f(row[0]);
    int64_t j = 0, found = c - 1;
#if defined(__AVX512F__)
    if (c % 16 == 0) {
        __m512 s = _mm512_setzero_ps(), m = _mm512_set1_ps(-INFINITY);
        for (; j < c; j += 16) {
            __m512 v = load_bf16x16(row + j);
            s = _mm512_add_ps(s, v);
            m = _mm512_max_ps(v, m); /* v > m ? v : m: a NaN v never wins */
        }
        float lanes_max = _mm512_reduce_max_ps(m);
        sum = _mm512_reduce_add_ps(s);
        best = lanes_max > best ? lanes_max : best;
        __m512 bv = _mm512_set1_ps(best);
        for (j = 0; j < c; j += 16) {
            __mmask16 hit = _mm512_cmp_ps_mask(load_bf16x16(row + j), bv, _CMP_EQ_OQ);
            if (hit) {
                found = j + __builtin_ctz((unsigned)hit);
                break;
            }
        }
        *mean = sum / (float)c;
        *at = found;
        *mx = bf2f(row[found]);
        return;
    }
#endif
    float s[LANES] = {0}, m[LANES];
    for (int l = 0; l < LANES; l++) m[l] = -INFINITY;
    for (; j + LANES <= c; j += LANES)
        for (int l = 0; l < LANES; l++) {
            float v = bf2f(row[j + l]);
            s[l] += v;
            m[l] = v > m[l] ? v : m[l];
        }
    for (; j < c; j++) {
        float v = bf2f(row[j]);
        s[0] += v;
        m[0] = v > m[0] ? v : m[0];
    }
    for (int l = 0; l < LANES; l++) {
        sum += s[l];
        best = m[l] > best ? m[l] : best;
    }
    for (j = 0; j < c; j++)
        if (bf2f(row[j]) == best) {
            found = j;
            break;
        }
    *mean = sum / (float)c;
    *at = found;
    *mx = bf2f(row[found]);
}

/* sum over c channels of a * b */
static inline float channel_dot(const uint16_t *restrict a, const uint16_t *restrict b, int64_t c) {
#if defined(__AVX512F__)
    if (c % 16 == 0) {
        __m512 acc = _mm512_setzero_ps();
        for (int64_t j = 0; j < c; j += 16) acc = _mm512_fmadd_ps(load_bf16x16(a + j), load_bf16x16(b + j), acc);
        return _mm512_reduce_add_ps(acc);
    }
#endif
    float s[LANES] = {0}, sum = 0.f;
    int64_t j = 0;
    for (; j + LANES <= c; j += LANES)
        for (int l = 0; l < LANES; l++) s[l] += bf2f(a[j + l]) * bf2f(b[j + l]);
    for (; j < c; j++) s[0] += bf2f(a[j]) * bf2f(b[j]);
    for (int l = 0; l < LANES; l++) sum += s[l];
    return sum;
}

/* sum over i < len of a[i] * b[i] (b NULL: of a[i]), fp32 */
static inline float dot_f32(const float *restrict a, const float *restrict b, int64_t len) {
    float s[LANES] = {0}, sum = 0.f;
    int64_t i = 0;
#if defined(__AVX512F__)
    __m512 acc = _mm512_setzero_ps();
    for (; i + 16 <= len; i += 16)
        acc = b ? _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc)
                : _mm512_add_ps(_mm512_loadu_ps(a + i), acc);
    sum = _mm512_reduce_add_ps(acc);
#endif
    for (; i + LANES <= len; i += LANES)
        for (int l = 0; l < LANES; l++) s[l] += a[i + l] * (b ? b[i + l] : 1.f);
    for (; i < len; i++) s[0] += a[i] * (b ? b[i] : 1.f);
    for (int l = 0; l < LANES; l++) sum += s[l];
    return sum;
}

/* pp receives [mean_c(x); max_c(x)] inside its border; idx the first channel holding the max. */
void sa_pool(const uint16_t *x, int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, float *pp, int16_t *idx,
             int nthreads) {
    int64_t r = k / 2, hp = h + 2 * r, wp = w + 2 * r;
#pragma omp parallel for collapse(2) num_threads(nthreads) schedule(static)
    for (int64_t b = 0; b < n; b++)
    for (int64_t y = 0; y < h; y++)
    for (int64_t xx = 0; xx < w; xx++) {
        int64_t i = (b * h + y) * w + xx, at;
        float mean, mx;
        channel_mean_max(x + i * c, c, &mean, &mx, &at);
        pp[((b * 2 + 0) * hp + y + r) * wp + xx + r] = mean;
        pp[((b * 2 + 1) * hp + y + r) * wp + xx + r] = mx;
        idx[i] = (int16_t)at;
    }
}

/* mask (n, h, w) = sigmoid(bias + sum over 2 channels and k x k taps of weight * pp). Computed on the
 * padded width (the columns past w are discarded), so each tap is one long vectorized loop; pp needs 2*r
 * floats of slack after its last plane. */
void sa_mask(const float *pp, int64_t n, int64_t h, int64_t w, int64_t k, const float *weight, float bias,
             float *mask, int nthreads) {
    int64_t r = k / 2, hp = h + 2 * r, wp = w + 2 * r, len = h * wp;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t b = 0; b < n; b++) {
        float *acc = malloc(sizeof(float) * len); /* the heap, not the stack: OpenMP threads' stacks are small */
        for (int64_t i = 0; i < len; i++) acc[i] = bias;
        for (int64_t ci = 0; ci < 2; ci++)
            for (int64_t kh = 0; kh < k; kh++)
                for (int64_t kw = 0; kw < k; kw++) {
                    const float *restrict src = pp + (b * 2 + ci) * hp * wp + kh * wp + kw;
                    float wt = weight[(ci * k + kh) * k + kw];
                    for (int64_t i = 0; i < len; i++) acc[i] += wt * src[i];
                }
        for (int64_t y = 0; y < h; y++)
            for (int64_t xx = 0; xx < w; xx++) mask[(b * h + y) * w + xx] = sigmoid(acc[y * wp + xx]);
        free(acc);
    }
}

void sa_apply(const uint16_t *x, const float *mask, int64_t m, int64_t c, uint16_t *out, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t i = 0; i < m; i++) {
        const uint16_t *restrict row = x + i * c;
        uint16_t *restrict o = out + i * c;
        float s = mask[i];
        for (int64_t j = 0; j < c; j++) o[j] = f2bf(bf2f(row[j]) * s);
    }
}

/* The gradient at the convolution's output: dlogits = sum_c(gout * x) * s * (1 - s), s the mask. */
void sa_grad_logits(const uint16_t *gout, const uint16_t *x, const float *mask, int64_t m, int64_t c,
                    float *dlogits, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t i = 0; i < m; i++) {
        dlogits[i] = channel_dot(gout + i * c, x + i * c, c) * mask[i] * (1.f - mask[i]);
    }
}

/* The convolution's backward: grads (2*k*k + 1 floats: d weight, then d bias) and dpooled (n, 2, h, w),
 * the gradient at [mean; max]. Like sa_mask, on the padded width, one long loop per tap. */
void sa_conv_backward(const float *pp, const float *dlogits, int64_t n, int64_t h, int64_t w, int64_t k,
                      const float *weight, float *grads, float *dpooled, int nthreads) {
    int64_t r = k / 2, hp = h + 2 * r, wp = w + 2 * r, len = h * wp, taps = 2 * k * k;
    float *part = calloc((size_t)(n * (taps + 1)), sizeof(float));
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t b = 0; b < n; b++) {
        /* dlogits on the padded width (dl), padded all round (dlp), and the transposed convolution's rows */
        float *dl = malloc(sizeof(float) * len), *acc = malloc(sizeof(float) * len);
        float *dlp = calloc((size_t)(hp * wp + 2 * r), sizeof(float));
        for (int64_t y = 0; y < h; y++)
            for (int64_t xx = 0; xx < wp; xx++) {
                float v = xx < w ? dlogits[(b * h + y) * w + xx] : 0.f;
                dl[y * wp + xx] = v;
                if (xx < w) dlp[(y + r) * wp + xx + r] = v;
            }
        float *restrict gw = part + b * (taps + 1);
        gw[taps] = dot_f32(dl, NULL, len);
        for (int64_t ci = 0; ci < 2; ci++) {
            for (int64_t kh = 0; kh < k; kh++)
                for (int64_t kw = 0; kw < k; kw++) {
                    const float *restrict src = pp + (b * 2 + ci) * hp * wp + kh * wp + kw;
                    gw[(ci * k + kh) * k + kw] = dot_f32(dl, src, len);
                }
            /* d pooled: the transposed convolution, out[y, x] = sum weight[kh, kw] * dlp[y + 2r - kh, x + 2r - kw] */
            for (int64_t i = 0; i < len; i++) acc[i] = 0.f;
            for (int64_t kh = 0; kh < k; kh++)
                for (int64_t kw = 0; kw < k; kw++) {
                    const float *restrict src = dlp + (2 * r - kh) * wp + 2 * r - kw;
                    float wt = weight[(ci * k + kh) * k + kw];
                    for (int64_t i = 0; i < len; i++) acc[i] += wt * src[i];
                }
            for (int64_t y = 0; y < h; y++)
                memcpy(dpooled + ((b * 2 + ci) * h + y) * w, acc + y * wp, sizeof(float) * w);
        }
        free(dl);
        free(acc);
        free(dlp);
    }
    for (int64_t t = 0; t <= taps; t++) {
        double total = 0;
        for (int64_t b = 0; b < n; b++) total += part[b * (taps + 1) + t];
        grads[t] = (float)total;
    }
    free(part);
}

/* dx = gout * mask + d mean / c + (channel == idx) * d max, d mean and d max from dpooled (n, 2, h, w). */
void sa_grad_input(const uint16_t *gout, const float *mask, const float *dpooled, const int16_t *idx, int64_t n,
                   int64_t hw, int64_t c, uint16_t *dx, int nthreads) {
#pragma omp parallel for collapse(2) num_threads(nthreads) schedule(static)
    for (int64_t b = 0; b < n; b++)
    for (int64_t p = 0; p < hw; p++) {
        int64_t i = b * hw + p;
        const uint16_t *restrict g = gout + i * c;
        uint16_t *restrict d = dx + i * c;
        float s = mask[i], dmean = dpooled[(b * 2) * hw + p] / (float)c, dmax = dpooled[(b * 2 + 1) * hw + p];
        for (int64_t j = 0; j < c; j++) d[j] = f2bf(bf2f(g[j]) * s + dmean);
        d[idx[i]] = f2bf(bf2f(g[idx[i]]) * s + dmean + dmax);
    }
}

/* ---- sa's attention product and the 2x2 max-pooling after it, as one ----
 * In sa every stage ends in out = x * mask followed by 2x2 max-pooling. Fused, the full-size product is
 * never written: the forward pools the products as it makes them (rounded to bf16 first, so the values
 * and the one-byte codes are those of sa_apply + maxpool2_forward), and the backward rebuilds the
 * product's gradient (the pooled gradient where the code points, else 0) inside the two passes that use
 * it, instead of maxpool2_backward writing it out for sa_grad_logits and sa_grad_input to read back. */

static inline float sa_product(uint16_t v, float s) { return bf2f(f2bf(bf2f(v) * s)); }

void sa_apply_maxpool2(const uint16_t *x, const float *mask, int64_t n, int64_t h, int64_t w, int64_t c,
                       uint16_t *out, uint8_t *code, int nthreads) {
    int64_t ho = h / 2, wo = w / 2;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t r = 0; r < n * ho; r++) {
        int64_t b = r / ho, i = r % ho;
        for (int64_t j = 0; j < wo; j++) {
            int64_t p = (b * h + 2 * i) * w + 2 * j; /* the top-left input pixel */
            const uint16_t *restrict p00 = x + p * c;
            const uint16_t *restrict p01 = p00 + c, *restrict p10 = p00 + w * c, *restrict p11 = p10 + c;
            float s00 = mask[p], s01 = mask[p + 1], s10 = mask[p + w], s11 = mask[p + w + 1];
            uint16_t *restrict o = out + ((b * ho + i) * wo + j) * c;
            uint8_t *restrict k = code + ((b * ho + i) * wo + j) * c;
            for (int64_t ch = 0; ch < c; ch++) {
                float best = sa_product(p00[ch], s00);
                uint8_t at = 0;
                float v = sa_product(p01[ch], s01);
                if (v > best || v != v) { best = v; at = 1; }
                v = sa_product(p10[ch], s10);
                if (v > best || v != v) { best = v; at = 2; }
                v = sa_product(p11[ch], s11);
                if (v > best || v != v) { best = v; at = 3; }
                o[ch] = f2bf(best);
                k[ch] = at;
            }
        }
    }
}

/* In the backward, of the four products in a pooling window each channel's gradient went to the one its
 * code names (the window's pooled gradient g), the other three got 0; the odd last row or column that the
 * pooling dropped got 0 in every channel. The logits' gradient walks the windows, the input's gradient
 * the input rows. */

/* sum[q] = sum over channels of (k == q ? g : 0) * x_q for the four pixels x00, x01, x10, x11 of a window.
 * AVX-512 where there is, else in LANES lanes, as channel_dot. */
static inline void window_dots(const uint16_t *restrict g, const uint8_t *restrict k, const uint16_t *restrict x00,
                               const uint16_t *restrict x01, const uint16_t *restrict x10,
                               const uint16_t *restrict x11, int64_t c, float sum[4]) {
#if defined(__AVX512F__)
    if (c % 16 == 0) {
        __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        const uint16_t *xs[4] = {x00, x01, x10, x11};
        for (int64_t ch = 0; ch < c; ch += 16) {
            __m512 gv = load_bf16x16(g + ch);
            __m512i kv = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(k + ch)));
            for (int q = 0; q < 4; q++) {
                __m512 gq = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(kv, _mm512_set1_epi32(q)), gv);
                a[q] = _mm512_fmadd_ps(gq, load_bf16x16(xs[q] + ch), a[q]);
            }
        }
        for (int q = 0; q < 4; q++) sum[q] = _mm512_reduce_add_ps(a[q]);
        return;
    }
#endif
    float a0[LANES] = {0}, a1[LANES] = {0}, a2[LANES] = {0}, a3[LANES] = {0};
    int64_t ch = 0;
    for (; ch + LANES <= c; ch += LANES)
        for (int l = 0; l < LANES; l++) {
            float gv = bf2f(g[ch + l]);
            int kk = k[ch + l];
            a0[l] += (kk == 0 ? gv : 0.f) * bf2f(x00[ch + l]);
            a1[l] += (kk == 1 ? gv : 0.f) * bf2f(x01[ch + l]);
            a2[l] += (kk == 2 ? gv : 0.f) * bf2f(x10[ch + l]);
            a3[l] += (kk == 3 ? gv : 0.f) * bf2f(x11[ch + l]);
        }
    for (; ch < c; ch++) {
        float gv = bf2f(g[ch]);
        int kk = k[ch];
        a0[0] += (kk == 0 ? gv : 0.f) * bf2f(x00[ch]);
        a1[0] += (kk == 1 ? gv : 0.f) * bf2f(x01[ch]);
        a2[0] += (kk == 2 ? gv : 0.f) * bf2f(x10[ch]);
        a3[0] += (kk == 3 ? gv : 0.f) * bf2f(x11[ch]);
    }
    sum[0] = sum[1] = sum[2] = sum[3] = 0.f;
    for (int l = 0; l < LANES; l++) {
        sum[0] += a0[l];
        sum[1] += a1[l];
        sum[2] += a2[l];
        sum[3] += a3[l];
    }
}

/* dlogits = sum_c(gout * x) * s * (1 - s) as sa_grad_logits, gout rebuilt from the pooled gradient gp. */
void sa_maxpool2_grad_logits(const uint16_t *gp, const uint8_t *code, const uint16_t *x, const float *mask,
                             int64_t n, int64_t h, int64_t w, int64_t c, float *dlogits, int nthreads) {
    int64_t ho = h / 2, wo = w / 2;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t r = 0; r < n * ho; r++) {
        int64_t b = r / ho, i = r % ho;
        for (int64_t j = 0; j < wo; j++) {
            int64_t p = (b * h + 2 * i) * w + 2 * j, o = ((b * ho + i) * wo + j) * c;
            const uint16_t *restrict x00 = x + p * c, *restrict x01 = x00 + c, *restrict x10 = x00 + w * c,
                           *restrict x11 = x10 + c, *restrict g = gp + o;
            const uint8_t *restrict k = code + o;
            float sum[4];
            window_dots(g, k, x00, x01, x10, x11, c, sum);
            const int64_t at[4] = {p, p + 1, p + w, p + w + 1};
            for (int q = 0; q < 4; q++) dlogits[at[q]] = sum[q] * mask[at[q]] * (1.f - mask[at[q]]);
        }
        if (w % 2) dlogits[(b * h + 2 * i) * w + w - 1] = dlogits[(b * h + 2 * i + 1) * w + w - 1] = 0.f;
        if (h % 2 && i == ho - 1) memset(dlogits + (b * h + h - 1) * w, 0, sizeof(float) * w);
    }
}

/* dx = gout * mask + d mean / c + (channel == idx) * d max as sa_grad_input, gout rebuilt from gp. */
void sa_maxpool2_grad_input(const uint16_t *gp, const uint8_t *code, const float *mask, const float *dpooled,
                            const int16_t *idx, int64_t n, int64_t h, int64_t w, int64_t c, uint16_t *dx,
                            int nthreads) {
    int64_t ho = h / 2, wo = w / 2, hw = h * w;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t r = 0; r < n * h; r++) { /* one input row each */
        int64_t b = r / h, y = r % h, i = y / 2;
        const float *dmeans = dpooled + (b * 2) * hw + y * w, *dmaxes = dmeans + hw;
        for (int64_t xx = 0; xx < w; xx++) {
            int64_t px = r * w + xx, j = xx / 2;
            float s = mask[px], dmean = dmeans[xx] / (float)c;
            uint16_t *restrict d = dx + px * c;
            int64_t at = idx[px];
            float gat = 0.f; /* the product's gradient in channel idx */
            if (i < ho && j < wo) {
                int64_t o = ((b * ho + i) * wo + j) * c;
                const uint16_t *restrict g = gp + o;
                const uint8_t *restrict k = code + o;
                int q = (int)(2 * (y % 2) + xx % 2);
                int64_t ch = 0;
#if defined(__AVX512F__)
                __m512 sv = _mm512_set1_ps(s), mv = _mm512_set1_ps(dmean);
                for (; ch + 16 <= c; ch += 16) {
                    __m512i kv = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(k + ch)));
                    __m512 gq = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(kv, _mm512_set1_epi32(q)),
                                                    load_bf16x16(g + ch));
                    _mm256_storeu_si256((__m256i *)(d + ch), bf16x16(_mm512_add_ps(_mm512_mul_ps(gq, sv), mv)));
                }
#endif
                for (; ch < c; ch++) d[ch] = f2bf((k[ch] == q ? bf2f(g[ch]) : 0.f) * s + dmean);
                gat = k[at] == q ? bf2f(g[at]) : 0.f;
            } else { /* a dropped row or column: only the pooling's [mean; max] */
                uint16_t v = f2bf(0.f * s + dmean);
                for (int64_t ch = 0; ch < c; ch++) d[ch] = v;
            }
            d[at] = f2bf(gat * s + dmean + dmaxes[xx]);
        }
    }
}

/* ---- 2x2 max-pooling, stride 2 (floor: an odd last row or column is dropped) ----
 * x (n, h, w, c) bf16 -> out (n, h/2, w/2, c) and, per output element, which of the four inputs held the
 * max (0..3 = top-left, top-right, bottom-left, bottom-right; the first of a tie; NaN wins, as in torch).
 * The backward writes every input gradient exactly once: no zero-filled buffer and no scatter, as
 * eager PyTorch needs with its int64 indices. */
void maxpool2_forward(const uint16_t *x, int64_t n, int64_t h, int64_t w, int64_t c, uint16_t *out,
                      uint8_t *code, int nthreads) {
    int64_t ho = h / 2, wo = w / 2;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t r = 0; r < n * ho; r++) {
        int64_t b = r / ho, i = r % ho;
        for (int64_t j = 0; j < wo; j++) {
            const uint16_t *restrict p00 = x + ((b * h + 2 * i) * w + 2 * j) * c;
            const uint16_t *restrict p01 = p00 + c, *restrict p10 = p00 + w * c, *restrict p11 = p10 + c;
            uint16_t *restrict o = out + ((b * ho + i) * wo + j) * c;
            uint8_t *restrict k = code + ((b * ho + i) * wo + j) * c;
            max4(p00, p01, p10, p11, c, o, k);
        }
    }
}

void maxpool2_backward(const uint16_t *gout, const uint8_t *code, int64_t n, int64_t h, int64_t w, int64_t c,
                       uint16_t *dx, int nthreads) {
    int64_t ho = h / 2, wo = w / 2;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t r = 0; r < n * h; r++) {  /* one input row each */
        int64_t b = r / h, y = r % h, i = y / 2, dy = y % 2;
        uint16_t *restrict d = dx + r * w * c;
        if (i >= ho) {  /* the dropped odd last row */
            memset(d, 0, sizeof(uint16_t) * w * c);
            continue;
        }
        for (int64_t j = 0; j < wo; j++) {
            const uint16_t *restrict g = gout + ((b * ho + i) * wo + j) * c;
            const uint8_t *restrict k = code + ((b * ho + i) * wo + j) * c;
            uint16_t *restrict d0 = d + 2 * j * c, *restrict d1 = d0 + c;
            uint16_t left = (uint16_t)(2 * dy), right = (uint16_t)(2 * dy + 1);
            /* d0 and d1 are c apart: without ivdep gcc's run-time overlap check fails for c < 64 and the
             * scalar loop ran (28x28x32: 0.4 ms instead of 0.09) */
#pragma GCC ivdep
            for (int64_t ch = 0; ch < c; ch++) {
                uint16_t kk = k[ch], gg = g[ch];
                d0[ch] = (uint16_t)(gg & (uint16_t)-(uint16_t)(kk == left));
                d1[ch] = (uint16_t)(gg & (uint16_t)-(uint16_t)(kk == right));
            }
        }
        if (w % 2) memset(d + (w - 1) * c, 0, sizeof(uint16_t) * c);  /* the dropped odd last column */
    }
}

/* ---- The stem: ReLU(BN(conv3x3(x))) for a one-channel image, the first layer of every model ----
 * xp (n, h + 2, w + 2) fp32, the normalized image with its zero padding; wt (9, c) fp32, the convolution's
 * weight transposed (tap-major, so the loop over channels vectorizes); y (n, h, w, c) bf16. The
 * convolution costs 9 multiply-adds per output, less than reading a stored output back from memory, so it
 * is never stored: the forward's one pass and the backward's one pass recompute it in fp32. The passes
 * BatchNorm would add need no convolution at all: the convolution is linear in the 9 taps p of each pixel,
 * so its batch mean and variance per channel come from the taps' sums S1 = sum p and S2 = sum p p^T
 * (mean = W.S1 / m, var = W^T Cov W), and so does the part of the weight gradient that BatchNorm's
 * backward adds (sum over pixels of (v - mean) p = S2 W - mean S1). oneDNN spent ~0.8 ms forward and
 * ~1 ms on the weight gradient for one input channel (64 x 32 x 28 x 28), and BatchNorm + ReLU made 4
 * passes over the stored bf16 output; this makes 2 passes that write or read one bf16 tensor each, plus
 * one over the (32x smaller) fp32 image for the moments. */

#define STEM_ROWS 8 /* image rows per unit of work and per partial sum */

static inline int64_t stem_chunk_end(int64_t k, int64_t rows) {
    return (k + 1) * STEM_ROWS < rows ? (k + 1) * STEM_ROWS : rows;
}

/* Row r (= b * h + y) of the image: where its 3x3 neighbourhoods start in xp. */
static inline const float *stem_row(const float *xp, int64_t r, int64_t h, int64_t w) {
    return xp + ((r / h) * (h + 2) + r % h) * (w + 2);
}

/* The taps' sums over all n*h*w pixels, in double: mom[t] = sum (p_t - shift), mom[9 + 9t + u] =
 * sum (p_t - shift)(p_u - shift). The shift (the image's mean) keeps the second moments from swamping
 * the covariance. fp32 within a chunk of rows, double across chunks; with AVX-512, 16 pixels of a row
 * at a time (stem_moments_avx512). */
static void stem_moments(const float *xp, int64_t n, int64_t h, int64_t w, float shift, double *mom, int nthreads) {
    int64_t rows = n * h, nchunks = (rows + STEM_ROWS - 1) / STEM_ROWS, wp = w + 2;
    float *part = malloc(sizeof(float) * 54 * nchunks); /* 9 sums, then the 45 products t <= u */
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t k = 0; k < nchunks; k++) {
#if defined(__AVX512F__)
        __m512 acc[54], a[9], sh = _mm512_set1_ps(shift);
        for (int q = 0; q < 54; q++) acc[q] = _mm512_setzero_ps();
        for (int64_t r = k * STEM_ROWS; r < stem_chunk_end(k, rows); r++) {
            const float *t0 = stem_row(xp, r, h, w);
            for (int64_t xx = 0; xx < w; xx += 16) {
                __mmask16 live = xx + 16 <= w ? (__mmask16)0xFFFF : (__mmask16)((1u << (w - xx)) - 1);
                for (int t = 0; t < 9; t++)
                    a[t] = _mm512_maskz_sub_ps(live, _mm512_maskz_loadu_ps(live, t0 + (t / 3) * wp + t % 3 + xx), sh);
                for (int t = 0, q = 9; t < 9; t++) {
                    acc[t] = _mm512_add_ps(acc[t], a[t]);
                    for (int u = t; u < 9; u++, q++) acc[q] = _mm512_fmadd_ps(a[t], a[u], acc[q]);
                }
            }
        }
        for (int q = 0; q < 54; q++) part[54 * k + q] = _mm512_reduce_add_ps(acc[q]);
#else
        float acc[54] = {0}, a[9];
        for (int64_t r = k * STEM_ROWS; r < stem_chunk_end(k, rows); r++) {
            const float *t0 = stem_row(xp, r, h, w);
            for (int64_t xx = 0; xx < w; xx++) {
                for (int t = 0; t < 9; t++) a[t] = t0[(t / 3) * wp + t % 3 + xx] - shift;
                for (int t = 0, q = 9; t < 9; t++) {
                    acc[t] += a[t];
                    for (int u = t; u < 9; u++, q++) acc[q] += a[t] * a[u];
                }
            }
        }
        for (int q = 0; q < 54; q++) part[54 * k + q] = acc[q];
#endif
    }
    double tot[54];
    for (int q = 0; q < 54; q++) {
        double sum = 0;
        for (int64_t k = 0; k < nchunks; k++) sum += part[54 * k + q];
        tot[q] = sum;
    }
    free(part);
    for (int t = 0; t < 9; t++) mom[t] = tot[t];
    for (int t = 0, q = 9; t < 9; t++)
        for (int u = t; u < 9; u++, q++) mom[9 + 9 * t + u] = mom[9 + 9 * u + t] = tot[q];
}

#if defined(__AVX512F__)
/* The convolution at pixel xx of a row for 16 channels, their 9 weights in wv. */
static inline __m512 stem_conv16(const float *t0, int64_t wp, int64_t xx, const __m512 *wv) {
    const float *t1 = t0 + wp, *t2 = t1 + wp;
    __m512 lo = _mm512_mul_ps(_mm512_set1_ps(t0[xx]), wv[0]), hi = _mm512_mul_ps(_mm512_set1_ps(t1[xx + 1]), wv[4]);
    lo = _mm512_fmadd_ps(_mm512_set1_ps(t0[xx + 1]), wv[1], lo);
    hi = _mm512_fmadd_ps(_mm512_set1_ps(t1[xx + 2]), wv[5], hi);
    lo = _mm512_fmadd_ps(_mm512_set1_ps(t0[xx + 2]), wv[2], lo);
    hi = _mm512_fmadd_ps(_mm512_set1_ps(t2[xx]), wv[6], hi);
    lo = _mm512_fmadd_ps(_mm512_set1_ps(t1[xx]), wv[3], lo);
    hi = _mm512_fmadd_ps(_mm512_set1_ps(t2[xx + 1]), wv[7], hi);
    hi = _mm512_fmadd_ps(_mm512_set1_ps(t2[xx + 2]), wv[8], hi);
    return _mm512_add_ps(lo, hi);
}
#endif

/* The convolution for the w pixels of image row r, all c channels, into v (w, c). */
static void stem_conv_row(const float *restrict xp, int64_t r, int64_t h, int64_t w, int64_t c,
                          const float *restrict wt, float *restrict v) {
    int64_t wp = w + 2;
    const float *t0 = stem_row(xp, r, h, w), *t1 = t0 + wp, *t2 = t1 + wp;
    for (int64_t xx = 0; xx < w; xx++) {
        float a0 = t0[xx], a1 = t0[xx + 1], a2 = t0[xx + 2], a3 = t1[xx], a4 = t1[xx + 1], a5 = t1[xx + 2],
              a6 = t2[xx], a7 = t2[xx + 1], a8 = t2[xx + 2];
        float *restrict o = v + xx * c;
        for (int64_t j = 0; j < c; j++)
            o[j] = ((a0 * wt[j] + a1 * wt[c + j]) + (a2 * wt[2 * c + j] + a3 * wt[3 * c + j]))
                 + ((a4 * wt[4 * c + j] + a5 * wt[5 * c + j]) + (a6 * wt[6 * c + j] + a7 * wt[7 * c + j]))
                 + a8 * wt[8 * c + j]; /* a tree, not a chain of 8 dependent additions */
    }
}

/* Forward: stats (4*c floats: mean, invstd, scale, shift, as bn_prepare writes them) and the running
 * statistics from the taps' moments (mom: 90 doubles, kept for the backward), then y in one pass. */
void stem_train_forward(const float *xp, int64_t n, int64_t h, int64_t w, int64_t c, const float *wt,
                        float image_mean, const float *weight, const float *bias, double eps, double momentum,
                        float *running_mean, float *running_var, double *mom, float *stats, uint16_t *y,
                        int nthreads) {
    int64_t rows = n * h, m = rows * w, nchunks = (rows + STEM_ROWS - 1) / STEM_ROWS;
    stem_moments(xp, n, h, w, image_mean, mom, nthreads);
    const double *s1 = mom, *s2 = mom + 9;
    float *mean = stats, *invstd = stats + c, *scale = stats + 2 * c, *shift = stats + 3 * c;
    for (int64_t j = 0; j < c; j++) {
        double mu = 0, ev2 = 0; /* of the convolution of the shifted taps */
        for (int64_t t = 0; t < 9; t++) {
            mu += wt[t * c + j] * s1[t];
            for (int64_t u = 0; u < 9; u++) ev2 += (double)wt[t * c + j] * wt[u * c + j] * s2[9 * t + u];
        }
        mu /= m;
        double var = ev2 / m - mu * mu, wsum = 0;
        var = var > 0 ? var : 0;
        for (int64_t t = 0; t < 9; t++) wsum += wt[t * c + j];
        mean[j] = (float)(mu + image_mean * wsum);
        invstd[j] = (float)(1.0 / sqrt(var + eps));
        scale[j] = weight[j] * invstd[j];
        shift[j] = bias[j] - mean[j] * scale[j];
        if (running_mean) {
            double unbiased = m > 1 ? var * m / (m - 1) : var;
            running_mean[j] = (float)(running_mean[j] + momentum * (mean[j] - running_mean[j]));
            running_var[j] = (float)(running_var[j] + momentum * (unbiased - running_var[j]));
        }
    }
#if defined(__AVX512F__)
    if (c % 16 == 0) {
        int64_t wp = w + 2;
#pragma omp parallel for num_threads(nthreads) schedule(static)
        for (int64_t k = 0; k < nchunks; k++)
            for (int64_t g = 0; g < c; g += 16) {
                __m512 wv[9], sc = _mm512_loadu_ps(scale + g), sh = _mm512_loadu_ps(shift + g), zero = _mm512_setzero_ps();
                for (int t = 0; t < 9; t++) wv[t] = _mm512_loadu_ps(wt + t * c + g);
                for (int64_t r = k * STEM_ROWS; r < stem_chunk_end(k, rows); r++) {
                    const float *t0 = stem_row(xp, r, h, w);
                    uint16_t *out = y + r * w * c + g;
                    for (int64_t xx = 0; xx < w; xx++) {
                        __m512 o = _mm512_max_ps(zero, _mm512_fmadd_ps(stem_conv16(t0, wp, xx, wv), sc, sh));
                        _mm256_storeu_si256((__m256i *)(out + xx * c), bf16x16(o)); /* max(0, NaN) is NaN */
                    }
                }
            }
        return;
    }
#endif
#pragma omp parallel num_threads(nthreads)
    {
        float *v = malloc(sizeof(float) * w * c);
#pragma omp for schedule(static)
        for (int64_t k = 0; k < nchunks; k++) {
            for (int64_t r = k * STEM_ROWS; r < stem_chunk_end(k, rows); r++) {
                stem_conv_row(xp, r, h, w, c, wt, v);
                for (int64_t xx = 0; xx < w; xx++) {
                    const float *restrict o = v + xx * c;
                    uint16_t *restrict out = y + (r * w + xx) * c;
                    for (int64_t j = 0; j < c; j++) {
                        float val = o[j] * scale[j] + shift[j];
                        out[j] = f2bf(val < 0.f ? 0.f : val);
                    }
                }
            }
        }
        free(v);
    }
}

/* Backward from gy (n, h, w, c) bf16, in one pass: with g = gy where the ReLU passed, the sums of g and
 * g * (v - mean) per channel (BatchNorm's) and G = sum g p (9 x c, the weight gradient's main part); then
 * d weight = scale G + p_c (S2 W - mean S1) + q_c S1 for the convolution (dwt, tap-major (9, c)) and
 * BatchNorm's d weight and d bias (grads, 2*c). The input image gets no gradient. */
void stem_train_backward(const float *xp, int64_t n, int64_t h, int64_t w, int64_t c, const float *wt,
                         float image_mean, const double *mom, const uint16_t *gy, const float *stats, float *grads,
                         float *dwt, int nthreads) {
    const float *mean = stats, *scale = stats + 2 * c, *shift = stats + 3 * c;
    int64_t rows = n * h, m = rows * w, nchunks = (rows + STEM_ROWS - 1) / STEM_ROWS, wp = w + 2;
    float *part = malloc(sizeof(float) * 11 * c * nchunks); /* per chunk: sum g, sum g (v - mean), G */
#if defined(__AVX512F__)
    if (c % 16 == 0) {
#pragma omp parallel for num_threads(nthreads) schedule(static)
        for (int64_t k = 0; k < nchunks; k++)
            for (int64_t g = 0; g < c; g += 16) {
                __m512 wv[9], gacc[9], sc = _mm512_loadu_ps(scale + g), sh = _mm512_loadu_ps(shift + g),
                       mn = _mm512_loadu_ps(mean + g), zero = _mm512_setzero_ps(), s = zero, sx = zero;
                for (int t = 0; t < 9; t++) {
                    wv[t] = _mm512_loadu_ps(wt + t * c + g);
                    gacc[t] = zero;
                }
                for (int64_t r = k * STEM_ROWS; r < stem_chunk_end(k, rows); r++) {
                    const float *t0 = stem_row(xp, r, h, w);
                    const uint16_t *grow = gy + r * w * c + g;
                    for (int64_t xx = 0; xx < w; xx++) {
                        __m512 v = stem_conv16(t0, wp, xx, wv);
                        __mmask16 pass = _mm512_cmp_ps_mask(_mm512_fmadd_ps(v, sc, sh), zero, _CMP_GT_OQ);
                        __m512 gz = _mm512_maskz_mov_ps(pass, load_bf16x16(grow + xx * c));
                        s = _mm512_add_ps(s, gz);
                        sx = _mm512_fmadd_ps(gz, _mm512_sub_ps(v, mn), sx);
                        for (int t = 0; t < 9; t++)
                            gacc[t] = _mm512_fmadd_ps(_mm512_set1_ps(t0[(t / 3) * wp + t % 3 + xx]), gz, gacc[t]);
                    }
                }
                float *dst = part + 11 * c * k;
                _mm512_storeu_ps(dst + g, s);
                _mm512_storeu_ps(dst + c + g, sx);
                for (int t = 0; t < 9; t++) _mm512_storeu_ps(dst + 2 * c + t * c + g, gacc[t]);
            }
    } else
#endif
#pragma omp parallel num_threads(nthreads)
    {
        float *v = malloc(sizeof(float) * (w + 1) * c), *g = v + w * c;
#pragma omp for schedule(static)
        for (int64_t k = 0; k < nchunks; k++) {
            float *restrict s = part + 11 * c * k, *restrict sx = s + c, *restrict acc = s + 2 * c;
            for (int64_t j = 0; j < 11 * c; j++) s[j] = 0.f;
            for (int64_t r = k * STEM_ROWS; r < stem_chunk_end(k, rows); r++) {
                stem_conv_row(xp, r, h, w, c, wt, v);
                const float *t0 = stem_row(xp, r, h, w);
                for (int64_t xx = 0; xx < w; xx++) {
                    const float *restrict o = v + xx * c;
                    const uint16_t *restrict grow = gy + (r * w + xx) * c;
                    float *restrict gz = g;
                    for (int64_t j = 0; j < c; j++) {
                        float gj = o[j] * scale[j] + shift[j] > 0.f ? bf2f(grow[j]) : 0.f;
                        gz[j] = gj;
                        s[j] += gj;
                        sx[j] += gj * (o[j] - mean[j]);
                    }
                    for (int64_t t = 0; t < 9; t++) {
                        float a = t0[(t / 3) * wp + t % 3 + xx];
                        float *restrict at = acc + t * c;
                        for (int64_t j = 0; j < c; j++) at[j] += a * gz[j];
                    }
                }
            }
        }
        free(v);
    }
    double *tot = calloc(11 * c, sizeof(double));
    for (int64_t k = 0; k < nchunks; k++)
        for (int64_t j = 0; j < 11 * c; j++) tot[j] += part[11 * c * k + j];
    free(part);
    float *p = malloc(sizeof(float) * 2 * c), *q = p + c;
    bn_backward_coefficients(stats, m, c, tot, tot + c, grads, p, q);
    const double *s1 = mom, *s2 = mom + 9;
    for (int64_t j = 0; j < c; j++) {
        /* over all pixels: sum (v - mean) p_t = m * sum_u Cov(t, u) W_u; sum p_t = S1_t + m * shift */
        for (int64_t t = 0; t < 9; t++) {
            double s1t = s1[t] / m, cov_w = 0; /* mean of shifted tap t; sum_u Cov(t, u) W_u */
            for (int64_t u = 0; u < 9; u++) cov_w += (s2[9 * t + u] / m - s1t * (s1[u] / m)) * wt[u * c + j];
            double raw_sum = s1[t] + (double)m * image_mean;
            dwt[t * c + j] = (float)(scale[j] * tot[2 * c + t * c + j] + p[j] * cov_w * m + q[j] * raw_sum);
        }
    }
    free(tot);
    free(p);
}
