import NN

/// The buffer one data-parallel step reduces: the model's gradients, its per-batch
/// statistics (BatchNorm's shifted sums, folded into the running statistics afterwards),
/// and a small tail [instance count, loss sum, correct, stop requests], so that ONE
/// allreduce per step combines everything the ranks need to agree on (including whether
/// to stop for a preemption: a rank that got the signal sets its 1, every rank sees the sum).
///
/// Layout (floats): statistics (statisticsCount) | count | loss sum | correct | stop | gradients
/// (parameterCount). Gradients come last so that the bucket holding the first layers'
/// gradients, which backward finishes last, also carries the statistics and the tail when
/// gradients are reduced in buckets during backward (`GradientBuckets`). The memory is
/// allocated once (or given: a shared-memory window, `SharedPairSum`) and handed out as
/// buffer views (a step uses several at once).
public final class StepBuffer {
    public let parameterCount: Int
    public let statisticsCount: Int
    private let storage: UnsafeMutableBufferPointer<Float>
    /// False when the memory was given (`init(parameterCount:statisticsCount:storage:)`).
    private let ownsStorage: Bool
    private var tail: Int { statisticsCount }
    /// Where the gradients start.
    public var gradientOffset: Int { statisticsCount + Self.tailCount }

    public static let tailCount = 4

    /// Floats of a buffer for `parameterCount` parameters and `statisticsCount` statistics.
    public static func floats(parameterCount: Int, statisticsCount: Int = 0) -> Int {
        parameterCount + statisticsCount + tailCount
    }

    public init(parameterCount: Int, statisticsCount: Int = 0) {
        self.parameterCount = parameterCount
        self.statisticsCount = statisticsCount
        storage = .allocate(capacity: Self.floats(parameterCount: parameterCount, statisticsCount: statisticsCount))
        storage.initialize(repeating: 0)
        ownsStorage = true
    }

    /// A buffer in `storage` (exactly `floats(parameterCount:statisticsCount:)` floats), which
    /// must outlive it; it is zeroed here.
    public init(parameterCount: Int, statisticsCount: Int, storage: UnsafeMutableBufferPointer<Float>) {
        precondition(storage.count == Self.floats(parameterCount: parameterCount, statisticsCount: statisticsCount))
        self.parameterCount = parameterCount
        self.statisticsCount = statisticsCount
        self.storage = storage
        storage.update(repeating: 0)
        ownsStorage = false
    }

    deinit { if ownsStorage { storage.deallocate() } }

    /// Zeroes everything, split over `compute`'s threads: the gradients by `split` (each
    /// thread the gradients it computes and updates, `Model.parameterSplit`), the rest on
    /// the calling thread.
    public func zero(compute: Compute = .serial, split: ParameterSplit? = nil) {
        precondition(split == nil || split!.count == parameterCount)
        UnsafeMutableBufferPointer(rebasing: storage[0..<gradientOffset]).update(repeating: 0)
        (split ?? .contiguous(count: parameterCount, compute: compute)).shifted(by: gradientOffset)
            .forEachRange(compute: compute) { range in
                UnsafeMutableBufferPointer(rebasing: storage[range]).update(repeating: 0)
            }
    }

    /// The whole buffer, for the allreduce.
    public var all: UnsafeMutableBufferPointer<Float> { storage }

    /// The gradient part, for `Model.backward(into:)`.
    public var gradients: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: storage[gradientOffset...])
    }

    /// The statistics part, for the model's training forward and `Model.foldStatistics`.
    public var statistics: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: storage[0..<statisticsCount])
    }

    /// Instances in the step (after a reduction: over all ranks).
    public var count: Int {
        get { Int(storage[tail]) }
        set { storage[tail] = Float(newValue) }
    }

    /// Sum of the instances' losses.
    public var lossSum: Float {
        get { storage[tail + 1] }
        set { storage[tail + 1] = newValue }
    }

    /// Correct predictions among them.
    public var correct: Int {
        get { Int(storage[tail + 2]) }
        set { storage[tail + 2] = Float(newValue) }
    }

    /// Ranks asking to stop after this step (after the reduction: over all ranks).
    public var stopRequests: Int {
        get { Int(storage[tail + 3]) }
        set { storage[tail + 3] = Float(newValue) }
    }
}
