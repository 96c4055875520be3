import CBLAS
import Dispatch

/// How many threads a model's kernels use: OpenBLAS's and NN's own loops (im2col,
/// pooling, activations) alike, so that the two never compete for the same cores.
///
/// Creating a context sets OpenBLAS's thread count for the process (OpenBLAS keeps
/// it globally); ranks that share a node pass their share of its cores.
///
/// ```swift
/// let compute = Compute(threads: 2)
/// let model = try ModelPreset.mlp.build(channels: 1, height: 28, width: 28, classes: 10,
///                                       maxBatch: 64, seed: 0, compute: compute)
/// ```
public struct Compute: Sendable, Equatable {
    /// Threads for OpenBLAS and for NN's own parallel loops (at least 1).
    public let threads: Int

    public init(threads: Int) {
        self.threads = max(1, threads)
        openblas_set_num_threads(Int32(self.threads))
    }

    /// One thread, without touching OpenBLAS's setting (for kernels called in tests).
    public static let serial = Compute(serialWithoutConfiguring: ())

    private init(serialWithoutConfiguring: Void) { threads = 1 }

    /// Calls `body(range)` on disjoint chunks covering 0..<count, in parallel when there are
    /// several threads and each chunk gets at least `minimumPerChunk` items.
    @inline(__always)
    public func chunks(_ count: Int, minimumPerChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        indexedChunks(count, minimumPerChunk: minimumPerChunk) { _, range in body(range) }
    }

    /// How many chunks `chunks(count, minimumPerChunk:)` makes (1 when it runs serially).
    @inline(__always)
    public func chunkCount(_ count: Int, minimumPerChunk: Int = 1) -> Int {
        max(1, min(threads, count / max(1, minimumPerChunk)))
    }

    /// `chunks` that also passes the chunk's index in 0..<chunkCount(count, minimumPerChunk:),
    /// for kernels that give each chunk its own scratch memory or partial sums.
    @inline(__always)
    public func indexedChunks(_ count: Int, minimumPerChunk: Int = 1, _ body: (_ chunk: Int, Range<Int>) -> Void) {
        let pieces = chunkCount(count, minimumPerChunk: minimumPerChunk)
        if pieces <= 1 {
            body(0, 0..<count)
            return
        }
        DispatchQueue.concurrentPerform(iterations: pieces) { piece in
            body(piece, (count * piece / pieces)..<(count * (piece + 1) / pieces))
        }
    }
}
