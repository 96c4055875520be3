import Datasets
import Distributed
import Foundation
import Mastery
import NN
import RunFormat

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

/// The data-parallel epoch loop with instance-dependent early stopping, run by every rank
/// (see `runEpoch` for the order of things). A singleton communicator makes it the
/// single-process trainer, bit for bit the same as `mpirun -np 1`.
public final class Trainer {
    public let config: TrainingConfig
    public let communicator: Communicator
    public internal(set) var data: ShardedData
    public let model: Model
    public let optimizer: Optimizer
    public let step: TrainingStep
    /// Per-instance loss histories; slot i is local training instance i.
    public let tracker: MasteryTracker
    let evaluator: Evaluator
    let modelFile: ModelFile
    /// The gradient buckets every multi-rank step reduces through (nil on one rank).
    let buckets: GradientBuckets?
    let hooks: TrainerHooks
    /// This rank's CPUs and how many ranks of its node share them (default threads, warning).
    let coreShare: CoreShare
    /// Identifies the training data (checkpoints refuse to resume on other data).
    public let fingerprint: DatasetFingerprint
    /// Set when resuming: the epoch to start at and the counters so far.
    let resumeState: ResumeState?
    /// Set when resuming: the checkpoint continued (for `RunClaim`).
    let resumeOrigin: RunClaim.Origin?
    /// `--resume auto` found no checkpoint: a run of this directory may start over.
    let restartAllowed: Bool
    /// Rank 0's hold on the run directory while `run` runs.
    var claim: RunClaim?
    /// Seconds `init` took: reading the data, agreeing, building the model (the start-up).
    public private(set) var startupSeconds = 0.0
    /// Receives each human-readable line on rank 0 (epoch lines, the summary).
    public var report: (String) -> Void = { print($0) }

    public var normalization: Normalization { data.normalization }
    var isRoot: Bool { communicator.rank == 0 }

    /// Reads this rank's shard of the data (or of `splits`, for tests), builds the model and
    /// gives every rank rank 0's initial parameters; or, with `resume`, continues from a
    /// checkpoint (re-sharding by global id when the number of ranks changed).
    public init(
        config: TrainingConfig, communicator: Communicator = .singleton, splits: DatasetSplits? = nil,
        resume: LoadedCheckpoint? = nil, hooks: TrainerHooks = .none, restartAllowed: Bool = false
    ) throws {
        let initStarted = monotonicSeconds()
        try config.validate()
        self.restartAllowed = restartAllowed
        resumeOrigin = resume.map(RunClaim.Origin.init)
        self.communicator = communicator
        self.hooks = hooks
        do {
            try communicator.enableStallWatchdog(timeout: config.stallTimeout)
        } catch let error as RanksDisagree {
            throw TrainingError.ranksDisagree(error.description)
        }
        // Random-access files are mapped, not read: each rank reads only its shard below.
        let sources = try splits.map(DatasetSources.init(splits:))
            ?? DatasetSources.open(
                directory: config.dataDirectory, limit: config.limit, testLimit: config.testLimit,
                npyLayout: config.npyLayout)
        let (config, batchWarning) = config.clampedBatch(instances: sources.train.count, ranks: communicator.size)
        if let batchWarning, communicator.rank == 0 { Trainer.warn(batchWarning) }
        try config.checkLearningRates(ranks: communicator.size)
        self.config = config
        // A checkpoint's owner table applies only to a split of its size; other data is
        // refused below, once the digest is known.
        let owners = try resume.flatMap { checkpoint -> [Int32]? in
            guard checkpoint.meta.dataset.trainCount == sources.train.count else { return nil }
            return try Trainer.owners(from: checkpoint, ranks: communicator.size)
        }
        data = try ShardedData(sources: sources, communicator: communicator, strategy: config.sharding, owners: owners)
        fingerprint = DatasetFingerprint(data: data)
        if let resume {
            try Resume.checkCompatible(resume, with: config, fingerprint: fingerprint, communicator: communicator)
        }
        let train = data.train
        coreShare = try CoreShare.gather(on: communicator)
        let compute = Compute(threads: config.threads ?? coreShare.threads)
        do {
            let maxBatch = max(config.localBatchCapacity(ranks: communicator.size), config.effectiveEvaluationBatchSize)
            try config.checkModelFits(
                channels: train.channels, height: train.height, width: train.width, classes: train.classCount,
                maxBatch: maxBatch)
            model = try config.model.build(
                channels: train.channels, height: train.height, width: train.width, classes: train.classCount,
                maxBatch: maxBatch, seed: config.seed, compute: compute, stageWidth: config.width)
        } catch let error as ShapeError {
            throw ConfigurationError(setting: .model, "does not fit the data: \(error)")
        }
        // Before anything sized by the model moves: ranks that differ stop here, named.
        // The agreed digest is the same everywhere by construction: ranks compare their own spot check too.
        var seen = fingerprint
        seen.digest += "-" + String(data.localSpotDigest, radix: 16)
        try RankAgreement.check(config: config, model: model, fingerprint: seen, communicator: communicator)
        try model.parameters.withUnsafeMutableBufferPointer { try communicator.broadcast($0, root: 0) }
        try model.buffers.withUnsafeMutableBufferPointer { try communicator.broadcast($0, root: 0) }
        optimizer = config.optimizer.make(
            parameterCount: model.parameters.count, momentum: config.momentum, weightDecay: config.weightDecay)
        // All ranks on one host reduce by copying memory, which takes a CPU from compute: after backward then.
        let overlap = config.overlap ?? (coreShare.nodeRanks < communicator.size)
        // Two ranks on one host, reducing after backward in fp32: the step buffer lives in a
        // window both map, and the ranks add it themselves (`SharedPairSum`).
        var pairSum: SharedPairSum?
        if !overlap && config.allreduceFormat == nil {
            do {
                pairSum = try communicator.makeSharedPairSum(
                    count: StepBuffer.floats(
                        parameterCount: model.parameters.count, statisticsCount: model.statisticsCount))
            } catch let error as SharedWindowUnavailable {
                if communicator.rank == 0 {
                    Self.warn("\(error); the gradients are reduced through MPI's messages instead")
                }
            }
        }
        step = TrainingStep(
            model: model, optimizer: optimizer, normalization: data.normalization, seed: config.seed,
            bufferStorage: pairSum?.storage)
        step.augmentation = config.effectiveAugmentation
        if config.syncBatchNorm && communicator.size > 1 {
            step.synchronize = { [communicator] sums in
                do {
                    try communicator.allreduce(sums, .sum)
                } catch {
                    // A failed collective leaves the ranks out of step: end the job, naming the rank.
                    FileHandle.standardError.write(Data("Error (rank \(communicator.rank)): \(error)\n".utf8))
                    communicator.abort(code: 1)
                }
            }
        }
        if let resume {
            (tracker, resumeState) = try Trainer.restore(
                resume, model: model, optimizer: optimizer, rule: config.mastery, schedule: config.probe,
                localIDs: train.ids)
        } else {
            tracker = MasteryTracker(rule: config.mastery, schedule: config.probe, ids: train.ids)
            resumeState = nil
        }
        evaluator = Evaluator(
            model: model, normalization: data.normalization, batchSize: config.effectiveEvaluationBatchSize)
        buckets = communicator.size > 1
            ? GradientBuckets(
                model: model, buffer: step.buffer, capacity: max(1, Int(config.bucketMegabytes * 1_048_576 / 4)),
                communicator: communicator, overlap: overlap, compression: config.allreduceFormat, pairSum: pairSum)
            : nil
        modelFile = ModelFile(
            preset: config.model, stageWidth: config.width, channels: train.channels, height: train.height,
            width: train.width, classes: train.classCount, normalization: data.normalization)
        startupSeconds = monotonicSeconds() - initStarted
    }

    /// Rank 0 takes the run directory (`RunClaim`) before anything is written; when it
    /// cannot, every rank stops with its message.
    private func claimRunDirectory() throws -> RunClaim? {
        var claim: RunClaim?
        var failure: Error?
        if isRoot {
            do {
                claim = try RunClaim(RunDirectory(config.runDirectory), resuming: resumeOrigin, restartAllowed: restartAllowed)
            } catch {
                failure = error
            }
        }
        var message = failure.map { Array("\($0)".utf8) } ?? []
        if communicator.size > 1 { try communicator.broadcast(bytes: &message, root: 0) }
        if let failure { throw communicator.size > 1 ? TrainingError.runDirectory("\(failure)") : failure }
        if !message.isEmpty { throw TrainingError.runDirectory(String(decoding: message, as: UTF8.self)) }
        return claim
    }

    /// A warning for the user, on stderr (stdout carries the run's record).
    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
    }

    /// Counters that run across epochs (and across a resume).
    package struct RunProgress {
        var trainedSoFar = 0
        var bestAccuracy = -1.0
        var bestEpoch = 0

        package init() {}

        init(trainedSoFar: Int, bestAccuracy: Double, bestEpoch: Int) {
            self.trainedSoFar = trainedSoFar
            self.bestAccuracy = bestAccuracy
            self.bestEpoch = bestEpoch
        }
    }

    /// Runs all epochs; rank 0 writes `metrics.jsonl` and `model.safetensors` into the run directory.
    public func run() throws -> TrainingSummary {
        claim = try claimRunDirectory()
        defer { claim = nil }
        let reporter = try EpochReporter(
            directory: config.runDirectory, active: isRoot, resumedAfter: resumeState?.epoch,
            lastRecord: resumeState?.lastMetrics, epochs: config.epochs,
            showProgress: config.showProgress, tensorboard: config.tensorboardDirectory, sink: report)
        for note in claim?.notes ?? [] {
            if note.hasPrefix("warning:") { FileHandle.standardError.write(Data((note + "\n").utf8)) } else { reporter.say(note) }
        }
        announce(reporter)
        let start = monotonicSeconds()
        var progress = resumeState?.progress ?? RunProgress()
        var history: [EpochMetrics] = []
        var partial = resumeState?.partialPass
        for epoch in (resumeState?.epoch ?? 0)..<config.epochs {
            history.append(try runEpoch(epoch, progress: &progress, reporter: reporter, from: partial))
            partial = nil
        }
        let modelPath = RunDirectory(config.runDirectory).model
        if isRoot {
            try claim?.verify(RunDirectory(config.runDirectory))
            try modelFile.write(model, to: modelPath)
        }
        let summary = TrainingSummary(
            epochs: history, bestTestAccuracy: progress.bestAccuracy, bestEpoch: progress.bestEpoch,
            finalTestAccuracy: history.last?.testAccuracy ?? 0, backpropSaved: history.last?.backpropSaved ?? 0,
            wallSeconds: monotonicSeconds() - start, modelPath: modelPath)
        reporter.finished(summary)
        return summary
    }

    /// One epoch as DESIGN.md describes it: train the unmastered instances, probe the mastered
    /// ones, decide mastery, evaluate, gather every rank's statistics, rebalance, check that
    /// every instance is owned once, checkpoint when due, report.
    ///
    /// When a rank asks to stop (a preemption signal), the ranks agree on it in the step's
    /// allreduce: mid-pass they write a checkpoint that records the step and stop; at the
    /// end of the pass they finish the epoch, write its checkpoint and stop.
    func runEpoch(
        _ epoch: Int, progress: inout RunProgress, reporter: EpochReporter, from partial: PartialPass? = nil
    ) throws -> EpochMetrics {
        let started = monotonicSeconds()
        let lr = config.learningRate(epoch: epoch, ranks: communicator.size)
        let pass = try trainPass(epoch: epoch, lr: Float(lr), progress: reporter.progressLine(), from: partial)
        guard pass.isComplete else {
            communicator.activity = "epoch \(epoch + 1), preemption checkpoint"
            let directory = try writeCheckpoint(epoch: epoch, progress: progress, metrics: nil, partial: pass.partial)
            throw TrainingError.preempted(epoch: epoch + 1, step: pass.stepsDone, steps: pass.steps, checkpoint: directory)
        }
        communicator.activity = "epoch \(epoch + 1), probing and evaluating"
        let probe = probePass(epoch: epoch)
        let decision = tracker.decide()
        let evaluationStart = monotonicSeconds()
        let test = try evaluateTest()
        let evaluateSeconds = monotonicSeconds() - evaluationStart
        hooks.beforeStatistics(epoch + 1, communicator.rank, model)
        let ranks = try RankStatistics.gather(
            localStatistics(pass: pass, probed: probe.probed, decision: decision), classes: data.train.classCount,
            communicator: communicator)
        try RankAgreement.checkParameters(ranks.map(\.digest), epoch: epoch + 1)
        let balance = try rebalance(ranks)
        try checkConservation(epoch: epoch + 1)

        let trained = ranks.map(\.trained).reduce(0, +)
        progress.trainedSoFar += trained
        var metrics = EpochMetrics(
            epoch: epoch + 1, lr: lr, trained: trained, probed: ranks.map(\.probed).reduce(0, +),
            mastered: ranks.map(\.mastered).reduce(0, +), returned: ranks.map(\.returned).reduce(0, +),
            backpropSaved: 1 - Double(progress.trainedSoFar) / (Double(data.globalTrainCount) * Double(epoch + 1)),
            trainLoss: pass.totals.meanLoss, trainAccuracy: pass.totals.accuracy, testLoss: test.meanLoss,
            testAccuracy: test.accuracy, seconds: 0, trainSeconds: pass.seconds, probeSeconds: probe.seconds,
            samplesPerSecond: Double(trained) / max(pass.seconds, 1e-9))
        metrics.worldSize = communicator.size
        metrics.globalBatch = config.globalBatch(ranks: communicator.size)
        metrics.trainedPerRank = ranks.map(\.trained)
        metrics.masteredPerRank = balance.masteredAfter
        metrics.parameterDigestAgree = Set(ranks.map(\.digest)).count == 1
        metrics.steps = pass.steps
        metrics.allreduceSeconds = pass.allreduceSeconds
        metrics.allreduceSecondsPerRank = ranks.map(\.allreduceSeconds)
        metrics.unmasteredPerRankBefore = balance.unmasteredBefore
        metrics.unmasteredPerRankAfter = balance.unmasteredAfter
        metrics.instancesMoved = balance.moved
        metrics.bytesMoved = balance.bytes
        metrics.rebalanceSeconds = balance.seconds
        metrics.evaluateSeconds = evaluateSeconds
        metrics.masteredPerClass = (0..<data.train.classCount).map { c in ranks.map { $0.masteredPerClass[c] }.reduce(0, +) }
        metrics.instancesPerClass = data.instancesPerClass
        if metrics.testAccuracy > progress.bestAccuracy { (progress.bestAccuracy, progress.bestEpoch) = (test.accuracy, epoch + 1) }

        let completed = epoch + 1
        var checkpoint: String?
        if completed == config.epochs || pass.stopRequested
            || (config.checkpointEvery > 0 && completed % config.checkpointEvery == 0)
        {
            communicator.activity = "epoch \(completed), checkpoint"
            let checkpointStart = monotonicSeconds()
            checkpoint = try writeCheckpoint(epoch: completed, progress: progress, metrics: metrics)
            metrics.checkpointSeconds = monotonicSeconds() - checkpointStart
        }
        metrics.seconds = monotonicSeconds() - started
        try reporter.epochEnded(metrics)
        if pass.stopRequested && completed < config.epochs {
            throw TrainingError.preempted(epoch: completed, step: pass.steps, steps: pass.steps, checkpoint: checkpoint ?? "")
        }
        return metrics
    }

    /// This rank's part of the epoch's statistics.
    private func localStatistics(pass: TrainPass, probed: Int, decision: MasteryCounts) -> RankStatistics {
        var mine = RankStatistics()
        mine.trained = pass.trained
        mine.probed = probed
        mine.instances = tracker.count
        mine.mastered = decision.mastered
        mine.probesDue = tracker.probesDue
        mine.returned = decision.returned
        mine.digest = model.digest
        mine.allreduceSeconds = pass.allreduceSeconds
        var perClass = [Int](repeating: 0, count: data.train.classCount)
        for slot in 0..<tracker.count where tracker.isMastered(slot) { perClass[Int(data.train.labels[slot])] += 1 }
        mine.masteredPerClass = perClass
        return mine
    }

    /// The run's first lines: what is trained where, and a warning when ranks x threads exceed the cores.
    private func announce(_ reporter: EpochReporter) {
        if let resumeState {
            let step = resumeState.partialPass.map { ", step \($0.stepsDone + 1) of \($0.steps)" } ?? ""
            reporter.say("resuming at epoch \(resumeState.epoch + 1) of \(config.epochs)\(step)")
        }
        let threads = model.compute.threads
        reporter.say(
            "ies: \(config.model.rawValue), \(model.parameters.count) parameters, \(data.train.classCount) classes, "
                + "\(data.globalTrainCount) train / "
                + "\(data.globalTestCount) test instances, batch \(config.globalBatch(ranks: communicator.size))"
                + (config.batchSizePerRank.map { " (\($0) per rank)" } ?? "") + ", "
                + "\(communicator.size) rank(s) x \(threads) thread(s), \(config.optimizer.rawValue), "
                + (config.effectiveAugmentation == .none ? "" : "\(config.effectiveAugmentation.rawValue), ")
                + (config.syncBatchNorm ? "sync-bn, " : "")
                + (config.mastery.isEnabled ? "\(config.mastery), probe \(config.probe)" : "IES off (threshold 0)")
                + ", run directory \(config.runDirectory)" + String(format: ", ready in %.2f s", startupSeconds))
        reporter.say("GEMM: \(BLAS.identity); code for \(CompiledTarget.cpu) CPUs")
        if let buckets, buckets.pairSum != nil {
            reporter.say("gradients: summed in shared memory after backward (2 ranks on one host)")
        } else if let buckets {
            reporter.say(
                "gradients: \(buckets.gradientBucketCount) bucket(s) of \(Setting.text(config.bucketMegabytes)!) MiB"
                    + (config.allreduceFormat.map { " as \($0.rawValue) (counts and statistics exact)" } ?? "") + ", reduced "
                    + (buckets.overlap ? "during backward" : "after backward")
                    + (config.overlap != nil ? "" : buckets.overlap ? " (ranks on several hosts)" : " (all ranks on one host)"))
        }
        if !communicator.parametersChosen.isEmpty {
            reporter.say(
                "MPI: set by ies before MPI_Init: \(communicator.parametersChosen.joined(separator: ", ")) "
                    + "(an --mca flag on the mpirun line overrides each)")
        }
        if let resumeState {
            for warning in resumeWarnings(resumeState, threads: threads) { reporter.warn(warning) }
        }
        if coreShare.oversubscribed(threads: threads) {
            reporter.warn(
                "\(coreShare.sharing) rank(s) x \(threads) thread(s) on this node exceed the \(coreShare.cpus) "
                    + "CPU(s) they may run on; expect slowdowns (give each rank fewer threads)")
        }
        if config.syncBatchNorm && communicator.size == 1 {
            reporter.warn("--sync-bn has no effect on one rank (it applies under mpirun with several ranks)")
        }
        if config.syncBatchNorm && model.batchCounterNames.isEmpty {
            reporter.warn("--sync-bn has no effect: the \(config.model.rawValue) model has no BatchNorm layer")
        }
    }
}
