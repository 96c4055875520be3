import Datasets
import Foundation
import NN
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
        let directory = try Fixtures.temporaryDirectory()
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
        let (file, model) = try ModelFile.read(path: summary.modelPath, maxBatch: 256)
        XCTAssertEqual(file.preset, .cnn)
        XCTAssertEqual(file.normalization, trainer.normalization)
        let totals = Evaluator(model: model, normalization: file.normalization, batchSize: 256).evaluate(splits.test)
        XCTAssertEqual(totals.accuracy, summary.finalTestAccuracy)
    }

    func testSameSeedGivesBitIdenticalModelAndDifferentSeedDoesNot() throws {
        let splits = try Fixtures.fashion(limit: 1000)
        var digests: [UInt64] = []
        for seed: UInt64 in [3, 3, 4] {
            let directory = try Fixtures.temporaryDirectory()
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
            digests.append(trainer.model.parameters.digest)
            XCTAssertGreaterThan(bytes.count, 4 * trainer.model.parameters.count)
        }
        XCTAssertEqual(digests[0], digests[1], "same seed must give bit-identical parameters")
        XCTAssertNotEqual(digests[0], digests[2], "a different seed must give different parameters")
    }

    func testLearningRateFollowsTheSchedulePerEpoch() throws {
        let splits = try Fixtures.fashion(limit: 256)
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = config(directory, epochs: 3)
        config.schedule = .step(size: 2, gamma: 0.5)
        config.learningRate = 0.05
        let trainer = try Trainer(config: config, splits: splits)
        trainer.report = { _ in }
        let summary = try trainer.run()
        XCTAssertEqual(summary.epochs.map(\.lr), [0.05, 0.05, 0.025])
        let logged = try MetricsLog.read(EpochMetrics.self, path: directory + "/metrics.jsonl")
        XCTAssertEqual(logged, summary.epochs)
    }

    func testRefusesARunDirectoryThatAlreadyHoldsARun() throws {
        let splits = try Fixtures.fashion(limit: 128)
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data("{}\n".utf8).write(to: URL(fileURLWithPath: directory + "/metrics.jsonl"))
        let trainer = try Trainer(config: config(directory), splits: splits)
        trainer.report = { _ in }
        XCTAssertThrowsError(try trainer.run()) { error in
            XCTAssertEqual(error as? TrainingError, .runDirectoryInUse(directory))
        }
        XCTAssertEqual(try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8), "{}\n")
    }

    func testDivergenceStopsWithAClearError() throws {
        let splits = try Fixtures.fashion(limit: 512)
        let directory = try Fixtures.temporaryDirectory()
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
