import Foundation
import RunFormat

/// Where one epoch's time went, as the stacked bars show it.
///
/// `train_seconds` includes the per-step gradient allreduce, so "training" here is the
/// training pass minus the allreduce; "other" is whatever `seconds` (the whole epoch)
/// has left over once the parts are taken out (logging, metric gathering). Fields a run
/// did not record (older runs) count as 0. When the parts add up to more than `seconds` (a part
/// measured outside the epoch's clock, like a checkpoint written after it), the epoch
/// counts as the sum of its parts.
public struct EpochTimes: Sendable, Equatable {
    /// Component names in stacking order (bottom first), matching `values`.
    public static let components = ["training", "probing", "evaluation", "allreduce", "rebalancing", "checkpointing", "other"]

    /// Seconds per component, in the order of `components`.
    public var values: [Double]

    public init(_ record: EpochMetrics) {
        let allreduce = max(record.allreduceSeconds, 0)
        let training = max((record.trainSeconds) - allreduce, 0)
        let parts = [
            training, max(record.probeSeconds, 0), max(record.evaluateSeconds, 0), allreduce,
            max(record.rebalanceSeconds, 0), max(record.checkpointSeconds, 0),
        ]
        let other = max((record.seconds) - parts.reduce(0, +), 0)
        values = parts + [other]
    }

    /// The epoch's height in the chart: the larger of `seconds` and the sum of the parts.
    public var total: Double { values.reduce(0, +) }
}
