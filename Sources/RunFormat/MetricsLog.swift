import DurableIO
import Foundation

/// Appends one `EpochMetrics` per line to `metrics.jsonl`, flushed after each epoch so that
/// a crashed run keeps what it measured.
public final class MetricsLog {
    public let path: String
    private let handle: FileHandle
    private let encoder: JSONEncoder

    /// Creates the file; when `keepingEpochsThrough` > 0 (a resumed run) the records of
    /// epochs up to that one are kept and later ones (logged after the checkpoint that is
    /// resumed) are dropped; `restoring`, the checkpoint's own copy of its epoch's record,
    /// is added if that line never made it to the file.
    public init(path: String, keepingEpochsThrough kept: Int = 0, restoring record: EpochMetrics? = nil) throws {
        self.path = path
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        if kept > 0 {
            var initial = Data()
            var lastKept = 0
            let existing = FileManager.default.contents(atPath: path).map { MetricsFile.lines(of: $0) } ?? []
            for line in existing {
                guard let parsed = try? MetricsFile.decoder.decode(EpochMetrics.self, from: line.bytes),
                      parsed.epoch <= kept
                else { continue }
                initial.append(line.bytes)
                initial.append(0x0A)
                lastKept = parsed.epoch
            }
            if let record, record.epoch == kept, lastKept < kept {
                initial.append(try encoder.encode(record))
                initial.append(0x0A)
            }
            try DurableFile.write(Array(initial), to: path)
        } else if !FileManager.default.createFile(atPath: path, contents: nil) {
            throw RunFormatError.io(path: path, message: "cannot create the metrics file")
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw RunFormatError.io(path: path, message: "cannot open the metrics file for writing")
        }
        self.handle = handle
        handle.seekToEndOfFile()
    }

    deinit { try? handle.close() }

    public func append(_ record: EpochMetrics) throws {
        var data = try encoder.encode(record)
        data.append(0x0A)
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
        } catch {
            throw RunFormatError.io(path: path, message: "write failed: \(error.localizedDescription)")
        }
    }
}

/// The one reader of `metrics.jsonl`, tolerant enough for a run that is still being written.
///
/// `ies train` appends one line per epoch and flushes it, so a reader racing the writer (or
/// a run killed mid-write) can see a last line that is cut short. That line is dropped and
/// reported in `partialLine`; a malformed line anywhere else is an error naming the file
/// and line, since it means the file is not what we think.
public struct MetricsFile: Sendable {
    public var path: String
    /// One record per epoch, in epoch order; a repeated epoch keeps its last line.
    public var records: [EpochMetrics]
    /// True when the last line was incomplete and was left out.
    public var partialLine: Bool

    static let decoder = JSONDecoder()

    /// Reads `path`; a missing file is `RunFormatError.missingMetrics` naming its directory.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: path) {
                throw RunFormatError.io(path: path, message: "cannot read: permission denied or not a file")
            }
            throw RunFormatError.missingMetrics(path: (path as NSString).deletingLastPathComponent)
        }
        try self.init(path: path, data: data)
    }

    /// Parses the bytes of a metrics file (`path` is only used in messages).
    public init(path: String, data: Data) throws {
        self.path = path
        let lines = Self.lines(of: data)
        var byEpoch: [Int: EpochMetrics] = [:]
        var partial = false
        for (index, line) in lines.enumerated() {
            do {
                let record = try Self.decoder.decode(EpochMetrics.self, from: line.bytes)
                byEpoch[record.epoch] = record
            } catch {
                guard index == lines.count - 1 else {
                    throw RunFormatError.malformedMetrics(path: path, line: line.number, message: describeDecodingError(error))
                }
                partial = true
            }
        }
        records = byEpoch.keys.sorted().map { byEpoch[$0]! }
        partialLine = partial
    }

    /// The non-blank lines of a metrics file with their 1-based line numbers.
    static func lines(of data: Data) -> [(number: Int, bytes: Data)] {
        data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated().compactMap { index, line in
            line.allSatisfy { $0 == 0x20 || $0 == 0x0D || $0 == 0x09 } ? nil : (index + 1, Data(line))
        }
    }
}
