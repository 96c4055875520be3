import DurableIO
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The checkpoints of a run, `RUN/checkpoints/epoch-NNNN/`, and THE rule for "the newest
/// valid checkpoint".
///
/// Written atomically: files go into `epoch-NNNN.tmp/`, are fsynced, checksummed into
/// `meta.json` and `SHA256SUMS` (which also covers meta.json), and the directory is renamed
/// into place; then `latest` is replaced atomically and all but the newest `keep` are
/// removed. A good checkpoint is never overwritten before its replacement is complete, and
/// leftovers of a crash (`*.tmp`) are ignored.
public struct CheckpointStore: Sendable {
    public static let metaFile = "meta.json"
    public static let checksumsFile = "SHA256SUMS"
    public static let latestFile = "latest"

    public let directory: String

    public init(checkpointsDirectory: String) { directory = checkpointsDirectory }

    /// `epoch-NNNN` for the end of epoch NNNN; `epoch-NNNN.step-SSSSSS` for a checkpoint
    /// taken SSSSSS steps into the next epoch (a preemption).
    public static func name(epoch: Int, step: Int = 0) -> String {
        step == 0 ? String(format: "epoch-%04d", epoch) : String(format: "epoch-%04d.step-%06d", epoch, step)
    }

    /// (epochs completed, steps into the next) of a checkpoint name, nil for anything else.
    public static func position(of name: String) -> (epoch: Int, step: Int)? {
        guard name.hasPrefix("epoch-") else { return nil }
        let parts = name.dropFirst(6).split(separator: ".", omittingEmptySubsequences: false)
        guard parts[0].allSatisfy(\.isASCII), let epoch = Int(parts[0]), epoch >= 0 else { return nil }
        if parts.count == 1 { return (epoch, 0) }
        guard parts.count == 2, parts[1].hasPrefix("step-"), let step = Int(parts[1].dropFirst(5)), step > 0 else {
            return nil
        }
        return (epoch, step)
    }

    /// Writes the checkpoint `name` (default: the end of `meta.epoch`) with `files` (name,
    /// bytes); fills in the checksums. Returns the checkpoint directory.
    ///
    /// `belongs` says which checkpoints (by the run id in their meta.json) are the run's own:
    /// only those are pruned and counted against `keep`; another run's are left alone.
    @discardableResult
    public func write<Config>(
        name: String? = nil, files: [(name: String, bytes: [UInt8])], meta: CheckpointMeta<Config>, keep: Int,
        belongs: (String?) -> Bool = { _ in true }
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
            throw RunFormatError.io(path: temporary, message: "cannot create the checkpoint directory: \(error.localizedDescription)")
        }
        var meta = meta
        meta.format = CheckpointMeta<Config>.currentFormat
        var sums: [(String, String)] = []
        for (name, bytes) in files {
            try DurableFile.writeInPlace(bytes, to: (temporary as NSString).appendingPathComponent(name))
            meta.files[name] = SHA256.hex(bytes)
            sums.append((name, meta.files[name]!))
        }
        let metaBytes = try meta.encoded()
        try DurableFile.writeInPlace(metaBytes, to: (temporary as NSString).appendingPathComponent(Self.metaFile))
        sums.append((Self.metaFile, SHA256.hex(metaBytes)))
        let listing = sums.sorted { $0.0 < $1.0 }.map { "\($0.1)  \($0.0)\n" }.joined()
        try DurableFile.writeInPlace(Array(listing.utf8), to: (temporary as NSString).appendingPathComponent(Self.checksumsFile))
        try DurableFile.syncDirectory(temporary)
        // Replacing a checkpoint of the same epoch (a resumed run going over it again):
        // move the old one aside first, so that a crash leaves one of the two complete.
        let aside = final + ".old.tmp"
        if manager.fileExists(atPath: final), case let owner = runID(of: name), !belongs(owner) {
            // Another run's checkpoint under this name: kept, under a name no run reads.
            let kept = final + ".foreign-" + (owner ?? "unknown").prefix(8)
            guard rename(final, kept) == 0 else {
                throw FileError(path: final, operation: "moving another run's checkpoint aside (rename)", errno: errno)
            }
        }
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
        try DurableFile.write(Array((name + "\n").utf8), to: path(Self.latestFile))
        try prune(keep: keep, protecting: name, belongs: belongs)
        return final
    }

    /// Removes all but the newest `keep` checkpoints that `belongs` to the run (never
    /// `protecting`), and stale `*.tmp` leftovers.
    public func prune(keep: Int, protecting: String, belongs: (String?) -> Bool = { _ in true }) throws {
        let names = checkpointNames().filter { belongs(runID(of: $0)) }
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

    /// The run id in checkpoint `name`'s meta.json (nil: none, or unreadable).
    func runID(of name: String) -> String? {
        struct Stamp: Decodable {
            var runID: String?
            enum CodingKeys: String, CodingKey { case runID = "run_id" }
        }
        guard let data = FileManager.default.contents(atPath: (path(name) as NSString).appendingPathComponent(Self.metaFile))
        else { return nil }
        return (try? JSONDecoder().decode(Stamp.self, from: data))?.runID
    }

    /// The newest checkpoint that passes every check of `VerifiedCheckpoint`; invalid newer
    /// ones are skipped with a warning each; none valid is `RunFormatError.noCheckpoint`.
    ///
    /// `readingFiles` false checks meta.json alone (parse, SHA256SUMS, folder name) and
    /// leaves the data files unread: for readers that need only the description (a report).
    public func newestValid<Config>(
        _ config: Config.Type, readingFiles: Bool = true,
        accepting accept: (VerifiedCheckpoint<Config>) throws -> Void = { _ in }
    ) throws -> (checkpoint: VerifiedCheckpoint<Config>, warnings: [String]) {
        var warnings: [String] = []
        var problems: [String] = []
        for name in checkpointNames() {
            do {
                let checkpoint = try VerifiedCheckpoint<Config>(directory: path(name), readingFiles: readingFiles)
                try accept(checkpoint)
                return (checkpoint, warnings)
            } catch {
                warnings.append("skipping checkpoint \(path(name)): \(error)")
                problems.append("\(name): \(error)")
            }
        }
        throw RunFormatError.noCheckpoint(path: directory, problems: problems)
    }

    /// Resolves what `--resume PATH` or `ies inspect PATH` names: a checkpoint directory
    /// (with meta.json), a checkpoints directory, or a run directory; returns the newest
    /// valid checkpoint.
    public static func resolve<Config>(
        _ path: String, _ config: Config.Type, accepting accept: (VerifiedCheckpoint<Config>) throws -> Void = { _ in }
    ) throws -> (checkpoint: VerifiedCheckpoint<Config>, warnings: [String]) {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw RunFormatError.io(path: path, message: "no such checkpoint or run directory")
        }
        guard isDirectory.boolValue else {
            throw RunFormatError.io(path: path, message: "not a directory (expected a checkpoint or run directory)")
        }
        guard manager.isReadableFile(atPath: path), manager.isExecutableFile(atPath: path) else {
            throw RunFormatError.io(path: path, message: "permission denied")
        }
        if manager.fileExists(atPath: (path as NSString).appendingPathComponent(metaFile)) {
            let checkpoint = try VerifiedCheckpoint<Config>(directory: path)
            try accept(checkpoint)
            return (checkpoint, [])
        }
        let nested = RunDirectory(path).checkpoints
        let store = CheckpointStore(checkpointsDirectory: manager.fileExists(atPath: nested) ? nested : path)
        return try store.newestValid(config, accepting: accept)
    }
}

/// A checkpoint read from disk that passed every check: meta.json parses and its format is
/// readable; SHA256SUMS (format 3) matches meta.json and every file; every file meta.json
/// lists is present with its checksum; the folder's name agrees with the epoch and step
/// inside. `files` holds the verified bytes (none when the files were not read).
public struct VerifiedCheckpoint<Config: Codable & Sendable & Equatable>: Sendable {
    public let directory: String
    public let meta: CheckpointMeta<Config>
    public let files: [String: [UInt8]]

    public init(directory: String, readingFiles: Bool = true) throws {
        self.directory = directory
        func file(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        func fail(_ name: String, _ message: String) -> RunFormatError {
            .invalidCheckpoint(path: file(name), message: message)
        }
        let metaPath = file(CheckpointStore.metaFile)
        guard let metaData = FileManager.default.contents(atPath: metaPath) else {
            throw fail(CheckpointStore.metaFile, "missing or unreadable")
        }
        meta = try CheckpointMeta<Config>.decode(metaData, path: metaPath)
        if meta.format >= 3 {
            guard let listing = FileManager.default.contents(atPath: file(CheckpointStore.checksumsFile)) else {
                throw fail(CheckpointStore.checksumsFile, "missing or unreadable (format \(meta.format) checksums meta.json there)")
            }
            var sums: [String: String] = [:]
            for line in String(decoding: listing, as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1)
                guard parts.count == 2 else { throw fail(CheckpointStore.checksumsFile, "malformed line '\(line)'") }
                sums[parts[1].trimmingCharacters(in: .whitespaces)] = String(parts[0])
            }
            let actual = SHA256.hex(Array(metaData))
            guard sums[CheckpointStore.metaFile] == actual else {
                throw fail(
                    CheckpointStore.metaFile,
                    "checksum mismatch (SHA-256 \(actual.prefix(12))..., SHA256SUMS says "
                        + "\(sums[CheckpointStore.metaFile]?.prefix(12) ?? "nothing")...): it was changed after it was written")
            }
            for (name, sum) in meta.files where sums[name] != sum {
                throw fail(CheckpointStore.checksumsFile, "disagrees with meta.json about \(name)")
            }
        }
        guard !meta.files.isEmpty else { throw fail(CheckpointStore.metaFile, "lists no files") }
        var files: [String: [UInt8]] = [:]
        for (name, expected) in meta.files.sorted(by: { $0.key < $1.key }) where readingFiles {
            guard !name.contains("/"), let data = FileManager.default.contents(atPath: file(name)) else {
                throw fail(name, "missing or unreadable")
            }
            let bytes = [UInt8](data)
            let actual = SHA256.hex(bytes)
            guard actual == expected else {
                throw fail(name, "checksum mismatch (SHA-256 \(actual.prefix(12))..., meta.json says \(expected.prefix(12))...)")
            }
            files[name] = bytes
        }
        self.files = files
        let name = (directory as NSString).lastPathComponent
        if let position = CheckpointStore.position(of: name) {
            let inside = (meta.epoch, meta.partialPass?.stepsDone ?? 0)
            guard position == inside else {
                throw fail(
                    CheckpointStore.metaFile,
                    "the folder is named \(name) but holds \(CheckpointStore.name(epoch: inside.0, step: inside.1)) "
                        + "(copied from elsewhere?)")
            }
        }
    }
}
