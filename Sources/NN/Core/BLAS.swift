import CBLAS

/// The OpenBLAS calls NN uses. NN's kernels call sgemm on one OpenBLAS thread (set by
/// `Compute`) from inside their own parallel loops: OpenBLAS's worker threads keep
/// spinning on a core for a while after every multi-threaded call, and on a node whose
/// cores are all busy that spin takes the core from the next layer's threads.
public enum BLAS {
    /// The number of OpenBLAS threads in effect.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// The CPU kernel family OpenBLAS chose at run time (for benchmark reports).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Which GEMM library and kernels run: OpenBLAS's build configuration and the kernel
    /// family it chose for this CPU (which `OPENBLAS_CORETYPE`, when set, overrides), e.g.
    /// "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64". The run header
    /// prints it and checkpoints record it: the last bits of every result depend on it.
    public static var identity: String {
        let config = openblas_get_config().map { String(cString: $0) } ?? "OpenBLAS"
        let core = coreName
        return config.contains(core) ? config : "\(config), kernels \(core)"
    }

    /// Runs `body` with OpenBLAS on `threads` threads, then back on one: for measuring
    /// OpenBLAS's own multi-threaded sgemm (benchmarks), never inside a model.
    public static func withThreads<R>(_ threads: Int, _ body: () throws -> R) rethrows -> R {
        openblas_set_num_threads(Int32(max(1, threads)))
        defer { openblas_set_num_threads(1) }
        return try body()
    }

    /// C[m,n] = alpha * op(A) * op(B) + beta * C, all row-major.
    ///
    /// op(A) is [m,k] (A stored [k,m] when `transA`), op(B) is [k,n]
    /// (B stored [n,k] when `transB`); `lda`/`ldb`/`ldc` are row strides.
    @inline(__always)
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Floats per fused multiply-add instruction of the widest kind this CPU runs
    /// (16 with AVX-512, 8 with AVX2+FMA, 1 for the scalar fallback).
    public static var fmaLanes: Int { Int(ies_fma_lanes()) }

    /// Runs `rounds` rounds of 12 independent fused multiply-adds of `fmaLanes` floats in
    /// registers (24 `fmaLanes` flops per round) on the calling thread: the CPU's peak,
    /// which Swift code compiled for baseline x86-64 cannot reach. Returns a value that
    /// depends on every FMA.
    public static func fmaChains(rounds: Int) -> Float { ies_fma_chains(rounds) }
}
