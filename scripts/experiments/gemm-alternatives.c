// Small-GEMM alternatives at the shapes our models issue (issue 23, items 1-2): OpenBLAS
// (cblas_sgemm, as NN calls it), BLIS (native typed API bli_sgemm, general strides) and
// libxsmm 1.17 (JIT kernels from libxsmm_smmdispatch), all on one thread, interleaved in
// one process so that ratios are not skewed by the machine's drift. For every shape: the
// median GFLOP/s of each library, OpenBLAS with 4 calls merged into one (the "batched"
// alternative: n x 4 for NN/TN, k x 4 for NT, as merging Winograd blocks would do), and
// each library's max relative error against a float64 reference (max |C - ref| / max |ref|).
//
// Build and run: scripts/experiments/gemm-alternatives.sh (see there). Reads shapes
// "transA transB m n k lda ldb ldc beta" (row-major, as BLAS.sgemm takes them) on stdin.
#define _GNU_SOURCE
#include <cblas.h>
#include <blis.h>
#include <libxsmm.h>
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char *openblas_get_corename(void);
extern char *openblas_get_config(void);
extern void openblas_set_num_threads(int);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

typedef struct {
    int ta, tb, m, n, k, lda, ldb, ldc;
    float beta;
} Shape;

enum { OPENBLAS, BLIS, XSMM, BATCH4, LIBS };
static const char *names[LIBS] = {"openblas", "blis", "libxsmm", "openblas_x4"};

typedef struct {
    Shape s;
    float *a, *b, *c;
    libxsmm_smmfunction xsmm;
    float *bt;  // transB when libxsmm has no kernel for it: B^T [k][n], copied on every call
} Problem;

static float *random_floats(size_t count, unsigned *seed) {
    float *p = aligned_alloc(64, ((count * sizeof(float) + 63) / 64) * 64 + 64);
    for (size_t i = 0; i < count; i++) p[i] = 2.0f * rand_r(seed) / (float)RAND_MAX - 1.0f;
    return p;
}

// Stored sizes: A is [m][lda] or, transposed, [k][lda]; B is [k][ldb] or [n][ldb].
static size_t a_count(Shape s) { return (size_t)(s.ta ? s.k : s.m) * s.lda; }
static size_t b_count(Shape s) { return (size_t)(s.tb ? s.n : s.k) * s.ldb; }
static size_t c_count(Shape s) { return (size_t)s.m * s.ldc; }

static Problem make(Shape s, unsigned seed) {
    Problem p = {.s = s};
    p.a = random_floats(a_count(s), &seed);
    p.b = random_floats(b_count(s), &seed);
    p.c = random_floats(c_count(s), &seed);
    // libxsmm is column-major: row-major C[m,n] = op(A) op(B) is column-major
    // C^T[n,m] = op(B)^T op(A)^T, so M = n, N = m, A' = B (ld ldb), B' = A (ld lda),
    // and row-major transB / transA become libxsmm's TRANS_A / TRANS_B.
    int flags = (s.tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (s.ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
    int prefetch = LIBXSMM_PREFETCH_NONE;
    libxsmm_blasint lda = s.ldb, ldb = s.lda, ldc = s.ldc;
    float alpha = 1, beta = s.beta;
    p.xsmm = libxsmm_smmdispatch(s.n, s.m, s.k, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
    if (!p.xsmm && s.tb) {
        // libxsmm 1.17 JITs no TRANS_A (column-major): copy B^T to [k][n] per call, then NN.
        flags &= ~LIBXSMM_GEMM_FLAG_TRANS_A;
        lda = s.n;
        p.xsmm = libxsmm_smmdispatch(s.n, s.m, s.k, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
        if (p.xsmm) p.bt = aligned_alloc(64, ((size_t)s.k * s.n * sizeof(float) + 63) / 64 * 64);
    }
    return p;
}

static void release(Problem *p) { free(p->a); free(p->b); free(p->c); free(p->bt); }

static void run(int lib, Problem *p) {
    Shape s = p->s;
    float one = 1;
    switch (lib) {
    case OPENBLAS:
    case BATCH4:
        cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans, s.m, s.n, s.k,
                    1.0f, p->a, s.lda, p->b, s.ldb, s.beta, p->c, s.ldc);
        break;
    case BLIS:
        // Typed API with general strides: a row-major matrix has row stride ld, column stride 1.
        bli_sgemm(s.ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, s.tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, s.m, s.n, s.k,
                  &one, p->a, s.lda, 1, p->b, s.ldb, 1, &s.beta, p->c, s.ldc, 1);
        break;
    case XSMM:
        if (p->bt) {
            for (int j = 0; j < s.n; j++)
                for (int q = 0; q < s.k; q++) p->bt[(size_t)q * s.n + j] = p->b[(size_t)j * s.ldb + q];
            p->xsmm(p->bt, p->a, p->c);
        } else {
            p->xsmm(p->b, p->a, p->c);
        }
        break;
    }
}

// max |C - ref| / max |ref| of one call on fresh C, ref in float64.
static double error_of(int lib, Problem *p) {
    Shape s = p->s;
    size_t cn = c_count(s);
    float *c0 = malloc(cn * sizeof(float));
    memcpy(c0, p->c, cn * sizeof(float));
    run(lib, p);
    double *row = malloc(s.n * sizeof(double));
    double worst = 0, scale = 0;
    for (int i = 0; i < s.m; i++) {
        for (int j = 0; j < s.n; j++) row[j] = s.beta * (double)c0[(size_t)i * s.ldc + j];
        for (int q = 0; q < s.k; q++) {
            double a = s.ta ? p->a[(size_t)q * s.lda + i] : p->a[(size_t)i * s.lda + q];
            if (s.tb)
                for (int j = 0; j < s.n; j++) row[j] += a * p->b[(size_t)j * s.ldb + q];
            else
                for (int j = 0; j < s.n; j++) row[j] += a * p->b[(size_t)q * s.ldb + j];
        }
        for (int j = 0; j < s.n; j++) {
            double d = fabs(p->c[(size_t)i * s.ldc + j] - row[j]);
            if (d > worst) worst = d;
            if (fabs(row[j]) > scale) scale = fabs(row[j]);
        }
    }
    memcpy(p->c, c0, cn * sizeof(float));
    free(row);
    free(c0);
    return worst / scale;
}

static int cmp(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

// Median GFLOP/s of `reps` timed runs per library, libraries interleaved (order rotated).
static void measure(Problem *ps[LIBS], int reps, double seconds, double out[LIBS]) {
    long iters[LIBS];
    double runs[LIBS][64];
    for (int l = 0; l < LIBS; l++) {
        iters[l] = 0;
        if (!ps[l] || (l == XSMM && !ps[l]->xsmm)) continue;
        long n = 1;
        for (;;) {  // calibrate: about `seconds` per timed run
            double t = now();
            for (long i = 0; i < n; i++) run(l, ps[l]);
            t = now() - t;
            if (t > seconds / 4) { iters[l] = (long)(n * seconds / t) + 1; break; }
            n *= 4;
        }
    }
    for (int r = 0; r < reps; r++)
        for (int o = 0; o < LIBS; o++) {
            int l = (o + r) % LIBS;
            if (!iters[l]) continue;
            double t = now();
            for (long i = 0; i < iters[l]; i++) run(l, ps[l]);
            t = now() - t;
            Shape s = ps[l]->s;
            runs[l][r] = 2.0 * s.m * s.n * s.k * iters[l] / t / 1e9;
        }
    for (int l = 0; l < LIBS; l++) {
        out[l] = NAN;
        if (!iters[l]) continue;
        qsort(runs[l], reps, sizeof(double), cmp);
        out[l] = runs[l][reps / 2];
    }
}

// Twelve independent chains of 16-float FMAs in registers (written out so that they stay
// in registers at -O2): the CPU's single-thread AVX-512 peak.
__attribute__((target("avx512f"))) static float fma_chains(long rounds) {
    __m512 m = _mm512_set1_ps(0.999999f), x = _mm512_set1_ps(1e-7f);
    __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3);
    __m512 a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5), a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7);
    __m512 a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9), a10 = _mm512_set1_ps(10), a11 = _mm512_set1_ps(11);
    for (long r = 0; r < rounds; r++) {
        a0 = _mm512_fmadd_ps(a0, m, x); a1 = _mm512_fmadd_ps(a1, m, x); a2 = _mm512_fmadd_ps(a2, m, x);
        a3 = _mm512_fmadd_ps(a3, m, x); a4 = _mm512_fmadd_ps(a4, m, x); a5 = _mm512_fmadd_ps(a5, m, x);
        a6 = _mm512_fmadd_ps(a6, m, x); a7 = _mm512_fmadd_ps(a7, m, x); a8 = _mm512_fmadd_ps(a8, m, x);
        a9 = _mm512_fmadd_ps(a9, m, x); a10 = _mm512_fmadd_ps(a10, m, x); a11 = _mm512_fmadd_ps(a11, m, x);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    return _mm512_reduce_add_ps(s);
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 7;
    double seconds = argc > 2 ? atof(argv[2]) : 0.01;
    if (reps > 64) reps = 64;
    openblas_set_num_threads(1);
    bli_thread_set_num_threads(1);
    libxsmm_init();
    printf("# OpenBLAS: %s; core %s\n", openblas_get_config(), openblas_get_corename());
    printf("# BLIS %s: arch %s (single thread)\n", bli_info_get_version_str(), bli_arch_string(bli_arch_query_id()));
    printf("# libxsmm %s: target arch %s\n", LIBXSMM_VERSION, libxsmm_get_target_arch());
    if (__builtin_cpu_supports("avx512f")) {
        double best[9];
        for (int r = 0; r < 9; r++) {
            long rounds = 20000000;
            double t = now();
            volatile float sink = fma_chains(rounds);
            (void)sink;
            best[r] = 12.0 * 16 * 2 * rounds / (now() - t) / 1e9;
        }
        qsort(best, 9, sizeof(double), cmp);
        printf("# FMA peak (12 chains of 16-float FMAs): %.1f GFLOP/s (median of 9)\n", best[4]);
    }
    printf("ta\ttb\tm\tn\tk\tlda\tldb\tldc\tbeta");
    for (int l = 0; l < LIBS; l++) printf("\t%s_gflops", names[l]);
    for (int l = 0; l < XSMM + 1; l++) printf("\t%s_err", names[l]);
    printf("\tlibxsmm_mode\n");
    fflush(stdout);
    char ta, tb;
    Shape s;
    while (scanf(" %c %c %d %d %d %d %d %d %f", &ta, &tb, &s.m, &s.n, &s.k, &s.lda, &s.ldb, &s.ldc, &s.beta) == 9) {
        s.ta = ta == 'T';
        s.tb = tb == 'T';
        Problem p = make(s, 1);
        // Four calls merged into one: the tile dimension (n for NN/TN, k for NT) x 4.
        Shape s4 = s;
        if (s.tb) {
            s4.k *= 4;
            s4.lda = s.ta ? s.lda : (s.lda == s.k ? s4.k : s.lda * 4);
            s4.ldb = s.ldb == s.k ? s4.k : s.ldb * 4;
        } else {
            s4.n *= 4;
            s4.ldb = s.ldb == s.n ? s4.n : s.ldb * 4;
            s4.ldc = s.ldc == s.n ? s4.n : s.ldc * 4;
        }
        Problem p4 = make(s4, 2);
        Problem *ps[LIBS] = {&p, &p, &p, &p4};
        double g[LIBS], e[XSMM + 1];
        int big = (double)s.m * s.n * s.k > 2e8;
        for (int l = 0; l < XSMM + 1; l++)
            e[l] = (l == XSMM && !p.xsmm) ? NAN : error_of(l, &p);
        measure(ps, reps, big ? seconds * 10 : seconds, g);
        printf("%c\t%c\t%d\t%d\t%d\t%d\t%d\t%d\t%g", ta, tb, s.m, s.n, s.k, s.lda, s.ldb, s.ldc, s.beta);
        for (int l = 0; l < LIBS; l++) printf("\t%.1f", g[l]);
        for (int l = 0; l < XSMM + 1; l++) printf("\t%.2e", e[l]);
        printf("\t%s\n", !p.xsmm ? "none" : p.bt ? "jit+transpose" : "jit");
        fflush(stdout);
        release(&p);
        release(&p4);
    }
    return 0;
}
