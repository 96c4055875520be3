import Foundation

/// Why a report or an event file could not be made (a run directory that is not one is
/// `RunFormatError`); every case names the file involved,
/// so the command line can print one actionable line.
public enum ReportError: Error, Equatable, CustomStringConvertible {
    /// `metrics.jsonl` holds no complete epoch yet.
    case noEpochs(path: String)
    /// An output file or directory could not be written.
    case cannotWrite(path: String, message: String)

    public var description: String {
        switch self {
        case .noEpochs(let path):
            return "\(path): no complete epoch recorded yet"
        case .cannotWrite(let path, let message):
            return "\(path): cannot write: \(message)"
        }
    }
}
