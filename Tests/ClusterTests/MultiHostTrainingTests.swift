import Foundation
import TestSupport
import XCTest

/// `ies train` across several hosts, simulated by network namespaces (`cluster-sim`):
/// every rank talks TCP to the others, as between machines. Compared with the same runs
/// over shared memory on one host.
final class MultiHostTrainingTests: ClusterTestCase {
    private let limit = 3000
    private let common = ["--model", "mlp", "--limit", "3000", "--threads", "1", "--no-progress", "--seed", "5"]
    /// IES settings that master instances from epoch 4 on (instead of 7 with the defaults),
    /// so that short runs carry real IES state through checkpoints and rebalancing.
    private let quickMastery = ["--ies-window", "1", "--ies-k", "1", "--ies-threshold", "0.02"]

    private func train(_ run: String, _ extra: [String]) -> [String] {
        ["train", "--run-dir", run] + common + extra
    }

    /// Checks a finished `ies train` and returns its metrics: it ended in time with status 0,
    /// has `epochs` epochs on `worldSizes` ranks (per epoch, or one for all), parameters
    /// agreed on every rank after every epoch, and every instance was trained or probed.
    @discardableResult
    private func assertCompleted(
        _ result: Subprocess.Result, _ run: String, epochs: Int, worldSizes: [Int],
        _ label: String, file: StaticString = #filePath, line: UInt = #line
    ) throws -> [[String: Any]] {
        XCTAssertFalse(result.timedOut, "\(label): timed out (hang?)\n\(result.output)", file: file, line: line)
        XCTAssertEqual(result.status, 0, "\(label): failed\n\(result.output)", file: file, line: line)
        let metrics = try Cluster.metrics(run)
        XCTAssertEqual(metrics.count, epochs, "\(label): epochs in metrics.jsonl", file: file, line: line)
        for (index, m) in metrics.enumerated() {
            let epoch = m["epoch"] as? Int ?? -1
            let expectedSize = worldSizes.count == 1 ? worldSizes[0] : worldSizes[index]
            XCTAssertEqual(m["world_size"] as? Int, expectedSize, "\(label) epoch \(epoch): world size", file: file, line: line)
            XCTAssertEqual(
                m["parameter_digest_agree"] as? Bool, true, "\(label) epoch \(epoch): parameters differ across ranks",
                file: file, line: line)
            let trained = m["trained"] as? Int ?? -1, probed = m["probed"] as? Int ?? -1
            XCTAssertEqual(trained + probed, limit, "\(label) epoch \(epoch): trained + probed", file: file, line: line)
            XCTAssertEqual(
                (m["trained_per_rank"] as? [Int] ?? []).reduce(0, +), trained, "\(label) epoch \(epoch): per-rank counts",
                file: file, line: line)
        }
        return metrics
    }

    private func model(_ run: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: run + "/model.safetensors"))
    }

    /// Two ranks: a sum of two terms does not depend on the order of its operands, so no
    /// transport or algorithm can change the result; the TCP run must equal shared memory.
    func testTwoHostsOneRankEachEqualSharedMemoryBitForBit() throws {
        let bed = try makeBed(hosts: 2)
        let overTCP = try runDirectory("tcp"), shared = try runDirectory("shm")
        let tcp = try bed.ies(ranks: 2, train(overTCP, ["--epochs", "3"]))
        try assertCompleted(tcp, overTCP, epochs: 3, worldSizes: [2], "2 hosts x 1 rank")
        let shm = try Cluster.sharedMemoryRun(ranks: 2, train(shared, ["--epochs", "3"]))
        try assertCompleted(shm, shared, epochs: 3, worldSizes: [2], "np 2 shared memory")
        XCTAssertEqual(try model(overTCP), try model(shared), "2 hosts x 1 rank (TCP) vs np 2 (shared memory)")
        // The defaults: MPI's buckets during backward across hosts; on one host, after backward,
        // the pair's own sums in shared memory (same result).
        XCTAssertTrue(tcp.output.contains("reduced during backward (ranks on several hosts)"), tcp.output)
        XCTAssertTrue(shm.output.contains("summed in shared memory after backward (2 ranks on one host)"), shm.output)
        // Across hosts, ies chose libnbc's algorithm and the TCP eager limit (TCPEagerLimit); on one host only the first.
        XCTAssertTrue(
            tcp.output.contains(
                "MPI: set by ies before MPI_Init: coll_libnbc_iallreduce_algorithm=4, btl_tcp_eager_limit=4194304, "
                    + "btl_tcp_max_send_size=4194304"), tcp.output)
        XCTAssertTrue(shm.output.contains("MPI: set by ies before MPI_Init: coll_libnbc_iallreduce_algorithm=1 ("), shm.output)
        print("cluster timing: 2 hosts x 1 rank \(String(format: "%.2f", tcp.seconds)) s, np 2 shared memory \(String(format: "%.2f", shm.seconds)) s")
    }

    /// Four ranks, two per host. Bit-identical to `-np 4` over shared memory, measured with
    /// OpenMPI 4.1: the summation order of MPI_Allreduce is fixed by the algorithm that
    /// coll/tuned picks from the communicator size and message size alone, not from the
    /// transport or from which ranks share a node. The node-aware components that would
    /// reduce within a host first (coll/han, coll/sm) have priority 0 by default; and `ies`
    /// shards by rank, not by host (the ranks per node only set the default thread count,
    /// fixed here by --threads 1). An MPI that enables a hierarchical allreduce by default
    /// would change the order of the float sums: then only digest agreement would hold.
    func testTwoHostsTwoRanksEachEqualSharedMemoryBitForBit() throws {
        let bed = try makeBed(hosts: 2, slots: 2)
        let overTCP = try runDirectory("tcp"), shared = try runDirectory("shm")
        let tcp = try bed.ies(ranks: 4, train(overTCP, ["--epochs", "3"]))
        let metrics = try assertCompleted(tcp, overTCP, epochs: 3, worldSizes: [4], "2 hosts x 2 ranks")
        XCTAssertEqual(metrics.last?["trained_per_rank"] as? [Int], [750, 750, 750, 750])
        let shm = try Cluster.sharedMemoryRun(ranks: 4, train(shared, ["--epochs", "3"]))
        try assertCompleted(shm, shared, epochs: 3, worldSizes: [4], "np 4 shared memory")
        XCTAssertEqual(try model(overTCP), try model(shared), "2 hosts x 2 ranks (TCP) vs np 4 (shared memory)")
        print("cluster timing: 2 hosts x 2 ranks \(String(format: "%.2f", tcp.seconds)) s, np 4 shared memory \(String(format: "%.2f", shm.seconds)) s")
    }

    /// A checkpoint written on two hosts resumes on one host and on three. Same world size
    /// (one host with two ranks): bit-identical to the uninterrupted run, as the design
    /// promises. Three ranks: a different world size re-shards the instances and changes the
    /// order of the gradient sums, so only completion, agreement and accuracy are promised.
    func testCheckpointFromTwoHostsResumesOnOneAndThreeHosts() throws {
        let twoHosts = try makeBed(hosts: 2)
        let oneHost = try makeBed(hosts: 1, slots: 2)
        let threeHosts = try makeBed(hosts: 3)

        let reference = try runDirectory("uninterrupted")
        let uninterrupted = try twoHosts.ies(ranks: 2, train(reference, ["--epochs", "4"] + quickMastery))
        let referenceMetrics = try assertCompleted(uninterrupted, reference, epochs: 4, worldSizes: [2], "uninterrupted")
        XCTAssertGreaterThan(
            referenceMetrics.last?["mastered"] as? Int ?? 0, 0, "IES state should matter across the resume")

        let sameSize = try runDirectory("resumed-on-1-host"), otherSize = try runDirectory("resumed-on-3-hosts")
        let first = try twoHosts.ies(ranks: 2, train(sameSize, ["--epochs", "2"] + quickMastery))
        try assertCompleted(first, sameSize, epochs: 2, worldSizes: [2], "first 2 epochs on 2 hosts")
        try FileManager.default.copyItem(atPath: sameSize, toPath: otherSize)

        let resume = ["train", "--resume", "--epochs", "4", "--threads", "1", "--no-progress", "--run-dir"]
        let onOne = try oneHost.ies(ranks: 2, resume + [sameSize])
        try assertCompleted(onOne, sameSize, epochs: 4, worldSizes: [2], "resumed on 1 host x 2 ranks")
        XCTAssertEqual(try model(sameSize), try model(reference), "same world size on another host count must be bit-identical")

        let onThree = try threeHosts.ies(ranks: 3, resume + [otherSize])
        let metrics = try assertCompleted(onThree, otherSize, epochs: 4, worldSizes: [2, 2, 3, 3], "resumed on 3 hosts")
        let accuracy = metrics.last?["test_accuracy"] as? Double ?? 0
        let referenceAccuracy = referenceMetrics.last?["test_accuracy"] as? Double ?? 0
        XCTAssertEqual(
            accuracy, referenceAccuracy, accuracy: 0.04,
            "resumed on 3 ranks: accuracy \(accuracy) vs \(referenceAccuracy) uninterrupted on 2")
    }

    /// Whole classes per rank and quick mastery: the two hosts' unmastered counts diverge,
    /// and rebalancing sends instances (data and IES history) from one host to the other
    /// over TCP. The trainer checks every epoch that each instance is owned exactly once,
    /// and stops the job if not, so completion means conservation held.
    func testRebalancingMovesInstancesBetweenHosts() throws {
        let bed = try makeBed(hosts: 2)
        let run = try runDirectory("class")
        let options = ["--epochs", "5", "--shard-by", "class"] + quickMastery
        let result = try bed.ies(ranks: 2, train(run, options))
        let metrics = try assertCompleted(result, run, epochs: 5, worldSizes: [2], "class sharding on 2 hosts")
        let moved = metrics.map { $0["instances_moved"] as? Int ?? 0 }
        XCTAssertGreaterThan(moved.max() ?? 0, 0, "no epoch moved instances between hosts: \(moved)")
        for (m, count) in zip(metrics, moved) where count > 0 {
            XCTAssertGreaterThan(m["bytes_moved"] as? Int ?? 0, 0, "epoch \(m["epoch"] ?? "?"): instances moved without bytes")
        }

        // Moving instances over TCP and over shared memory must end in the same model.
        let shared = try runDirectory("class-shm")
        let shm = try Cluster.sharedMemoryRun(ranks: 2, train(shared, options))
        let sharedMetrics = try assertCompleted(shm, shared, epochs: 5, worldSizes: [2], "class sharding, shared memory")
        XCTAssertEqual(sharedMetrics.map { $0["instances_moved"] as? Int ?? 0 }, moved)
        XCTAssertEqual(try model(run), try model(shared), "rebalanced run: TCP vs shared memory")
    }
}
