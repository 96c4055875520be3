import Datasets

/// One rank's view of the data: its training shard (global ids kept), its block of the
/// test split, and the normalization computed from the WHOLE training split so that
/// every rank (and a single-process run) normalizes identically.
public struct ShardedData: Sendable {
    public let train: Dataset
    public let test: Dataset
    public let normalization: Normalization
    /// Instances in the whole training split, over all ranks.
    public let globalTrainCount: Int
    public let globalTestCount: Int

    public init(splits: DatasetSplits, rank: Int, ranks: Int, strategy: ShardStrategy) {
        let full = splits.train
        normalization = Normalization(computedFrom: full)
        let owners = Sharding.owners(of: full, ranks: ranks, strategy: strategy)
        let mine = (0..<full.count).filter { owners[$0] == Int32(rank) }
        train = ranks == 1 ? full : full.subset(mine)
        let block = Sharding.block(count: splits.test.count, rank: rank, ranks: ranks)
        test = ranks == 1 ? splits.test : splits.test.subset(Array(block))
        globalTrainCount = full.count
        globalTestCount = splits.test.count
    }
}
