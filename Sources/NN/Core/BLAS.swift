import CBLAS

/// The OpenBLAS calls NN uses, with the thread count set explicitly.
///
/// Ranks that share a node must not oversubscribe its cores, so nothing here
/// relies on OpenBLAS's own default (all cores).
public enum BLAS {
    /// Sets the number of OpenBLAS threads for this process (at least 1).
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
        Parallel.threads = max(1, count)
    }

    /// The number of OpenBLAS threads in effect.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// The CPU kernel family OpenBLAS chose at run time (for benchmark reports).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
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
}
