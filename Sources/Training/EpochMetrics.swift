import Foundation

/// One line of `metrics.jsonl`: what happened in one epoch.
public struct EpochMetrics: Codable, Sendable, Equatable {
    /// 1-based epoch number.
    public var epoch: Int
    public var lr: Double
    /// Instances backpropagated this epoch.
    public var trained: Int
    /// Mean training loss over the trained instances (train mode, before their step's update).
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var testLoss: Double
    /// Test accuracy in 0...1.
    public var testAccuracy: Double
    /// Wall time of the whole epoch (training, evaluation, logging).
    public var seconds: Double
    /// Wall time of the training pass alone.
    public var trainSeconds: Double
    /// Trained instances per second of the training pass.
    public var samplesPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case epoch, lr, trained, seconds
        case trainLoss = "train_loss", trainAccuracy = "train_accuracy"
        case testLoss = "test_loss", testAccuracy = "test_accuracy"
        case trainSeconds = "train_seconds", samplesPerSecond = "samples_per_second"
    }
}

/// Appends JSON lines to `metrics.jsonl`, flushed after each epoch so that a
/// crashed run keeps what it measured.
public final class MetricsLog {
    public let path: String
    private let handle: FileHandle
    private let encoder: JSONEncoder

    public init(path: String) throws {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw TrainingError.io(path: path, message: "cannot create metrics file")
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw TrainingError.io(path: path, message: "cannot open metrics file for writing")
        }
        self.handle = handle
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
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
