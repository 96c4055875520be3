import Dispatch

/// Splits memory-bound loops (im2col, pooling, activations) over the same number of
/// threads as OpenBLAS uses, so that they do not become the serial part of a step.
public enum Parallel {
    /// Threads for NN's own loops; `BLAS.setThreads` keeps it in step with OpenBLAS.
    nonisolated(unsafe) public static var threads = 1

    /// Calls `body(range)` on disjoint chunks covering 0..<count, in parallel when
    /// `threads > 1` and the work (count * cost) is worth it.
    @inline(__always)
    public static func chunks(_ count: Int, minimumPerChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let pieces = min(threads, count / max(1, minimumPerChunk))
        if pieces <= 1 {
            body(0..<count)
            return
        }
        DispatchQueue.concurrentPerform(iterations: pieces) { piece in
            body((count * piece / pieces)..<(count * (piece + 1) / pieces))
        }
    }
}
