import Datasets
import Distributed
import Foundation
import Mastery
import NN

/// What a finished run reports.
public struct TrainingSummary: Sendable {
    public var epochs: [EpochMetrics]
    public var bestTestAccuracy: Double
    public var bestEpoch: Int
    public var finalTestAccuracy: Double
    /// Cumulative share of backpropagation saved by IES over the run.
    public var backpropSaved: Double
    public var wallSeconds: Double
    public var modelPath: String
}

/// The data-parallel epoch loop with instance-dependent early stopping, run by every rank:
/// shuffle the local unmastered instances, agree on the step count, train with one fused
/// allreduce per step, probe the local mastered instances, decide mastery, evaluate the
/// sharded test split, and (rank 0) log and save. A singleton communicator makes it
/// the single-process trainer, bit for bit the same as `mpirun -np 1`.
public final class Trainer {
    public let config: TrainingConfig
    public let communicator: Communicator
    public internal(set) var data: ShardedData
    public let model: Sequential
    public let optimizer: SGD
    public let step: TrainingStep
    /// Per-instance loss histories; slot i is local training instance i.
    public let tracker: MasteryTracker
    private let evaluator: Evaluator
    let modelFile: ModelFile
    /// Identifies the training data (checkpoints refuse to resume on other data).
    public let fingerprint: DatasetFingerprint
    /// Set when resuming: the epoch to start at and the counters so far.
    let resumeState: ResumeState?
    /// Receives each human-readable line on rank 0 (epoch lines, the summary).
    public var report: (String) -> Void = { print($0) }

    public var normalization: Normalization { data.normalization }
    private var isRoot: Bool { communicator.rank == 0 }

    /// Loads the data (or uses `splits`), keeps this rank's shard, builds the model and
    /// gives every rank rank 0's initial parameters; or, with `resume`, continues from a
    /// checkpoint (re-sharding by global id when the number of ranks changed).
    public init(
        config: TrainingConfig, communicator: Communicator, splits: DatasetSplits? = nil,
        resume: LoadedCheckpoint? = nil
    ) throws {
        try config.validate()
        self.config = config
        self.communicator = communicator
        let splits = try splits ?? DatasetLoader.load(directory: config.dataDirectory, limit: config.limit)
        fingerprint = DatasetFingerprint(splits: splits)
        if let resume {
            guard resume.meta.dataset == fingerprint else {
                throw TrainingError.invalidConfiguration(
                    "\(resume.directory) was made from different data (\(resume.meta.dataset)); --data/--limit now give "
                        + "\(fingerprint)")
            }
            guard resume.meta.config.model == config.model else {
                throw TrainingError.invalidConfiguration(
                    "\(resume.directory) holds a \(resume.meta.config.model.rawValue) model, not \(config.model.rawValue)")
            }
            guard resume.meta.config.mastery == config.mastery else {
                throw TrainingError.invalidConfiguration(
                    "\(resume.directory) tracked mastery with \(resume.meta.config.mastery), not \(config.mastery)")
            }
            guard resume.meta.epoch < config.epochs else {
                throw TrainingError.invalidConfiguration(
                    "\(resume.directory) is at epoch \(resume.meta.epoch); --epochs \(config.epochs) leaves nothing to train")
            }
        }
        data = ShardedData(
            splits: splits, rank: communicator.rank, ranks: communicator.size, strategy: config.sharding,
            owners: try resume.flatMap { try Trainer.owners(from: $0, ranks: communicator.size) })
        let train = data.train
        BLAS.setThreads(config.threads ?? Trainer.defaultThreads(localRanks: communicator.localSize))
        model = try config.model.build(
            channels: train.channels, height: train.height, width: train.width, classes: train.classCount,
            maxBatch: max(config.batchSize, config.evaluationBatchSize), seed: config.seed)
        try communicator.broadcast(
            UnsafeMutableBufferPointer(start: model.parameters.values, count: model.parameters.count), root: 0)
        optimizer = SGD(
            parameterCount: model.parameters.count, momentum: Float(config.momentum),
            weightDecay: Float(config.weightDecay))
        step = TrainingStep(model: model, optimizer: optimizer, normalization: data.normalization)
        if let resume {
            (tracker, resumeState) = try Trainer.restore(
                resume, model: model, optimizer: optimizer, rule: config.mastery, localIDs: train.ids)
        } else {
            tracker = MasteryTracker(rule: config.mastery, ids: train.ids)
            resumeState = nil
        }
        evaluator = Evaluator(model: model, normalization: data.normalization, batchSize: config.evaluationBatchSize)
        modelFile = ModelFile(
            preset: config.model, channels: train.channels, height: train.height, width: train.width,
            classes: train.classCount, normalization: data.normalization)
    }

    /// Single-process convenience (tests, tools): a singleton communicator.
    public convenience init(config: TrainingConfig, splits: DatasetSplits? = nil) throws {
        try self.init(config: config, communicator: .singleton, splits: splits)
    }

    /// The node's cores divided among the ranks on it, at least 1.
    public static func defaultThreads(localRanks: Int) -> Int {
        max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, localRanks))
    }

    /// Runs all epochs; rank 0 writes `metrics.jsonl` and `model.safetensors` into the run directory.
    public func run() throws -> TrainingSummary {
        let directory = config.runDirectory
        let metricsPath = (directory as NSString).appendingPathComponent("metrics.jsonl")
        let modelPath = (directory as NSString).appendingPathComponent("model.safetensors")
        var log: MetricsLog?
        if isRoot {
            if resumeState == nil && FileManager.default.fileExists(atPath: metricsPath) {
                throw TrainingError.runDirectoryInUse(directory)
            }
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw TrainingError.io(
                    path: directory, message: "cannot create run directory: \(error.localizedDescription)")
            }
            log = try MetricsLog(path: metricsPath, keepingEpochsThrough: resumeState?.epoch ?? 0)
            if let resumeState {
                report("resuming at epoch \(resumeState.epoch + 1) of \(config.epochs)")
            }
            let threads = config.threads ?? Trainer.defaultThreads(localRanks: communicator.localSize)
            report(
                "ies: \(config.model.rawValue), \(model.parameters.count) parameters, \(data.globalTrainCount) train / "
                    + "\(data.globalTestCount) test instances, batch \(config.batchSize), "
                    + "\(communicator.size) rank(s) x \(threads) thread(s), "
                    + (config.mastery.isEnabled ? "\(config.mastery)" : "IES off (threshold 0)")
                    + ", run directory \(directory)")
            if threads * communicator.localSize > ProcessInfo.processInfo.activeProcessorCount {
                report(
                    "warning: \(communicator.localSize) rank(s) x \(threads) thread(s) on this node exceed its "
                        + "\(ProcessInfo.processInfo.activeProcessorCount) cores; expect slowdowns (set --threads)")
            }
        }

        let start = monotonicSeconds()
        var history: [EpochMetrics] = []
        var best = (accuracy: resumeState?.bestAccuracy ?? -1.0, epoch: resumeState?.bestEpoch ?? 0)
        var trainedSoFar = resumeState?.trainedSoFar ?? 0
        for epoch in (resumeState?.epoch ?? 0)..<config.epochs {
            let epochStart = monotonicSeconds()
            let lr = config.schedule.learningRate(base: config.learningRate, epoch: epoch, epochs: config.epochs)
            let pass = try trainEpoch(epoch: epoch, lr: Float(lr))
            let probeStart = monotonicSeconds()
            let probed = probeMastered()
            let probeSeconds = monotonicSeconds() - probeStart
            let counts = tracker.decide()
            let test = try evaluateTest()
            let perRank = try gatherPerRank([
                Int64(pass.trained), Int64(probed), Int64(counts.mastered), Int64(counts.returned),
                Int64(bitPattern: model.parameters.digest), Int64((pass.allreduceSeconds * 1e6).rounded()),
            ])
            let balance = try rebalance()
            try checkConservation(epoch: epoch + 1)
            let trained = perRank.map { Int($0[0]) }, mastered = balance.masteredAfter
            trainedSoFar += trained.reduce(0, +)
            var metrics = EpochMetrics(
                epoch: epoch + 1, lr: lr, trained: trained.reduce(0, +), probed: perRank.map { Int($0[1]) }.reduce(0, +),
                mastered: mastered.reduce(0, +), returned: perRank.map { Int($0[3]) }.reduce(0, +),
                backpropSaved: 1 - Double(trainedSoFar) / (Double(data.globalTrainCount) * Double(epoch + 1)),
                trainLoss: pass.totals.meanLoss, trainAccuracy: pass.totals.accuracy, testLoss: test.meanLoss,
                testAccuracy: test.accuracy, seconds: monotonicSeconds() - epochStart, trainSeconds: pass.seconds,
                probeSeconds: probeSeconds, samplesPerSecond: Double(trained.reduce(0, +)) / max(pass.seconds, 1e-9))
            metrics.worldSize = communicator.size
            metrics.trainedPerRank = trained
            metrics.masteredPerRank = mastered
            metrics.parameterDigestAgree = Set(perRank.map { $0[4] }).count == 1
            metrics.steps = pass.steps
            metrics.allreduceSeconds = pass.allreduceSeconds
            metrics.allreduceSecondsPerRank = perRank.map { Double($0[5]) / 1e6 }
            metrics.unmasteredPerRankBefore = balance.unmasteredBefore
            metrics.unmasteredPerRankAfter = balance.unmasteredAfter
            metrics.instancesMoved = balance.moved
            metrics.bytesMoved = balance.bytes
            metrics.rebalanceSeconds = balance.seconds
            history.append(metrics)
            if metrics.testAccuracy > best.accuracy { best = (metrics.testAccuracy, epoch + 1) }
            if let log {
                try log.append(metrics)
                report(Trainer.epochLine(metrics, epochs: config.epochs))
            }
            let completed = epoch + 1
            if completed == config.epochs || (config.checkpointEvery > 0 && completed % config.checkpointEvery == 0) {
                try writeCheckpoint(
                    epoch: completed, trainedSoFar: trainedSoFar, best: best, masteredPerRank: mastered)
            }
        }
        if isRoot { try modelFile.write(model, to: modelPath) }
        let summary = TrainingSummary(
            epochs: history, bestTestAccuracy: best.accuracy, bestEpoch: best.epoch,
            finalTestAccuracy: history.last?.testAccuracy ?? 0,
            backpropSaved: history.last?.backpropSaved ?? 0,
            wallSeconds: monotonicSeconds() - start, modelPath: modelPath)
        if isRoot {
            report(
                String(
                    format: "done: best test accuracy %.2f%% (epoch %d), final %.2f%%, backprop saved %.1f%%, "
                        + "wall time %.1f s; model %@",
                    summary.bestTestAccuracy * 100, summary.bestEpoch, summary.finalTestAccuracy * 100,
                    summary.backpropSaved * 100, summary.wallSeconds, modelPath))
        }
        return summary
    }

    /// Result of one training pass on this rank (totals are global, reduced through the step buffer).
    struct Pass {
        var trained: Int
        var totals: EvaluationTotals
        var seconds: Double
        var steps: Int
        var allreduceSeconds: Double
    }

    /// One pass over the shuffled local unmastered instances; records each one's loss
    /// (train mode, before its step's update) in the tracker.
    func trainEpoch(epoch: Int, lr: Float) throws -> Pass {
        let train = data.train
        var order = tracker.slots(mastered: false)
        var generator = SeededGenerator(seed: config.seed, streams: UInt64(epoch), UInt64(communicator.rank))
        generator.shuffle(&order)
        let progress = ProgressLine(enabled: config.showProgress && isRoot)
        // Every rank must issue the same collectives, so all agree on the step count:
        // S = ceil(unmastered over all ranks / B). Each rank spreads its own pool evenly
        // over those S steps (step s takes positions [s n / S, (s + 1) n / S) of its n), so
        // every step draws from every rank in proportion to what it still has to train:
        // a rank with a smaller pool takes fewer per step instead of running dry early and
        // leaving the last steps to the other ranks' data alone (with class sharding that
        // would train whole stretches of steps on a few classes). A rank with nothing
        // contributes zeros and count 0. Local batches never exceed B.
        let local = order.count
        let steps = (try communicator.allreduceSum(local) + config.batchSize - 1) / config.batchSize
        let store = model.parameters
        let fused = UnsafeMutableBufferPointer(start: store.gradients, count: store.count + store.tailCount)
        var totals = EvaluationTotals()
        var trained = 0
        var allreduceSeconds = 0.0
        let start = monotonicSeconds()
        try order.withUnsafeBufferPointer { all in
            for s in 0..<steps {
                let batch = UnsafeBufferPointer(rebasing: all[(local * s / steps)..<(local * (s + 1) / steps)])
                step.accumulate(train, positions: batch)
                trained += batch.count
                step.losses.withUnsafeBufferPointer {
                    self.tracker.record(losses: UnsafeBufferPointer(rebasing: $0[0..<batch.count]), slots: batch)
                }
                let reduceStart = monotonicSeconds()
                try communicator.allreduceSum(fused)
                allreduceSeconds += monotonicSeconds() - reduceStart
                // The global loss sum is identical on every rank, so all of them stop together.
                let lossSum = step.lossSum
                guard lossSum.isFinite else { throw TrainingError.diverged(epoch: epoch + 1, step: s + 1) }
                totals.lossSum += Double(lossSum)
                totals.count += step.count
                totals.correct += step.correctCount
                step.apply(lr: lr)
                let now = monotonicSeconds()
                progress.update(
                    String(
                        format: "epoch %d/%d %@ %d/%d  loss %.4f  %.0f samples/s", epoch + 1, config.epochs,
                        ProgressLine.bar(Double(s + 1) / Double(max(1, steps))), s + 1, steps, totals.meanLoss,
                        Double(totals.count) / max(now - start, 1e-9)),
                    now: now)
            }
        }
        progress.clear()
        guard model.parameters.allFinite else { throw TrainingError.diverged(epoch: epoch + 1, step: steps) }
        return Pass(
            trained: trained, totals: totals, seconds: monotonicSeconds() - start, steps: steps,
            allreduceSeconds: allreduceSeconds)
    }

    /// Forward-only (eval mode) pass over the local mastered instances, recording their losses.
    /// Returns how many were probed.
    func probeMastered() -> Int {
        let mastered = tracker.slots(mastered: true)
        guard !mastered.isEmpty else { return 0 }
        _ = evaluator.evaluate(data.train, indices: mastered) { offset, losses in
            mastered.withUnsafeBufferPointer {
                self.tracker.record(
                    losses: losses, slots: UnsafeBufferPointer(rebasing: $0[offset..<(offset + losses.count)]))
            }
        }
        return mastered.count
    }

    /// Loss and accuracy over the whole test split: each rank evaluates its block, sums are reduced.
    func evaluateTest() throws -> EvaluationTotals {
        let local = evaluator.evaluate(data.test)
        var sums = [local.lossSum, Double(local.correct), Double(local.count)]
        try sums.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        return EvaluationTotals(lossSum: sums[0], correct: Int(sums[1]), count: Int(sums[2]))
    }

    /// Every rank's `values` (same length on all ranks), indexed by rank, in one allreduce.
    func gatherPerRank(_ values: [Int64]) throws -> [[Int64]] {
        let width = values.count, size = communicator.size
        var table = [Int64](repeating: 0, count: width * size)
        for i in 0..<width { table[communicator.rank * width + i] = values[i] }
        try table.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        return (0..<size).map { Array(table[($0 * width)..<(($0 + 1) * width)]) }
    }

    static func epochLine(_ m: EpochMetrics, epochs: Int) -> String {
        var line = String(
            format: "epoch %d/%d  lr %.4g  trained %d  mastered %d  saved %.1f%%  train loss %.4f  test loss %.4f  "
                + "test acc %.2f%%  %.1f s  %.0f samples/s",
            m.epoch, epochs, m.lr, m.trained, m.mastered, m.backpropSaved * 100, m.trainLoss, m.testLoss,
            m.testAccuracy * 100, m.seconds, m.samplesPerSecond)
        if m.worldSize > 1 {
            line += "  trained/rank \(m.trainedPerRank.map(String.init).joined(separator: ","))"
            line += String(
                format: "  imbalance %.3f", RebalancePlan.imbalance(m.unmasteredPerRankBefore))
            if m.instancesMoved > 0 {
                line += String(
                    format: " -> %.3f (moved %d in %.2f s)", RebalancePlan.imbalance(m.unmasteredPerRankAfter),
                    m.instancesMoved, m.rebalanceSeconds)
            }
            if !m.parameterDigestAgree { line += "  PARAMETERS DIFFER ACROSS RANKS" }
        }
        return line
    }
}
