import Foundation

/// Reads `metrics.jsonl` tolerantly enough for a run that is still being written.
///
/// `ies train` appends one line per epoch and flushes it, so a reader racing the
/// writer (or a run killed mid-write) can see a last line that is cut short. That
/// line is dropped and reported in `partialLine`; a malformed line anywhere else is
/// an error naming the file and line, since it means the file is not what we think.
public struct MetricsFile: Sendable {
    public var path: String
    /// One record per epoch, in epoch order; a repeated epoch keeps its last line.
    public var records: [EpochRecord]
    /// True when the last line was incomplete and was left out.
    public var partialLine: Bool

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: path) {
                throw ReportError.unreadable(path: path, message: "permission denied or not a file")
            }
            throw ReportError.missingMetrics(path: (path as NSString).deletingLastPathComponent)
        }
        try self.init(path: path, data: data)
    }

    /// Parses the bytes of a metrics file (`path` is only used in messages).
    public init(path: String, data: Data) throws {
        self.path = path
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
        let lastNonEmpty = lines.lastIndex { !$0.allSatisfy { $0 == 0x20 || $0 == 0x0D || $0 == 0x09 } }
        var byEpoch: [Int: EpochRecord] = [:]
        var partial = false
        let decoder = JSONDecoder()
        for (index, line) in lines.enumerated() where index <= (lastNonEmpty ?? -1) {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
            do {
                var record = try decoder.decode(EpochRecord.self, from: Data(line))
                // Lines without an epoch number count in file order.
                let epoch = record.epoch ?? (byEpoch.keys.max() ?? 0) + 1
                record.epoch = epoch
                byEpoch[epoch] = record
            } catch {
                if index == lastNonEmpty {
                    partial = true
                } else {
                    throw ReportError.malformed(
                        path: path, line: index + 1, message: "not a metrics record: \(MetricsFile.describe(error))")
                }
            }
        }
        records = byEpoch.keys.sorted().map { byEpoch[$0]! }
        partialLine = partial
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context): return context.debugDescription
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "\(key): \(context.debugDescription)"
        default: return "\(error)"
        }
    }
}
