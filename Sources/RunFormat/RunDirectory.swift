import Foundation

/// A run directory and the names of everything in it: the one place that knows where a
/// run keeps its files.
///
/// ```
/// RUN/
///   run.json                 the run's identity (RunIdentity), written at creation
///   metrics.jsonl            one EpochMetrics per line (MetricsLog writes, MetricsFile reads)
///   model.safetensors        the final model
///   checkpoints/epoch-NNNN/  CheckpointStore: meta.json, SHA256SUMS, model/trainer.safetensors
///   checkpoints/latest       the newest checkpoint's name
/// ```
public struct RunDirectory: Sendable, Equatable {
    public static let metricsFile = "metrics.jsonl"
    public static let modelFile = "model.safetensors"
    public static let checkpointsFolder = "checkpoints"

    /// The directory as given.
    public let path: String

    public init(_ path: String) { self.path = path }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// `metrics.jsonl`.
    public var metrics: String { file(Self.metricsFile) }
    /// The final `model.safetensors`.
    public var model: String { file(Self.modelFile) }
    /// The `checkpoints/` folder.
    public var checkpoints: String { file(Self.checkpointsFolder) }
    /// The run's checkpoints.
    public var checkpointStore: CheckpointStore { CheckpointStore(checkpointsDirectory: checkpoints) }

    /// The run directory holding `checkpointDirectory` (RUN for RUN/checkpoints/NAME), nil
    /// when the checkpoint does not sit in a run's `checkpoints/` folder.
    public static func containing(checkpoint checkpointDirectory: String) -> RunDirectory? {
        let parent = (checkpointDirectory as NSString).deletingLastPathComponent
        guard (parent as NSString).lastPathComponent == checkpointsFolder else { return nil }
        return RunDirectory((parent as NSString).deletingLastPathComponent)
    }
}
