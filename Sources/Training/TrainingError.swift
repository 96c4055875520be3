/// Errors of a training run, each a one-line message a user can act on, named for what
/// happened.
/// (A checkpoint that fails a check, or none found, is `RunFormatError.invalidCheckpoint` /
/// `.noCheckpoint`: the run format owns those checks.)
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// Rank 0 could not take the run directory (`RunClaimError`, `RunFormatError`); the
    /// other ranks stop with its message.
    case runDirectory(String)
    /// Reading or writing `path` failed (the file system refused, or a file is missing).
    case io(path: String, message: String)
    case diverged(epoch: Int, step: Int)
    case badModelFile(path: String, message: String)
    /// Instances lost, duplicated, owned by no rank or out of range: the run stops rather
    /// than train on the wrong data.
    case conservation(String)
    /// Rank `source` sent an instance parcel of `bytes` bytes that does not decode.
    case malformedMessage(source: Int, bytes: Int, problem: String)
    /// A mid-epoch checkpoint does not fit the epoch it continues (its step count differs).
    case resumeMismatch(String)
    case incompatibleCheckpoint(path: String, String)
    /// A preemption signal stopped the run after `step` of `steps` of `epoch` (1-based), with a
    /// checkpoint to resume from (the CLI exits with `ExitStatus.preempted`).
    case preempted(epoch: Int, step: Int, steps: Int, checkpoint: String)
    /// Ranks started with different settings, models or data (which ranks, and what differs):
    /// every rank stops before training, nothing written.
    case ranksDisagree(String)
    /// After `epoch` (1-based), `rank` holds parameters or buffers that differ from rank 0's:
    /// the ranks no longer train one model, so nothing of that epoch is written.
    case parametersDiffer(epoch: Int, rank: Int)

    public var description: String {
        switch self {
        case .runDirectory(let message):
            return message
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
        case .resumeMismatch(let message):
            return "cannot continue the interrupted epoch: \(message)"
        case .malformedMessage(let source, let bytes, let problem):
            return "rank \(source) sent a malformed instance parcel of \(bytes) bytes: \(problem); stopping rather than "
                + "training on lost or corrupted data"
        case .ranksDisagree(let message):
            return "ranks disagree, stopping before training: \(message)"
        case .parametersDiffer(let epoch, let rank):
            return "parameters of rank \(rank) differ from rank 0's after epoch \(epoch) (the ranks no longer train "
                + "one model); stopping without writing that epoch's metrics or checkpoint"
        case .conservation(let message):
            return "instance ownership broken, stopping rather than training on lost or duplicated data: \(message)"
        }
    }
}

extension TrainingError {
    /// True for the errors every rank raises together, at the same point (the ranks agreed
    /// on them in a collective): the job can end cleanly instead of aborting.
    public var isRaisedByEveryRank: Bool {
        switch self {
        case .runDirectory, .ranksDisagree, .parametersDiffer: return true
        default: return false
        }
    }
}
