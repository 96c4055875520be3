/// The exit statuses of an `ies` job besides 0 (done) and 1 (an error, reported on stderr):
/// each defined here once, for the launcher, the CLI and the tests alike. They live in
/// Distributed, the lowest module that ends a job with one (the stall watchdog's abort).
public enum ExitStatus: Int32, Sendable {
    /// A preemption signal (SIGTERM, SIGUSR1, a first Ctrl-C) stopped the run after writing a checkpoint
    /// (EX_TEMPFAIL: try again, e.g. requeue with `--resume auto`).
    case preempted = 75
    /// The stall watchdog ended the job: a rank did not arrive at a collective or transfer
    /// within the stall timeout (`Communicator.enableStallWatchdog`).
    case stalled = 76
    /// A second Ctrl-C ended the process at once, without a checkpoint (128 + SIGINT, the
    /// shell's convention).
    case interrupted = 130
}
