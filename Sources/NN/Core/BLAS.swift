import CBLAS
import CXSMM

/// The GEMM calls NN uses. NN's kernels call sgemm on one thread (OpenBLAS's thread count
/// is set to 1 by `Compute`) from inside their own parallel loops: OpenBLAS's worker threads
/// keep spinning on a core for a while after every multi-threaded call, and on a node whose
/// cores are all busy that spin takes the core from the next layer's threads.
///
/// Two libraries run the GEMMs, both choosing their code for the CPU themselves:
/// OpenBLAS (its kernel family, which `OPENBLAS_CORETYPE` in the environment overrides and
/// ies never sets) and libxsmm (code generated at run time for the widest vectors the CPU
/// has; `LIBXSMM_TARGET` overrides it). OpenBLAS runs every GEMM unless its kernels use
/// narrower vectors than libxsmm's code would (an old OpenBLAS that does not know a new
/// CPU falls back to its SSE3 `Prescott` kernels; a site that sets `OPENBLAS_CORETYPE=Haswell`
/// on an AVX-512 CPU gets AVX2): then libxsmm runs every shape it has a kernel for. Where
/// both run AVX-512, libxsmm runs the GEMMs of Winograd's tile blocks (`tileSGEMM`): many
/// small products of one transformed-weight matrix with one block of tiles, which libxsmm's
/// kernels read in place while OpenBLAS packs both operands anew for every call (measured
/// on a Zen 4: resnet18 width 64's step 1.08-1.11x; `LibxsmmRoute`).
/// The choice depends on the machine and its environment only, never on timing, so the
/// same machine always computes the same bits.
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
    /// With libxsmm in use, it follows: "...; libxsmm 1.17 cpx for the shapes it has kernels for".
    public static var identity: String {
        let config = openblas_get_config().map { String(cString: $0) } ?? "OpenBLAS"
        let core = coreName
        let openBLAS = config.contains(core) ? config : "\(config), kernels \(core)"
        switch libxsmmRoute {
        case .none: return openBLAS
        case .tiles: return "\(openBLAS); libxsmm \(libxsmmVersion) \(libxsmmTarget) for the Winograd tile GEMMs"
        case .all: return "\(openBLAS); libxsmm \(libxsmmVersion) \(libxsmmTarget) for the shapes it has kernels for"
        }
    }

    /// Names the kernels the GEMMs run, e.g. "Cooperlake+libxsmm-cpx-tiles" or
    /// "Prescott+libxsmm-cpx": the last bits of every result are the same wherever this is the same.
    public static var kernelFamily: String {
        switch libxsmmRoute {
        case .none: coreName
        case .tiles: "\(coreName)+libxsmm-\(libxsmmTarget)-tiles"
        case .all: "\(coreName)+libxsmm-\(libxsmmTarget)"
        }
    }

    /// libxsmm's name of the instruction set it generates code for here, e.g. "cpx", "hsw".
    public static var libxsmmTarget: String { String(cString: ies_xsmm_target()) }

    /// The libxsmm release linked in.
    public static var libxsmmVersion: String { "\(LIBXSMM_VERSION_MAJOR).\(LIBXSMM_VERSION_MINOR)" }

    /// Floats per vector of libxsmm's code on this CPU: 16 (AVX-512), 8 (AVX, AVX2) or 4.
    public static let libxsmmVectorFloats = Int(ies_xsmm_vector_floats())

    /// Floats per vector of an OpenBLAS kernel family's sgemm: 4 for the SSE families, 8 for
    /// AVX and AVX2, 16 for AVX-512. A family not named here is taken to be as wide as the
    /// CPU (16), so that a newer OpenBLAS is never second-guessed.
    public static func vectorFloats(openBLASCore core: String) -> Int {
        let sse: Set = [
            "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Opteron", "Opteron(SSE3)",
            "Barcelona", "Bobcat", "Nano", "Katmai", "Coppermine", "Northwood", "Banias", "Athlon", "Generic",
        ]
        let avx: Set = ["Sandybridge", "Haswell", "Zen", "Bulldozer", "Piledriver", "Steamroller", "Excavator"]
        return sse.contains(core) ? 4 : avx.contains(core) ? 8 : 16
    }

    /// Which GEMMs libxsmm runs instead of OpenBLAS.
    public enum LibxsmmRoute: Sendable, Equatable {
        /// None: OpenBLAS runs every GEMM.
        case none
        /// The GEMMs of Winograd's tile blocks (`tileSGEMM`), where both libraries run
        /// 16-float vectors. Measured on a Zen 4 (OpenBLAS's Cooperlake kernels, libxsmm's
        /// cpx code), 2 threads: resnet18 width 64's Winograd layers forward 1.08-1.32x from
        /// 128 channels (64: 0.98-1.03x), its step 1.08-1.11x, width 16's 1.02-1.11x, the
        /// cnn's 1.03-1.05x (BENCHMARKS.md). Other GEMMs stay on OpenBLAS: with all of them
        /// on libxsmm, the mlp's and the cnn's steps were no faster there.
        case tiles
        /// Every shape libxsmm has a kernel for: OpenBLAS's kernels are narrower.
        case all

        /// The route for libxsmm's and OpenBLAS's vector widths (floats) on this CPU.
        public static func choose(libxsmmFloats: Int, openBLASFloats: Int) -> LibxsmmRoute {
            libxsmmFloats > openBLASFloats ? .all : libxsmmFloats == 16 && openBLASFloats == 16 ? .tiles : .none
        }
    }

    /// Which GEMMs libxsmm runs here (see the type's comment).
    public static let libxsmmRoute = LibxsmmRoute.choose(
        libxsmmFloats: libxsmmVectorFloats, openBLASFloats: vectorFloats(openBLASCore: coreName))

    /// Whether libxsmm runs every GEMM it has a kernel for.
    public static var usesLibxsmm: Bool { libxsmmRoute == .all }

    /// The step of the pieces in which OpenBLAS runs a GEMM with its small-matrix kernels,
    /// which read the operands where they are instead of packing them: 16 for its SkylakeX
    /// kernels (which Cooperlake and SapphireRapids use too), whose small kernels take GEMMs
    /// of at most `smallKernelLimit` multiply-adds; nil for the other families, which have
    /// none (with Haswell's, a GEMM split so ran slower). Measured on a Zen 4 (Cooperlake),
    /// one thread (BENCHMARKS.md): the mlp's 64x128x784 NT GEMM in pieces of 16 columns 1.15x
    /// one call (32 ran slower than one call), its 128x784x64 TN in pieces of 16 rows 1.08x,
    /// 64x256x64 in pieces of 32 1.15x, and NN input gradients in pieces of 64 columns
    /// 1.18-1.29x (the mlp's 64x128x128, the cnn's 64x1568x128).
    public static let smallKernelPiece: Int? = smallKernelPiece(openBLASCore: coreName, libxsmmRunsAll: usesLibxsmm)

    /// `smallKernelPiece` for an OpenBLAS kernel family (nil where libxsmm runs every GEMM).
    public static func smallKernelPiece(openBLASCore core: String, libxsmmRunsAll: Bool) -> Int? {
        ["SkylakeX", "Cooperlake", "SapphireRapids"].contains(core) && !libxsmmRunsAll ? 16 : nil
    }

    /// The widest piece measured best for a GEMM's form (BENCHMARKS.md): 16 columns of an NT
    /// GEMM (a forward; 32 ran slower than one call), 32 rows of a TN one (a weight gradient),
    /// 64 columns of an NN one (an input gradient).
    public static func smallKernelWidest(transA: Bool, transB: Bool) -> Int { transA ? 32 : transB ? 16 : 64 }

    /// The most multiply-adds (m n k) of a GEMM OpenBLAS's small-matrix kernels take.
    public static let smallKernelLimit = 1_000_000

    /// Runs `body(start, count)` over the rows or columns [start, start + count) of a GEMM:
    /// where OpenBLAS has small-matrix kernels (`piece`: their step) and the whole GEMM is
    /// beyond their limit, in pieces (from `start`) of the widest multiple of `piece` up to
    /// `widest` that keeps a piece within it (`otherSides`: the product of the GEMM's two
    /// other sides); else, or when not even one step fits, in one call. `widest`: the form's
    /// `smallKernelWidest`.
    @inline(__always)
    public static func inSmallKernelPieces(
        _ start: Int, _ count: Int, otherSides: Int, widest: Int, piece: Int? = smallKernelPiece,
        _ body: (_ start: Int, _ count: Int) -> Void
    ) {
        guard let piece, count * otherSides > smallKernelLimit else { return body(start, count) }
        let width = min(widest, smallKernelLimit / max(1, otherSides)) / piece * piece
        guard width > 0 else { return body(start, count) }
        var offset = start
        while offset < start + count {
            body(offset, min(width, start + count - offset))
            offset += width
        }
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
        if usesLibxsmm && alpha == 1
            && libxsmmSGEMM(
                transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        {
            return
        }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `sgemm` for the GEMMs of Winograd's tile blocks (transformed weights times a block
    /// of transformed tiles, and the gradients' products): libxsmm runs them where
    /// `libxsmmRoute` is `.tiles` (or `.all`), OpenBLAS elsewhere.
    @inline(__always)
    public static func tileSGEMM(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if libxsmmRoute == .tiles
            && libxsmmSGEMM(
                transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        {
            return
        }
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// The row-major [rows][stride] matrix `b` (its first `columns` columns) transposed to
    /// [columns][rows] in the calling thread's scratch, for several `tileSGEMM`s with the same
    /// transposed B (each would copy it again): valid until the next call of this or of a
    /// libxsmm GEMM with a transposed B on this thread. Nil where libxsmm does not run the tile
    /// GEMMs (or without memory): then pass B transposed as it is.
    public static func transposedForTiles(
        _ b: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int
    ) -> UnsafePointer<Float>? {
        guard libxsmmRoute != .none else { return nil }
        return ies_xsmm_transposed(b, Int32(rows), Int32(columns), Int32(stride))
    }

    /// C[m,n] = op(A) * op(B) + beta * C, row-major, by a libxsmm kernel generated for this
    /// shape (a transposed B is first copied to B^T in a per-thread scratch, as libxsmm 1.17
    /// has no kernel that reads it transposed). Returns false, touching nothing, where libxsmm
    /// has no kernel (beta other than 0 and 1 among them). `sgemm` calls it when `usesLibxsmm`;
    /// tests and benchmarks call it on any machine.
    @inline(__always)
    public static func libxsmmSGEMM(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) -> Bool {
        ies_xsmm_sgemm(
            transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), a, Int32(lda), b, Int32(ldb), beta, c,
            Int32(ldc)) != 0
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
