import Foundation
import RunFormat
import SafeTensors

/// `meta.json` as the trainer reads it.
public typealias TrainingCheckpointMeta = CheckpointMeta<TrainingConfig>

/// A checkpoint that passed `VerifiedCheckpoint`'s checks, with its two tensor files decoded.
public struct LoadedCheckpoint: Sendable {
    public static let modelFile = "model.safetensors"
    public static let trainerFile = "trainer.safetensors"

    public let directory: String
    public let meta: TrainingCheckpointMeta
    public let model: SafetensorsFile
    public let trainer: SafetensorsFile

    /// The checkpoint formats this version resumes from.
    public static let resumableFormats = 2...TrainingCheckpointMeta.currentFormat

    public init(_ verified: VerifiedCheckpoint<TrainingConfig>) throws {
        guard Self.resumableFormats.contains(verified.meta.format) else {
            throw RunFormatError.invalidCheckpoint(
                path: (verified.directory as NSString).appendingPathComponent(CheckpointStore.metaFile),
                message: "checkpoint format \(verified.meta.format); this ies resumes formats \(Self.resumableFormats)")
        }
        directory = verified.directory
        meta = verified.meta
        model = try Self.decoded(Self.modelFile, of: verified)
        trainer = try Self.decoded(Self.trainerFile, of: verified)
    }

    private static func decoded(_ name: String, of verified: VerifiedCheckpoint<TrainingConfig>) throws -> SafetensorsFile {
        let directory = verified.directory as NSString
        guard let bytes = verified.files[name] else {
            throw RunFormatError.invalidCheckpoint(
                path: directory.appendingPathComponent(CheckpointStore.metaFile), message: "lists no checksum for \(name)")
        }
        return try SafetensorsFile.decode(bytes, path: directory.appendingPathComponent(name))
    }

    /// Reads and checks the checkpoint in `directory`.
    public init(directory: String) throws {
        try self.init(VerifiedCheckpoint<TrainingConfig>(directory: directory))
    }

    /// The newest valid checkpoint of what `path` names (a checkpoint, a run directory or
    /// its checkpoints/ folder); invalid newer ones, and checkpoints of another run (by the
    /// run's `run.json`), are skipped with a warning each.
    public static func newestValid(in path: String) throws -> (checkpoint: LoadedCheckpoint, warnings: [String]) {
        let owner = try run(holding: path).flatMap { try RunIdentity.read($0) }
        var loaded: LoadedCheckpoint?
        let (_, warnings) = try CheckpointStore.resolve(path, TrainingConfig.self) { verified in
            if let owner, let id = verified.meta.runID, !owner.owns(checkpointRunID: id) {
                throw RunClaimError.foreignCheckpoint(path: verified.directory, runID: id, owner: owner.id)
            }
            loaded = try LoadedCheckpoint(verified)
        }
        return (loaded!, warnings)
    }

    /// The run directory `path` belongs to: itself when it holds checkpoints/, the parent of a
    /// checkpoints/ folder, or the run holding a checkpoint directory.
    private static func run(holding path: String) -> RunDirectory? {
        let manager = FileManager.default
        if manager.fileExists(atPath: (path as NSString).appendingPathComponent(CheckpointStore.metaFile)) {
            return RunDirectory.containing(checkpoint: path)
        }
        if manager.fileExists(atPath: RunDirectory(path).checkpoints) { return RunDirectory(path) }
        if (path as NSString).lastPathComponent == RunDirectory.checkpointsFolder {
            return RunDirectory((path as NSString).deletingLastPathComponent)
        }
        return nil
    }
}
