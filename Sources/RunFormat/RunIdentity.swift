import DurableIO
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `run.json`: who a run directory belongs to. Written once, when the run is created;
/// every checkpoint carries its `id` (`CheckpointMeta.runID`), so a checkpoint of another
/// run found in this directory is recognised and never continued or pruned.
public struct RunIdentity: Codable, Sendable, Equatable {
    public static let file = "run.json"

    public var format = 1
    /// A random id (UUID), unique to the run.
    public var id: String
    /// ISO 8601 time of creation.
    public var created: String
    /// Set for a fork: the run and checkpoint it started from (`--resume A --run-dir B`).
    public var forkedFrom: Origin?

    public struct Origin: Codable, Sendable, Equatable {
        /// The id of the run forked from (nil for a checkpoint written before run ids).
        public var runID: String?
        /// The checkpoint directory it was copied from.
        public var checkpoint: String

        public init(runID: String?, checkpoint: String) {
            self.runID = runID
            self.checkpoint = checkpoint
        }

        enum CodingKeys: String, CodingKey { case runID = "run_id", checkpoint }
    }

    enum CodingKeys: String, CodingKey { case format, id, created, forkedFrom = "forked_from" }

    /// A new identity with a fresh id.
    public init(forkedFrom: Origin? = nil) {
        id = UUID().uuidString.lowercased()
        created = ISO8601DateFormatter().string(from: Date())
        self.forkedFrom = forkedFrom
    }

    /// The ids a checkpoint of this run may carry: its own, and the id of the run it was
    /// forked from (the checkpoint copied in at the fork).
    public func owns(checkpointRunID runID: String?) -> Bool {
        runID == id || (forkedFrom != nil && runID == forkedFrom?.runID)
    }

    /// The identity in `run`, nil when it has none (a new directory, or a run written
    /// before run ids); an unreadable or malformed run.json is an error naming it.
    public static func read(_ run: RunDirectory) throws -> RunIdentity? {
        let path = run.file(file)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunFormatError.io(path: path, message: "cannot read (permission denied?)")
        }
        do {
            return try JSONDecoder().decode(RunIdentity.self, from: data)
        } catch {
            throw RunFormatError.io(path: path, message: "not a run identity: \(describeDecodingError(error))")
        }
    }

    /// Writes run.json into `run` durably.
    public func write(to run: RunDirectory) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try DurableFile.write(Array(try encoder.encode(self)) + [0x0A], to: run.file(Self.file))
    }
}

extension RunDirectory {
    /// What in the directory shows that a run lives there: run.json, metrics.jsonl, the
    /// final model, checkpoints. Other files (a user's notes) are not traces.
    public func traces() -> [String] {
        let manager = FileManager.default
        var found = [RunIdentity.file, Self.metricsFile, Self.modelFile].filter { manager.fileExists(atPath: file($0)) }
        let entries = (try? manager.contentsOfDirectory(atPath: checkpoints)) ?? []
        if !entries.filter({ !$0.hasPrefix(".") }).isEmpty { found.append(Self.checkpointsFolder + "/") }
        return found
    }

    /// Creates the directory (and its parents), or says in one line why it cannot be one.
    public func create() throws {
        let manager = FileManager.default
        if let problem = PathCheck.problem(path, as: .directory) {
            throw RunFormatError.io(path: path, message: "cannot create the run directory: \(problem)")
        }
        do {
            try manager.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
            let reason = underlying.map { String(cString: strerror(Int32($0.code))) } ?? "permission denied or read-only file system"
            throw RunFormatError.io(path: path, message: "cannot create the run directory: \(reason)")
        }
    }
}
