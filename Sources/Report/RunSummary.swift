import Foundation

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
    public var mastery: RunMetadata.Mastery?
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
        model = config?.model
        data = config?.data
        limit = config?.limit
        trainCount = run.metadata?.dataset?.trainCount
        ranks = records.last?.worldSize ?? run.metadata?.worldSize
        batchSize = config?.batchSize
        mastery = config?.ies
        epochsDone = records.count
        epochsConfigured = config?.epochs
        var best: (Double, Int)?
        for record in records {
            guard let accuracy = record.testAccuracy else { continue }
            if best == nil || accuracy > best!.0 { best = (accuracy, record.epoch ?? 0) }
        }
        bestAccuracy = best?.0
        bestEpoch = best?.1
        finalAccuracy = records.last?.testAccuracy
        backpropSaved = records.last?.backpropSaved
        wallSeconds = records.map { EpochTimes($0).total }.reduce(0, +)
    }
}
