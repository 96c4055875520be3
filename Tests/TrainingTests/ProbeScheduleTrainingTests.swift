import Datasets
import Distributed
import Foundation
import Mastery
import NN
import RunFormat
import TestSupport
import Training
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The spaced probe schedule in whole runs: deterministic on 1, 2 and 3 ranks, exact resume
/// in the middle of it (also from a mid-epoch preemption checkpoint), probes actually skipped.
final class ProbeScheduleTrainingTests: RunDirectoryTestCase {
    /// Window 1 and k 1 master instances from epoch 4 on, so that by epoch 7 the schedule is
    /// in full swing (instances between probes, intervals of 2 and 4).
    private let common = [
        "--model", "mlp", "--limit", "1500", "--threads", "1", "--no-progress", "--seed", "4",
        "--ies-threshold", "0.05", "--ies-window", "1", "--ies-k", "1", "--probe", "spaced:4", "--checkpoint-every", "1",
    ]

    @discardableResult
    private func ies(ranks: Int?, _ arguments: [String], timeout: Double = 120) throws -> Subprocess.Result {
        let result = try ranks.map { try Fixtures.mpirunIES(ranks: $0, arguments) }
            ?? Fixtures.runIES(arguments, timeout: timeout)
        XCTAssertFalse(result.timedOut, "timed out: \(arguments) \(result.stderr)")
        XCTAssertEqual(result.status, 0, "\(arguments): \(result.stderr)")
        return result
    }

    private func model(_ run: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: run + "/model.safetensors")) }
    private func metrics(_ run: String) throws -> [EpochMetrics] { try MetricsFile(path: run + "/metrics.jsonl").records }

    /// Mastered instances left out of an epoch's probe: those mastered after the epoch before,
    /// less those probed.
    private func skippedProbes(_ metrics: [EpochMetrics]) -> Int {
        zip(metrics.dropLast(), metrics.dropFirst()).map { $0.mastered - $1.probed }.reduce(0, +)
    }

    func testSpacedScheduleIsDeterministicOnOneTwoAndThreeRanks() throws {
        for ranks in [1, 2, 3] {
            let first = try runDirectory(), second = try runDirectory()
            try ies(ranks: ranks, ["train", "--epochs", "10", "--run-dir", first] + common)
            try ies(ranks: ranks, ["train", "--epochs", "10", "--run-dir", second] + common)
            XCTAssertEqual(try model(first), try model(second), "np \(ranks): two runs differ")
            let a = try metrics(first), b = try metrics(second)
            XCTAssertEqual(a.map(\.probed), b.map(\.probed), "np \(ranks)")
            XCTAssertEqual(a.map(\.mastered), b.map(\.mastered), "np \(ranks)")
            XCTAssertTrue(a.allSatisfy(\.parameterDigestAgree), "np \(ranks): ranks' parameters differ")
            XCTAssertGreaterThan(skippedProbes(a), 500, "np \(ranks): the schedule should skip probes: \(a.map(\.probed))")
            XCTAssertGreaterThan(a.map(\.returned).reduce(0, +), 0, "np \(ranks): some instances should return")
        }
    }

    /// `every` (the default) probes every mastered instance every epoch, as before.
    func testEveryProbesAllMasteredInstances() throws {
        let run = try runDirectory()
        let every = common.map { $0 == "spaced:4" ? "every" : $0 }
        try ies(ranks: nil, ["train", "--epochs", "8", "--run-dir", run] + every)
        let m = try metrics(run)
        XCTAssertEqual(skippedProbes(m), 0)
        XCTAssertGreaterThan(m.last!.probed, 0)
    }

    /// Straight vs stopped after epoch 7 and resumed (on 2 ranks, and on 3 ranks from a
    /// 2-rank checkpoint): the checkpoint holds instances between probes, and the resumed
    /// run gives the uninterrupted model bit for bit.
    func testExactResumeInTheMiddleOfASpacedSchedule() throws {
        let straight = try runDirectory(), resumed = try runDirectory()
        try ies(ranks: 2, ["train", "--epochs", "11", "--run-dir", straight] + common)
        try ies(ranks: 2, ["train", "--epochs", "7", "--run-dir", resumed] + common)
        let checkpoint = try LoadedCheckpoint(directory: resumed + "/checkpoints/" + CheckpointStore.name(epoch: 7))
        let state = try Trainer.trackerState(of: checkpoint, rule: checkpoint.meta.config.mastery)
        XCTAssertEqual(checkpoint.meta.config.probe, .spaced(maxInterval: 4))
        XCTAssertTrue(state.epochsSinceLoss.contains { $0 > 0 }, "no instance between probes at epoch 7")
        XCTAssertTrue(state.probeInterval.contains { $0 > 2 }, "no interval beyond 2 at epoch 7")
        // A fork on another rank count (first: the resume below prunes epoch 7): no
        // bit-for-bit promise there, but the schedule's state travels and probes stay spaced.
        let forked = try runDirectory()
        try ies(ranks: 3, ["train", "--resume", resumed + "/checkpoints/" + CheckpointStore.name(epoch: 7),
                           "--run-dir", forked, "--epochs", "9", "--no-progress", "--threads", "1"])
        XCTAssertLessThan(try metrics(forked).last!.probed, try metrics(forked).dropLast().last!.mastered)
        try ies(ranks: 2, ["train", "--run-dir", resumed, "--resume", "--epochs", "11", "--no-progress", "--threads", "1"])
        XCTAssertEqual(try model(straight), try model(resumed), "resumed spaced run differs")
        XCTAssertEqual(try metrics(straight).map(\.probed), try metrics(resumed).map(\.probed))
    }

    /// SIGTERM in the middle of epoch 7's training pass: a mid-epoch checkpoint, and
    /// `--resume auto` gives the uninterrupted model bit for bit.
    func testMidEpochPreemptionInASpacedScheduleResumesExactly() throws {
        let large = common.map { $0 == "1500" ? "20000" : $0 }
        let straight = try runDirectory(), run = try runDirectory()
        try ies(ranks: nil, ["train", "--epochs", "8", "--run-dir", straight] + large, timeout: 300)
        let process = try Subprocess(
            BuiltProducts.ies, ["train", "--epochs", "8", "--run-dir", run] + large, environment: MPIRun.environment)
        process.waitForOutput("epoch 6/8", seconds: 240)  // epoch 7 trains from the moment this line shows
        kill(process.pid, SIGTERM)
        let end = process.wait(timeout: 120)
        XCTAssertEqual(end.status, ExitStatus.preempted.rawValue, "\(end.stdout)\n\(end.stderr)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints")) ?? []
        XCTAssertTrue(names.contains { $0.contains(".step-") }, "no mid-epoch checkpoint: \(names)")
        try ies(ranks: nil, ["train", "--run-dir", run, "--resume", "auto", "--epochs", "8"] + large, timeout: 300)
        XCTAssertEqual(try model(run), try model(straight), "the run resumed mid-epoch differs")
    }

    func testBadProbeValuesAndChangesOnResumeAreRefusedNamingTheFlag() throws {
        for value in ["sometimes", "spaced:1", "spaced:100", "every:3"] {
            let result = try Fixtures.runIES(["train", "--probe", value, "--run-dir", try runDirectory()])
            XCTAssertEqual(result.reason, .exit)
            XCTAssertNotEqual(result.status, 0, value)
            XCTAssertTrue(result.stderr.contains("--probe") && result.stderr.contains(value), result.stderr)
        }
        let run = try runDirectory()
        try ies(ranks: nil, ["train", "--epochs", "1", "--run-dir", run] + common)
        let changed = try Fixtures.runIES(["train", "--run-dir", run, "--resume", "--epochs", "2", "--probe", "every"])
        XCTAssertNotEqual(changed.status, 0)
        XCTAssertTrue(changed.stderr.contains("--probe"), changed.stderr)
    }
}

/// The rebalancing plan weighs the next epoch's real work: trained instances and the probes
/// actually scheduled, not mastered instances that wait for a later probe.
final class WorkloadPlanTests: XCTestCase {
    func testProbesDueAreBalancedAndWaitingInstancesIgnored() {
        // Rank 1 holds all probes due next epoch; ranks 1 and 2 hold equally many mastered
        // instances, which a plan over mastered counts would call balanced between them.
        let unmastered = [300, 300, 300], probesDue = [0, 900, 0]
        let plan = WorkloadPlan(unmastered: unmastered, probesDue: probesDue, tolerance: 0.1)
        XCTAssertNil(plan.training)
        XCTAssertEqual(plan.probes?.targets, [300, 300, 300])
        XCTAssertEqual(plan.probes?.moved, 600)
        let work = plan.work(unmastered: unmastered, probesDue: probesDue)
        XCTAssertEqual(work, [400, 400, 400])
        let before = zip(unmastered, probesDue).map { Double($0) + WorkloadPlan.probeCost * Double($1) }
        XCTAssertEqual(before.max()! / (before.reduce(0, +) / 3), 1.5, accuracy: 1e-12)
    }

    /// Both pools even to within one instance: every rank's work within 1 + cost of the mean.
    func testWorkIsEvenWithinOneInstanceOfEachKind() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let ranks = Int.random(in: 2...6, using: &generator)
            let unmastered = (0..<ranks).map { _ in Int.random(in: 0...500, using: &generator) }
            let probesDue = (0..<ranks).map { _ in Int.random(in: 0...2000, using: &generator) }
            let plan = WorkloadPlan(unmastered: unmastered, probesDue: probesDue, tolerance: 0)
            let work = plan.work(unmastered: unmastered, probesDue: probesDue)
            let mean = work.reduce(0, +) / Double(ranks)
            XCTAssertLessThanOrEqual(work.max()! - mean, 1 + WorkloadPlan.probeCost, "\(unmastered) \(probesDue)")
            XCTAssertEqual(
                (plan.training?.targets ?? unmastered).reduce(0, +), unmastered.reduce(0, +), "instances conserved")
            XCTAssertEqual((plan.probes?.targets ?? probesDue).reduce(0, +), probesDue.reduce(0, +))
        }
    }

    /// Within tolerance nothing moves.
    func testBalancedWorkMovesNothing() {
        let plan = WorkloadPlan(unmastered: [100, 104], probesDue: [50, 52], tolerance: 0.1)
        XCTAssertNil(plan.training)
        XCTAssertNil(plan.probes)
    }
}

/// `ies eval --view-noise`: the d2 of losses under consecutive epochs' views at fixed parameters.
final class ViewNoiseTests: XCTestCase {
    func testViewsAloneMakeD2OnlyWithAugmentation() throws {
        let data = try Fixtures.fashion(limit: 300).train
        let model = try ModelPreset.cnn.build(
            channels: 1, height: 28, width: 28, classes: 10, maxBatch: 64, seed: 2, compute: Compute(threads: 1))
        let normalization = Normalization(computedFrom: data)
        func measure(_ augmentation: Augmentation) -> ViewNoise {
            ViewNoise(
                model: model, normalization: normalization, data: data, augmentation: augmentation, seed: 5,
                firstEpoch: 10, rule: .defaults, batchSize: 64)
        }
        let none = measure(.none)
        XCTAssertEqual(none.views, MasteryRule.defaults.historyLength + 2)
        XCTAssertEqual(none.absoluteD2.count, 300 * (none.views - 2))
        XCTAssertTrue(none.absoluteD2.allSatisfy { $0 == 0 }, "no augmentation, fixed parameters: no d2")
        XCTAssertEqual(none.mastered, 300)
        XCTAssertEqual(none.movingAverageSums, [Float](repeating: 0, count: 300))

        let cropFlip = measure(.cropFlip)
        XCTAssertGreaterThan(cropFlip.quantile(0.5), 0)
        XCTAssertLessThan(cropFlip.mastered, 300)
        XCTAssertEqual(cropFlip.movingAverageSums.filter { $0 < MasteryRule.defaults.threshold }.count, cropFlip.mastered)
        // Instance 0's first d2, from its losses under the views of epochs 10, 11 and 12
        // (evaluated in the same batches, so with the same rounding).
        let evaluator = Evaluator(model: model, normalization: normalization, batchSize: 64)
        let losses = (10...12).map { epoch -> Float in
            var loss: Float = .nan
            _ = evaluator.evaluate(
                data, slots: Array(0..<data.count), augmentation: (.cropFlip, AugmentationKey(seed: 5, epoch: epoch))
            ) { offset, batch in
                if offset == 0 { loss = batch[0] }
            }
            return loss
        }
        XCTAssertTrue(cropFlip.absoluteD2.contains(abs(losses[2] - 2 * losses[1] + losses[0])))
    }
}
