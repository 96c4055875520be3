import Foundation
import RunFormat
import NN
import TestSupport
import Training
import XCTest

/// The rebalancing planner (property-based over random counts) and rebalancing under mpirun.
final class RebalancePlanTests: XCTestCase {
    /// The least any plan can move to reach counts within one of the mean, by brute force
    /// over which ranks get the rounded-up target.
    private func bruteForceMinimum(_ counts: [Int]) -> Int {
        let ranks = counts.count, total = counts.reduce(0, +)
        let floor = total / ranks, extra = total % ranks
        var best = Int.max
        for mask in 0..<(1 << ranks) where mask.nonzeroBitCount == extra {
            var moved = 0
            for r in 0..<ranks { moved += max(0, counts[r] - (floor + ((mask >> r) & 1))) }
            best = min(best, moved)
        }
        return best
    }

    func testRandomCountsAreBalancedWithinOneWithTheFewestMoves() {
        var generator = SeededGenerator(seed: 2024)
        for case_ in 0..<600 {
            let ranks = 1 + generator.below(7)
            let scale = [3, 20, 1000, 60000][generator.below(4)]
            let counts = (0..<ranks).map { _ in generator.below(scale + 1) }
            let plan = RebalancePlan(counts: counts)
            // Applying the moves gives the targets, conserving the total.
            var after = counts
            for move in plan.moves {
                XCTAssertGreaterThan(move.count, 0)
                XCTAssertNotEqual(move.from, move.to)
                after[move.from] -= move.count
                after[move.to] += move.count
            }
            XCTAssertEqual(after, plan.targets, "case \(case_): \(counts)")
            XCTAssertEqual(after.reduce(0, +), counts.reduce(0, +))
            XCTAssertLessThanOrEqual(after.max()! - after.min()!, 1, "case \(case_): \(counts) -> \(after)")
            // No move that is not needed: senders only had a surplus, receivers a deficit,
            // nobody both sends and receives, and the total is the brute-force minimum.
            let senders = Set(plan.moves.map(\.from)), receivers = Set(plan.moves.map(\.to))
            XCTAssertTrue(senders.isDisjoint(with: receivers))
            for s in senders { XCTAssertGreaterThan(counts[s], plan.targets[s]) }
            for r in receivers { XCTAssertLessThan(counts[r], plan.targets[r]) }
            XCTAssertEqual(plan.moved, bruteForceMinimum(counts), "case \(case_): \(counts)")
            // Deterministic.
            XCTAssertEqual(RebalancePlan(counts: counts), plan)
        }
    }

    func testBalancedCountsNeedNoMoves() {
        XCTAssertTrue(RebalancePlan(counts: [5, 6, 5, 6]).isEmpty)
        XCTAssertTrue(RebalancePlan(counts: [0, 0, 0]).isEmpty)
        XCTAssertEqual(RebalancePlan(counts: [10, 0]).moves, [.init(from: 0, to: 1, count: 5)])
        XCTAssertEqual(RebalancePlan.imbalance([10, 0]), 2)
        XCTAssertEqual(RebalancePlan.imbalance([3, 3, 3]), 1)
    }
}

final class RebalanceTrainingTests: RunDirectoryTestCase {
    private let common = ["--model", "mlp", "--limit", "3000", "--threads", "1", "--no-progress", "--seed", "4",
                          "--shard-by", "class", "--ies-threshold", "0.05"]

    private func train(ranks: Int, _ arguments: [String], binary: String = BuiltProducts.ies) throws
        -> Subprocess.Result
    {
        let result = try Fixtures.mpirunIES(ranks: ranks, ["train"] + arguments, binary: binary)
        XCTAssertFalse(result.timedOut, "timed out: \(arguments) \(result.stderr)")
        return result
    }

    func testClassShardedRunsAreRebalancedWithinOneAndConserveInstances() throws {
        for ranks in [2, 4] {
            let run = try runDirectory()
            let result = try train(ranks: ranks, ["--run-dir", run, "--epochs", "9"] + common)
            XCTAssertEqual(result.status, 0, result.stderr)
            let metrics = try MetricsFile(path: run + "/metrics.jsonl").records
            var rebalanced = 0
            for m in metrics {
                XCTAssertEqual(m.trained + m.probed, 3000, "np \(ranks) epoch \(m.epoch)")
                XCTAssertTrue(m.parameterDigestAgree)
                let after = m.unmasteredPerRankAfter
                XCTAssertEqual(after.reduce(0, +), m.unmasteredPerRankBefore.reduce(0, +))
                if RebalancePlan.imbalance(m.unmasteredPerRankBefore) > 1.05 {
                    rebalanced += 1
                    XCTAssertGreaterThan(m.instancesMoved, 0)
                    XCTAssertLessThanOrEqual(after.max()! - after.min()!, 1, "np \(ranks) epoch \(m.epoch): \(after)")
                } else {
                    XCTAssertEqual(after, m.unmasteredPerRankBefore, "within tolerance: no unmastered moves")
                }
            }
            // Whole classes per rank (4 ranks: 3,3,2,2 classes) are uneven from the start.
            if ranks == 4 { XCTAssertGreaterThan(rebalanced, 0, "np 4 class sharding should rebalance") }
            // The next epoch trains exactly the rebalanced pools.
            for (m, next) in zip(metrics, metrics.dropFirst()) {
                XCTAssertEqual(next.trainedPerRank, m.unmasteredPerRankAfter, "np \(ranks) epoch \(next.epoch)")
            }
        }
    }

    func testRebalanceOffMovesNothing() throws {
        let run = try runDirectory()
        let result = try train(ranks: 4, ["--run-dir", run, "--epochs", "3", "--rebalance", "off"] + common)
        XCTAssertEqual(result.status, 0, result.stderr)
        let metrics = try MetricsFile(path: run + "/metrics.jsonl").records
        XCTAssertEqual(metrics.map(\.instancesMoved), [0, 0, 0])
        XCTAssertNotEqual(Set(metrics.last!.trainedPerRank).count, 1, "class shards stay uneven without rebalancing")
    }

    func testRebalanceCheckpointAndResumeOnADifferentRankCount() throws {
        let run = try runDirectory()
        var result = try train(ranks: 4, ["--run-dir", run, "--epochs", "7"] + common)
        XCTAssertEqual(result.status, 0, result.stderr)
        let before = try MetricsFile(path: run + "/metrics.jsonl").records
        XCTAssertGreaterThan(before.map(\.instancesMoved).reduce(0, +), 0)
        result = try train(ranks: 3, ["--run-dir", run, "--resume", "--epochs", "9", "--threads", "1", "--no-progress"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let metrics = try MetricsFile(path: run + "/metrics.jsonl").records
        XCTAssertEqual(metrics.map(\.epoch), Array(1...9))
        for m in metrics[7...] {
            XCTAssertEqual(m.worldSize, 3)
            XCTAssertEqual(m.trained + m.probed, 3000)
        }
    }

    /// The conservation check must stop a run that lost an instance.
    func testLostInstanceAbortsTheJob() throws {
        let run = try runDirectory()
        let result = try train(
            ranks: 2, ["--run-dir", run, "--epochs", "3", "--drop-instance-rank", "1", "--drop-instance-epoch", "2"] + common,
            binary: BuiltProducts.testbed)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("lost or duplicated"), result.stderr)
        let metrics = try MetricsFile(path: run + "/metrics.jsonl").records
        XCTAssertEqual(metrics.count, 1, "nothing is logged for the epoch whose check failed")
    }
}
