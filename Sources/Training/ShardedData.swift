import Datasets

/// One rank's view of the data: its training shard (global ids kept), its block of the
/// test split, and the normalization computed from the WHOLE training split so that
/// every rank (and a single-process run) normalizes identically.
public struct ShardedData: Sendable {
    /// This rank's training instances; rebalancing moves instances in and out.
    public internal(set) var train: Dataset
    public let test: Dataset
    public let normalization: Normalization
    /// Instances in the whole training split, over all ranks.
    public let globalTrainCount: Int
    public let globalTestCount: Int
    /// Count, sum and xor of all training ids, for the conservation check.
    public let globalIDTotals: IDTotals
    /// Training instances of each class over the whole split (index = label).
    public let instancesPerClass: [Int]

    /// `owners` (owner rank by global id) overrides the plan of `strategy` (a resumed run
    /// keeps its checkpoint's owner table).
    public init(splits: DatasetSplits, rank: Int, ranks: Int, strategy: ShardStrategy, owners: [Int32]? = nil) {
        let full = splits.train
        normalization = Normalization(computedFrom: full)
        let owners = owners ?? Sharding.owners(of: full, ranks: ranks, strategy: strategy)
        let mine = (0..<full.count).filter { owners[$0] == Int32(rank) }
        train = ranks == 1 ? full : full.subset(slots: mine)
        let block = Sharding.block(count: splits.test.count, rank: rank, ranks: ranks)
        test = ranks == 1 ? splits.test : splits.test.subset(slots: Array(block))
        globalTrainCount = full.count
        globalIDTotals = IDTotals(ids: full.ids)
        var perClass = [Int](repeating: 0, count: full.classCount)
        for label in full.labels { perClass[Int(label)] += 1 }
        instancesPerClass = perClass
        globalTestCount = splits.test.count
    }
}
