/// A deterministic plan that moves the fewest instances needed to bring every rank's
/// count within one of the mean.
///
/// Targets: floor(T / R) for every rank, plus one for the T mod R ranks that hold the
/// most now (ties to the lower rank), which is what minimizes the number moved. Ranks
/// above their target send the surplus, ranks below receive, matched in rank order.
/// Total moved = sum of surpluses, the least any plan reaching those bounds can move.
public struct RebalancePlan: Equatable, Sendable {
    /// `count` instances go from rank `from` to rank `to`.
    public struct Move: Equatable, Sendable, CustomStringConvertible {
        public let from: Int
        public let to: Int
        public let count: Int
        public var description: String { "\(from)->\(to): \(count)" }
        public init(from: Int, to: Int, count: Int) {
            self.from = from
            self.to = to
            self.count = count
        }
    }

    public let counts: [Int]
    public let targets: [Int]
    public let moves: [Move]

    public var moved: Int { moves.reduce(0) { $0 + $1.count } }
    public var isEmpty: Bool { moves.isEmpty }

    /// max / mean of `counts` (1 when balanced or empty).
    public static func imbalance(_ counts: [Int]) -> Double {
        let total = counts.reduce(0, +)
        guard total > 0, !counts.isEmpty else { return 1 }
        return Double(counts.max()!) * Double(counts.count) / Double(total)
    }

    public init(counts: [Int]) {
        precondition(!counts.isEmpty && counts.allSatisfy { $0 >= 0 })
        self.counts = counts
        let ranks = counts.count, total = counts.reduce(0, +)
        var targets = [Int](repeating: total / ranks, count: ranks)
        let extra = total % ranks
        let byCount = (0..<ranks).sorted { counts[$0] != counts[$1] ? counts[$0] > counts[$1] : $0 < $1 }
        for rank in byCount.prefix(extra) { targets[rank] += 1 }
        self.targets = targets
        var senders = (0..<ranks).filter { counts[$0] > targets[$0] }.map { ($0, counts[$0] - targets[$0]) }
        var receivers = (0..<ranks).filter { counts[$0] < targets[$0] }.map { ($0, targets[$0] - counts[$0]) }
        var moves: [Move] = []
        var s = 0, r = 0
        while s < senders.count && r < receivers.count {
            let amount = min(senders[s].1, receivers[r].1)
            moves.append(Move(from: senders[s].0, to: receivers[r].0, count: amount))
            senders[s].1 -= amount
            receivers[r].1 -= amount
            if senders[s].1 == 0 { s += 1 }
            if receivers[r].1 == 0 { r += 1 }
        }
        self.moves = moves
    }
}

/// What one rebalance moves: the next epoch's work, in two pools, each balanced by its own
/// `RebalancePlan` when its max/mean exceeds 1 + tolerance: the unmastered instances (each
/// trained: a forward and a backward pass) and the mastered instances due for a probe (a
/// forward pass, about a third of the cost). Mastered instances between probes cost nothing
/// next epoch and are not counted or moved. With both pools even to within one instance,
/// every rank's work, trained + cost x probes, is within 1 + cost of the mean whatever the
/// cost; counting all mastered instances instead (as before the probe schedule) would even
/// out instances that are not probed and leave the probes uneven.
public struct WorkloadPlan: Equatable, Sendable {
    /// The cost of a probe in units of a trained instance (forward vs forward + backward).
    public static let probeCost = 1.0 / 3.0

    public let training: RebalancePlan?
    public let probes: RebalancePlan?

    public init(unmastered: [Int], probesDue: [Int], tolerance: Double) {
        precondition(unmastered.count == probesDue.count)
        let limit = 1 + tolerance
        training = RebalancePlan.imbalance(unmastered) > limit ? RebalancePlan(counts: unmastered) : nil
        probes = RebalancePlan.imbalance(probesDue) > limit ? RebalancePlan(counts: probesDue) : nil
    }

    /// Each rank's work in the next epoch after the plan, in trained-instance units.
    public func work(unmastered: [Int], probesDue: [Int]) -> [Double] {
        let trained = training?.targets ?? unmastered, probed = probes?.targets ?? probesDue
        return zip(trained, probed).map { Double($0) + WorkloadPlan.probeCost * Double($1) }
    }
}
