import DurableIO
import Foundation
import Report
import RunFormat

/// What a run shows and records, on rank 0: the header, a progress line within epochs,
/// one terminal line and one `metrics.jsonl` record per epoch, and the summary. Other
/// ranks get a reporter that does nothing.
package final class EpochReporter {
    private let log: MetricsLog?
    private let tensorboard: TensorBoardWriter?
    private let epochs: Int
    /// Durations of the epochs run so far in this process, for the time estimate.
    private var epochSeconds: [Double] = []
    private let showProgress: Bool
    /// Receives each human-readable line.
    var sink: (String) -> Void

    /// On rank 0 (`active`), opens `metrics.jsonl` in `directory` (claimed by `RunClaim`
    /// before); a resumed run keeps the lines up to the epoch it resumes after.
    init(directory: String, active: Bool, resumedAfter epoch: Int?, lastRecord: EpochMetrics?, epochs: Int,
         showProgress: Bool, tensorboard: String?, sink: @escaping (String) -> Void) throws {
        self.epochs = epochs
        self.showProgress = showProgress && active
        self.sink = sink
        guard active else {
            log = nil
            self.tensorboard = nil
            return
        }
        self.tensorboard = try tensorboard.map { try TensorBoardWriter(directory: $0) }
        let metricsPath = RunDirectory(directory).metrics
        log = try MetricsLog(path: metricsPath, keepingEpochsThrough: epoch ?? 0, restoring: lastRecord)
    }

    var isActive: Bool { log != nil }

    /// A line for the user (rank 0 only).
    func say(_ line: @autoclosure () -> String) {
        if isActive { sink(line()) }
    }

    /// A warning for the user (rank 0 only), on stderr.
    func warn(_ line: @autoclosure () -> String) {
        if isActive { Trainer.warn(line()) }
    }

    /// The progress line of one training pass.
    func progressLine() -> ProgressLine { ProgressLine(enabled: showProgress) }

    /// Records a finished epoch: its metrics line, then its terminal line.
    func epochEnded(_ metrics: EpochMetrics) throws {
        guard let log else { return }
        try log.append(metrics)
        if let tensorboard {
            try tensorboard.add(scalars: TensorBoardScalars.scalars(for: metrics), step: metrics.epoch)
        }
        epochSeconds.append(metrics.seconds)
        var line = Self.epochLine(metrics, epochs: epochs)
        if let left = estimatedSeconds(remaining: epochs - metrics.epoch, recentEpochSeconds: epochSeconds) {
            line += "  ETA \(formatDuration(left))"
        }
        sink(line)
    }

    func finished(_ summary: TrainingSummary) {
        say(String(
            format: "done: best test accuracy %.2f%% (epoch %ld), final %.2f%%, backprop saved %.1f%%, "
                + "wall time %.1f s; model %@",
            summary.bestTestAccuracy * 100, summary.bestEpoch, summary.finalTestAccuracy * 100,
            summary.backpropSaved * 100, summary.wallSeconds, summary.modelPath))
    }

    package static func epochLine(_ m: EpochMetrics, epochs: Int) -> String {
        var line = String(
            format: "epoch %ld/%ld  lr %.4g  trained %ld  mastered %ld  saved %.1f%%  train loss %.4f  test loss %.4f  "
                + "test acc %.2f%%  %.1f s  %.0f samples/s",
            m.epoch, epochs, m.lr, m.trained, m.mastered, m.backpropSaved * 100, m.trainLoss, m.testLoss,
            m.testAccuracy * 100, m.seconds, m.samplesPerSecond)
        if m.worldSize > 1 {
            line += "  trained/rank \(m.trainedPerRank.map(String.init).joined(separator: ","))"
            line += String(format: "  imbalance %.3f", RebalancePlan.imbalance(m.unmasteredPerRankBefore))
            if m.instancesMoved > 0 {
                line += String(
                    format: " -> %.3f (moved %ld in %.2f s)", RebalancePlan.imbalance(m.unmasteredPerRankAfter),
                    m.instancesMoved, m.rebalanceSeconds)
            }
        }
        return line
    }
}
