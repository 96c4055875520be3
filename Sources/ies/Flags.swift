import ArgumentParser
import Mastery
import NN
import Training

/// The table of settings (`Setting.all`) as ArgumentParser wants it.
extension Setting {
    /// `--name` for `@Option(name:)` and `@Flag(name:)`.
    var optionName: NameSpecification {
        guard let name else { preconditionFailure("setting \(key) has no flag") }
        return .customLong(name)
    }

    /// The help paragraph with the default rendered from `TrainingConfig`.
    var argumentHelp: ArgumentHelp {
        ArgumentHelp(help + (defaultText.map { " (default: \($0))" } ?? ""))
    }
}

enum Flags {
    /// `--a, --b and --c`.
    static func list(_ flags: [String]) -> String {
        flags.count < 2 ? flags.joined() : flags.dropLast().joined(separator: ", ") + " and " + flags.last!
    }

    /// A setting found wrong once the data is known (a run error, exit 1, not a usage
    /// error), named by its flag; other errors unchanged.
    static func named(_ error: Error) -> Error {
        guard let error = error as? ConfigurationError else { return error }
        return FlagError(description: "\(error.setting) \(error.problem)")
    }

    struct FlagError: Error, CustomStringConvertible {
        let description: String
    }

    /// A library error about a setting as the CLI says it: the flag, then the problem.
    static func validationError(_ error: Error) -> ValidationError {
        switch error {
        case let error as ConfigurationError:
            return ValidationError("\(error.setting) \(error.problem)")
        case MasteryError.invalidRule(let field, let problem):
            return ValidationError("\(Setting.ies(field)) \(problem)")
        case MasteryError.invalidProbeSchedule(let problem):
            return ValidationError("\(Setting.probe) \(problem)")
        case let error as LRScheduleError:
            return ValidationError("\(Setting.lrSchedule) \(error.description)")
        case let error as ValidationError:
            return error
        default:
            return ValidationError("\(error)")
        }
    }
}
