import ArgumentParser
import Datasets
import Distributed
import Foundation
import RunFormat
import Mastery
import NN
import Training

/// `ies train`: one training run, alone or as one rank of `mpirun`.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model; write metrics.jsonl, checkpoints and model.safetensors into the run directory.",
        discussion: """
            Run it alone or under mpirun (data-parallel, one rank per process). \
            With --resume the run continues from a checkpoint with the checkpoint's settings; \
            only --epochs, --threads, --run-dir, --checkpoint-every, --keep, --rebalance, \
            --rebalance-tolerance and --no-progress may change.
            """)

    @Option(help: "Dataset directory: IDX files (train-images-idx3-ubyte[.gz], ...) or CIFAR-10/100 binary. (default: /usr/share/datasets/fashion-mnist)")
    var data: String?

    @Option(help: "Model preset: mlp, cnn, resnet18, resnet34, resnet50 or vgg16. (default: cnn)")
    var model: ModelPreset?

    @Option(parsing: .unconditional, help: "ResNets: channels of the first stage (the stages use W, 2W, 4W, 8W). (default: 64)")
    var width: Int?

    @Flag(help: "Under mpirun: BatchNorm normalizes with the statistics of the global batch (all ranks), like PyTorch's SyncBatchNorm, instead of each rank's own.")
    var syncBn = false

    @Option(parsing: .unconditional, help: "Number of epochs in the whole run (a resumed run continues up to it). (default: 5)")
    var epochs: Int?

    @Option(parsing: .unconditional, help: "Global batch size: instances per optimizer step over all ranks. (default: 64)")
    var batchSize: Int?

    @Option(parsing: .unconditional, help: "Instances per step on each rank instead: the global batch is this times the number of ranks (for scaling out).")
    var batchSizePerRank: Int?

    @Option(help: "Scale the learning rate with the global batch G: none, linear (lr x G/ref, Goyal et al. 2017) or sqrt (lr x sqrt(G/ref)); combine with --warmup-epochs. (default: none)")
    var lrScaling: LRScaling?

    @Option(parsing: .unconditional, help: "The global batch ref at which --lr applies unscaled. (default: 64)")
    var lrReferenceBatch: Int?

    @Option(parsing: .unconditional, help: "Base learning rate. (default: 0.1)")
    var lr: Double?

    @Option(help: "Optimizer: sgd, adam or adamw (PyTorch semantics; Adam's betas 0.9/0.999, eps 1e-8). (default: sgd)")
    var optimizer: OptimizerChoice?

    @Option(parsing: .unconditional, help: "SGD momentum, in [0, 1); Adam and AdamW ignore it. (default: 0.9)")
    var momentum: Double?

    @Option(parsing: .unconditional, help: "Weight decay: added to the gradient for sgd and adam (L2), decoupled for adamw, as in PyTorch. (default: 5e-4)")
    var weightDecay: Double?

    @Option(help: "Per-epoch schedule: constant, exponential:GAMMA, step:SIZE:GAMMA, linear:START:END, cosine[:MIN_LR]. (default: exponential:0.96)")
    var lrSchedule: String?

    @Option(parsing: .unconditional, help: "Epochs of linear learning-rate warm-up (lr x (e + 1) / N) before the schedule starts. (default: 0)")
    var warmupEpochs: Int?

    @Option(help: "Training-time augmentation: none, or crop-flip (random 4-pixel-padded crop and horizontal flip, a function of seed, epoch and instance). (default: crop-flip for resnets and vgg16, none for mlp and cnn)")
    var augment: Augmentation?

    @Option(parsing: .unconditional, help: "Random seed (initialization and shuffling). (default: 0)")
    var seed: UInt64?

    @Option(parsing: .unconditional, help: "Use only the first N training instances.")
    var limit: Int?

    @Option(parsing: .unconditional, help: "Evaluate on the first N test instances only (quick experiments).")
    var testLimit: Int?

    @Option(parsing: .unconditional, help: "Compute threads per rank (default: the node's cores divided by the ranks on it).")
    var threads: Int?

    @Option(help: "How training instances are split across ranks: contiguous (blocks of ids) or class (whole classes per rank). (default: contiguous)")
    var shardBy: ShardStrategy?

    @Option(parsing: .unconditional, help: "IES: an instance is mastered when the sum of its last k moving averages of |d2 loss| is below this; 0 disables IES. (default: 1e-3)")
    var iesThreshold: Float?

    @Option(parsing: .unconditional, help: "IES: d2 values in each moving average. (default: 3)")
    var iesWindow: Int?

    @Option(parsing: .unconditional, help: "IES: moving averages summed. (default: 1)")
    var iesK: Int?

    @Option(parsing: .unconditional, help: "Write a checkpoint every E epochs, and after the last; 0: only after the last. (default: 1)")
    var checkpointEvery: Int?

    @Option(parsing: .unconditional, help: "Checkpoints to keep (the newest). (default: 3)")
    var keep: Int?

    @Option(help: "Move instances between ranks when unmastered or mastered counts become uneven: on or off. (default: on)")
    var rebalance: OnOff?

    @Option(parsing: .unconditional, help: "Rebalance when max/mean of the per-rank counts exceeds 1 + this. (default: 0.05)")
    var rebalanceTolerance: Double?

    @Option(help: "Run directory for metrics.jsonl, checkpoints/ and model.safetensors. (default: runs/<timestamp>; when resuming, the checkpoint's run directory)")
    var runDir: String?

    @Option(help: ArgumentHelp(
        "Resume from the newest valid checkpoint of PATH (a run directory, its checkpoints/ directory, or one checkpoint); without PATH, of --run-dir. `--resume auto` resumes the run in --run-dir when it has a checkpoint and starts it otherwise (for requeued jobs).",
        valueName: "path"))
    var resume: String?

    @Option(parsing: .unconditional, help: "Under mpirun: end the job when a rank has waited this many seconds for the others (a stopped process, a dead link), naming the ranks and hosts that did not arrive; 0 waits forever. (default: 300)")
    var stallTimeout: Double?

    @Option(help: "Under mpirun: reduce gradients in buckets while backward runs (on), or in one allreduce after it (off). (default: on)")
    var overlap: OnOff?

    @Option(parsing: .unconditional, help: "Size of a gradient bucket for --overlap, in MiB. (default: 1)")
    var bucketMb: Double?

    @Option(help: "Under mpirun: send gradients as bf16 or fp16 (half the bytes of fp32; each sum is rounded to that format; the counts stay exact). Changes results: measure the accuracy. (default: fp32)")
    var allreduceDtype: String?

    @Option(help: "Also write TensorBoard event files of the per-epoch scalars into this directory (rank 0); view with `tensorboard --logdir DIR`.")
    var tensorboard: String?

    @Flag(help: "Do not draw the progress line within epochs.")
    var noProgress = false

    func validate() throws {
        if batchSize != nil && batchSizePerRank != nil {
            throw ValidationError("give --batch-size (global) or --batch-size-per-rank, not both")
        }
        if resume == Train.resumeFromRunDirectory && runDir == nil {
            throw ValidationError("--resume without a PATH resumes the run in --run-dir: give --run-dir (or --resume PATH)")
        }
        if resume == Train.resumeAutomatically && runDir == nil {
            throw ValidationError("--resume auto continues or starts the run in --run-dir: give --run-dir")
        }
        guard resume == nil else { return }  // checked against the checkpoint in run()
        do {
            try makeConfig(base: nil).validate()
        } catch {
            throw Flags.validationError(error)
        }
    }

    /// What `--resume` with no PATH becomes (see main.swift).
    static let resumeFromRunDirectory = ""
    /// `--resume auto`: resume if the run directory has a checkpoint, else start.
    static let resumeAutomatically = "auto"

    /// The run's configuration: the flags over the defaults, or, when resuming, over the
    /// checkpoint's configuration, where changing what determines the result is refused.
    func makeConfig(base: TrainingConfig?, checkpointPath: String = "") throws -> TrainingConfig {
        var config = base ?? TrainingConfig(runDirectory: runDir ?? Train.defaultRunDirectory())
        func set<T: Equatable>(_ keyPath: WritableKeyPath<TrainingConfig, T>, _ value: T?, flag: String) throws {
            guard let value else { return }
            if base != nil && config[keyPath: keyPath] != value {
                throw ValidationError(
                    "\(flag) differs from the checkpoint \(checkpointPath) (\(config[keyPath: keyPath])); a resumed run keeps "
                        + "its settings: drop \(flag) or start a new run")
            }
            config[keyPath: keyPath] = value
        }
        try set(\.dataDirectory, data, flag: "--data")
        try set(\.model, model, flag: "--model")
        try set(\.width, width.map { Optional($0) }, flag: "--width")
        try set(\.syncBatchNorm, syncBn ? true : nil, flag: "--sync-bn")
        try set(\.batchSize, batchSize, flag: "--batch-size")
        try set(\.batchSizePerRank, batchSizePerRank.map { Optional($0) }, flag: "--batch-size-per-rank")
        try set(\.lrScaling, lrScaling, flag: "--lr-scaling")
        try set(\.lrReferenceBatch, lrReferenceBatch, flag: "--lr-reference-batch")
        if let allreduceDtype {
            guard allreduceDtype == "fp32" || HalfPrecision(rawValue: allreduceDtype) != nil else {
                throw ValidationError("--allreduce-dtype must be fp32, bf16 or fp16, got '\(allreduceDtype)'")
            }
            try set(\.allreduceFormat, HalfPrecision(rawValue: allreduceDtype), flag: "--allreduce-dtype")
        }
        try set(\.learningRate, lr, flag: "--lr")
        try set(\.optimizer, optimizer, flag: "--optimizer")
        try set(\.momentum, momentum, flag: "--momentum")
        try set(\.warmupEpochs, warmupEpochs, flag: "--warmup-epochs")
        try set(\.augmentation, augment.map { Optional($0) }, flag: "--augment")
        try set(\.weightDecay, weightDecay, flag: "--weight-decay")
        try set(\.schedule, try lrSchedule.map { try LRSchedule(parsing: $0) }, flag: "--lr-schedule")
        try set(\.seed, seed, flag: "--seed")
        try set(\.limit, limit.map { Optional($0) }, flag: "--limit")
        try set(\.testLimit, testLimit.map { Optional($0) }, flag: "--test-limit")
        try set(\.sharding, shardBy, flag: "--shard-by")
        if iesThreshold != nil || iesWindow != nil || iesK != nil {
            let rule = try MasteryRule(
                threshold: iesThreshold ?? config.mastery.threshold, window: iesWindow ?? config.mastery.window,
                k: iesK ?? config.mastery.k)
            try set(\.mastery, rule, flag: "--ies-threshold/--ies-window/--ies-k")
        }
        if let rebalance { config.rebalance = rebalance == .on }
        if let rebalanceTolerance { config.rebalanceTolerance = rebalanceTolerance }
        if let stallTimeout { config.stallTimeout = stallTimeout }
        if let tensorboard { config.tensorboardDirectory = tensorboard }
        if let overlap { config.overlap = overlap == .on }
        if let bucketMb { config.bucketMegabytes = bucketMb }
        if let epochs { config.epochs = epochs }
        config.threads = threads
        if let runDir { config.runDirectory = runDir }
        if let checkpointEvery { config.checkpointEvery = checkpointEvery }
        if let keep { config.keepCheckpoints = keep }
        config.showProgress = !noProgress
        return config
    }

    static func defaultRunDirectory() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "runs/" + formatter.string(from: Date())
    }

    func run() throws {
        let communicator = try Communicator.world()
        do {
            var checkpoint: LoadedCheckpoint?
            var config: TrainingConfig
            var resume = self.resume
            if resume == Train.resumeAutomatically {
                resume = try startOrContinue(rank: communicator.rank)
            }
            if let resume {
                let source = resume == Train.resumeFromRunDirectory ? runDir! : resume
                let (found, warnings) = try LoadedCheckpoint.newestValid(in: source)
                if communicator.rank == 0 { warnings.forEach { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) } }
                checkpoint = found
                config = try makeConfig(base: found.meta.config, checkpointPath: found.directory)
                if runDir == nil { config.runDirectory = Resume.runDirectory(of: found) }
                if epochs == nil { config.epochs = found.meta.config.epochs }
                do { try config.validate() } catch { throw Flags.validationError(error) }
            } else {
                config = try makeConfig(base: nil)
                do { try config.validate() } catch { throw Flags.validationError(error) }
            }
            StopRequest.shared.listen()
            let trainer = try Trainer(config: config, communicator: communicator, resume: checkpoint)
            _ = try trainer.run()
            communicator.finalize()
        } catch let TrainingError.preempted(epoch, step, steps, checkpoint) {
            // Every rank gets here together (they agreed on the stop in the step's allreduce).
            if communicator.rank == 0 {
                print(
                    "stopped by a preemption signal after step \(step) of \(steps) of epoch \(epoch); checkpoint "
                        + "\(checkpoint). Resume with: ies train --run-dir \(runDir ?? "RUN_DIR") --resume auto")
            }
            communicator.finalize()
            throw ExitCode(ExitStatus.preempted.rawValue)
        } catch {
            // One rank failing alone would leave the others waiting in a collective: end the job.
            if communicator.size > 1 {
                FileHandle.standardError.write(Data("Error (rank \(communicator.rank)): \(error)\n".utf8))
                communicator.abort(code: 1)
            }
            throw Flags.named(error)
        }
    }

    /// `--resume auto`: the run directory's checkpoint when it has one (resume), else nil
    /// (start); a metrics.jsonl left by a run that never checkpointed is kept aside (rank 0).
    private func startOrContinue(rank: Int) throws -> String? {
        let directory = runDir!
        if !RunDirectory(directory).checkpointStore.checkpointNames().isEmpty { return directory }
        let metrics = RunDirectory(directory).metrics
        if rank == 0 && FileManager.default.fileExists(atPath: metrics) {
            let aside = metrics + ".previous"
            try? FileManager.default.removeItem(atPath: aside)
            try FileManager.default.moveItem(atPath: metrics, toPath: aside)
            FileHandle.standardError.write(Data("warning: \(directory) has no checkpoint; starting over (its metrics.jsonl is kept as metrics.jsonl.previous)\n".utf8))
        }
        return nil
    }
}
