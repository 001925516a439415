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
 * Each thread takes a contiguous share of x and runs the whole recurrence on blocks of NV
 * vectors in registers: x is read once and the result written once, whatever n is. Threads are
 * plain pthreads started per call (no OpenMP: libgomp's pool hangs a forked child, e.g. a
 * DataLoader worker, after the parent used it; measured). GCC/clang vector
 * extensions keep it portable (32-byte vectors: AVX2 on x86-64, two NEON registers on arm64).
 * No -ffast-math: every operation rounds as IEEE says (contraction to fused multiply-add
 * allowed, which only removes roundings).
 *
 * Overflow: past the range the recurrence turns inf into NaN (inf - inf). For |x| >= 1 (and
 * x = +-inf) such a NaN is an overflow, and the value is +-inf with the sign of x^(n-k) (every
 * root lies in (-1, 1), the leading coefficient is positive). One compare per vector notes a
 * NaN, one test per GROUP blocks reads the notes, and only a group that holds one (rare) is
 * rescanned element by element (a test per block cost 20-40 % at n <= 10, measured).
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define NV 4 /* independent vectors per block: enough to hide the multiply-add latency */
#define MAX_THREADS 256
#define MIN_PER_THREAD 16384 /* elements: below, starting a thread costs more than it saves */
#define GROUP 64 /* blocks tested for NaN together: one test per group, a (rare) NaN rescans it */

typedef float vf32 __attribute__((vector_size(32)));
typedef double vf64 __attribute__((vector_size(32)));
typedef float vf32x4 __attribute__((vector_size(16))); /* four floats widened to a vf64 */

/* one call's arguments, and the share [begin, end) of the elements one thread computes */
typedef struct call {
    const void *x, *g;
    void *out;
    int64_t count;
    const void *alpha, *beta;
    int64_t steps;
    double c0, scale;
    int monic;
    const double *series;
    int64_t terms;
    double radius;
    int odd;
    void (*range)(const struct call *);
    int64_t begin, end;
} call_t;

static void *run_share(void *p) {
    const call_t *c = p;
    c->range(c);
    return NULL;
}

/* split [0, count) into `threads` contiguous shares of whole blocks of `width` elements */
static void run_parallel(const call_t *c, int64_t width, int threads) {
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads > c->count / MIN_PER_THREAD) threads = (int)(c->count / MIN_PER_THREAD);
    if (threads < 1) threads = 1;
    int64_t blocks = (c->count + width - 1) / width, per = (blocks + threads - 1) / threads;
    call_t shares[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        shares[i] = *c;
        shares[i].begin = i * per * width < c->count ? i * per * width : c->count;
        shares[i].end = (i + 1) * per * width < c->count ? (i + 1) * per * width : c->count;
        started[i] = 0;
    }
    for (int i = 1; i < threads; i++)
        if (shares[i].begin < shares[i].end)
            started[i] = pthread_create(&ids[i], NULL, run_share, &shares[i]) == 0;
    run_share(&shares[0]);
    for (int i = 1; i < threads; i++) {
        if (started[i])
            pthread_join(ids[i], NULL);
        else if (shares[i].begin < shares[i].end) /* no thread to be had: run it here */
            run_share(&shares[i]);
    }
}

/* NAME: IN elements computed in WIDE; VEC holds LANES WIDEs, INVEC the same LANES as INs */
#define DEFINE_KERNEL(NAME, IN, WIDE, VEC, INVEC, LANES)                                        \
    typedef __typeof__((VEC){0} != (VEC){0}) NAME##_mask; /* lanes: 0 or -1 */                  \
    static inline __attribute__((always_inline)) int NAME##_any(NAME##_mask m) {                \
        int any = 0;                                                                             \
        for (int l = 0; l < LANES; l++) any |= m[l] != 0;                                        \
        return any;                                                                              \
    }                                                                                            \
    static inline __attribute__((always_inline)) VEC NAME##_load(const IN *restrict p) {        \
        INVEC t;                                                                                 \
        memcpy(&t, p, sizeof t);                                                                 \
        return __builtin_convertvector(t, VEC);                                                  \
    }                                                                                            \
    static inline __attribute__((always_inline)) void NAME##_block(                             \
        const IN *restrict x, const IN *restrict g, IN *restrict out, const WIDE *restrict alpha, \
        const WIDE *restrict beta, int64_t steps, WIDE c0, WIDE scale, int monic, int has_g,     \
        NAME##_mask *restrict nan) {                                                             \
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
            *nan |= r != r;                                                                      \
            INVEC o = __builtin_convertvector(r, INVEC);                                         \
            memcpy(out + v * LANES, &o, sizeof o);                                               \
        }                                                                                        \
    }                                                                                            \
                                                                                                 \
    /* a NaN at |x| >= 1 (x not NaN) is an overflow: +-inf, times g (IEEE: NaN for g = 0 or    \
       NaN, as g * inf is) */                                                                    \
    static void NAME##_overflow(const IN *x, const IN *g, IN *out, int64_t count, int odd) {    \
        for (int64_t i = 0; i < count; i++) {                                                    \
            if (out[i] == out[i] || x[i] != x[i] || fabs((double)x[i]) < 1.0) continue;          \
            IN v = (odd && x[i] < 0) ? -(IN)INFINITY : (IN)INFINITY;                             \
            out[i] = g ? g[i] * v : v;                                                           \
        }                                                                                        \
    }                                                                                            \
                                                                                                 \
    /* one thread's share: whole blocks (by groups: a group with a NaN is rescanned for        \
       overflow), the padded tail if the share ends there, then the endpoint series where |x|  \
       is within radius of 1 (a second, cheap pass: inside the block it would spill the        \
       recurrence's vectors out of registers) */                                                 \
    static void NAME##_share(const call_t *c) {                                                  \
        const IN *x = c->x, *g = c->g;                                                           \
        IN *out = c->out;                                                                        \
        const WIDE *alpha = c->alpha, *beta = c->beta;                                           \
        const int64_t width = NV * LANES;                                                        \
        const VEC zero = {0};                                                                    \
        int64_t s = c->begin;                                                                    \
        while (s + width <= c->end) {                                                            \
            const int64_t first = s;                                                             \
            const int64_t stop = c->end - s > GROUP * width ? s + GROUP * width : c->end;        \
            NAME##_mask nan = zero != zero;                                                      \
            for (; s + width <= stop; s += width) { /* the branches resolved outside the loop */ \
                if (g && c->monic)                                                               \
                    NAME##_block(x + s, g + s, out + s, alpha, beta, c->steps, c->c0, c->scale,  \
                                 1, 1, &nan);                                                    \
                else if (g)                                                                      \
                    NAME##_block(x + s, g + s, out + s, alpha, beta, c->steps, c->c0, c->scale,  \
                                 0, 1, &nan);                                                    \
                else if (c->monic)                                                               \
                    NAME##_block(x + s, 0, out + s, alpha, beta, c->steps, c->c0, c->scale, 1,   \
                                 0, &nan);                                                       \
                else                                                                             \
                    NAME##_block(x + s, 0, out + s, alpha, beta, c->steps, c->c0, c->scale, 0,   \
                                 0, &nan);                                                       \
            }                                                                                    \
            if (NAME##_any(nan))                                                                 \
                NAME##_overflow(x + first, g ? g + first : 0, out + first, s - first, c->odd);   \
        }                                                                                        \
        if (s < c->end) { /* the tail, padded to one block */                                    \
            IN xt[NV * LANES], gt[NV * LANES], ot[NV * LANES];                                   \
            memset(xt, 0, sizeof xt);                                                            \
            memset(gt, 0, sizeof gt);                                                            \
            memcpy(xt, x + s, (size_t)(c->end - s) * sizeof(IN));                               \
            if (g) memcpy(gt, g + s, (size_t)(c->end - s) * sizeof(IN));                         \
            NAME##_mask nan = zero != zero;                                                      \
            NAME##_block(xt, gt, ot, alpha, beta, c->steps, c->c0, c->scale, c->monic, g != 0,   \
                         &nan);                                                                  \
            if (NAME##_any(nan)) NAME##_overflow(xt, g ? gt : 0, ot, width, c->odd);             \
            memcpy(out + s, ot, (size_t)(c->end - s) * sizeof(IN));                              \
        }                                                                                        \
        if (!c->terms) return;                                                                   \
        for (int64_t i = c->begin; i < c->end; i++) {                                            \
            double t = fabs((double)x[i]) - 1.0; /* exact (Sterbenz) where it is used */        \
            if (fabs(t) <= c->radius) {                                                          \
                WIDE v = (WIDE)c->series[c->terms - 1];                                          \
                for (int64_t j = c->terms - 2; j >= 0; j--) v = v * (WIDE)t + (WIDE)c->series[j]; \
                if (c->odd && x[i] < 0) v = -v;                                                  \
                if (g) v *= (WIDE)g[i];                                                          \
                out[i] = (IN)v;                                                                  \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
                                                                                                 \
    void NAME(const IN *x, const IN *g, IN *out, int64_t count, const WIDE *alpha,               \
              const WIDE *beta, int64_t steps, double c0, double scale, int monic,               \
              const double *series, int64_t terms, double radius, int odd, int threads) {        \
        call_t c = {x,      g,     out,    count, alpha, beta,         steps, c0, scale,         \
                    monic,  series, terms, radius, odd,  NAME##_share, 0,     count};            \
        run_parallel(&c, NV * LANES, threads);                                                   \
    }

DEFINE_KERNEL(legendre_float32_in_float32, float, float, vf32, vf32, 8)
DEFINE_KERNEL(legendre_float32_in_float64, float, double, vf64, vf32x4, 4)
DEFINE_KERNEL(legendre_float64_in_float64, double, double, vf64, vf64, 4)

/* the version native.py checks after loading: bump with any change of the signature */
int legendre_abi_version(void) { return 5; }
