import Distributed
import Foundation

/// How many threads a rank takes by default: the CPUs it may run on (its affinity mask,
/// which `taskset`, Slurm's cpusets and `mpirun --bind-to` narrow; Foundation's
/// `activeProcessorCount` counts every online CPU instead), divided among the ranks of its
/// node that may run on the same CPUs. Unbound ranks share the node's CPUs; ranks bound to
/// a core or a socket each count their own.
public struct CoreShare: Equatable, Sendable {
    /// CPUs this rank may run on.
    public let cpus: Int
    /// The most ranks of this node that may run on one of those CPUs (this one included).
    public let sharing: Int
    /// Ranks on this rank's node (host), this one included.
    public let nodeRanks: Int

    /// The default thread count: this rank's share of its CPUs, at least 1.
    public var threads: Int { max(1, cpus / max(1, sharing)) }

    /// The share of the rank whose CPUs are `mine`, among the CPU lists of every rank of its
    /// node (`node`, `mine` among them).
    public init(mine: [Int], node: [[Int]]) {
        let sets = node.map(Set.init)
        cpus = max(1, mine.count)
        nodeRanks = max(1, node.count)
        sharing = max(1, mine.map { cpu in sets.filter { $0.contains(cpu) }.count }.max() ?? 1)
    }

    /// Whether `threads` per rank put more threads on these CPUs than there are.
    public func oversubscribed(threads: Int) -> Bool { threads * sharing > cpus }

    /// The CPUs of `Cpus_allowed_list` in a /proc/<pid>/status text ("0-3,8,10-11"); nil
    /// when missing or malformed.
    public static func allowedCPUs(status: String) -> [Int]? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else {
            return nil
        }
        var cpus: [Int] = []
        for part in line.dropFirst("Cpus_allowed_list:".count).split(separator: ",") {
            let bounds = part.trimmingCharacters(in: .whitespaces).split(separator: "-").map { Int($0) }
            guard let low = bounds.first ?? nil, let high = bounds.last ?? nil, bounds.count <= 2, low <= high,
                  high - low < 1 << 16
            else { return nil }
            cpus += Array(low...high)
        }
        return cpus.isEmpty ? nil : cpus
    }

    /// This process's CPUs: its affinity mask on Linux, else every active CPU.
    public static var currentCPUs: [Int] {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        return allowedCPUs(status: status) ?? Array(0..<ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Every rank's share, from one allgather of (host, CPU list): a collective, called by
    /// every rank at the same point.
    public static func gather(on communicator: Communicator) throws -> CoreShare {
        var host = FNV1a()
        communicator.processorName.utf8.forEach { host.mix(UInt64($0)) }
        let mine = currentCPUs
        let all = try communicator.allgathered([Int64(bitPattern: host.value)] + mine.map(Int64.init))
        let node = all.filter { $0.first == Int64(bitPattern: host.value) }.map { $0.dropFirst().map(Int.init) }
        return CoreShare(mine: mine, node: node)
    }
}
