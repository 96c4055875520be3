import Datasets
import Foundation
import Distributed
import Mastery
import NN

/// Everything that determines a training run (what `ies train` parses and validates).
///
/// The property initializers are the defaults; `Setting.all` describes each property (its
/// meta.json key, flag, help, resume policy), and Codable goes through it (Settings.swift).
public struct TrainingConfig: Sendable, Equatable, Codable {
    public var dataDirectory: String = "/usr/share/datasets/fashion-mnist"
    /// Where the channels of 4-D NumPy image arrays are; auto decides from the shape (`NPYLayout`).
    public var npyLayout: NPYLayout = .auto
    public var model: ModelPreset = .cnn
    /// The ResNets' first-stage width (nil: the preset's default, 64).
    public var width: Int? = nil
    /// Normalize BatchNorm with the statistics of the global batch (all ranks) instead of each rank's own.
    public var syncBatchNorm: Bool = false
    public var epochs: Int = 5
    /// Global batch size (instances per optimizer step over all ranks), unless `batchSizePerRank` is set.
    public var batchSize: Int = 64
    /// Instances per step on each rank: the global batch is this times the number of ranks.
    public var batchSizePerRank: Int? = nil
    /// How the learning rate follows the global batch: lr · G/ref (linear, Goyal et al. 2017),
    /// lr · sqrt(G/ref), or not at all.
    public var lrScaling: LRScaling = .none
    /// The global batch at which `learningRate` applies unscaled.
    public var lrReferenceBatch: Int = 64
    public var learningRate: Double = 0.1
    public var optimizer: OptimizerChoice = .sgd
    /// SGD momentum (ignored by Adam and AdamW).
    public var momentum: Double = 0.9
    public var weightDecay: Double = 5e-4
    public var schedule: LRSchedule = .exponential(gamma: 0.96)
    /// Epochs of linear warm-up (lr · (e + 1) / N) before the schedule starts.
    public var warmupEpochs: Int = 0
    /// Training-time augmentation; nil: crop-and-flip for the ResNets and VGG, none for mlp and cnn.
    public var augmentation: Augmentation? = nil
    public var seed: UInt64 = 0
    /// Keep only the first `limit` training instances.
    public var limit: Int? = nil
    /// Evaluate on the first `testLimit` test instances only.
    public var testLimit: Int? = nil
    /// Compute threads (NN kernels; OpenBLAS runs single-threaded inside them); nil = all cores of this process's share of the node.
    public var threads: Int? = nil
    public var runDirectory: String
    /// Batch size used for evaluation and probes (forward only) of the mlp and cnn; the
    /// larger networks evaluate in training-size batches to bound their memory.
    public var evaluationBatchSize: Int = 256

    /// The augmentation actually used.
    public var effectiveAugmentation: Augmentation { augmentation ?? (model.isImageNetwork ? .cropFlip : Augmentation.none) }

    /// Instances per optimizer step over all `ranks`.
    public func globalBatch(ranks: Int) -> Int { batchSizePerRank.map { $0 * ranks } ?? batchSize }

    /// The learning rate of 0-based `epoch` on `ranks` ranks: the base rate scaled for the
    /// global batch, through the warm-up, then the schedule.
    public func learningRate(epoch: Int, ranks: Int = 1) -> Double {
        let scaled = lrScaling.scale(learningRate, batch: globalBatch(ranks: ranks), reference: lrReferenceBatch)
        return schedule.learningRate(base: scaled, epoch: epoch, epochs: epochs, warmup: warmupEpochs)
    }

    /// The evaluation batch actually used.
    public var effectiveEvaluationBatchSize: Int {
        model.isImageNetwork ? (batchSizePerRank ?? batchSize) : evaluationBatchSize
    }

    /// The largest batch one rank may have to take in a step: the global batch (a rank can
    /// hold every unmastered instance), or, with a per-rank batch, twice that (uneven pools
    /// add steps instead of growing a rank's batch further; see `Trainer.trainPass`).
    public func localBatchCapacity(ranks: Int) -> Int { batchSizePerRank.map { 2 * $0 } ?? batchSize }
    /// Show a progress line within each epoch (only when stdout is a terminal).
    public var showProgress: Bool = true
    /// Instance-dependent early stopping; threshold 0 trains every instance every epoch.
    public var mastery: MasteryRule = .defaults
    /// How often mastered instances are probed (`ProbeSchedule`).
    public var probe: ProbeSchedule = .every
    /// How training instances are split across ranks.
    public var sharding: ShardStrategy = .contiguous
    /// Write a checkpoint every this many epochs (and after the last); 0 = only after the last.
    public var checkpointEvery: Int = 1
    /// Checkpoints kept in the run directory (the newest ones).
    public var keepCheckpoints: Int = 3
    /// Move instances between ranks when their unmastered (or mastered) counts are uneven.
    public var rebalance: Bool = true
    /// Rebalance when max/mean of the per-rank counts exceeds 1 + this.
    public var rebalanceTolerance: Double = 0.05
    /// End the job when a rank waits longer than this for the others (seconds; 0: wait forever).
    public var stallTimeout: Double = 300
    /// Reduce the gradient buckets while backward runs (true) or after it (false); nil: while
    /// it runs when the ranks span several hosts, after it when they all share one (their
    /// reductions are memory copies then, which need a CPU that compute is using).
    public var overlap: Bool? = nil
    /// Size of a gradient bucket, in MiB of Float32 gradients.
    public var bucketMegabytes: Double = 1
    /// Send gradients as 16-bit values (half the bytes; each sum rounded); nil: Float32, exact.
    public var allreduceFormat: HalfPrecision? = nil
    /// Where rank 0 also writes TensorBoard event files (nil: none).
    public var tensorboardDirectory: String? = nil

    public init(runDirectory: String) { self.runDirectory = runDirectory }

    /// Where a run without --run-dir writes: runs/<timestamp> (`defaultRunDirectoryPattern`).
    public static func defaultRunDirectory(at date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "runs/" + formatter.string(from: date)
    }

    /// `defaultRunDirectory()` as the help shows it.
    public static let defaultRunDirectoryPattern = "runs/<timestamp>"

    /// Checks ranges; the error names the setting and what was expected.
    public func validate() throws {
        func fail(_ setting: Setting, _ problem: String) -> ConfigurationError { ConfigurationError(setting: setting, problem) }
        guard epochs > 0 else { throw fail(.epochs, "must be a positive integer, got \(epochs)") }
        guard batchSize > 0 else { throw fail(.batchSize, "must be a positive integer, got \(batchSize)") }
        if let batchSizePerRank, batchSizePerRank <= 0 {
            throw fail(.batchSizePerRank, "must be a positive integer, got \(batchSizePerRank)")
        }
        guard lrReferenceBatch > 0 else {
            throw fail(.lrReferenceBatch, "must be a positive integer, got \(lrReferenceBatch)")
        }
        guard learningRate > 0, learningRate.isFinite else {
            throw fail(.lr, "must be a positive number, got \(learningRate)")
        }
        guard momentum >= 0, momentum < 1 else { throw fail(.momentum, "must be in [0, 1), got \(momentum)") }
        guard weightDecay >= 0, weightDecay.isFinite else {
            throw fail(.weightDecay, "must be >= 0, got \(weightDecay)")
        }
        if let limit, limit <= 0 { throw fail(.limit, "must be a positive integer, got \(limit)") }
        if let testLimit, testLimit <= 0 { throw fail(.testLimit, "must be a positive integer, got \(testLimit)") }
        guard warmupEpochs >= 0, warmupEpochs < epochs else {
            throw fail(.warmupEpochs, "must be in 0..<epochs (\(epochs)), got \(warmupEpochs)")
        }
        if let width {
            guard model.takesWidth else { throw fail(.width, "applies to the resnets only, not \(model.rawValue)") }
            guard width > 0 else { throw fail(.width, "must be a positive integer, got \(width)") }
        }
        if let threads, threads <= 0 { throw fail(.threads, "must be a positive integer, got \(threads)") }
        guard evaluationBatchSize > 0 else {
            throw fail(.evaluationBatchSize, "must be a positive integer, got \(evaluationBatchSize)")
        }
        guard checkpointEvery >= 0 else {
            throw fail(.checkpointEvery, "must be >= 0 epochs, got \(checkpointEvery)")
        }
        guard keepCheckpoints >= 1 else { throw fail(.keep, "must be at least 1, got \(keepCheckpoints)") }
        guard bucketMegabytes > 0, bucketMegabytes.isFinite else {
            throw fail(.bucketMb, "must be a positive number of MiB, got \(bucketMegabytes)")
        }
        guard stallTimeout >= 0, stallTimeout.isFinite else {
            throw fail(.stallTimeout, "must be >= 0 seconds (0: no deadline), got \(stallTimeout)")
        }
        guard rebalanceTolerance >= 0, rebalanceTolerance.isFinite else {
            throw fail(.rebalanceTolerance, "must be >= 0, got \(rebalanceTolerance)")
        }
        try validateBounds()
    }
}

/// A training setting out of range (or changed on resume): which one, and what was expected.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let setting: Setting
    /// What is wrong, e.g. "must be a positive integer, got -3".
    public let problem: String

    public init(setting: Setting, _ problem: String) {
        self.setting = setting
        self.problem = problem
    }

    /// The setting by its meta.json key (the command line names its flag instead).
    public var description: String { "\(setting.key) \(problem)" }
}

/// How the learning rate follows the global batch (`--lr-scaling`).
public enum LRScaling: String, Sendable, Codable, CaseIterable {
    case none, linear, sqrt

    /// `rate` for a global batch of `batch` when it was tuned for `reference`.
    public func scale(_ rate: Double, batch: Int, reference: Int) -> Double {
        switch self {
        case .none: return rate
        case .linear: return rate * Double(batch) / Double(reference)
        case .sqrt: return rate * (Double(batch) / Double(reference)).squareRoot()
        }
    }
}
