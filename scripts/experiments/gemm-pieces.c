// One OpenBLAS sgemm against the same GEMM cut into pieces of W output columns (NT, NN) or
// rows (TN), row-major, one thread, operands in cache: OpenBLAS runs a GEMM of at most 1e6
// multiply-adds with its small-matrix kernels where its kernel family has them (SkylakeX,
// Cooperlake), which do not pack the operands. The shapes are the mlp's per thread on 2
// threads (784>256 and 256>128 at batch 64) and the cnn's 3136>128 input gradient.
//   gcc -O2 -o /tmp/gemm-pieces scripts/experiments/gemm-pieces.c -lopenblas && /tmp/gemm-pieces
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// C[M,N] (+)= op(A) op(B) as pieces of `w`: of N for NT/NN, of M for TN; `ld` is the row
// stride of the operand the pieces walk (W), at least its width.
static void run(const char *form, int M, int N, int K, int w, int ld) {
    int tn = form[0] == 'T', nt = form[1] == 'T';
    size_t sizeA = (size_t)M * K, sizeB = (size_t)(ld > N ? ld : N) * K, sizeC = (size_t)M * (ld > N ? ld : N);
    float *A = malloc(sizeA * 4), *B = malloc(sizeB * 4), *C = calloc(sizeC, 4);
    for (size_t i = 0; i < sizeA; i++) A[i] = (float)(i % 13) * 0.1f;
    for (size_t i = 0; i < sizeB; i++) B[i] = (float)(i % 7) * 0.1f;
    int rounds = 1500;
    double t0 = now();
    for (int r = 0; r < rounds; r++) {
        if (tn) {  // dW[M,N] += dy^T x: A stored [K,M], pieces of rows
            for (int o = 0; o < M; o += w)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M - o < w ? M - o : w, N, K, 1, A + o, M, B, N, 1,
                            C + (size_t)o * N, N);
        } else {   // y[M,N] (+)= x W^T (NT, W stored [N,K]) or dy W (NN, W stored [K,ld]), pieces of columns
            for (int o = 0; o < N; o += w)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, nt ? CblasTrans : CblasNoTrans, M, N - o < w ? N - o : w, K, 1, A,
                            K, nt ? B + (size_t)o * K : B + o, nt ? K : ld, nt ? 1 : 0, C + o, nt ? N : ld);
        }
    }
    double seconds = now() - t0;
    printf("%s %dx%dx%d in pieces of %4d: %6.1f GFLOP/s\n", form, M, N, K, w, 2.0 * M * N * K * rounds / seconds / 1e9);
    free(A); free(B); free(C);
}

int main(void) {
    openblas_set_num_threads(1);
    int widths[] = {16, 32, 64, 128};
    for (int i = 0; i < 4; i++) run("NT", 64, 128, 784, widths[i], 128);  // mlp forward, 784>256
    for (int i = 0; i < 3; i++) run("NT", 64, 64, 256, widths[i], 64);    // mlp forward, 256>128
    for (int i = 0; i < 4; i++) run("TN", 128, 784, 64, widths[i], 784);  // mlp weight gradient, 784>256
    for (int i = 0; i < 3; i++) run("TN", 64, 256, 64, widths[i], 256);   // mlp weight gradient, 256>128
    for (int i = 0; i < 4; i++) run("NN", 64, 128, 128, widths[i], 256);  // mlp input gradient, 256>128
    for (int i = 0; i < 3; i++) run("NN", 64, 1568, 128, widths[i], 3136); // cnn input gradient, 3136>128
    run("NN", 64, 1568, 128, 1568, 3136);
    return 0;
}
