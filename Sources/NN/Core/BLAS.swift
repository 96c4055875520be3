import CBLAS

/// The OpenBLAS calls NN uses. Thread counts are set by `Compute`, never left to
/// OpenBLAS's own default (all cores), so ranks sharing a node do not oversubscribe it.
public enum BLAS {
    /// The number of OpenBLAS threads in effect.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// The CPU kernel family OpenBLAS chose at run time (for benchmark reports).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Runs `body` with OpenBLAS on one thread when `serial` (then restores the count): for
    /// sgemm calls made from inside `Compute.chunks`, where our own threads already occupy
    /// the cores. Not reentrant across threads; NN runs one layer call at a time.
    @inline(__always)
    public static func serial<R>(_ serial: Bool, _ body: () throws -> R) rethrows -> R {
        guard serial else { return try body() }
        let saved = openblas_get_num_threads()
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(saved) }
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
