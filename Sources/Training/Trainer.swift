import Datasets
import Foundation
import NN

/// What a finished run reports.
public struct TrainingSummary: Sendable {
    public var epochs: [EpochMetrics]
    public var bestTestAccuracy: Double
    public var bestEpoch: Int
    public var finalTestAccuracy: Double
    public var wallSeconds: Double
    public var modelPath: String
}

/// The single-process epoch loop: shuffle, train, evaluate, log, save.
public final class Trainer {
    public let config: TrainingConfig
    public let splits: DatasetSplits
    public let normalization: Normalization
    public let model: Sequential
    public let optimizer: SGD
    public let step: TrainingStep
    private let evaluator: Evaluator
    private let modelFile: ModelFile
    /// Receives each human-readable line (epoch lines, the summary).
    public var report: (String) -> Void = { print($0) }

    /// Loads the data (or uses `splits`), builds and initializes the model.
    public init(config: TrainingConfig, splits: DatasetSplits? = nil) throws {
        try config.validate()
        self.config = config
        let splits = try splits ?? DatasetLoader.load(directory: config.dataDirectory, limit: config.limit)
        self.splits = splits
        let train = splits.train
        normalization = Normalization(computedFrom: train)
        BLAS.setThreads(config.threads ?? ProcessInfo.processInfo.activeProcessorCount)
        model = try config.model.build(
            channels: train.channels, height: train.height, width: train.width, classes: train.classCount,
            maxBatch: max(config.batchSize, config.evaluationBatchSize), seed: config.seed)
        optimizer = SGD(
            parameterCount: model.parameters.count, momentum: Float(config.momentum),
            weightDecay: Float(config.weightDecay))
        step = TrainingStep(model: model, optimizer: optimizer, normalization: normalization)
        evaluator = Evaluator(model: model, normalization: normalization, batchSize: config.evaluationBatchSize)
        modelFile = ModelFile(
            preset: config.model, channels: train.channels, height: train.height, width: train.width,
            classes: train.classCount, normalization: normalization)
    }

    /// Runs all epochs, writing `metrics.jsonl` and `model.safetensors` into the run directory.
    public func run() throws -> TrainingSummary {
        let directory = config.runDirectory
        let metricsPath = (directory as NSString).appendingPathComponent("metrics.jsonl")
        if FileManager.default.fileExists(atPath: metricsPath) { throw TrainingError.runDirectoryInUse(directory) }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw TrainingError.io(path: directory, message: "cannot create run directory: \(error.localizedDescription)")
        }
        let log = try MetricsLog(path: metricsPath)
        let modelPath = (directory as NSString).appendingPathComponent("model.safetensors")
        let train = splits.train
        report(
            "ies: \(config.model.rawValue), \(model.parameters.count) parameters, \(train.count) train / "
                + "\(splits.test.count) test instances, batch \(config.batchSize), \(BLAS.threads) BLAS thread(s), "
                + "run directory \(directory)")

        let start = monotonicSeconds()
        var history: [EpochMetrics] = []
        var best = (accuracy: -1.0, epoch: 0)
        for epoch in 0..<config.epochs {
            let epochStart = monotonicSeconds()
            let lr = config.schedule.learningRate(base: config.learningRate, epoch: epoch, epochs: config.epochs)
            let pass = try trainEpoch(epoch: epoch, lr: Float(lr))
            let test = evaluator.evaluate(splits.test)
            let metrics = EpochMetrics(
                epoch: epoch + 1, lr: lr, trained: pass.trained, trainLoss: pass.totals.meanLoss,
                trainAccuracy: pass.totals.accuracy, testLoss: test.meanLoss, testAccuracy: test.accuracy,
                seconds: monotonicSeconds() - epochStart, trainSeconds: pass.seconds,
                samplesPerSecond: Double(pass.trained) / max(pass.seconds, 1e-9))
            try log.append(metrics)
            history.append(metrics)
            if metrics.testAccuracy > best.accuracy { best = (metrics.testAccuracy, epoch + 1) }
            report(Trainer.epochLine(metrics, epochs: config.epochs))
        }
        try modelFile.write(model, to: modelPath)
        let summary = TrainingSummary(
            epochs: history, bestTestAccuracy: best.accuracy, bestEpoch: best.epoch,
            finalTestAccuracy: history.last?.testAccuracy ?? 0, wallSeconds: monotonicSeconds() - start,
            modelPath: modelPath)
        report(
            String(
                format: "done: best test accuracy %.2f%% (epoch %d), final %.2f%%, wall time %.1f s; model %@",
                summary.bestTestAccuracy * 100, summary.bestEpoch, summary.finalTestAccuracy * 100,
                summary.wallSeconds, modelPath))
        return summary
    }

    /// One pass over the shuffled training set.
    func trainEpoch(epoch: Int, lr: Float) throws -> (trained: Int, totals: EvaluationTotals, seconds: Double) {
        let train = splits.train
        var order = (0..<Int32(train.count)).map { $0 }
        var generator = SeededGenerator(seed: config.seed, streams: UInt64(epoch), 0)
        generator.shuffle(&order)
        let progress = ProgressLine(enabled: config.showProgress)
        let batchSize = config.batchSize
        let steps = (order.count + batchSize - 1) / batchSize
        var totals = EvaluationTotals()
        let start = monotonicSeconds()
        try order.withUnsafeBufferPointer { all in
            for s in 0..<steps {
                let batch = UnsafeBufferPointer(rebasing: all[(s * batchSize)..<min(all.count, (s + 1) * batchSize)])
                totals.correct += step.accumulate(train, positions: batch)
                let lossSum = step.lossSum
                guard lossSum.isFinite else { throw TrainingError.diverged(epoch: epoch + 1, step: s + 1) }
                totals.lossSum += Double(lossSum)
                totals.count += step.count
                step.apply(lr: lr)
                let now = monotonicSeconds()
                progress.update(
                    String(
                        format: "epoch %d/%d %@ %d/%d  loss %.4f  %.0f samples/s", epoch + 1, config.epochs,
                        ProgressLine.bar(Double(s + 1) / Double(steps)), s + 1, steps, totals.meanLoss,
                        Double(totals.count) / max(now - start, 1e-9)),
                    now: now)
            }
        }
        progress.clear()
        guard model.parameters.allFinite else { throw TrainingError.diverged(epoch: epoch + 1, step: steps) }
        return (totals.count, totals, monotonicSeconds() - start)
    }

    static func epochLine(_ m: EpochMetrics, epochs: Int) -> String {
        String(
            format: "epoch %d/%d  lr %.4g  trained %d  train loss %.4f  test loss %.4f  test acc %.2f%%  %.1f s  %.0f samples/s",
            m.epoch, epochs, m.lr, m.trained, m.trainLoss, m.testLoss, m.testAccuracy * 100, m.seconds,
            m.samplesPerSecond)
    }
}
