import Foundation
import RunFormat

/// Taking a run directory before anything is written into it (rank 0): a new run needs a
/// directory without traces of another; a resume continues only its own run; resuming a
/// checkpoint into another directory forks it into a new, empty one. Holds the directory's
/// lock until the run ends, so two trainings never write into one run.
///
/// | what is asked                         | the directory                      | outcome                       |
/// |---------------------------------------|------------------------------------|-------------------------------|
/// | a new run                             | no traces                          | new identity                  |
/// | a new run                             | traces                             | refused                       |
/// | `--resume auto`, no checkpoint yet    | this run's traces, no checkpoint   | start over, same identity     |
/// | resume a checkpoint of this directory | its run.json owns the checkpoint   | continue                      |
/// | resume a checkpoint of another place  | no traces                          | fork: copy it in, new identity|
/// | resume a checkpoint of another place  | traces                             | refused                       |
public struct RunClaim {
    public let identity: RunIdentity
    /// Lines for the user (a fork, a restart, an adopted pre-identity run).
    public let notes: [String]
    let lock: RunLock

    /// Where a resumed run comes from: the checkpoint's directory and the run id it carries.
    public struct Origin: Sendable {
        public var directory: String
        public var runID: String?

        public init(_ checkpoint: LoadedCheckpoint) {
            directory = checkpoint.directory
            runID = checkpoint.meta.runID
        }
    }

    /// Claims `run` for a new run (`checkpoint` nil) or a resume of `checkpoint`;
    /// `restartAllowed` (`--resume auto`) lets a run of this directory without checkpoint start over.
    public init(_ run: RunDirectory, resuming checkpoint: Origin?, restartAllowed: Bool = false) throws {
        try run.create()
        lock = try RunLock(run)
        let existing = try RunIdentity.read(run)
        let traces = run.traces()
        var notes: [String] = []
        guard let checkpoint else {
            let restart = restartAllowed && run.checkpointStore.checkpointNames().isEmpty
                && !traces.contains(RunDirectory.modelFile) && !traces.isEmpty
            if restart {
                if FileManager.default.fileExists(atPath: run.metrics) {
                    let aside = run.metrics + ".previous"
                    try? FileManager.default.removeItem(atPath: aside)
                    try FileManager.default.moveItem(atPath: run.metrics, toPath: aside)
                }
                notes.append(
                    "warning: \(run.path) has no checkpoint; starting over (its \(RunDirectory.metricsFile) is kept as "
                        + "\(RunDirectory.metricsFile).previous)")
            } else if !traces.isEmpty {
                throw RunClaimError.holdsAnotherRun(path: run.path, traces: traces)
            }
            identity = existing ?? RunIdentity()
            if existing == nil { try identity.write(to: run) }
            self.notes = notes
            return
        }
        if let home = RunDirectory.containing(checkpoint: checkpoint.directory), Self.same(home.path, run.path) {
            if let existing {
                guard existing.owns(checkpointRunID: checkpoint.runID) || checkpoint.runID == nil else {
                    throw RunClaimError.foreignCheckpoint(
                        path: checkpoint.directory, runID: checkpoint.runID ?? "", owner: existing.id)
                }
                identity = existing
            } else {
                // A run written before run identities: it becomes this identity's.
                identity = RunIdentity()
                try identity.write(to: run)
                notes.append("note: \(run.path) predates run identities; it is now run \(identity.id)")
            }
            self.notes = notes
            return
        }
        guard traces.isEmpty else {
            throw RunClaimError.forkIntoUsedDirectory(path: run.path, checkpoint: checkpoint.directory, traces: traces)
        }
        identity = RunIdentity(forkedFrom: .init(runID: checkpoint.runID, checkpoint: checkpoint.directory))
        try Self.copy(checkpoint, into: run)
        try identity.write(to: run)
        notes.append("forking \(checkpoint.directory) into the new run \(run.path) (run \(identity.id))")
        self.notes = notes
    }

    /// Fails when run.json no longer names this run (the directory was replaced under it).
    public func verify(_ run: RunDirectory) throws {
        let now = try RunIdentity.read(run)
        guard now?.id == identity.id else {
            throw RunClaimError.identityChanged(path: run.file(RunIdentity.file), expected: identity.id, found: now?.id)
        }
    }

    /// The fork's starting point: the checkpoint (copied whole, then renamed into place) and
    /// its run's metrics up to it, so that the new run is complete in itself.
    private static func copy(_ checkpoint: Origin, into run: RunDirectory) throws {
        let manager = FileManager.default
        let name = (checkpoint.directory as NSString).lastPathComponent
        let store = run.checkpointStore
        do {
            try manager.createDirectory(atPath: store.directory, withIntermediateDirectories: true)
            let temporary = store.path(name + ".fork.tmp")
            try? manager.removeItem(atPath: temporary)
            try manager.copyItem(atPath: checkpoint.directory, toPath: temporary)
            try manager.moveItem(atPath: temporary, toPath: store.path(name))
            if let home = RunDirectory.containing(checkpoint: checkpoint.directory),
               manager.fileExists(atPath: home.metrics) {
                try manager.copyItem(atPath: home.metrics, toPath: run.metrics)
            }
        } catch {
            throw RunFormatError.io(path: run.path, message: "cannot copy the checkpoint for the fork: \(error.localizedDescription)")
        }
    }

    static func same(_ a: String, _ b: String) -> Bool {
        func canonical(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }
        return canonical(a) == canonical(b)
    }
}

/// A run directory that cannot be taken as asked.
public enum RunClaimError: Error, Equatable, CustomStringConvertible {
    case holdsAnotherRun(path: String, traces: [String])
    case forkIntoUsedDirectory(path: String, checkpoint: String, traces: [String])
    case foreignCheckpoint(path: String, runID: String, owner: String)
    case identityChanged(path: String, expected: String, found: String?)

    public var description: String {
        switch self {
        case .holdsAnotherRun(let path, let traces):
            return "\(path) already holds a run (\(traces.joined(separator: ", "))): resume it with --resume, "
                + "or choose another --run-dir"
        case .forkIntoUsedDirectory(let path, let checkpoint, let traces):
            return "cannot resume \(checkpoint) into \(path): that directory already holds a run "
                + "(\(traces.joined(separator: ", "))); resuming into another directory forks the run and needs a new, "
                + "empty --run-dir (or drop --run-dir to continue in the checkpoint's own run)"
        case .foreignCheckpoint(let path, let runID, let owner):
            return "\(path) belongs to run \(runID), not to this directory's run \(owner): refusing to continue it here"
        case .identityChanged(let path, let expected, let found):
            return "\(path) changed during the run (expected run \(expected), found \(found ?? "none")): "
                + "stopping rather than write into another run"
        }
    }
}
