import Datasets
import Distributed
import RunFormat

/// One rank's view of the data: its training shard (global ids kept), its block of the
/// test split, and what needs the WHOLE training split (normalization, class counts, the
/// content digest), obtained by collectives so that every rank (and a single-process run)
/// has the same values without reading more than its shard.
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
    /// The wrapping sum over all training instances of `DatasetFingerprint.instanceHash`:
    /// the same for any number of ranks and any sharding.
    public let contentDigest: UInt64
    /// A digest of a few instances (the first `spotCheckCount` and the last) that this rank
    /// read from ITS OWN copy of the files: `contentDigest` is agreed by an allreduce, so it
    /// cannot show that a rank's files differ; this spot check (`RankAgreement`) can.
    public let localSpotDigest: UInt64
    /// Instances at the start of the split in `localSpotDigest`.
    public static let spotCheckCount = 16

    /// Reads this rank's shard of `sources.train` and its block of `sources.test`; every rank
    /// of `communicator` calls it together. `owners` (owner rank by global id) overrides the
    /// plan of `strategy` (a resumed run keeps its checkpoint's owner table).
    ///
    /// 1. The labels of the whole split: each rank reads those of its contiguous block, an
    ///    allgather assembles them, every rank checks them alike (a bad label fails all).
    /// 2. The owners (`Sharding.owners` or `owners`); this rank reads its instances' images,
    ///    counting their byte histograms and hashing them as each run is copied (one pass).
    /// 3. Normalization from the allreduced per-channel byte histograms (exact integers, so
    ///    the same bits for any number of ranks); the digest from an allreduced wrapping sum.
    public init(
        sources: DatasetSources, communicator: Communicator, strategy: ShardStrategy, owners: [Int32]? = nil
    ) throws {
        let rank = communicator.rank, ranks = communicator.size
        let source = sources.train
        let n = source.count
        let labels = try ShardedData.gatheredLabels(of: source, communicator: communicator)
        let owners = owners ?? Sharding.owners(labels: labels, ranks: ranks, strategy: strategy)
        precondition(owners.count == n, "ShardedData: an owner table of \(owners.count) for \(n) instances")
        let mine = (0..<n).filter { owners[$0] == Int32(rank) }
        // One pass over the shard: each run of instances is copied out of the mapped file,
        // then counted for the normalization and hashed for the digest while in cache.
        let (ids, myLabels) = (mine.map { Int32($0) }, mine.map { labels[$0] })
        var counter = Normalization.HistogramCounter(channels: source.channels, plane: source.height * source.width)
        var digest: UInt64 = 0
        train = try source.dataset(ids: mine, labels: myLabels) { slots, images in
            counter.count(images)
            digest &+= DatasetFingerprint.contentDigest(images: images, ids: ids[slots], labels: myLabels[slots])
        }

        let testLabels = try ShardedData.gatheredLabels(of: sources.test, communicator: communicator)
        let block = Array(Sharding.block(count: sources.test.count, rank: rank, ranks: ranks))
        test = try sources.test.dataset(ids: block, labels: block.map { testLabels[$0] })

        var histograms = counter.histograms
        if ranks > 1 { try communicator.allreduce(&histograms, .sum) }
        normalization = Normalization(histograms: histograms, channels: source.channels)
        if ranks > 1 { digest = try communicator.allreduced(digest, .sum) }
        contentDigest = digest
        localSpotDigest = try ShardedData.spotDigest(of: source)

        globalTrainCount = n
        globalTestCount = sources.test.count
        globalIDTotals = IDTotals(idsBelow: n)
        var perClass = [Int](repeating: 0, count: source.classCount)
        for label in labels { perClass[Int(label)] += 1 }
        instancesPerClass = perClass
    }

    /// The sum of `DatasetFingerprint.instanceHash` over a few instances read from `source`
    /// here (their raw label records, unchecked, stand in for the labels).
    private static func spotDigest(of source: SplitSource) throws -> UInt64 {
        let n = source.count
        let ids = Array(Set(Array(0..<min(spotCheckCount, n)) + (n > 0 ? [n - 1] : []))).sorted()
        var records: [Int32] = []
        for id in ids { records += try source.labelRecords(id..<(id + 1)) }
        let sample = try source.dataset(
            ids: ids, labels: (0..<ids.count).map { records[$0 * source.labelsPerRecord + source.labelsPerRecord - 1] })
        return DatasetFingerprint.contentDigest(of: sample)
    }

    /// The checked labels of the whole split of `source`, each rank reading its contiguous block.
    private static func gatheredLabels(of source: SplitSource, communicator: Communicator) throws -> [Int32] {
        let block = Sharding.block(count: source.count, rank: communicator.rank, ranks: communicator.size)
        let mine = try source.labelRecords(block)
        let all = communicator.size == 1 ? mine : try communicator.allgathered(mine).flatMap { $0 }
        return try source.checkedLabels(all)
    }
}
