#ifndef IES_CXSMM_SHIM_H
#define IES_CXSMM_SHIM_H
// libxsmm (Debian: libxsmm-dev, a static library without pkg-config): small-GEMM kernels
// generated at run time for the CPU's widest vectors (its `LIBXSMM_TARGET` environment
// variable, never set by ies, overrides the choice). NN's `BLAS` routes a GEMM here only
// when libxsmm reaches wider vectors than the OpenBLAS kernels this process runs.
// Nothing here is Swift API; NN wraps it. Prefixed `ies_`.
#include <libxsmm.h>
#include <pthread.h>
#include <stdlib.h>

/// Floats per vector of the code libxsmm generates on this CPU (16, 8 or 4).
static inline int ies_xsmm_vector_floats(void) {
    libxsmm_init();
    int arch = libxsmm_get_target_archid();
    if (arch >= LIBXSMM_X86_AVX512 && arch <= LIBXSMM_X86_ALLFEAT) return 16;
    if (arch >= LIBXSMM_X86_AVX) return 8;
    return 4;
}

/// libxsmm's name of the instruction set it generates code for, e.g. "cpx", "hsw".
static inline const char *ies_xsmm_target(void) { return libxsmm_get_target_arch(); }

/// The calling thread's scratch for B^T (libxsmm 1.17 generates no kernel that reads a
/// transposed B in row-major terms): grown as needed, freed when the thread ends. (State
/// lives in function-local statics: a header's file-scope statics are not emitted for Swift.)
typedef struct { size_t capacity; float floats[]; } ies_xsmm_scratch;
static inline pthread_key_t *ies_xsmm_scratch_key(void) { static pthread_key_t key; return &key; }
static inline pthread_once_t *ies_xsmm_scratch_once(void) { static pthread_once_t once = PTHREAD_ONCE_INIT; return &once; }
static inline void ies_xsmm_scratch_make_key(void) { pthread_key_create(ies_xsmm_scratch_key(), free); }

static inline float *ies_xsmm_scratch_floats(size_t count) {
    pthread_once(ies_xsmm_scratch_once(), ies_xsmm_scratch_make_key);
    ies_xsmm_scratch *s = (ies_xsmm_scratch *)pthread_getspecific(*ies_xsmm_scratch_key());
    if (s && s->capacity >= count) return s->floats;
    free(s);
    s = (ies_xsmm_scratch *)aligned_alloc(64, (sizeof(ies_xsmm_scratch) + count * sizeof(float) + 63) / 64 * 64);
    if (s) s->capacity = count;
    pthread_setspecific(*ies_xsmm_scratch_key(), s);
    return s ? s->floats : NULL;
}

/// The row-major matrix b [rows][ld] (its first `cols` columns) transposed, [cols][rows], in
/// the calling thread's scratch (which the next call here or to `ies_xsmm_sgemm` with a
/// transposed B overwrites); NULL without memory.
static inline const float *ies_xsmm_transposed(const float *b, int rows, int cols, int ld) {
    float *t = ies_xsmm_scratch_floats((size_t)rows * (size_t)cols);
    if (!t) return NULL;
    // Column-major terms: b is cols x rows with leading dimension ld; t is rows x cols with rows.
    libxsmm_otrans(t, b, sizeof(float), (libxsmm_blasint)cols, (libxsmm_blasint)rows, (libxsmm_blasint)ld,
                   (libxsmm_blasint)rows);
    return t;
}

/// Row-major C[m,n] = op(A) op(B) + beta C with beta 0 or 1 by a libxsmm kernel.
/// Returns 0 (and touches nothing) where libxsmm has no kernel for the shape; the caller
/// then runs another BLAS. libxsmm is column-major: row-major C = op(A) op(B) is
/// column-major C^T = op(B)^T op(A)^T, so its M = n, N = m, its A is B and its B is A.
static inline int ies_xsmm_sgemm(int transA, int transB, int m, int n, int k, const float *a, int lda,
                                 const float *b, int ldb, float beta, float *c, int ldc) {
    if (beta != 0 && beta != 1) return 0;
    float alpha = 1;
    int prefetch = LIBXSMM_PREFETCH_NONE;
    int flags = transA ? LIBXSMM_GEMM_FLAG_TRANS_B : 0;
    libxsmm_blasint xlda = ldb, xldb = lda, xldc = ldc;
    if (!transB) {
        libxsmm_smmfunction kernel =
            libxsmm_smmdispatch(n, m, k, &xlda, &xldb, &xldc, &alpha, &beta, &flags, &prefetch);
        if (!kernel) return 0;
        kernel(b, a, c);
        return 1;
    }
    // B is stored [n][k]: copy it to B^T [k][n] and run the kernel without transposing it.
    xlda = n;
    libxsmm_smmfunction kernel = libxsmm_smmdispatch(n, m, k, &xlda, &xldb, &xldc, &alpha, &beta, &flags, &prefetch);
    if (!kernel) return 0;
    const float *bt = ies_xsmm_transposed(b, n, k, ldb);
    if (!bt) return 0;
    kernel(bt, a, c);
    return 1;
}

#endif
