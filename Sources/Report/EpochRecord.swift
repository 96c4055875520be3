import Foundation

/// One line of a run's `metrics.jsonl`, as the report reads it.
///
/// Every field is optional so that runs written by older (or newer) versions of
/// `ies train` still load: a field a run did not record is simply not plotted.
/// The keys are those of `EpochMetrics` in the Training module (snake_case), which
/// this module deliberately does not import.
public struct EpochRecord: Decodable, Sendable, Equatable {
    public var epoch: Int?
    public var lr: Double?
    public var trained: Int?
    public var probed: Int?
    public var mastered: Int?
    public var returned: Int?
    /// Cumulative share of backpropagation saved, 0...1.
    public var backpropSaved: Double?
    public var trainLoss: Double?
    public var trainAccuracy: Double?
    public var testLoss: Double?
    /// 0...1.
    public var testAccuracy: Double?
    /// The whole epoch, seconds.
    public var seconds: Double?
    /// The training pass, which includes the gradient allreduce.
    public var trainSeconds: Double?
    public var probeSeconds: Double?
    public var evaluateSeconds: Double?
    public var checkpointSeconds: Double?
    public var allreduceSeconds: Double?
    public var rebalanceSeconds: Double?
    public var samplesPerSecond: Double?
    public var worldSize: Int?
    public var trainedPerRank: [Int]?
    public var masteredPerRank: [Int]?
    public var parameterDigestAgree: Bool?
    public var steps: Int?
    public var allreduceSecondsPerRank: [Double]?
    public var unmasteredPerRankBefore: [Int]?
    public var unmasteredPerRankAfter: [Int]?
    public var instancesMoved: Int?
    public var bytesMoved: Int?
    /// Instances decided mastered for the next epoch, per class (index = class).
    public var masteredPerClass: [Int]?
    /// Training instances per class (index = class), constant over a run.
    public var instancesPerClass: [Int]?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case epoch, lr, trained, probed, mastered, returned, seconds, steps
        case backpropSaved = "backprop_saved", trainLoss = "train_loss", trainAccuracy = "train_accuracy"
        case testLoss = "test_loss", testAccuracy = "test_accuracy"
        case trainSeconds = "train_seconds", probeSeconds = "probe_seconds", evaluateSeconds = "evaluate_seconds"
        case checkpointSeconds = "checkpoint_seconds", allreduceSeconds = "allreduce_seconds"
        case rebalanceSeconds = "rebalance_seconds", samplesPerSecond = "samples_per_second"
        case worldSize = "world_size", trainedPerRank = "trained_per_rank", masteredPerRank = "mastered_per_rank"
        case parameterDigestAgree = "parameter_digest_agree", allreduceSecondsPerRank = "allreduce_seconds_per_rank"
        case unmasteredPerRankBefore = "unmastered_per_rank_before"
        case unmasteredPerRankAfter = "unmastered_per_rank_after"
        case instancesMoved = "instances_moved", bytesMoved = "bytes_moved"
        case masteredPerClass = "mastered_per_class", instancesPerClass = "instances_per_class"
    }

    /// Decodes one JSON object (one line of `metrics.jsonl`, or an encoded `EpochMetrics`).
    public init(json: Data) throws {
        self = try JSONDecoder().decode(EpochRecord.self, from: json)
    }
}
