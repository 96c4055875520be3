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
