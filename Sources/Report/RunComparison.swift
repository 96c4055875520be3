import Foundation

/// A run against the baseline (the first run given): how much faster, and how much
/// accuracy it gained or lost.
public struct RunComparison: Sendable, Equatable {
    /// Baseline wall time / this run's wall time (> 1: this run is faster).
    public var speedup: Double?
    /// Differences in test accuracy, in percentage points (this run minus the baseline).
    public var bestAccuracyPoints: Double?
    public var finalAccuracyPoints: Double?

    public init(run: RunSummary, baseline: RunSummary) {
        speedup = run.wallSeconds > 0 && baseline.wallSeconds > 0 ? baseline.wallSeconds / run.wallSeconds : nil
        if let a = run.bestAccuracy, let b = baseline.bestAccuracy { bestAccuracyPoints = (a - b) * 100 }
        if let a = run.finalAccuracy, let b = baseline.finalAccuracy { finalAccuracyPoints = (a - b) * 100 }
    }
}
