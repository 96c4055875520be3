import Distributed

/// What one rank did in an epoch, gathered from every rank with ONE allreduce after the
/// mastery decision: each rank fills its own row of a zeroed table, so the sum is the table.
struct RankStatistics: Equatable {
    /// Instances backpropagated, and mastered ones probed, this epoch.
    var trained = 0
    var probed = 0
    /// Instances held after the decision (before rebalancing) and how many are mastered.
    var instances = 0
    var mastered = 0
    /// Mastered instances due for a probe in the next epoch (all of them with `ProbeSchedule.every`).
    var probesDue = 0
    /// Instances that were mastered and now are not.
    var returned = 0
    /// Digest of the model's parameters and buffers after the epoch's last step.
    var digest: UInt64 = 0
    /// Time in the per-step gradient allreduce (mostly waiting for slower ranks).
    var allreduceSeconds = 0.0
    /// Mastered instances by class (index = label).
    var masteredPerClass: [Int] = []

    var unmastered: Int { instances - mastered }

    /// The row of the table: the scalars, then the class counts.
    private func encoded(classes: Int) -> [Int64] {
        precondition(masteredPerClass.count == classes)
        return [
            Int64(trained), Int64(probed), Int64(instances), Int64(mastered), Int64(returned),
            Int64(bitPattern: digest), Int64((allreduceSeconds * 1e6).rounded()), Int64(probesDue),
        ] + masteredPerClass.map(Int64.init)
    }

    private init(decoding row: ArraySlice<Int64>) {
        let r = Array(row)
        trained = Int(r[0]); probed = Int(r[1]); instances = Int(r[2]); mastered = Int(r[3]); returned = Int(r[4])
        digest = UInt64(bitPattern: r[5])
        allreduceSeconds = Double(r[6]) / 1e6
        probesDue = Int(r[7])
        masteredPerClass = r[8...].map(Int.init)
    }

    init() {}

    private static let scalars = 8

    /// Every rank's statistics, indexed by rank (a collective: all ranks call it).
    static func gather(_ mine: RankStatistics, classes: Int, communicator: Communicator) throws -> [RankStatistics] {
        let width = scalars + classes, size = communicator.size
        var table = [Int64](repeating: 0, count: width * size)
        table.replaceSubrange((communicator.rank * width)..<((communicator.rank + 1) * width), with: mine.encoded(classes: classes))
        try communicator.allreduce(&table, .sum)
        return (0..<size).map { RankStatistics(decoding: table[($0 * width)..<(($0 + 1) * width)]) }
    }
}
