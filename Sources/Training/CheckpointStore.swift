import DurableIO
import Foundation
import SafeTensors

#if canImport(Glibc)
import Glibc
#endif

/// The checkpoints of a run, `RUN_DIR/checkpoints/epoch-NNNN/`, written atomically:
/// files go into `epoch-NNNN.tmp/`, are fsynced, checksummed into `meta.json`, and the
/// directory is renamed into place; then `latest` is replaced atomically and all but
/// the newest `keep` are removed. A good checkpoint is never overwritten before its
/// replacement is complete, and leftovers of a crash (`*.tmp`) are ignored.
public struct CheckpointStore: Sendable {
    public let directory: String

    public init(runDirectory: String) {
        directory = (runDirectory as NSString).appendingPathComponent("checkpoints")
    }

    public init(checkpointsDirectory: String) { directory = checkpointsDirectory }

    /// `epoch-NNNN` for the end of epoch NNNN; `epoch-NNNN.step-SSSSSS` for a checkpoint
    /// taken SSSSSS steps into the next epoch (a preemption).
    public static func name(epoch: Int, step: Int = 0) -> String {
        step == 0 ? String(format: "epoch-%04d", epoch) : String(format: "epoch-%04d.step-%06d", epoch, step)
    }

    /// (epochs completed, steps into the next) of a checkpoint name, nil for anything else.
    static func position(of name: String) -> (epoch: Int, step: Int)? {
        guard name.hasPrefix("epoch-") else { return nil }
        let parts = name.dropFirst(6).split(separator: ".", omittingEmptySubsequences: false)
        guard let epoch = Int(parts[0]), epoch >= 0 else { return nil }
        if parts.count == 1 { return (epoch, 0) }
        guard parts.count == 2, parts[1].hasPrefix("step-"), let step = Int(parts[1].dropFirst(5)), step > 0 else {
            return nil
        }
        return (epoch, step)
    }

    /// Writes the checkpoint `name` (default: the end of `meta.epoch`) with `files` (name,
    /// bytes); fills in the checksums. Returns the checkpoint directory.
    @discardableResult
    public func write(
        name: String? = nil, files: [(name: String, bytes: [UInt8])], meta: CheckpointMeta, keep: Int
    ) throws -> String {
        let manager = FileManager.default
        let name = name ?? Self.name(epoch: meta.epoch)
        let final = path(name)
        let temporary = final + ".tmp"
        do {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            if manager.fileExists(atPath: temporary) { try manager.removeItem(atPath: temporary) }
            try manager.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        } catch {
            throw TrainingError.io(path: temporary, message: "cannot create checkpoint directory: \(error.localizedDescription)")
        }
        var meta = meta
        for (name, bytes) in files {
            try DurableFile.writeInPlace(bytes, to: (temporary as NSString).appendingPathComponent(name))
            meta.files[name] = SHA256.hex(bytes)
        }
        try DurableFile.writeInPlace(try meta.encoded(), to: (temporary as NSString).appendingPathComponent("meta.json"))
        try DurableFile.syncDirectory(temporary)
        // Replacing a checkpoint of the same epoch (a resumed run going over it again):
        // move the old one aside first, so that a crash leaves one of the two complete.
        let aside = final + ".old.tmp"
        if manager.fileExists(atPath: final) {
            if manager.fileExists(atPath: aside) { try? manager.removeItem(atPath: aside) }
            guard rename(final, aside) == 0 else {
                throw FileError(path: final, operation: "moving the old checkpoint aside (rename)", errno: errno)
            }
        }
        guard rename(temporary, final) == 0 else {
            throw FileError(path: final, operation: "rename from \(temporary)", errno: errno)
        }
        try DurableFile.syncDirectory(directory)
        try? manager.removeItem(atPath: aside)
        try DurableFile.write(Array((name + "\n").utf8), to: path("latest"))
        try prune(keep: keep, protecting: name)
        return final
    }

    /// Removes all but the newest `keep` checkpoints (never `protecting`), and stale `*.tmp` leftovers.
    public func prune(keep: Int, protecting: String) throws {
        let names = checkpointNames()
        for name in names.dropFirst(max(1, keep)) where name != protecting {
            try? FileManager.default.removeItem(atPath: path(name))
        }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where entry.hasPrefix("epoch-") && entry.hasSuffix(".tmp") {
            try? FileManager.default.removeItem(atPath: path(entry))
        }
    }

    /// Names of complete-looking checkpoint directories (`epoch-NNNN[.step-SSSSSS]`), newest first.
    public func checkpointNames() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return entries.compactMap { entry -> ((Int, Int), String)? in
            guard let position = Self.position(of: entry) else { return nil }
            return ((position.epoch, position.step), entry)
        }.sorted { $0.0 > $1.0 }.map(\.1)
    }

    public func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// The newest checkpoint whose meta.json parses and whose files match their checksums.
    /// Invalid newer ones are skipped with a warning each; none valid is an error.
    public func newestValid() throws -> (checkpoint: LoadedCheckpoint, warnings: [String]) {
        var warnings: [String] = []
        let names = checkpointNames()
        guard !names.isEmpty else {
            throw TrainingError.noCheckpoint(path: directory, message: "no checkpoints to resume from (expected epoch-NNNN directories)")
        }
        for name in names {
            do {
                return (try LoadedCheckpoint(directory: path(name)), warnings)
            } catch {
                warnings.append("skipping checkpoint \(path(name)): \(error)")
            }
        }
        throw TrainingError.noCheckpoint(
            path: directory, message: "no valid checkpoint: " + warnings.joined(separator: "; "))
    }

    /// Resolves what `--resume PATH` names: a checkpoint directory (with meta.json), a
    /// checkpoints directory, or a run directory; returns the newest valid checkpoint.
    public static func resolve(_ path: String) throws -> (checkpoint: LoadedCheckpoint, warnings: [String]) {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TrainingError.noCheckpoint(path: path, message: "no such checkpoint or run directory")
        }
        if manager.fileExists(atPath: (path as NSString).appendingPathComponent("meta.json")) {
            return (try LoadedCheckpoint(directory: path), [])
        }
        let nested = (path as NSString).appendingPathComponent("checkpoints")
        if manager.fileExists(atPath: nested) { return try CheckpointStore(checkpointsDirectory: nested).newestValid() }
        return try CheckpointStore(checkpointsDirectory: path).newestValid()
    }
}

/// A checkpoint read from disk with its checksums verified.
public struct LoadedCheckpoint: Sendable {
    public let directory: String
    public let meta: CheckpointMeta
    public let model: SafetensorsFile
    public let trainer: SafetensorsFile

    public init(directory: String) throws {
        self.directory = directory
        let metaPath = (directory as NSString).appendingPathComponent("meta.json")
        guard let metaData = FileManager.default.contents(atPath: metaPath) else {
            throw TrainingError.io(path: metaPath, message: "missing or unreadable")
        }
        do {
            meta = try JSONDecoder().decode(CheckpointMeta.self, from: metaData)
        } catch {
            throw TrainingError.invalidCheckpoint(path: metaPath, message: "not a valid checkpoint description: \(error)")
        }
        guard meta.format == CheckpointMeta.currentFormat else {
            throw TrainingError.invalidCheckpoint(
                path: metaPath, message: "checkpoint format \(meta.format), this ies reads \(CheckpointMeta.currentFormat)")
        }
        var loaded: [String: SafetensorsFile] = [:]
        for name in ["model.safetensors", "trainer.safetensors"] {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let expected = meta.files[name] else {
                throw TrainingError.invalidCheckpoint(path: metaPath, message: "lists no checksum for \(name)")
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw TrainingError.io(path: path, message: "missing or unreadable")
            }
            let bytes = [UInt8](data)
            let actual = SHA256.hex(bytes)
            guard actual == expected else {
                throw TrainingError.invalidCheckpoint(
                    path: path, message: "checksum mismatch (SHA-256 \(actual.prefix(12))..., meta.json says \(expected.prefix(12))...)")
            }
            loaded[name] = try SafetensorsFile.decode(bytes, path: path)
        }
        model = loaded["model.safetensors"]!
        trainer = loaded["trainer.safetensors"]!
    }
}
