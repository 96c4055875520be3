import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Which algorithm OpenMPI's non-blocking collectives (coll/libnbc) use for the gradient
/// buckets' `MPI_Iallreduce`. Left to itself, libnbc picks its binomial tree for every
/// in-place call (ours are): reduce to rank 0, then broadcast back, so the whole buffer
/// crosses each link twice, one direction at a time. Over 1 Gbit/s between 2 hosts that
/// doubled the transfer of the cnn's gradients, so overlap could hide none of it (BENCHMARKS.md,
/// "Allreduce algorithm of the buckets"). With 2 ranks on 2 hosts recursive doubling
/// exchanges the buffers once, both directions at once; otherwise the ring sends 2(p-1)/p
/// of it. On one host the ring also wins with 2 ranks: each rank adds half of the buffer
/// (reduce-scatter) and copies the other half in (allgather) instead of copying and adding
/// all of it, 0.16 against 0.28-0.31 ms for the cnn's 1.7 MB (BENCHMARKS.md, "Overlap
/// after backward on one host").
///
/// Every algorithm sums each element in one fixed order for a given rank count, and every
/// rank ends with the same bits (with 2 ranks each element is one addition, a0 + a1, so
/// the buckets still equal one blocking allreduce of the whole buffer bit for bit).
public enum NonblockingAllreduceAlgorithm {
    /// The OpenMPI parameter, as an environment variable read by `MPI_Init`.
    public static let variable = "OMPI_MCA_coll_libnbc_iallreduce_algorithm"

    /// libnbc's value for `ranks` ranks, `local` of them on this rank's host: "4"
    /// (recursive doubling) for 2 ranks on 2 hosts, "1" (ring) otherwise, nil for one rank.
    public static func value(ranks: Int, local: Int) -> String? {
        switch ranks {
        case ...1: return nil
        case 2 where local < 2: return "4"
        default: return "1"
        }
    }

    /// The variable to set before `MPI_Init`, given the environment `mpirun` started this
    /// rank with: nil when the user chose an algorithm (`--mca
    /// coll_libnbc_iallreduce_algorithm`, or the variable) or the size is unknown.
    public static func setting(environment: [String: String]) -> (name: String, value: String)? {
        guard environment[variable] == nil, let size = environment["OMPI_COMM_WORLD_SIZE"].flatMap({ Int($0) }),
              let value = value(ranks: size, local: environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) } ?? 1)
        else { return nil }
        return (variable, value)
    }

    /// Sets the variable for this process (before `MPI_Init`) unless the user chose; returns what it set.
    static func applyDefault() -> [(name: String, value: String)] {
        guard let (name, value) = setting(environment: ProcessInfo.processInfo.environment) else { return [] }
        setenv(name, value, 0)
        return [(name, value)]
    }
}
