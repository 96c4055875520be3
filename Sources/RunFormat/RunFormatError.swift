import Foundation

/// What is wrong with a run directory or a file in it; every case names the file, so a
/// command can print one actionable line.
public enum RunFormatError: Error, Equatable, CustomStringConvertible {
    /// A file or directory could not be read, created or written.
    case io(path: String, message: String)
    /// A run directory without `metrics.jsonl`.
    case missingMetrics(path: String)
    /// A complete line of `metrics.jsonl` that is not a metrics record.
    case malformedMetrics(path: String, line: Int, message: String)
    /// A checkpoint that fails a check (unparsable meta.json, a checksum mismatch, a file missing).
    case invalidCheckpoint(path: String, message: String)
    /// No checkpoint where one was expected; `problems` lists the invalid ones that were skipped.
    case noCheckpoint(path: String, problems: [String])

    public var description: String {
        switch self {
        case .io(let path, let message):
            return "\(path): \(message)"
        case .missingMetrics(let path):
            return "\(path): no \(RunDirectory.metricsFile) here (is it a run directory written by `ies train`?)"
        case .malformedMetrics(let path, let line, let message):
            return "\(path):\(line): not a metrics record: \(message)"
        case .invalidCheckpoint(let path, let message):
            return "\(path): \(message)"
        case .noCheckpoint(let path, let problems):
            return problems.isEmpty
                ? "\(path): no checkpoint (expected a checkpoint directory, a run directory or its checkpoints/ folder)"
                : "\(path): no valid checkpoint: " + problems.joined(separator: "; ")
        }
    }
}

/// A decoding error as one line: the key path and what was wrong, without Swift's type dump.
public func describeDecodingError(_ error: Error) -> String {
    switch error {
    case DecodingError.dataCorrupted(let context):
        let key = context.codingPath.map(\.stringValue).joined(separator: ".")
        let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
        return (key.isEmpty ? "" : "\(key): ") + (underlying ?? context.debugDescription)
    case DecodingError.keyNotFound(let key, let context):
        let path = (context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")
        return "\(path) is missing"
    case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
        let key = context.codingPath.map(\.stringValue).joined(separator: ".")
        return "\(key): \(context.debugDescription)"
    default:
        return "\(error)"
    }
}
