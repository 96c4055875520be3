import Datasets
import Foundation

/// `meta.json` of a checkpoint: what it holds and how to check it.
public struct CheckpointMeta: Codable, Sendable, Equatable {
    public static let currentFormat = 2

    public var format: Int = CheckpointMeta.currentFormat
    /// Epochs completed when it was written (training resumes at this 0-based epoch).
    public var epoch: Int
    public var worldSize: Int
    public var config: TrainingConfig
    public var dataset: DatasetFingerprint
    /// SHA-256 (hex) of each data file in the checkpoint directory.
    public var files: [String: String] = [:]
    public var mastered: Int
    public var masteredPerRank: [Int]
    /// Instances backpropagated over all epochs so far (for cumulative backprop saved).
    public var trainedSoFar: Int
    public var bestTestAccuracy: Double
    public var bestEpoch: Int
    /// ISO 8601 time of writing.
    public var created: String
    /// The metrics record of the epoch it ends (restored into metrics.jsonl by a resume if
    /// the run stopped between the checkpoint and the record).
    public var metrics: EpochMetrics? = nil
    /// Set for a mid-epoch checkpoint (a preemption): where the pass of epoch `epoch + 1` stopped.
    public var partialPass: PartialPass? = nil

    enum CodingKeys: String, CodingKey {
        case format, epoch, worldSize = "world_size", config, dataset, files, mastered
        case masteredPerRank = "mastered_per_rank", trainedSoFar = "trained_so_far"
        case bestTestAccuracy = "best_test_accuracy", bestEpoch = "best_epoch", created, metrics
        case partialPass = "partial_pass"
    }

    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [0x0A]
    }
}

/// Identifies the training data a checkpoint was made from, so that resuming on
/// different data is refused.
public struct DatasetFingerprint: Codable, Sendable, Equatable, CustomStringConvertible {
    public var trainCount: Int
    public var testCount: Int
    public var shape: [Int]
    public var classes: Int
    /// FNV-1a 64 of the training labels and images, hex.
    public var digest: String

    enum CodingKeys: String, CodingKey {
        case trainCount = "train_count", testCount = "test_count", shape, classes, digest
    }

    public init(splits: DatasetSplits) {
        let train = splits.train
        trainCount = train.count
        testCount = splits.test.count
        shape = [train.channels, train.height, train.width]
        classes = train.classCount
        var hash = FNV1a()
        for label in train.labels { hash.mix(UInt64(UInt32(bitPattern: label))) }
        train.images.withUnsafeBytes { hash.mix(bytes: $0) }
        digest = String(hash.value, radix: 16)
    }

    public var description: String {
        "\(trainCount) train / \(testCount) test, \(shape.map(String.init).joined(separator: "x")), "
            + "\(classes) classes, digest \(digest)"
    }
}
