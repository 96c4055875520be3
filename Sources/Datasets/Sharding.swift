/// How training instances are split across ranks.
public enum ShardStrategy: String, Sendable, Codable, CaseIterable {
    /// Contiguous blocks of global ids: rank r owns [r N / R, (r + 1) N / R).
    case contiguous
    /// Whole classes per rank: class c goes to rank c mod R (for skew experiments).
    case `class`
}

/// Assignment of instances to ranks. Pure and deterministic: every rank computes
/// the same plan from the same data, so no communication is needed to agree on it.
public enum Sharding {
    /// The owner rank of each instance of `dataset` (by slot).
    public static func owners(of dataset: Dataset, ranks: Int, strategy: ShardStrategy) -> [Int32] {
        owners(labels: dataset.labels, ranks: ranks, strategy: strategy)
    }

    /// The owner rank of each instance of a split with these `labels` (by id).
    public static func owners(labels: [Int32], ranks: Int, strategy: ShardStrategy) -> [Int32] {
        precondition(ranks > 0)
        let n = labels.count
        switch strategy {
        case .contiguous:
            var owners = [Int32](repeating: 0, count: n)
            for rank in 0..<ranks {
                for i in block(count: n, rank: rank, ranks: ranks) { owners[i] = Int32(rank) }
            }
            return owners
        case .class:
            return labels.map { Int32(Int($0) % ranks) }
        }
    }

    /// Positions [rank N / R, (rank + 1) N / R): the contiguous block of `rank`.
    public static func block(count: Int, rank: Int, ranks: Int) -> Range<Int> {
        (count * rank / ranks)..<(count * (rank + 1) / ranks)
    }
}
