import Foundation
import RunFormat
import Training
import XCTest

/// Data-parallel training under `mpirun`: invariants across ranks, no hangs, determinism.
/// Every run has a deadline: a hang fails the test.
final class DistributedTrainingTests: RunDirectoryTestCase {
    private func trainArguments(_ run: String, _ extra: [String]) -> [String] {
        ["train", "--run-dir", run, "--threads", "1", "--no-progress", "--seed", "5"] + extra
    }

    /// Runs `ies train` under mpirun (or alone when `ranks` is nil) and returns its metrics.
    @discardableResult
    private func train(ranks: Int?, _ extra: [String], run: String? = nil) throws -> (String, [EpochMetrics]) {
        let run = try run ?? runDirectory()
        let result = try ranks.map { try Fixtures.mpirunIES(ranks: $0, trainArguments(run, extra)) }
            ?? Fixtures.runIES(trainArguments(run, extra))
        XCTAssertFalse(result.timedOut, "ies train timed out (hang?) with \(ranks ?? 0) ranks: \(result.stderr)")
        XCTAssertEqual(result.status, 0, "ies train failed with \(ranks ?? 0) ranks: \(result.stderr)")
        let metrics = try MetricsFile(path: run + "/metrics.jsonl").records
        return (run, metrics)
    }

    private func modelBytes(_ run: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: run + "/model.safetensors"))
    }

    func testOneTwoAndFourRanksKeepParametersIdenticalAndMatchSingleProcessAccuracy() throws {
        // A cosine schedule ends with a small learning rate, so the final accuracy is a
        // stable measurement rather than one noisy SGD iterate.
        let common = ["--model", "mlp", "--limit", "4000", "--epochs", "4", "--lr", "0.05", "--lr-schedule", "cosine"]
        let (_, single) = try train(ranks: nil, common)
        for ranks in [1, 2, 4] {
            let (_, metrics) = try train(ranks: ranks, common)
            XCTAssertEqual(metrics.count, 4)
            for m in metrics {
                XCTAssertEqual(m.worldSize, ranks)
                XCTAssertTrue(m.parameterDigestAgree, "np \(ranks) epoch \(m.epoch): parameters differ across ranks")
                XCTAssertEqual(m.trainedPerRank.count, ranks)
                XCTAssertEqual(m.trainedPerRank.reduce(0, +), 4000)
            }
            XCTAssertEqual(
                metrics.last!.testAccuracy, single.last!.testAccuracy, accuracy: 0.015,
                "np \(ranks) accuracy \(metrics.last!.testAccuracy) vs single process \(single.last!.testAccuracy)")
        }
    }

    func testSingletonRunEqualsMpirunWithOneRankBitForBit() throws {
        let common = ["--model", "cnn", "--limit", "600", "--epochs", "2"]
        let (alone, _) = try train(ranks: nil, common)
        let (underMPI, _) = try train(ranks: 1, common)
        XCTAssertEqual(try modelBytes(alone), try modelBytes(underMPI))
    }

    func testSameSeedAndWorldSizeGiveBitIdenticalModels() throws {
        let common = ["--model", "mlp", "--limit", "2000", "--epochs", "2"]
        let (first, _) = try train(ranks: 2, common)
        let (second, _) = try train(ranks: 2, common)
        XCTAssertEqual(try modelBytes(first), try modelBytes(second))
        let (otherSeed, _) = try train(ranks: 2, common + ["--seed", "6"])
        XCTAssertNotEqual(try modelBytes(first), try modelBytes(otherSeed))
    }

    /// Whole classes per rank and a high threshold: very uneven pools. No hang, and every
    /// instance is trained or probed exactly once per epoch.
    func testUnevenPoolsFromClassShardingAndHighThresholdDoNotHang() throws {
        let (_, metrics) = try train(
            ranks: 4, ["--model", "mlp", "--limit", "3000", "--epochs", "8", "--shard-by", "class",
                       "--ies-threshold", "0.05", "--rebalance", "off"])
        XCTAssertEqual(metrics.count, 8)
        for m in metrics {
            XCTAssertEqual(m.trained + m.probed, 3000, "epoch \(m.epoch): counts must add up to N")
            XCTAssertTrue(m.parameterDigestAgree)
        }
        XCTAssertGreaterThan(metrics.last!.mastered, 0)
        let perRank = metrics.last!.trainedPerRank
        XCTAssertNotEqual(perRank.min(), perRank.max(), "class sharding with IES should leave ranks uneven: \(perRank)")
    }

    /// Everything mastered: later epochs only probe (zero steps), on every rank.
    func testEpochsWithEveryInstanceMasteredOnlyProbe() throws {
        let (_, metrics) = try train(
            ranks: 2, ["--model", "mlp", "--limit", "500", "--epochs", "8", "--ies-threshold", "1e9"])
        XCTAssertEqual(metrics[5].mastered, 500, "a huge threshold masters everything at epoch 6")
        for m in metrics[6...] {
            XCTAssertEqual(m.trained, 0)
            XCTAssertEqual(m.probed, 500)
            XCTAssertEqual(m.steps, 0)
        }
    }

    /// More ranks than batches: 100 instances, batch 64, 4 ranks.
    func testMoreRanksThanBatches() throws {
        let (_, metrics) = try train(ranks: 4, ["--model", "mlp", "--limit", "100", "--epochs", "2"])
        for m in metrics {
            XCTAssertEqual(m.trained, 100)
            XCTAssertEqual(m.trainedPerRank, [25, 25, 25, 25])
            XCTAssertTrue(m.parameterDigestAgree)
        }
    }
}
