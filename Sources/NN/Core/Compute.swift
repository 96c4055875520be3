import CBLAS

/// How many threads a model's kernels use. Every kernel splits its own work (images,
/// columns of a GEMM, channels) over these threads and calls OpenBLAS single-threaded
/// inside them, so OpenBLAS's thread pool never runs beside ours (see `BLAS`).
///
/// Creating a context sets OpenBLAS to one thread for the process (OpenBLAS keeps it
/// globally); ranks that share a node pass their share of its cores.
///
/// ```swift
/// let compute = Compute(threads: 2)
/// let model = try ModelPreset.mlp.build(channels: 1, height: 28, width: 28, classes: 10,
///                                       maxBatch: 64, seed: 0, compute: compute)
/// ```
public struct Compute: Sendable, Equatable {
    /// Threads for NN's parallel loops (at least 1).
    public let threads: Int

    public init(threads: Int) {
        self.threads = max(1, threads)
        openblas_set_num_threads(1)
    }

    /// One thread, without touching OpenBLAS's setting (for kernels called in tests).
    public static let serial = Compute(serialWithoutConfiguring: ())

    private init(serialWithoutConfiguring: Void) { threads = 1 }

    /// Calls `body(range)` on disjoint chunks covering 0..<count, in parallel when there are
    /// several threads and each chunk gets at least `minimumPerChunk` items. `file` and
    /// `line` name the loop for `LoopProfile` (the caller's, by default).
    @inline(__always)
    public func chunks(
        _ count: Int, minimumPerChunk: Int = 1, file: StaticString = #fileID, line: UInt = #line,
        _ body: (Range<Int>) -> Void
    ) {
        indexedChunks(count, minimumPerChunk: minimumPerChunk, file: file, line: line) { _, range in body(range) }
    }

    /// How many chunks `chunks(count, minimumPerChunk:)` makes (1 when it runs serially).
    @inline(__always)
    public func chunkCount(_ count: Int, minimumPerChunk: Int = 1) -> Int {
        max(1, min(threads, count / max(1, minimumPerChunk)))
    }

    /// `chunks` over `count` floats in pieces that start at multiples of 16 floats (whole
    /// vectors and cache lines): `body(start, count)`, each piece at least
    /// `minimumPerChunk` floats (rounded down to whole 16-float blocks).
    @inline(__always)
    public func alignedChunks(
        _ count: Int, minimumPerChunk: Int = 16, file: StaticString = #fileID, line: UInt = #line,
        _ body: (_ start: Int, _ count: Int) -> Void
    ) {
        chunks((count + 15) / 16, minimumPerChunk: max(1, minimumPerChunk / 16), file: file, line: line) { blocks in
            let start = blocks.lowerBound * 16
            body(start, min(count, blocks.upperBound * 16) - start)
        }
    }

    /// `chunks` that also passes the chunk's index in 0..<chunkCount(count, minimumPerChunk:),
    /// for kernels that give each chunk its own scratch memory or partial sums.
    @inline(__always)
    public func indexedChunks(
        _ count: Int, minimumPerChunk: Int = 1, file: StaticString = #fileID, line: UInt = #line,
        _ body: (_ chunk: Int, Range<Int>) -> Void
    ) {
        let pieces = chunkCount(count, minimumPerChunk: minimumPerChunk)
        if pieces <= 1 {
            body(0, 0..<count)
            return
        }
        WorkerPool.shared.run(pieces: pieces, file: file, line: line) { piece in
            body(piece, (count * piece / pieces)..<(count * (piece + 1) / pieces))
        }
    }

    /// y[i] += partial_1[i] + ... + partial_{n-1}[i], added in that order, for the partial
    /// sums that threads 1..<n kept (thread 0 summed into y itself): partial_j starts at
    /// `first + (j - 1) * stride`. The floats are split among the threads; each float is
    /// added in the same order as one thread's loop would, so the bits are the same.
    /// (A convolution's per-thread weight gradients: 16 MB each for 512>512 by Winograd.)
    public func addPartials(
        _ count: Int, from first: UnsafePointer<Float>, stride: Int, into y: UnsafeMutablePointer<Float>, floats: Int
    ) {
        guard count > 0 else { return }
        alignedChunks(floats, minimumPerChunk: Compute.elementwiseMinimum) { start, length in
            for j in 0..<count {
                Vector.accumulate(first + j * stride + start, into: y + start, count: length)
            }
        }
    }

    /// Floats per thread below which an elementwise pass over memory (a residual sum and its
    /// gradient, the sum of per-thread partials) runs on one thread.
    static let elementwiseMinimum = 65_536
}
