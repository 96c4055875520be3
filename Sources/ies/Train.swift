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
            only \(Flags.list(Setting.flagsThatMayChangeOnResume)) may change.
            """)

    // Each option's name and help come from the table of settings (Training/Settings.swift);
    // makeConfig applies each through it. `parsing: .unconditional` lets a number be negative
    // (so that validation can say what is wrong with it).

    @Option(name: Setting.data.optionName, help: Setting.data.argumentHelp)
    var data: String?

    @Option(name: Setting.npyLayout.optionName, help: Setting.npyLayout.argumentHelp)
    var npyLayout: NPYLayout?

    @Option(name: Setting.model.optionName, help: Setting.model.argumentHelp)
    var model: ModelPreset?

    @Option(name: Setting.width.optionName, parsing: .unconditional, help: Setting.width.argumentHelp)
    var width: Int?

    @Flag(name: Setting.syncBn.optionName, help: Setting.syncBn.argumentHelp)
    var syncBn = false

    @Option(name: Setting.epochs.optionName, parsing: .unconditional, help: Setting.epochs.argumentHelp)
    var epochs: Int?

    @Option(name: Setting.batchSize.optionName, parsing: .unconditional, help: Setting.batchSize.argumentHelp)
    var batchSize: Int?

    @Option(
        name: Setting.batchSizePerRank.optionName, parsing: .unconditional, help: Setting.batchSizePerRank.argumentHelp)
    var batchSizePerRank: Int?

    @Option(name: Setting.lrScaling.optionName, help: Setting.lrScaling.argumentHelp)
    var lrScaling: LRScaling?

    @Option(
        name: Setting.lrReferenceBatch.optionName, parsing: .unconditional, help: Setting.lrReferenceBatch.argumentHelp)
    var lrReferenceBatch: Int?

    @Option(name: Setting.lr.optionName, parsing: .unconditional, help: Setting.lr.argumentHelp)
    var lr: Double?

    @Option(name: Setting.optimizer.optionName, help: Setting.optimizer.argumentHelp)
    var optimizer: OptimizerChoice?

    @Option(name: Setting.momentum.optionName, parsing: .unconditional, help: Setting.momentum.argumentHelp)
    var momentum: Double?

    @Option(name: Setting.weightDecay.optionName, parsing: .unconditional, help: Setting.weightDecay.argumentHelp)
    var weightDecay: Double?

    @Option(name: Setting.lrSchedule.optionName, help: Setting.lrSchedule.argumentHelp)
    var lrSchedule: String?

    @Option(name: Setting.warmupEpochs.optionName, parsing: .unconditional, help: Setting.warmupEpochs.argumentHelp)
    var warmupEpochs: Int?

    @Option(name: Setting.augment.optionName, help: Setting.augment.argumentHelp)
    var augment: Augmentation?

    @Option(name: Setting.seed.optionName, parsing: .unconditional, help: Setting.seed.argumentHelp)
    var seed: UInt64?

    @Option(name: Setting.limit.optionName, parsing: .unconditional, help: Setting.limit.argumentHelp)
    var limit: Int?

    @Option(name: Setting.testLimit.optionName, parsing: .unconditional, help: Setting.testLimit.argumentHelp)
    var testLimit: Int?

    @Option(name: Setting.threads.optionName, parsing: .unconditional, help: Setting.threads.argumentHelp)
    var threads: Int?

    @Option(name: Setting.shardBy.optionName, help: Setting.shardBy.argumentHelp)
    var shardBy: ShardStrategy?

    @Option(name: Setting.iesThreshold.optionName, parsing: .unconditional, help: Setting.iesThreshold.argumentHelp)
    var iesThreshold: Float?

    @Option(name: Setting.iesWindow.optionName, parsing: .unconditional, help: Setting.iesWindow.argumentHelp)
    var iesWindow: Int?

    @Option(name: Setting.iesK.optionName, parsing: .unconditional, help: Setting.iesK.argumentHelp)
    var iesK: Int?

    @Option(name: Setting.probe.optionName, help: Setting.probe.argumentHelp)
    var probe: String?

    @Option(
        name: Setting.checkpointEvery.optionName, parsing: .unconditional, help: Setting.checkpointEvery.argumentHelp)
    var checkpointEvery: Int?

    @Option(name: Setting.keep.optionName, parsing: .unconditional, help: Setting.keep.argumentHelp)
    var keep: Int?

    @Option(name: Setting.rebalance.optionName, help: Setting.rebalance.argumentHelp)
    var rebalance: OnOff?

    @Option(
        name: Setting.rebalanceTolerance.optionName, parsing: .unconditional,
        help: Setting.rebalanceTolerance.argumentHelp)
    var rebalanceTolerance: Double?

    @Option(name: Setting.runDir.optionName, help: Setting.runDir.argumentHelp)
    var runDir: String?

    @Option(help: ArgumentHelp(
        "Resume from the newest valid checkpoint of PATH (a run directory, its checkpoints/ directory, or one checkpoint); without PATH, of --run-dir. `--resume auto` resumes the run in --run-dir when it has a checkpoint and starts it otherwise (for requeued jobs).",
        valueName: "path"))
    var resume: String?

    @Option(name: Setting.stallTimeout.optionName, parsing: .unconditional, help: Setting.stallTimeout.argumentHelp)
    var stallTimeout: Double?

    @Option(name: Setting.overlap.optionName, help: Setting.overlap.argumentHelp)
    var overlap: OnOff?

    @Option(name: Setting.bucketMb.optionName, parsing: .unconditional, help: Setting.bucketMb.argumentHelp)
    var bucketMb: Double?

    @Option(name: Setting.allreduceDtype.optionName, help: Setting.allreduceDtype.argumentHelp)
    var allreduceDtype: String?

    @Option(name: Setting.tensorboard.optionName, help: Setting.tensorboard.argumentHelp)
    var tensorboard: String?

    @Flag(name: Setting.progress.optionName, help: Setting.progress.argumentHelp)
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

    /// What `--resume` asks for.
    var resumeRequest: ResumeRequest {
        switch resume {
        case nil: return .none
        case Train.resumeFromRunDirectory: return .runDirectory
        case Train.resumeAutomatically: return .auto
        case let path?: return .path(path)
        }
    }

    /// What `--resume` with no PATH becomes (see main.swift).
    static let resumeFromRunDirectory = ""
    /// `--resume auto`: resume if the run directory has a checkpoint, else start.
    static let resumeAutomatically = "auto"

    /// The run's configuration: the flags over the defaults, or, when resuming, over the
    /// checkpoint's configuration, where changing a `.fixed` setting is refused.
    func makeConfig(base: TrainingConfig?, checkpointPath: String = "") throws -> TrainingConfig {
        var config = base?.resumed() ?? TrainingConfig(runDirectory: runDir ?? TrainingConfig.defaultRunDirectory())
        /// Applies a flag that was given (non-nil `value`) through the table.
        func given<Value>(_ setting: Setting, _ value: Value?) throws {
            guard let value else { return }
            try config.set(setting, to: value, resumingFrom: base == nil ? nil : checkpointPath)
        }
        do {
            try given(.data, data)
            try given(.npyLayout, npyLayout)
            try given(.model, model)
            try given(.width, width)
            try given(.syncBn, syncBn ? true : nil)
            try given(.epochs, epochs)
            try given(.batchSize, batchSize)
            try given(.batchSizePerRank, batchSizePerRank)
            try given(.lrScaling, lrScaling)
            try given(.lrReferenceBatch, lrReferenceBatch)
            try given(.lr, lr)
            try given(.optimizer, optimizer)
            try given(.momentum, momentum)
            try given(.weightDecay, weightDecay)
            try given(.lrSchedule, try lrSchedule.map { try LRSchedule(parsing: $0) })
            try given(.warmupEpochs, warmupEpochs)
            try given(.augment, augment)
            try given(.seed, seed)
            try given(.limit, limit)
            try given(.testLimit, testLimit)
            try given(.threads, threads)
            try given(.shardBy, shardBy)
            if iesThreshold != nil || iesWindow != nil || iesK != nil {
                try given(.ies, try MasteryRule(
                    threshold: iesThreshold ?? config.mastery.threshold, window: iesWindow ?? config.mastery.window,
                    k: iesK ?? config.mastery.k))
            }
            try given(.probe, try probe.map { try ProbeSchedule(parsing: $0) })
            try given(.checkpointEvery, checkpointEvery)
            try given(.keep, keep)
            try given(.rebalance, rebalance.map { $0 == .on })
            try given(.rebalanceTolerance, rebalanceTolerance)
            try given(.runDir, runDir)
            try given(.stallTimeout, stallTimeout)
            try given(.overlap, overlap.map { $0 == .on })
            try given(.bucketMb, bucketMb)
            try given(.allreduceDtype, try allreduceDtype.map(Train.allreduceFormat))
            try given(.tensorboard, tensorboard)
            try given(.progress, noProgress ? false : nil)
        } catch {
            throw Flags.validationError(error)
        }
        return config
    }

    /// `--allreduce-dtype`'s value: fp32 (nil), bf16 or fp16.
    static func allreduceFormat(_ text: String) throws -> HalfPrecision? {
        guard text == "fp32" || HalfPrecision(rawValue: text) != nil else {
            throw ValidationError("\(Setting.allreduceDtype) must be fp32, bf16 or fp16, got '\(text)'")
        }
        return HalfPrecision(rawValue: text)
    }

    func run() throws {
        let communicator = try Communicator.world()
        do {
            var config: TrainingConfig
            let (checkpoint, warnings) = try Resume.checkpoint(for: resumeRequest, runDirectory: runDir)
            if communicator.rank == 0 {
                warnings.forEach { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) }
            }
            if let found = checkpoint {
                config = try makeConfig(base: found.meta.config, checkpointPath: found.directory)
                if runDir == nil { config.runDirectory = Resume.runDirectory(of: found) }
                do { try config.validate() } catch { throw Flags.validationError(error) }
            } else {
                config = try makeConfig(base: nil)
                do { try config.validate() } catch { throw Flags.validationError(error) }
            }
            StopRequest.shared.listen()
            let trainer = try Trainer(
                config: config, communicator: communicator, resume: checkpoint, restartAllowed: resumeRequest == .auto)
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
        } catch let error as TrainingError where error.isRaisedByEveryRank {
            // Every rank stops here together: one line from rank 0, a clean end, status 1.
            if communicator.rank == 0 { FileHandle.standardError.write(Data("Error: \(error)\n".utf8)) }
            communicator.finalize()
            throw ExitCode.failure
        } catch {
            // One rank failing alone would leave the others waiting in a collective: end the job.
            if communicator.size > 1 {
                FileHandle.standardError.write(Data("Error (rank \(communicator.rank)): \(error)\n".utf8))
                communicator.abort(code: 1)
            }
            throw Flags.named(error)
        }
    }
}
