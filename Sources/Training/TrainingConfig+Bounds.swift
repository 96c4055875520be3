import Foundation
import NN

/// Upper bounds on the settings, and the learning rate at every epoch: what would overflow,
/// allocate without limit, never end, or train nothing is refused before training starts.
extension TrainingConfig {
    /// The most epochs a run may have (a larger count is a typo, and would never end).
    public static let maxEpochs = 1_000_000
    /// The largest global or per-rank batch (before it is clamped to the training instances).
    public static let maxBatchSize = 1 << 30
    /// The widest ResNet first stage.
    public static let maxWidth = 4096
    /// The most compute threads per rank.
    public static let maxThreads = 1024
    /// The largest gradient bucket, in MiB.
    public static let maxBucketMegabytes = 65_536.0
    /// The smallest learning rate that still trains: below it (or zero, NaN, infinite) at any
    /// epoch, the run would silently learn nothing there.
    public static let minLearningRate = 1e-12
    /// The most memory a model (parameters, gradients, optimizer state, activations of the
    /// largest batch) may need on one rank.
    public static let maxModelBytes = 16 << 30

    /// Checks the upper bounds and the learning rate of every epoch on one rank (`validate()`
    /// calls it; the trainer checks the rates again with the real number of ranks).
    func validateBounds() throws {
        func fail(_ setting: Setting, _ problem: String) -> ConfigurationError { ConfigurationError(setting: setting, problem) }
        guard epochs <= Self.maxEpochs else { throw fail(.epochs, "must be at most \(Self.maxEpochs), got \(epochs)") }
        guard batchSize <= Self.maxBatchSize else {
            throw fail(.batchSize, "must be at most \(Self.maxBatchSize), got \(batchSize)")
        }
        if let batchSizePerRank, batchSizePerRank > Self.maxBatchSize {
            throw fail(.batchSizePerRank, "must be at most \(Self.maxBatchSize), got \(batchSizePerRank)")
        }
        if let width, width > Self.maxWidth { throw fail(.width, "must be at most \(Self.maxWidth), got \(width)") }
        if let threads, threads > Self.maxThreads {
            throw fail(.threads, "must be at most \(Self.maxThreads), got \(threads)")
        }
        guard bucketMegabytes <= Self.maxBucketMegabytes else {
            throw fail(.bucketMb, "must be at most \(Int(Self.maxBucketMegabytes)) MiB, got \(bucketMegabytes)")
        }
        try checkLearningRates(ranks: 1)
    }

    /// Refuses a learning rate that is zero, below `minLearningRate`, NaN or infinite at any
    /// epoch 0..<epochs on `ranks` ranks, naming the settings that make it so and the epoch.
    public func checkLearningRates(ranks: Int) throws {
        let scaled = lrScaling.scale(learningRate, batch: globalBatch(ranks: ranks), reference: lrReferenceBatch)
        func usable(_ rate: Double) -> Bool { rate.isFinite && rate >= Self.minLearningRate }
        guard usable(scaled) else {
            let field: Setting = lrScaling == .none ? .lr : .lrReferenceBatch
            throw ConfigurationError(
                setting: field,
                "with --lr \(learningRate) and --lr-scaling \(lrScaling.rawValue) for a global batch of "
                    + "\(globalBatch(ranks: ranks)) gives a learning rate of \(scaled); it must be a finite number "
                    + ">= \(Self.minLearningRate)")
        }
        for epoch in 0..<epochs {
            let rate = learningRate(epoch: epoch, ranks: ranks)
            guard !usable(rate) else { continue }
            let field: Setting = epoch < warmupEpochs ? .warmupEpochs : .lrSchedule
            throw ConfigurationError(
                setting: field,
                "gives a learning rate of \(rate) at epoch \(epoch + 1) of \(epochs) (--lr \(learningRate), "
                    + "--lr-schedule \(schedule), --warmup-epochs \(warmupEpochs)); every epoch needs a finite "
                    + "rate >= \(Self.minLearningRate)")
        }
    }

    /// The configuration actually trained on `instances` training instances and `ranks` ranks:
    /// a global batch larger than the training set takes all of it in one step, so it is
    /// lowered to the training set (nil warning when nothing changed).
    public func clampedBatch(instances: Int, ranks: Int) -> (TrainingConfig, warning: String?) {
        var config = self
        let global = globalBatch(ranks: ranks)
        guard instances > 0, global > instances else { return (self, nil) }
        if let perRank = batchSizePerRank {
            config.batchSizePerRank = max(1, instances / ranks)
            return (config, "--batch-size-per-rank \(perRank) on \(ranks) rank(s) is a global batch of \(global), "
                + "more than the \(instances) training instances; using \(config.batchSizePerRank!) per rank")
        }
        config.batchSize = instances
        return (config, "--batch-size \(batchSize) exceeds the \(instances) training instances; using \(instances)")
    }

    /// Refuses a model whose parameters, gradients, optimizer state and activations for
    /// batches of `maxBatch` would need more than `maxModelBytes` on one rank.
    func checkModelFits(channels: Int, height: Int, width inputWidth: Int, classes: Int, maxBatch: Int) throws {
        let size = try model.footprint(
            channels: channels, height: height, width: inputWidth, classes: classes, stageWidth: width)
        // parameters, gradients, two optimizer arrays, the gradient buffer; activations twice (values, gradients)
        let bytes = 4 * (5 * Double(size.parameters) + 2 * Double(size.activationsPerInstance) * Double(maxBatch))
        guard bytes <= Double(Self.maxModelBytes) else {
            let field: Setting = width != nil ? .width : batchSizePerRank != nil ? .batchSizePerRank : .batchSize
            let gib = (bytes / Double(1 << 30) * 10).rounded() / 10
            throw ConfigurationError(
                setting: field,
                "makes a \(model.rawValue) of \(size.parameters) parameters that needs about \(gib) GiB with batches "
                    + "of \(maxBatch) on one rank; the limit is \(Self.maxModelBytes >> 30) GiB (lower --width or the batch size)")
        }
    }
}
