import Foundation

/// Per-epoch learning-rate schedules, with PyTorch's `lr_scheduler` semantics
/// evaluated in closed form (so that a resumed run gets the same rates).
///
/// Text form (the `--lr-schedule` flag):
/// - `constant`
/// - `exponential:GAMMA` (ExponentialLR): lr * GAMMA^epoch
/// - `step:SIZE:GAMMA` (StepLR): lr * GAMMA^(epoch / SIZE)
/// - `linear:START:END` (LinearLR with total_iters = epochs): lr * (START + (END - START) * epoch / epochs)
/// - `cosine[:MIN_LR]` (CosineAnnealingLR with T_max = epochs): MIN + (lr - MIN)(1 + cos(pi epoch / epochs)) / 2
///
/// A linear warm-up (`learningRate(base:epoch:epochs:warmup:)`) precedes any of them.
public enum LRSchedule: Equatable, Sendable, CustomStringConvertible {
    case constant
    case exponential(gamma: Double)
    case step(size: Int, gamma: Double)
    case linear(start: Double, end: Double)
    case cosine(minimum: Double)

    /// Whether every epoch's rate depends on the run's number of epochs (`linear`, `cosine`).
    public var dependsOnRunLength: Bool {
        switch self {
        case .linear, .cosine: return true
        case .constant, .exponential, .step: return false
        }
    }

    /// The learning rate for 0-based `epoch` of a run of `epochs` epochs.
    public func learningRate(base: Double, epoch: Int, epochs: Int) -> Double {
        switch self {
        case .constant:
            return base
        case .exponential(let gamma):
            return base * pow(gamma, Double(epoch))
        case .step(let size, let gamma):
            return base * pow(gamma, Double(epoch / size))
        case .linear(let start, let end):
            let t = Double(min(epoch, epochs)) / Double(max(1, epochs))
            return base * (start + (end - start) * t)
        case .cosine(let minimum):
            let t = Double(min(epoch, epochs)) / Double(max(1, epochs))
            return minimum + (base - minimum) * (1 + cos(Double.pi * t)) / 2
        }
    }

    /// The learning rate for 0-based `epoch` of `epochs` with a linear warm-up of `warmup`
    /// epochs (the `--warmup-epochs` flag):
    ///   epoch < warmup:  base * (epoch + 1) / warmup
    ///   otherwise:       the schedule at epoch - warmup of a run of epochs - warmup epochs,
    /// so the schedule starts at `base` when the warm-up ends. `warmup` 0 is exactly
    /// `learningRate(base:epoch:epochs:)`.
    public func learningRate(base: Double, epoch: Int, epochs: Int, warmup: Int) -> Double {
        precondition(warmup >= 0, "LRSchedule: negative warm-up \(warmup)")
        if epoch < warmup { return base * Double(epoch + 1) / Double(warmup) }
        return learningRate(base: base, epoch: epoch - warmup, epochs: max(0, epochs - warmup))
    }

    public var description: String {
        switch self {
        case .constant: return "constant"
        case .exponential(let gamma): return "exponential:\(gamma)"
        case .step(let size, let gamma): return "step:\(size):\(gamma)"
        case .linear(let start, let end): return "linear:\(start):\(end)"
        case .cosine(let minimum): return "cosine:\(minimum)"
        }
    }

    /// Parses the text form; the error says what was expected.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func number(_ index: Int, _ what: String) throws -> Double {
            guard index < parts.count, let value = Double(parts[index]), value.isFinite else {
                throw LRScheduleError("'\(text)': expected \(what) as a number")
            }
            return value
        }
        switch parts[0] {
        case "constant" where parts.count == 1:
            self = .constant
        case "exponential" where parts.count == 2:
            let gamma = try number(1, "GAMMA in exponential:GAMMA")
            guard gamma > 0 else { throw LRScheduleError("'\(text)': GAMMA must be > 0") }
            self = .exponential(gamma: gamma)
        case "step" where parts.count == 3:
            guard let size = Int(parts[1]), size > 0 else {
                throw LRScheduleError("'\(text)': expected SIZE (epochs, a positive integer) in step:SIZE:GAMMA")
            }
            let gamma = try number(2, "GAMMA in step:SIZE:GAMMA")
            guard gamma > 0 else { throw LRScheduleError("'\(text)': GAMMA must be > 0") }
            self = .step(size: size, gamma: gamma)
        case "linear" where parts.count == 3:
            let start = try number(1, "START factor in linear:START:END")
            let end = try number(2, "END factor in linear:START:END")
            guard start >= 0, end >= 0 else { throw LRScheduleError("'\(text)': factors must be >= 0") }
            self = .linear(start: start, end: end)
        case "cosine" where parts.count <= 2:
            let minimum = parts.count == 2 ? try number(1, "MIN_LR in cosine:MIN_LR") : 0
            guard minimum >= 0 else { throw LRScheduleError("'\(text)': MIN_LR must be >= 0") }
            self = .cosine(minimum: minimum)
        default:
            throw LRScheduleError(
                "'\(text)': expected constant, exponential:GAMMA, step:SIZE:GAMMA, linear:START:END or cosine[:MIN_LR]")
        }
    }
}

/// A malformed `--lr-schedule` value.
public struct LRScheduleError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Codable as its text form (`exponential:0.96`), as written in checkpoints' meta.json.
extension LRSchedule: Codable {
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
