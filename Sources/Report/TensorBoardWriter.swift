import DurableIO
import Foundation

/// Writes scalars to a TensorBoard event file, `events.out.tfevents.<unix time>.<host>`
/// in `directory`, so that `tensorboard --logdir` shows a run's curves.
///
/// Each `add` appends one event and then flushes and fsyncs the file: a writer called
/// once per epoch never loses an epoch that was reported, even if training dies later.
public final class TensorBoardWriter {
    /// The event file being written.
    public let path: String
    private let handle: FileHandle

    /// Creates `directory` if needed and a new event file in it, starting with the
    /// file-version event.
    public init(directory: String, wallTime: Double = Date().timeIntervalSince1970) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ReportError.cannotWrite(
                path: directory, message: PathCheck.problem(directory, as: .directory) ?? error.localizedDescription)
        }
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        let base = (directory as NSString).appendingPathComponent("events.out.tfevents.\(Int(wallTime)).\(host)")
        // Two writers in one directory within the same second get distinct names.
        var candidate = base, suffix = 1
        while FileManager.default.fileExists(atPath: candidate) {
            candidate = "\(base).\(suffix)"
            suffix += 1
        }
        path = candidate
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path)
        else { throw ReportError.cannotWrite(path: path, message: "cannot create the event file") }
        self.handle = handle
        try append(TensorBoardEvent.fileVersion(wallTime: wallTime))
    }

    deinit { try? handle.close() }

    /// Appends one event holding `scalars` at `step` (the epoch), then flushes and fsyncs.
    public func add(scalars: [(tag: String, value: Float)], step: Int, wallTime: Double = Date().timeIntervalSince1970) throws {
        try append(TensorBoardEvent.scalars(scalars, step: step, wallTime: wallTime))
    }

    private func append(_ event: [UInt8]) throws {
        do {
            try handle.write(contentsOf: Data(TensorBoardEvent.record(event)))
            try handle.synchronize()
        } catch {
            throw ReportError.cannotWrite(path: path, message: error.localizedDescription)
        }
    }

    /// Closes the file (also done when the writer goes away).
    public func close() throws {
        do { try handle.close() } catch { throw ReportError.cannotWrite(path: path, message: error.localizedDescription) }
    }
}
