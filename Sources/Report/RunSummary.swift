import Foundation
import RunFormat

/// The figures of one run in the summary table.
public struct RunSummary: Sendable, Equatable {
    public var label: String
    public var model: String?
    public var data: String?
    public var limit: Int?
    /// Training instances (the dataset fingerprint in meta.json).
    public var trainCount: Int?
    public var ranks: Int?
    public var batchSize: Int?
    public var mastery: IESSettings?
    /// Epochs with a complete line in metrics.jsonl.
    public var epochsDone: Int
    /// Epochs configured for the run (from meta.json), when known.
    public var epochsConfigured: Int?
    /// Highest test accuracy (0...1) and the epoch it was reached in (the first, on ties).
    public var bestAccuracy: Double?
    public var bestEpoch: Int?
    public var finalAccuracy: Double?
    /// Cumulative share of backpropagation saved after the last epoch (0...1).
    public var backpropSaved: Double?
    /// Sum over epochs of `EpochTimes.total`.
    public var wallSeconds: Double

    /// True when the configured epochs are known and not all have been logged.
    public var inProgress: Bool { epochsConfigured.map { epochsDone < $0 } ?? false }

    public init(run: TrainingRun) {
        let records = run.records
        let config = run.metadata?.config
        label = run.label
        model = config?[SettingsKeys.model]?.string
        data = config?[SettingsKeys.data]?.string
        limit = config?[SettingsKeys.limit]?.int
        trainCount = run.metadata?.dataset.trainCount
        ranks = records.last?.worldSize ?? run.metadata?.worldSize
        batchSize = records.last.map(\.globalBatch).flatMap { $0 > 0 ? $0 : nil } ?? config?[SettingsKeys.batchSize]?.int
        mastery = config?[SettingsKeys.ies].map {
            IESSettings(threshold: $0["threshold"]?.number, window: $0["window"]?.int, k: $0["k"]?.int)
        }
        epochsDone = records.count
        epochsConfigured = config?[SettingsKeys.epochs]?.int
        var best: (Double, Int)?
        for record in records where best == nil || record.testAccuracy > best!.0 {
            best = (record.testAccuracy, record.epoch)
        }
        bestAccuracy = best?.0
        bestEpoch = best?.1
        finalAccuracy = records.last?.testAccuracy
        backpropSaved = records.last?.backpropSaved
        wallSeconds = records.map { EpochTimes($0).total }.reduce(0, +)
    }
}

/// The IES rule of a run as its meta.json records it.
public struct IESSettings: Sendable, Equatable {
    public var threshold: Double?
    public var window: Int?
    public var k: Int?

    public init(threshold: Double? = nil, window: Int? = nil, k: Int? = nil) {
        self.threshold = threshold
        self.window = window
        self.k = k
    }
}

/// The settings keys (of meta.json's `config`) the report reads; a test checks each is a
/// key of the trainer's settings table, which owns them.
public enum SettingsKeys {
    public static let model = "model", data = "data", limit = "limit", batchSize = "batch_size"
    public static let epochs = "epochs", ies = "ies"
    public static let all = [model, data, limit, batchSize, epochs, ies]
}
