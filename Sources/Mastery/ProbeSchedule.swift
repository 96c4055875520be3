/// How often a mastered instance is probed: a forward pass that records its loss, so that
/// the rule can see the loss move and send the instance back to training.
///
/// - `every` (the paper): every mastered instance, every epoch.
/// - `spaced(maxInterval: M)`: an instance is probed in the epoch after it is mastered; each
///   probe that keeps it mastered doubles the interval to its next probe (1, 2, 4, ... epochs),
///   up to M. A probe whose loss moved sends it back to training at once, and its interval
///   starts again at 1 when it is next mastered. An instance's schedule is a function of its
///   own losses only (its state travels with it between ranks and into checkpoints), so it
///   is the same for any number of ranks and on resume.
///
/// Text form (the `--probe` flag): `every`, `spaced` (= `spaced:8`) or `spaced:M`, 2 <= M <= 64.
public enum ProbeSchedule: Equatable, Sendable, CustomStringConvertible {
    case every
    case spaced(maxInterval: Int)

    /// `spaced`'s interval cap when none is given.
    public static let defaultMaxInterval = 8
    public static let maxIntervalLimit = 64

    /// The longest interval between two probes of a mastered instance, in epochs (1 for `every`).
    public var maxInterval: Int {
        switch self {
        case .every: return 1
        case .spaced(let maxInterval): return maxInterval
        }
    }

    /// The interval after a probe that kept a mastered instance mastered.
    @inlinable
    public func interval(after current: Int32) -> Int32 { min(current &* 2, Int32(maxInterval)) }

    public var description: String {
        switch self {
        case .every: return "every"
        case .spaced(let maxInterval): return "spaced:\(maxInterval)"
        }
    }

    /// Parses the text form; the error says what was expected.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch (parts[0], parts.count) {
        case ("every", 1):
            self = .every
        case ("spaced", 1):
            self = .spaced(maxInterval: Self.defaultMaxInterval)
        case ("spaced", 2):
            guard let m = Int(parts[1]), (2...Self.maxIntervalLimit).contains(m) else {
                throw MasteryError.invalidProbeSchedule(
                    "'\(text)': expected M in spaced:M as a whole number of epochs from 2 to \(Self.maxIntervalLimit)")
            }
            self = .spaced(maxInterval: m)
        default:
            throw MasteryError.invalidProbeSchedule("'\(text)': expected every, spaced or spaced:M")
        }
    }
}

/// Codable as its text form (`spaced:8`), as written in checkpoints' meta.json.
extension ProbeSchedule: Codable {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
