import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How large a message OpenMPI's TCP transport (btl/tcp) sends at once, without first asking
/// the receiver. Beyond its 64 KiB eager limit, a message is announced by a first fragment,
/// and the rest follows only once the receiver's acknowledgement is back. Both ranks of a
/// bucket's exchange send at the same time, so each acknowledgement queues behind the other
/// direction's data; and it moves only when the MPI progress of each side next runs. Over
/// 1 Gbit/s, the cnn's 0.8 MB bf16 bucket then often was not through when backward ended
/// (BENCHMARKS.md, "Gradient buckets sent eagerly over TCP").
///
/// When the ranks span several hosts, each rank raises the eager limit (and the fragment
/// size, which bounds it) to 4 MiB before `MPI_Init`: a default bucket (1 MiB, cut at tensor
/// boundaries) then leaves in one write. Larger messages keep the rendezvous. The protocol
/// moves the same bytes, so no result changes. Every rank decides alike (the ranks span
/// several hosts for all of them or for none), as the receivers' buffers must fit the
/// senders' fragments. A user's own value (`--mca btl_tcp_eager_limit` or
/// `btl_tcp_max_send_size`, or the variables) is left alone.
public enum TCPEagerLimit {
    /// The OpenMPI parameters, as environment variables read by `MPI_Init`.
    public static let variables = ["OMPI_MCA_btl_tcp_eager_limit", "OMPI_MCA_btl_tcp_max_send_size"]
    /// The eager limit and fragment size chosen.
    public static let bytes = 4 << 20

    /// The variables to set before `MPI_Init`, given the environment `mpirun` started this
    /// rank with: none on one host, when the sizes are unknown, or when the user set either.
    public static func settings(environment: [String: String]) -> [(name: String, value: String)] {
        guard variables.allSatisfy({ environment[$0] == nil }),
              let size = environment["OMPI_COMM_WORLD_SIZE"].flatMap({ Int($0) }),
              let local = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap({ Int($0) }), local < size
        else { return [] }
        return variables.map { ($0, String(bytes)) }
    }

    /// Sets the variables for this process (before `MPI_Init`) unless the user chose; returns what it set.
    static func applyDefault() -> [(name: String, value: String)] {
        let chosen = settings(environment: ProcessInfo.processInfo.environment)
        for (name, value) in chosen { setenv(name, value, 0) }
        return chosen
    }
}
