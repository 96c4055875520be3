import DurableIO
import Foundation

/// One line of `metrics.jsonl`: what happened in one epoch.
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

    enum CodingKeys: String, CodingKey {
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
}

/// Appends JSON lines to `metrics.jsonl`, flushed after each epoch so that a
/// crashed run keeps what it measured.
public final class MetricsLog {
    public let path: String
    private let handle: FileHandle
    private let encoder: JSONEncoder

    /// Creates the file; when `keepingEpochsThrough` > 0 (a resumed run) the lines of
    /// epochs up to that one are kept and later ones (logged after the checkpoint that
    /// is resumed) are dropped; `restoring`, the checkpoint's own copy of its epoch's
    /// record, is added if that line never made it to the file.
    public init(path: String, keepingEpochsThrough kept: Int = 0, restoring record: EpochMetrics? = nil) throws {
        self.path = path
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        if kept > 0 {
            var initial = Data()
            var lastKept = 0
            for line in (FileManager.default.contents(atPath: path) ?? Data()).split(separator: 0x0A) {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let epoch = object["epoch"] as? Int, epoch <= kept
                else { continue }
                initial.append(Data(line))
                initial.append(0x0A)
                lastKept = epoch
            }
            if let record, record.epoch == kept, lastKept < kept {
                initial.append(try encoder.encode(record))
                initial.append(0x0A)
            }
            try DurableFile.write(Array(initial), to: path)
        } else if !FileManager.default.createFile(atPath: path, contents: nil) {
            throw TrainingError.io(path: path, message: "cannot create metrics file")
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw TrainingError.io(path: path, message: "cannot open metrics file for writing")
        }
        self.handle = handle
        handle.seekToEndOfFile()
    }

    deinit { try? handle.close() }

    public func append<T: Encodable>(_ record: T) throws {
        var data = try encoder.encode(record)
        data.append(0x0A)
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
        } catch {
            throw TrainingError.io(path: path, message: "write failed: \(error.localizedDescription)")
        }
    }

    /// Reads every line of a metrics file (for tests and tools).
    public static func read<T: Decodable>(_ type: T.Type, path: String) throws -> [T] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let decoder = JSONDecoder()
        return try text.split(separator: "\n").map { try decoder.decode(T.self, from: Data($0.utf8)) }
    }
}
