import Distributed
import NN

/// Gradients reduced in buckets while backward still runs (PyTorch DDP's gradient buckets):
/// as soon as backward has finished every layer of a bucket, that bucket's allreduce
/// starts, and the step waits for all of them only before the update.
///
/// Buckets cover the step buffer's gradients in reverse layer order (backward's order),
/// each about `capacity` floats, cut at tensor boundaries; the last one (the first layers)
/// also carries the statistics and the tail [count, loss sum, correct, stop], which come
/// first in `StepBuffer`. Buckets start strictly in order on every rank (a later bucket
/// that is ready waits for the earlier ones), so all ranks issue the same collectives in
/// the same order, whatever order their layers finish in (a rank with an empty batch
/// starts them all at the end). Each element is summed exactly as by one allreduce of the
/// whole buffer: with two ranks the results are bit-identical.
///
/// With `compression`, every gradient travels as 16-bit values (half the bytes) and is
/// decoded back after the reduction, while the statistics and the tail travel exact, in a
/// last bucket of their own; without `overlap`, the same buckets all start after backward
/// and are waited on at once (no progress thread). On 3 or more ranks MPI's algorithms add an element's terms in an
/// order that depends on where the element falls in the reduced range, so every
/// multi-rank step reduces through these same buckets, overlapped or not: `--overlap`
/// never changes a result (the bucket size does, on 3 or more ranks).
///
/// With `pairSum` (two ranks on one host, the step buffer in their shared window, no
/// overlap, no compression), `finish` sums the whole buffer through shared memory instead
/// of MPI's messages: the same sums (a0 + a1), without copying the gradients into and out
/// of MPI's buffers.
final class GradientBuckets {
    private struct Bucket {
        /// Floats of the step buffer it reduces.
        var range: Range<Int>
        /// Parameter floats of the bucket whose gradients are not final yet.
        var pending: Int
        var started: Communicator.PendingReduction?
    }

    private let communicator: Communicator
    private let buffer: StepBuffer
    private var buckets: [Bucket] = []
    private var initialPending: [Int] = []
    /// For each layer with parameters: (bucket, floats) pairs it completes.
    private var contributions: [ObjectIdentifier: [(bucket: Int, floats: Int)]] = [:]
    private var nextToStart = 0
    /// Whether buckets start during backward (else all after it).
    let overlap: Bool
    private let compression: HalfPrecision?
    /// 16-bit copies of the gradients, for compressed buckets (index = gradient offset).
    private let staging: UnsafeMutableBufferPointer<UInt16>
    /// The step buffer's shared window, summed in place by `finish` (nil: MPI's buckets).
    let pairSum: SharedPairSum?

    /// Buckets holding gradients (with compression, all but the exact last one).
    var gradientBucketCount: Int { compression == nil ? buckets.count : buckets.count - 1 }

    init(
        model: Model, buffer: StepBuffer, capacity: Int, communicator: Communicator, overlap: Bool = true,
        compression: HalfPrecision? = nil, pairSum: SharedPairSum? = nil
    ) {
        precondition(
            pairSum == nil
                || (!overlap && compression == nil && pairSum!.storage.baseAddress == buffer.all.baseAddress))
        self.communicator = communicator
        self.buffer = buffer
        self.overlap = overlap
        self.compression = compression
        self.pairSum = pairSum
        staging = .allocate(capacity: compression == nil ? 0 : model.parameters.count)
        let base = buffer.gradientOffset
        // Tensors from the last to the first, grouped until a bucket holds `capacity` floats.
        var bounds: [Int] = []  // parameter offsets where buckets begin, descending
        var filled = 0
        for entry in model.parameters.entries.reversed() {
            filled += entry.count
            if filled >= capacity && entry.offset > 0 {
                bounds.append(entry.offset)
                filled = 0
            }
        }
        var upper = model.parameters.count
        for lower in bounds + [0] {
            // Uncompressed, the first layers' bucket also carries the statistics and the tail.
            let start = lower == 0 && compression == nil ? 0 : base + lower
            buckets.append(Bucket(range: start..<(base + upper), pending: upper - lower, started: nil))
            upper = lower
        }
        // Compressed, they travel exact in a last bucket of their own: every gradient is compressed.
        if compression != nil { buckets.append(Bucket(range: 0..<base, pending: 0, started: nil)) }
        initialPending = buckets.map(\.pending)
        let lowers = buckets.map { $0.range.lowerBound == 0 ? 0 : $0.range.lowerBound - base }
        for (layer, range) in model.parameterRanges {
            var parts: [(Int, Int)] = []
            for (index, lower) in lowers.enumerated() {
                let upperBound = index == 0 ? model.parameters.count : lowers[index - 1]
                let overlap = max(0, min(range.upperBound, upperBound) - max(range.lowerBound, lower))
                if overlap > 0 { parts.append((index, overlap)) }
            }
            contributions[ObjectIdentifier(layer)] = parts
        }
    }

    deinit { staging.deallocate() }

    /// Before a step's backward: nothing final, nothing started.
    func reset() {
        for i in buckets.indices {
            buckets[i].pending = initialPending[i]
            buckets[i].started = nil
        }
        nextToStart = 0
    }

    /// Backward finished `layer`: count its gradients as final, start the buckets now
    /// complete (in order), and let the reductions in flight progress.
    func layerFinished(_ layer: Layer) throws {
        guard overlap, let parts = contributions[ObjectIdentifier(layer)] else { return }
        for (bucket, floats) in parts { buckets[bucket].pending -= floats }
        try startReady()
        for bucket in buckets where bucket.started != nil { try communicator.test(bucket.started!) }
    }

    /// After backward (or none, for an empty batch): start what is left, in order, and wait for all.
    func finish() throws {
        if let pairSum { return try communicator.sum(pairSum) }
        while nextToStart < buckets.count { try start(nextToStart) }
        for bucket in buckets { try communicator.wait(bucket.started!) }
        guard let compression else { return }
        for bucket in buckets.dropLast() {
            let gradients = bucket.range.lowerBound - buffer.gradientOffset
            compression.decode(
                UnsafeBufferPointer(rebasing: staging[gradients..<(gradients + bucket.range.count)]),
                into: UnsafeMutableBufferPointer(rebasing: buffer.all[bucket.range]))
        }
    }

    private func startReady() throws {
        // The last bucket (statistics and tail) also waits for finish(): the tail is complete then.
        while nextToStart < buckets.count - 1 && buckets[nextToStart].pending == 0 { try start(nextToStart) }
    }

    private func start(_ index: Int) throws {
        let range = buckets[index].range
        if let compression, index < buckets.count - 1 {
            let gradients = range.lowerBound - buffer.gradientOffset
            let half = UnsafeMutableBufferPointer(rebasing: staging[gradients..<(gradients + range.count)])
            compression.encode(UnsafeBufferPointer(rebasing: buffer.all[range]), into: half)
            buckets[index].started = try communicator.startSum(half, format: compression, background: overlap)
        } else {
            buckets[index].started = try communicator.startAllreduce(
                UnsafeMutableBufferPointer(rebasing: buffer.all[range]), .sum, background: overlap)
        }
        nextToStart = index + 1
    }
}
