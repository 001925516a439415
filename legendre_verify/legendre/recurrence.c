/* P_n^{(k)}(x) for any degree, the degree and order taken at run time.
 *
 * The compiled CPU kernel of legendre_verify.legendre (built by native.py with the system C
 * compiler, loaded with ctypes). The recurrence's coefficients arrive as arrays, so one build
 * serves every n and k and its compile time does not grow with n:
 *
 *     q_0 = c0,  q_1 = alpha_0 x,  q_m = (alpha_m x) q_{m-1} - beta_m q_{m-2}  (m < steps)
 *     out = scale * q_{steps-1}  [* g]
 *
 * (monic: alpha_m = 1 and the multiply is skipped). Within `radius` of |x| = 1 the Taylor
 * series about the endpoint (`terms` coefficients, float64) replaces the recurrence, and for
 * odd n + k it is mirrored at x < 0 (see kernels.py for why).
 *
 * Each thread takes blocks of NV vectors of x and runs the whole recurrence on them in
 * registers: x is read once and the result written once, whatever n is. GCC/clang vector
 * extensions keep it portable (32-byte vectors: AVX2 on x86-64, two NEON registers on arm64).
 * No -ffast-math: every operation rounds as IEEE says (contraction to fused multiply-add
 * allowed, which only removes roundings).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define NV 4 /* independent vectors per block: enough to hide the multiply-add latency */

typedef float vf32 __attribute__((vector_size(32)));
typedef double vf64 __attribute__((vector_size(32)));
typedef float vf32x4 __attribute__((vector_size(16))); /* four floats widened to a vf64 */

/* NAME: IN elements computed in WIDE; VEC holds LANES WIDEs, INVEC the same LANES as INs */
#define DEFINE_KERNEL(NAME, IN, WIDE, VEC, INVEC, LANES)                                        \
    static inline __attribute__((always_inline)) VEC NAME##_load(const IN *restrict p) {        \
        INVEC t;                                                                                 \
        memcpy(&t, p, sizeof t);                                                                 \
        return __builtin_convertvector(t, VEC);                                                  \
    }                                                                                            \
    static inline __attribute__((always_inline)) void NAME##_block(                             \
        const IN *restrict x, const IN *restrict g, IN *restrict out, const WIDE *restrict alpha, \
        const WIDE *restrict beta, int64_t steps, WIDE c0, WIDE scale, int monic, int has_g) {   \
        VEC xs[NV], q0[NV], q1[NV];                                                              \
        for (int v = 0; v < NV; v++) {                                                           \
            xs[v] = NAME##_load(x + v * LANES);                                                  \
            q0[v] = (VEC){0} + c0;                                                               \
            q1[v] = xs[v] * alpha[0];                                                            \
        }                                                                                        \
        if (monic) {                                                                             \
            for (int64_t m = 1; m < steps; m++) {                                                \
                WIDE b = beta[m];                                                                \
                for (int v = 0; v < NV; v++) {                                                   \
                    VEC t = xs[v] * q1[v] - b * q0[v];                                           \
                    q0[v] = q1[v];                                                               \
                    q1[v] = t;                                                                   \
                }                                                                                \
            }                                                                                    \
        } else {                                                                                 \
            for (int64_t m = 1; m < steps; m++) {                                                \
                WIDE a = alpha[m], b = beta[m];                                                  \
                for (int v = 0; v < NV; v++) {                                                   \
                    VEC t = (a * xs[v]) * q1[v] - b * q0[v];                                     \
                    q0[v] = q1[v];                                                               \
                    q1[v] = t;                                                                   \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
        for (int v = 0; v < NV; v++) {                                                           \
            VEC r = q1[v] * scale;                                                               \
            if (has_g) r = r * NAME##_load(g + v * LANES);                                       \
            INVEC o = __builtin_convertvector(r, INVEC);                                         \
            memcpy(out + v * LANES, &o, sizeof o);                                               \
        }                                                                                        \
    }                                                                                            \
                                                                                                 \
    /* the endpoint series where |x| is within radius of 1 (a second, cheap pass: keeping it   \
       out of the block keeps the recurrence's vectors in registers) */                          \
    static void NAME##_ends(const IN *restrict x, const IN *restrict g, IN *restrict out,       \
                            int64_t count, const double *restrict series, int64_t terms,         \
                            double radius, int odd, int threads) {                               \
        _Pragma("omp parallel for schedule(static) num_threads(threads) if(count > 65536)")     \
        for (int64_t i = 0; i < count; i++) {                                                    \
            double t = fabs((double)x[i]) - 1.0; /* exact (Sterbenz) where it is used */        \
            if (fabs(t) <= radius) {                                                             \
                WIDE s = (WIDE)series[terms - 1];                                                \
                for (int64_t j = terms - 2; j >= 0; j--) s = s * (WIDE)t + (WIDE)series[j];      \
                if (odd && x[i] < 0) s = -s;                                                     \
                if (g) s *= (WIDE)g[i];                                                          \
                out[i] = (IN)s;                                                                  \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
                                                                                                 \
    void NAME(const IN *restrict x, const IN *restrict g, IN *restrict out, int64_t count,        \
              const WIDE *restrict alpha, const WIDE *restrict beta, int64_t steps, double c0,     \
              double scale, int monic, const double *restrict series, int64_t terms,               \
              double radius, int odd, int threads) {                                               \
        const int64_t width = NV * LANES, blocks = count / width;                                  \
        _Pragma("omp parallel for schedule(static) num_threads(threads) if(blocks > 64)")        \
        for (int64_t b = 0; b < blocks; b++) {                                                     \
            int64_t s = b * width;                                                                 \
            /* four copies, the branches resolved outside the recurrence */                        \
            if (g && monic)                                                                        \
                NAME##_block(x + s, g + s, out + s, alpha, beta, steps, c0, scale, 1, 1);                                                  \
            else if (g)                                                                            \
                NAME##_block(x + s, g + s, out + s, alpha, beta, steps, c0, scale, 0, 1);                                                  \
            else if (monic)                                                                        \
                NAME##_block(x + s, 0, out + s, alpha, beta, steps, c0, scale, 1, 0);                                                  \
            else                                                                                   \
                NAME##_block(x + s, 0, out + s, alpha, beta, steps, c0, scale, 0, 0);                                                  \
        }                                                                                          \
        int64_t s = blocks * width;                                                                \
        if (s < count) { /* the tail, padded to one block */                                       \
            IN xt[NV * LANES], gt[NV * LANES], ot[NV * LANES];                                     \
            memset(xt, 0, sizeof xt);                                                              \
            memset(gt, 0, sizeof gt);                                                              \
            memcpy(xt, x + s, (size_t)(count - s) * sizeof(IN));                                  \
            if (g) memcpy(gt, g + s, (size_t)(count - s) * sizeof(IN));                            \
            NAME##_block(xt, gt, ot, alpha, beta, steps, c0, scale, monic, g != 0);                \
            memcpy(out + s, ot, (size_t)(count - s) * sizeof(IN));                                 \
        }                                                                                          \
        if (terms) NAME##_ends(x, g, out, count, series, terms, radius, odd, threads);             \
    }

DEFINE_KERNEL(legendre_float32_in_float32, float, float, vf32, vf32, 8)
DEFINE_KERNEL(legendre_float32_in_float64, float, double, vf64, vf32x4, 4)
DEFINE_KERNEL(legendre_float64_in_float64, double, double, vf64, vf64, 4)

/* the version native.py checks after loading: bump with any change of the signature */
int legendre_abi_version(void) { return 4; }
