/// Errors of a training run, each a one-line message a user can act on.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// The exit status of a run stopped by a preemption signal after writing its checkpoint
    /// (EX_TEMPFAIL: try again, e.g. requeue with `--resume auto`).
    public static let preemptedExitStatus: Int32 = 75

    case invalidConfiguration(String)
    case runDirectoryInUse(String)
    case io(path: String, message: String)
    case diverged(epoch: Int, step: Int)
    case badModelFile(path: String, message: String)
    case conservation(String)
    case incompatibleCheckpoint(path: String, String)
    /// A preemption signal stopped the run after `step` of `steps` of `epoch` (1-based), with a
    /// checkpoint to resume from.
    case preempted(epoch: Int, step: Int, steps: Int, checkpoint: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let message):
            return message
        case .runDirectoryInUse(let path):
            return "\(path) already holds a run (metrics.jsonl exists): choose another run directory, or resume it"
        case .io(let path, let message):
            return "\(path): \(message)"
        case .diverged(let epoch, let step):
            return "training diverged: loss or parameters became NaN/Inf at epoch \(epoch), step \(step); try a lower learning rate"
        case .badModelFile(let path, let message):
            return "\(path): \(message)"
        case .preempted(let epoch, let step, let steps, let checkpoint):
            return "stopped by a preemption signal after step \(step) of \(steps) of epoch \(epoch); checkpoint "
                + "\(checkpoint) (resume with --resume)"
        case .incompatibleCheckpoint(let path, let message):
            return "cannot resume from \(path): \(message)"
        case .conservation(let message):
            return "instance ownership broken, stopping rather than training on lost or duplicated data: \(message)"
        }
    }
}
