/// A failed MPI call (or a call `Communicator` refused before reaching MPI,
/// e.g. a count above `Int32.max` or a root outside `0..<size`).
///
/// `code` is the MPI error code (`MPI_ERR_*`); `message` starts with the
/// text of `MPI_Error_string` for it, e.g. `"MPI_ERR_TRUNCATE: message truncated"`,
/// followed by details in parentheses where `Communicator` has any.
public struct DistributedError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The MPI function that failed (`"MPI_Allreduce"`, `"MPI_Recv"`, ...).
    public let call: String
    /// Rank in `MPI_COMM_WORLD` of the process that saw the failure.
    public let rank: Int
    /// MPI error code (`MPI_SUCCESS` is never reported).
    public let code: Int32
    public let message: String

    public init(call: String, rank: Int, code: Int32, message: String) {
        self.call = call
        self.rank = rank
        self.code = code
        self.message = message
    }

    /// E.g. `"MPI_Allreduce failed on rank 1: MPI_ERR_TRUNCATE: message truncated"`.
    public var description: String { "\(call) failed on rank \(rank): \(message)" }
}

/// Ranks that were started with settings that cannot work together (every rank throws it,
/// at the same collective).
public struct RanksDisagree: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String

    public init(_ description: String) { self.description = description }
}
