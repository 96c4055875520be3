import Datasets
import Foundation
import RunFormat
import NN
import SafeTensors
import TestSupport
import Training
import XCTest

final class TrainerTests: XCTestCase {
    private func config(_ directory: String, model: ModelPreset = .mlp, epochs: Int = 1) -> TrainingConfig {
        var config = TrainingConfig(runDirectory: directory)
        config.model = model
        config.epochs = epochs
        config.showProgress = false
        config.threads = 1
        return config
    }

    /// The acceptance bar of the engine: cnn, 2 epochs, first 5,000 instances, >= 80% test accuracy.
    func testCNNReachesEightyPercentInTwoEpochsOnFiveThousandInstances() throws {
        let splits = try Fixtures.fashion(limit: 5000)
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = config(directory, model: .cnn, epochs: 2)
        config.threads = 2
        let trainer = try Trainer(config: config, splits: splits)
        trainer.report = { _ in }
        let summary = try trainer.run()
        XCTAssertGreaterThanOrEqual(summary.finalTestAccuracy, 0.80, "epochs: \(summary.epochs)")

        // metrics.jsonl: one line per epoch with the required fields.
        let lines = try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8)
            .split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        for (index, line) in lines.enumerated() {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            for key in ["epoch", "trained", "train_loss", "test_loss", "test_accuracy", "seconds", "samples_per_second"] {
                XCTAssertNotNil(object[key], "metrics line \(index + 1) lacks \(key)")
            }
            XCTAssertEqual(object["epoch"] as? Int, index + 1)
            XCTAssertEqual(object["trained"] as? Int, 5000)
        }

        // The saved model evaluates to exactly the last epoch's test accuracy.
        let (file, model) = try ModelFile.read(path: summary.modelPath, maxBatch: 256, compute: Compute(threads: 1))
        XCTAssertEqual(file.preset, .cnn)
        XCTAssertEqual(file.normalization, trainer.normalization)
        let totals = Evaluator(model: model, normalization: file.normalization, batchSize: 256).evaluate(splits.test)
        XCTAssertEqual(totals.accuracy, summary.finalTestAccuracy)
    }

    func testSameSeedGivesBitIdenticalModelAndDifferentSeedDoesNot() throws {
        let splits = try Fixtures.fashion(limit: 1000)
        var digests: [UInt64] = []
        for seed: UInt64 in [3, 3, 4] {
            let directory = try TemporaryDirectory.make()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            var config = config(directory)
            config.seed = seed
            let trainer = try Trainer(config: config, splits: splits)
            trainer.report = { _ in }
            let summary = try trainer.run()
            let bytes = try Data(contentsOf: URL(fileURLWithPath: summary.modelPath))
            XCTAssertEqual(
                try SafetensorsFile.read(path: summary.modelPath).tensors.map(\.name),
                ["1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"])
            digests.append(trainer.model.digest)
            XCTAssertGreaterThan(bytes.count, 4 * trainer.model.parameters.count)
        }
        XCTAssertEqual(digests[0], digests[1], "same seed must give bit-identical parameters")
        XCTAssertNotEqual(digests[0], digests[2], "a different seed must give different parameters")
    }

    func testLearningRateFollowsTheSchedulePerEpoch() throws {
        let splits = try Fixtures.fashion(limit: 256)
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = config(directory, epochs: 3)
        config.schedule = .step(size: 2, gamma: 0.5)
        config.learningRate = 0.05
        let trainer = try Trainer(config: config, splits: splits)
        trainer.report = { _ in }
        let summary = try trainer.run()
        XCTAssertEqual(summary.epochs.map(\.lr), [0.05, 0.05, 0.025])
        let logged = try MetricsFile(path: directory + "/metrics.jsonl").records
        XCTAssertEqual(logged, summary.epochs)
    }

    func testRefusesARunDirectoryThatAlreadyHoldsARun() throws {
        let splits = try Fixtures.fashion(limit: 128)
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data("{}\n".utf8).write(to: URL(fileURLWithPath: directory + "/metrics.jsonl"))
        let trainer = try Trainer(config: config(directory), splits: splits)
        trainer.report = { _ in }
        XCTAssertThrowsError(try trainer.run()) { error in
            XCTAssertEqual(error as? RunClaimError, .holdsAnotherRun(path: directory, traces: [RunDirectory.metricsFile]))
        }
        XCTAssertEqual(try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8), "{}\n")
    }

    func testDivergenceStopsWithAClearError() throws {
        let splits = try Fixtures.fashion(limit: 512)
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = config(directory, epochs: 2)
        config.learningRate = 1e6
        config.momentum = 0
        let trainer = try Trainer(config: config, splits: splits)
        trainer.report = { _ in }
        XCTAssertThrowsError(try trainer.run()) { error in
            guard case .diverged = error as? TrainingError else { return XCTFail("expected divergence, got \(error)") }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/model.safetensors"))
    }

    func testInvalidConfigurationsAreRejected() {
        var config = TrainingConfig(runDirectory: "/tmp/x")
        config.epochs = 0
        XCTAssertThrowsError(try config.validate())
        config.epochs = 1
        config.batchSize = -1
        XCTAssertThrowsError(try config.validate())
        config.batchSize = 8
        config.learningRate = 0
        XCTAssertThrowsError(try config.validate())
        config.learningRate = 0.1
        config.momentum = 1
        XCTAssertThrowsError(try config.validate())
        config.momentum = 0.9
        XCTAssertNoThrow(try config.validate())
    }
}

/// metrics.jsonl across a resume: lines after the checkpoint are dropped, and the
/// checkpoint's own copy of its epoch's record fills the gap if the line never made it.
final class MetricsLogResumeTests: XCTestCase {
    private func record(_ epoch: Int) -> EpochMetrics {
        EpochMetrics(
            epoch: epoch, lr: 0.1, trained: 10, probed: 0, mastered: 0, returned: 0, backpropSaved: 0, trainLoss: 1,
            trainAccuracy: 0.5, testLoss: 1, testAccuracy: 0.5, seconds: 1, trainSeconds: 1, probeSeconds: 0,
            samplesPerSecond: 10)
    }

    func testResumeKeepsEarlierLinesAndRestoresTheCheckpointsRecord() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/metrics.jsonl"
        let log = try MetricsLog(path: path)
        for epoch in 1...4 { try log.append(record(epoch)) }
        // Resume after a checkpoint of epoch 2: epochs 3 and 4 are dropped.
        _ = try MetricsLog(path: path, keepingEpochsThrough: 2, restoring: record(2))
        XCTAssertEqual(try MetricsFile(path: path).records.map(\.epoch), [1, 2])
        // The run stopped after checkpoint 3 but before its line: the checkpoint's record is added.
        var third = record(3)
        third.checkpointSeconds = 0.25
        _ = try MetricsLog(path: path, keepingEpochsThrough: 3, restoring: third)
        let lines = try MetricsFile(path: path).records
        XCTAssertEqual(lines.map(\.epoch), [1, 2, 3])
        XCTAssertEqual(lines.last, third)
    }
}
