import ArgumentParser
import Datasets
import Distributed
import Foundation
import Training

/// `ies-testbed shard-read --data DIR`: loads the data as a training run does (`ShardedData`
/// from `DatasetSources.open`) and prints, per rank, one JSON line with the bytes its
/// sources read, for the tests of per-rank reading.
struct ShardRead: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shard-read", abstract: "Load a dataset sharded over the ranks and print the bytes each rank read.")

    @Option(help: "The dataset directory.")
    var data: String

    @Option(help: "Keep the first N training instances.")
    var limit: Int?

    func run() throws {
        let comm = try Communicator.world()
        let sources = try DatasetSources.open(directory: data, limit: limit)
        let shard = try ShardedData(sources: sources, communicator: comm, strategy: .contiguous)
        let line: [String: Any] = [
            "rank": comm.rank, "ranks": comm.size, "train_bytes_read": sources.train.bytesRead,
            "test_bytes_read": sources.test.bytesRead, "shard": shard.train.count, "test_block": shard.test.count,
            "train_count": shard.globalTrainCount, "test_count": shard.globalTestCount,
            "sample_size": shard.train.sampleSize, "label_records": sources.train.labelsPerRecord,
            "random_access": sources.train is RecordFileSource, "mean_bits": shard.normalization.mean.map(\.bitPattern),
            "std_bits": shard.normalization.std.map(\.bitPattern), "digest": String(shard.contentDigest, radix: 16),
        ]
        let json = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
        fflush(stdout)
        try comm.barrier()
        comm.finalize()
    }
}
