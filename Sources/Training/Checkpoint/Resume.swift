import Distributed
import Foundation
import RunFormat

/// What `--resume` asks for.
public enum ResumeRequest: Equatable, Sendable {
    /// A new run.
    case none
    /// The newest valid checkpoint of the run directory (`--resume` without a path).
    case runDirectory
    /// The newest valid checkpoint of what the path names: a checkpoint, a run directory or
    /// its checkpoints/ folder (`--resume PATH`).
    case path(String)
    /// Resume the run directory when it has a checkpoint, else start it (`--resume auto`,
    /// for requeued jobs).
    case auto
}

/// Resuming: which checkpoint a request names, the run directory it continues, and whether
/// the checkpoint may continue under the settings and data given now.
public enum Resume {
    /// The checkpoint `request` names (nil: start a new run), with warnings about invalid
    /// newer checkpoints that were skipped. `runDirectory` is `--run-dir` when given.
    public static func checkpoint(for request: ResumeRequest, runDirectory: String?) throws
        -> (checkpoint: LoadedCheckpoint?, warnings: [String])
    {
        switch request {
        case .none:
            return (nil, [])
        case .runDirectory:
            guard let runDirectory else { throw ResumeError.needsRunDirectory("--resume without a PATH") }
            return try LoadedCheckpoint.newestValid(in: runDirectory)
        case .path(let path):
            return try LoadedCheckpoint.newestValid(in: path)
        case .auto:
            guard let runDirectory else { throw ResumeError.needsRunDirectory("--resume auto") }
            if RunDirectory(runDirectory).checkpointStore.checkpointNames().isEmpty { return (nil, []) }
            return try LoadedCheckpoint.newestValid(in: runDirectory)
        }
    }

    /// The run directory a resumed run continues in: RUN for RUN/checkpoints/epoch-NNNN,
    /// else the one recorded in the checkpoint.
    public static func runDirectory(of checkpoint: LoadedCheckpoint) -> String {
        RunDirectory.containing(checkpoint: checkpoint.directory)?.path ?? checkpoint.meta.config.runDirectory
    }

    /// Refuses a checkpoint made from other data or with settings that determine the result.
    static func checkCompatible(
        _ checkpoint: LoadedCheckpoint, with config: TrainingConfig, fingerprint: DatasetFingerprint,
        communicator: Communicator
    ) throws {
        let meta = checkpoint.meta, directory = checkpoint.directory
        // Digests of different schemes cannot be compared: then only what they both state.
        let comparable = meta.dataset.digestScheme == fingerprint.digestScheme
        guard comparable ? meta.dataset == fingerprint : meta.dataset.hasSameLayout(as: fingerprint) else {
            throw TrainingError.incompatibleCheckpoint(
                path: directory, "it was made from different data (\(meta.dataset)); the data given now are \(fingerprint)")
        }
        if !comparable && communicator.rank == 0 {
            Trainer.warn(
                "\(directory) records its data with digest scheme \(meta.dataset.digestScheme), not "
                    + "\(fingerprint.digestScheme): its counts, shape and classes match the data given now, but "
                    + "its data contents could not be verified")
        }
        guard meta.config.model == config.model else {
            throw TrainingError.incompatibleCheckpoint(
                path: directory, "it holds a \(meta.config.model.rawValue) model, not \(config.model.rawValue)")
        }
        guard meta.config.mastery == config.mastery else {
            throw TrainingError.incompatibleCheckpoint(
                path: directory, "it tracked mastery with \(meta.config.mastery), not \(config.mastery)")
        }
        if let partial = meta.partialPass, meta.worldSize != communicator.size {
            throw TrainingError.incompatibleCheckpoint(
                path: directory,
                "it stopped in the middle of epoch \(meta.epoch + 1) (step \(partial.stepsDone) of \(partial.steps)) "
                    + "on \(meta.worldSize) rank(s) and continues exactly only on \(meta.worldSize); use an end-of-epoch "
                    + "checkpoint (epoch-\(String(format: "%04d", meta.epoch))) to change the number of ranks")
        }
        guard meta.epoch < config.epochs else {
            throw TrainingError.incompatibleCheckpoint(
                path: directory, "it is at epoch \(meta.epoch); a run of \(config.epochs) epochs leaves nothing to train")
        }
    }

}

/// A resume request that cannot be carried out as given.
public enum ResumeError: Error, Equatable, CustomStringConvertible {
    /// `what` continues the run in --run-dir, which was not given.
    case needsRunDirectory(String)

    public var description: String {
        switch self {
        case .needsRunDirectory(let what): return "\(what) continues the run in --run-dir: give --run-dir (or --resume PATH)"
        }
    }
}
