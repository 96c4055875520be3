import Foundation

/// One line of `metrics.jsonl`: what happened in one epoch. The one definition of the
/// file's schema: the trainer writes it, `ies report`, `ies inspect` and TensorBoard read
/// it, and the README's field list is checked against `CodingKeys` by a test.
///
/// To add a field: a property with a default, a `CodingKeys` case and one line in
/// `init(from:)` (so that runs written before it still load), plus its producer.
public struct EpochMetrics: Codable, Sendable, Equatable {
    /// 1-based epoch number.
    public var epoch: Int
    public var lr: Double
    /// Instances backpropagated this epoch.
    public var trained: Int
    /// Mastered instances probed by a forward-only pass this epoch.
    public var probed: Int
    /// Instances decided mastered for the next epoch.
    public var mastered: Int
    /// Instances that were mastered this epoch and are not for the next (their loss moved).
    public var returned: Int
    /// Cumulative share of backpropagation saved: 1 - trained so far / (N x epochs so far).
    public var backpropSaved: Double
    /// Mean training loss over the trained instances (train mode, before their step's update).
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var testLoss: Double
    /// Test accuracy in 0...1.
    public var testAccuracy: Double
    /// Wall time of the whole epoch (training, probing, evaluation, rebalancing, checkpoint).
    public var seconds: Double
    /// Wall time of the training pass alone.
    public var trainSeconds: Double
    /// Wall time of the probe pass over mastered instances.
    public var probeSeconds: Double
    /// Trained instances per second of the training pass.
    public var samplesPerSecond: Double
    /// Ranks in the run.
    public var worldSize: Int = 1
    /// Instances per optimizer step over all ranks (the `lr` above is already scaled for it).
    public var globalBatch: Int = 0
    /// Instances backpropagated by each rank (indexed by rank).
    public var trainedPerRank: [Int] = []
    /// Instances mastered for the next epoch on each rank (indexed by rank).
    public var masteredPerRank: [Int] = []
    /// True when a digest of the parameters was identical on every rank after the epoch.
    public var parameterDigestAgree: Bool = true
    /// Synchronous steps of the epoch (the maximum over ranks).
    public var steps: Int = 0
    /// Wall time rank 0 spent in the per-step gradient allreduce (includes waiting for slower ranks).
    public var allreduceSeconds: Double = 0
    /// The same for every rank (indexed by rank): mostly idle time on ranks with less work.
    public var allreduceSecondsPerRank: [Double] = []
    /// Unmastered instances per rank after the mastery decision, before rebalancing.
    public var unmasteredPerRankBefore: [Int] = []
    /// Unmastered instances per rank after rebalancing (the next epoch's pools).
    public var unmasteredPerRankAfter: [Int] = []
    /// Instances moved between ranks by rebalancing, and the bytes they took.
    public var instancesMoved: Int = 0
    public var bytesMoved: Int = 0
    public var rebalanceSeconds: Double = 0
    /// Wall time of the test evaluation.
    public var evaluateSeconds: Double = 0
    /// Wall time of writing this epoch's checkpoint (0 when none was due).
    public var checkpointSeconds: Double = 0
    /// Instances mastered for the next epoch, by class (index = label).
    public var masteredPerClass: [Int] = []
    /// Training instances of each class (constant over a run).
    public var instancesPerClass: [Int] = []

    /// An epoch's core figures; the per-rank, timing and per-class details start empty.
    public init(
        epoch: Int, lr: Double, trained: Int, probed: Int, mastered: Int, returned: Int, backpropSaved: Double,
        trainLoss: Double, trainAccuracy: Double, testLoss: Double, testAccuracy: Double, seconds: Double,
        trainSeconds: Double, probeSeconds: Double, samplesPerSecond: Double
    ) {
        self.epoch = epoch
        self.lr = lr
        self.trained = trained
        self.probed = probed
        self.mastered = mastered
        self.returned = returned
        self.backpropSaved = backpropSaved
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.testLoss = testLoss
        self.testAccuracy = testAccuracy
        self.seconds = seconds
        self.trainSeconds = trainSeconds
        self.probeSeconds = probeSeconds
        self.samplesPerSecond = samplesPerSecond
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case epoch, lr, trained, probed, mastered, returned, seconds
        case backpropSaved = "backprop_saved", probeSeconds = "probe_seconds"
        case trainLoss = "train_loss", trainAccuracy = "train_accuracy"
        case testLoss = "test_loss", testAccuracy = "test_accuracy"
        case trainSeconds = "train_seconds", samplesPerSecond = "samples_per_second"
        case worldSize = "world_size", globalBatch = "global_batch", trainedPerRank = "trained_per_rank", masteredPerRank = "mastered_per_rank"
        case parameterDigestAgree = "parameter_digest_agree", steps, allreduceSeconds = "allreduce_seconds"
        case allreduceSecondsPerRank = "allreduce_seconds_per_rank"
        case unmasteredPerRankBefore = "unmastered_per_rank_before", unmasteredPerRankAfter = "unmastered_per_rank_after"
        case instancesMoved = "instances_moved", bytesMoved = "bytes_moved", rebalanceSeconds = "rebalance_seconds"
        case evaluateSeconds = "evaluate_seconds", checkpointSeconds = "checkpoint_seconds"
        case masteredPerClass = "mastered_per_class", instancesPerClass = "instances_per_class"
    }

    /// Decodes a record tolerantly: the figures every version of `ies train` has written
    /// are required; the ones added later take their defaults when absent (older runs).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epoch = try c.decode(Int.self, forKey: .epoch)
        lr = try c.decode(Double.self, forKey: .lr)
        trained = try c.decode(Int.self, forKey: .trained)
        probed = try c.decode(Int.self, forKey: .probed)
        mastered = try c.decode(Int.self, forKey: .mastered)
        returned = try c.decode(Int.self, forKey: .returned)
        backpropSaved = try c.decode(Double.self, forKey: .backpropSaved)
        trainLoss = try c.decode(Double.self, forKey: .trainLoss)
        trainAccuracy = try c.decode(Double.self, forKey: .trainAccuracy)
        testLoss = try c.decode(Double.self, forKey: .testLoss)
        testAccuracy = try c.decode(Double.self, forKey: .testAccuracy)
        seconds = try c.decode(Double.self, forKey: .seconds)
        trainSeconds = try c.decodeIfPresent(Double.self, forKey: .trainSeconds) ?? 0
        probeSeconds = try c.decodeIfPresent(Double.self, forKey: .probeSeconds) ?? 0
        samplesPerSecond = try c.decodeIfPresent(Double.self, forKey: .samplesPerSecond) ?? 0
        worldSize = try c.decodeIfPresent(Int.self, forKey: .worldSize) ?? worldSize
        globalBatch = try c.decodeIfPresent(Int.self, forKey: .globalBatch) ?? globalBatch
        trainedPerRank = try c.decodeIfPresent([Int].self, forKey: .trainedPerRank) ?? []
        masteredPerRank = try c.decodeIfPresent([Int].self, forKey: .masteredPerRank) ?? []
        parameterDigestAgree = try c.decodeIfPresent(Bool.self, forKey: .parameterDigestAgree) ?? true
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? 0
        allreduceSeconds = try c.decodeIfPresent(Double.self, forKey: .allreduceSeconds) ?? 0
        allreduceSecondsPerRank = try c.decodeIfPresent([Double].self, forKey: .allreduceSecondsPerRank) ?? []
        unmasteredPerRankBefore = try c.decodeIfPresent([Int].self, forKey: .unmasteredPerRankBefore) ?? []
        unmasteredPerRankAfter = try c.decodeIfPresent([Int].self, forKey: .unmasteredPerRankAfter) ?? []
        instancesMoved = try c.decodeIfPresent(Int.self, forKey: .instancesMoved) ?? 0
        bytesMoved = try c.decodeIfPresent(Int.self, forKey: .bytesMoved) ?? 0
        rebalanceSeconds = try c.decodeIfPresent(Double.self, forKey: .rebalanceSeconds) ?? 0
        evaluateSeconds = try c.decodeIfPresent(Double.self, forKey: .evaluateSeconds) ?? 0
        checkpointSeconds = try c.decodeIfPresent(Double.self, forKey: .checkpointSeconds) ?? 0
        masteredPerClass = try c.decodeIfPresent([Int].self, forKey: .masteredPerClass) ?? []
        instancesPerClass = try c.decodeIfPresent([Int].self, forKey: .instancesPerClass) ?? []
    }

    /// The JSON key of every field, in declaration order (the README's field list is tested against it).
    public static var fieldNames: [String] { CodingKeys.allCases.map(\.stringValue) }
}
