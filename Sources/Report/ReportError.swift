import Foundation

/// Why a report or an event file could not be made; every case names the file involved,
/// so the command line can print one actionable line.
public enum ReportError: Error, Equatable, CustomStringConvertible {
    /// A run directory without `metrics.jsonl` (not a run directory, or a run that has not
    /// finished its first epoch).
    case missingMetrics(path: String)
    /// A file exists but could not be read.
    case unreadable(path: String, message: String)
    /// A complete line of `metrics.jsonl` (or a `meta.json`) that is not the expected JSON.
    case malformed(path: String, line: Int?, message: String)
    /// `metrics.jsonl` holds no complete epoch yet.
    case noEpochs(path: String)
    /// An output file or directory could not be written.
    case cannotWrite(path: String, message: String)

    public var description: String {
        switch self {
        case .missingMetrics(let path):
            return "\(path): no metrics.jsonl here (is it a run directory written by `ies train`?)"
        case .unreadable(let path, let message):
            return "\(path): cannot read: \(message)"
        case .malformed(let path, let line, let message):
            return "\(path)\(line.map { ":\($0)" } ?? ""): \(message)"
        case .noEpochs(let path):
            return "\(path): no complete epoch recorded yet"
        case .cannotWrite(let path, let message):
            return "\(path): cannot write: \(message)"
        }
    }
}
