import Datasets
import Foundation
import RunFormat
import Mastery
import NN
import TestSupport
import Training
import XCTest

/// The training loop with instance-dependent early stopping.
final class IESTrainingTests: XCTestCase {
    private func config(_ directory: String, epochs: Int, threshold: Float) throws -> TrainingConfig {
        var config = TrainingConfig(runDirectory: directory)
        config.model = .mlp
        config.epochs = epochs
        config.showProgress = false
        config.threads = 1
        config.seed = 9
        config.mastery = try MasteryRule(threshold: threshold, window: 3, k: 1)
        return config
    }

    /// Threshold 0 must be plain training: same parameters, bit for bit, as a loop
    /// written here without any mastery bookkeeping (no probe, no decisions).
    func testThresholdZeroGivesExactlyThePlainTrainingParameters() throws {
        let splits = try Fixtures.fashion(limit: 1500)
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let epochs = 7  // past the first epoch in which the defaults could master anything
        let config = try config(directory, epochs: epochs, threshold: 0)
        let trainer = try Trainer(config: config, splits: splits)
        trainer.report = { _ in }
        let summary = try trainer.run()
        XCTAssertEqual(summary.epochs.map(\.trained), Array(repeating: 1500, count: epochs))
        XCTAssertEqual(summary.epochs.map(\.probed), Array(repeating: 0, count: epochs))

        // The reference: same model init, same shuffles, same steps, nothing else.
        let train = splits.train
        let model = try ModelPreset.mlp.build(
            channels: 1, height: 28, width: 28, classes: train.classCount, maxBatch: config.batchSize,
            seed: config.seed, compute: Compute(threads: 1))
        let sgd = SGD(parameterCount: model.parameters.count, momentum: 0.9, weightDecay: 5e-4)
        let step = TrainingStep(model: model, optimizer: sgd, normalization: Normalization(computedFrom: train))
        for epoch in 0..<epochs {
            var order = Array(0..<train.count)
            var generator = SeededGenerator(seed: config.seed, streams: UInt64(epoch), 0)
            generator.shuffle(&order)
            let lr = Float(config.schedule.learningRate(base: config.learningRate, epoch: epoch, epochs: epochs))
            // ceil(N / 64) steps, the instances spread evenly over them.
            let n = order.count, steps = (n + 63) / 64
            order.withUnsafeBufferPointer { all in
                for s in 0..<steps {
                    step.accumulate(train, slots: UnsafeBufferPointer(rebasing: all[(n * s / steps)..<(n * (s + 1) / steps)]))
                    step.apply(learningRate: lr)
                }
            }
        }
        XCTAssertEqual(model.parameters.snapshot(), trainer.model.parameters.snapshot())
        XCTAssertEqual(model.digest, trainer.model.digest)
    }

    /// With a high threshold many instances are mastered; the bookkeeping must add up every epoch.
    func testMasteredInstancesAreProbedNotTrainedAndCountsAddUp() throws {
        let splits = try Fixtures.fashion(limit: 2000)
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let trainer = try Trainer(config: config(directory, epochs: 10, threshold: 5e-2), splits: splits)
        trainer.report = { _ in }
        let summary = try trainer.run()
        let metrics = try MetricsFile(path: directory + "/metrics.jsonl").records
        XCTAssertEqual(metrics, summary.epochs)
        let n = 2000
        var trainedSoFar = 0
        var previousMastered = 0
        for m in metrics {
            XCTAssertEqual(m.trained + m.probed, n, "epoch \(m.epoch): every instance trained or probed once")
            XCTAssertEqual(m.probed, previousMastered, "epoch \(m.epoch) probes what the last epoch mastered")
            if m.epoch < 6 { XCTAssertEqual(m.mastered, 0, "nothing can be mastered before epoch 6") }
            XCTAssertLessThanOrEqual(m.returned, previousMastered)
            trainedSoFar += m.trained
            XCTAssertEqual(m.backpropSaved, 1 - Double(trainedSoFar) / Double(n * m.epoch), accuracy: 1e-12)
            previousMastered = m.mastered
        }
        XCTAssertGreaterThan(metrics[5].mastered, 0, "threshold 5e-2 should master some instances at epoch 6")
        XCTAssertGreaterThan(summary.backpropSaved, 0.05)
        XCTAssertEqual(trainer.tracker.masteredCount, metrics.last!.mastered)
        // Accuracy stays that of a working model.
        XCTAssertGreaterThan(summary.bestTestAccuracy, 0.7)
    }

    func testCLIRejectsBadIESFlags() throws {
        for (flag, value) in [("--ies-threshold", "-1"), ("--ies-window", "0"), ("--ies-k", "0")] {
            let result = try Fixtures.runIES(["train", flag, value])
            XCTAssertEqual(result.reason, .exit)
            XCTAssertNotEqual(result.status, 0)
            XCTAssertTrue(result.stderr.contains(flag), "stderr should name \(flag): \(result.stderr)")
        }
    }
}
