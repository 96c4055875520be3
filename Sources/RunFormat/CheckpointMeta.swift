import Foundation

/// `meta.json` of a checkpoint: what it holds and how to check it.
///
/// `Config` is the run's configuration as the reader understands it: the trainer decodes
/// its `TrainingConfig`, the report a `SettingsRecord` (the same JSON object, untyped), so
/// this module needs to know nothing of models or optimizers.
public struct CheckpointMeta<Config: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    /// 3: `SHA256SUMS` covers meta.json too, and `run_id` names the run. 2: the files'
    /// checksums only in `files`. 1: before mid-epoch checkpoints (its tensors differ).
    public static var currentFormat: Int { 3 }
    /// The formats whose meta.json this version reads (what can be resumed is the trainer's
    /// to say: `LoadedCheckpoint.resumableFormats`).
    public static var readableFormats: ClosedRange<Int> { 1...3 }

    public var format: Int = CheckpointMeta.currentFormat
    /// Epochs completed when it was written (training resumes at this 0-based epoch).
    public var epoch: Int
    public var worldSize: Int
    public var config: Config
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
    /// The identity of the run that wrote it (`RunIdentity.id`); nil in format 2.
    public var runID: String? = nil
    /// The GEMM library and kernels that computed it (`BLAS.identity`); nil before it was recorded.
    public var gemm: String? = nil
    /// Compute threads per rank (rank 0's) that computed it; nil before it was recorded.
    public var computeThreads: Int? = nil

    public init(
        epoch: Int, worldSize: Int, config: Config, dataset: DatasetFingerprint, mastered: Int, masteredPerRank: [Int],
        trainedSoFar: Int, bestTestAccuracy: Double, bestEpoch: Int, created: String, metrics: EpochMetrics? = nil,
        partialPass: PartialPass? = nil, runID: String? = nil
    ) {
        self.epoch = epoch
        self.worldSize = worldSize
        self.config = config
        self.dataset = dataset
        self.mastered = mastered
        self.masteredPerRank = masteredPerRank
        self.trainedSoFar = trainedSoFar
        self.bestTestAccuracy = bestTestAccuracy
        self.bestEpoch = bestEpoch
        self.created = created
        self.metrics = metrics
        self.partialPass = partialPass
        self.runID = runID
    }

    enum CodingKeys: String, CodingKey {
        case format, epoch, worldSize = "world_size", config, dataset, files, mastered
        case masteredPerRank = "mastered_per_rank", trainedSoFar = "trained_so_far"
        case bestTestAccuracy = "best_test_accuracy", bestEpoch = "best_epoch", created, metrics
        case partialPass = "partial_pass", runID = "run_id", gemm, computeThreads = "compute_threads"
    }

    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [0x0A]
    }

    /// Decodes `bytes` read from `path` (named in the error).
    public static func decode(_ bytes: Data, path: String) throws -> CheckpointMeta {
        let meta: CheckpointMeta
        do {
            meta = try JSONDecoder().decode(CheckpointMeta.self, from: bytes)
        } catch {
            throw RunFormatError.invalidCheckpoint(
                path: path, message: "not a valid checkpoint description: \(describeDecodingError(error))")
        }
        guard readableFormats.contains(meta.format) else {
            throw RunFormatError.invalidCheckpoint(
                path: path, message: "checkpoint format \(meta.format); this ies reads formats \(readableFormats)")
        }
        return meta
    }
}

/// Where an interrupted training pass stopped (a mid-epoch checkpoint), and its totals so far.
public struct PartialPass: Codable, Sendable, Equatable {
    public var stepsDone: Int
    public var steps: Int
    /// Global loss sum, instance count and correct predictions of the steps done.
    public var lossSum: Double
    public var count: Int
    public var correct: Int
    /// Rank 0's time in the pass and in its allreduces so far.
    public var seconds: Double
    public var allreduceSeconds: Double

    public init(
        stepsDone: Int, steps: Int, lossSum: Double, count: Int, correct: Int, seconds: Double, allreduceSeconds: Double
    ) {
        self.stepsDone = stepsDone
        self.steps = steps
        self.lossSum = lossSum
        self.count = count
        self.correct = correct
        self.seconds = seconds
        self.allreduceSeconds = allreduceSeconds
    }

    enum CodingKeys: String, CodingKey {
        case stepsDone = "steps_done", steps, lossSum = "loss_sum", count, correct, seconds
        case allreduceSeconds = "allreduce_seconds"
    }
}

/// Identifies the training data a checkpoint was made from, so that resuming on
/// different data is refused (the trainer computes it; see `DatasetFingerprint(splits:)`).
public struct DatasetFingerprint: Codable, Sendable, Equatable, CustomStringConvertible {
    public var trainCount: Int
    public var testCount: Int
    public var shape: [Int]
    public var classes: Int
    /// A digest of the training labels and images, hex.
    public var digest: String
    /// How `digest` was computed (the trainer defines the schemes); digests of different
    /// schemes cannot be compared. Absent in checkpoints written before schemes: 1.
    public var digestScheme: Int

    /// The scheme the trainer computes now.
    public static let currentDigestScheme = 2

    public init(
        trainCount: Int, testCount: Int, shape: [Int], classes: Int, digest: String,
        digestScheme: Int = DatasetFingerprint.currentDigestScheme
    ) {
        self.trainCount = trainCount
        self.testCount = testCount
        self.shape = shape
        self.classes = classes
        self.digest = digest
        self.digestScheme = digestScheme
    }

    enum CodingKeys: String, CodingKey {
        case trainCount = "train_count", testCount = "test_count", shape, classes, digest
        case digestScheme = "digest_scheme"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            trainCount: try c.decode(Int.self, forKey: .trainCount), testCount: try c.decode(Int.self, forKey: .testCount),
            shape: try c.decode([Int].self, forKey: .shape), classes: try c.decode(Int.self, forKey: .classes),
            digest: try c.decode(String.self, forKey: .digest),
            digestScheme: try c.decodeIfPresent(Int.self, forKey: .digestScheme) ?? 1)
    }

    /// Whether `other` describes data of the same sizes, shape and classes (what can be
    /// compared when the digests are of different schemes).
    public func hasSameLayout(as other: DatasetFingerprint) -> Bool {
        trainCount == other.trainCount && testCount == other.testCount && shape == other.shape
            && classes == other.classes
    }

    public var description: String {
        "\(trainCount) train / \(testCount) test, \(shape.map(String.init).joined(separator: "x")), "
            + "\(classes) classes, digest \(digest)"
    }
}
