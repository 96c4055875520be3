import ArgumentParser
import Mastery
import NN
import Training

/// How the library's settings are spelled on the command line: library errors name a
/// setting (`ConfigurationError.field`, `MasteryError.invalidRule(field:)`), the CLI
/// reports the flag.
enum Flags {
    static func flag(for field: TrainingConfig.Field) -> String {
        switch field {
        case .data: return "--data"
        case .model: return "--model"
        case .width: return "--width"
        case .epochs: return "--epochs"
        case .batchSize: return "--batch-size"
        case .batchSizePerRank: return "--batch-size-per-rank"
        case .lrReferenceBatch: return "--lr-reference-batch"
        case .lr: return "--lr"
        case .momentum: return "--momentum"
        case .weightDecay: return "--weight-decay"
        case .lrSchedule: return "--lr-schedule"
        case .warmupEpochs: return "--warmup-epochs"
        case .seed: return "--seed"
        case .limit: return "--limit"
        case .testLimit: return "--test-limit"
        case .threads: return "--threads"
        case .evaluationBatchSize: return "evaluation batch size"
        case .checkpointEvery: return "--checkpoint-every"
        case .keep: return "--keep"
        case .rebalanceTolerance: return "--rebalance-tolerance"
        case .stallTimeout: return "--stall-timeout"
        case .bucketMegabytes: return "--bucket-mb"
        }
    }

    static func flag(for field: MasteryRule.Field) -> String {
        switch field {
        case .threshold: return "--ies-threshold"
        case .window: return "--ies-window"
        case .k: return "--ies-k"
        }
    }

    /// A setting found wrong once the data is known (a run error, exit 1, not a usage
    /// error), named by its flag; other errors unchanged.
    static func named(_ error: Error) -> Error {
        guard let error = error as? ConfigurationError else { return error }
        return FlagError(description: "\(flag(for: error.field)) \(error.problem)")
    }

    struct FlagError: Error, CustomStringConvertible {
        let description: String
    }

    /// A library error about a setting as the CLI says it: the flag, then the problem.
    static func validationError(_ error: Error) -> ValidationError {
        switch error {
        case let error as ConfigurationError:
            return ValidationError("\(flag(for: error.field)) \(error.problem)")
        case MasteryError.invalidRule(let field, let problem):
            return ValidationError("\(flag(for: field)) \(problem)")
        case let error as LRScheduleError:
            return ValidationError("--lr-schedule \(error.description)")
        case let error as ValidationError:
            return error
        default:
            return ValidationError("\(error)")
        }
    }
}
