import ArgumentParser
import Datasets
import Distributed
import Foundation
import Mastery
import NN
import Training

/// `ies train`: one training run.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model and write metrics.jsonl and model.safetensors into the run directory.")

    @Option(help: "Dataset directory: IDX files (train-images-idx3-ubyte[.gz], ...) or CIFAR-10/100 binary.")
    var data = "/usr/share/datasets/fashion-mnist"

    @Option(help: "Model preset: mlp or cnn.")
    var model: ModelPreset = .cnn

    @Option(help: "Number of epochs.")
    var epochs = 5

    @Option(help: "Global batch size (instances per step).")
    var batchSize = 64

    @Option(help: "Base learning rate.")
    var lr = 0.1

    @Option(help: "SGD momentum, in [0, 1).")
    var momentum = 0.9

    @Option(help: "Weight decay (L2, added to the gradient as in PyTorch).")
    var weightDecay = 5e-4

    @Option(help: "Per-epoch schedule: constant, exponential:GAMMA, step:SIZE:GAMMA, linear:START:END, cosine[:MIN_LR].")
    var lrSchedule = "exponential:0.96"

    @Option(help: "Random seed (initialization and shuffling).")
    var seed: UInt64 = 0

    @Option(help: "Use only the first N training instances.")
    var limit: Int?

    @Option(help: "OpenBLAS threads per rank (default: the node's cores divided by the ranks on it).")
    var threads: Int?

    @Option(help: "How training instances are split across ranks: contiguous (blocks of ids) or class (whole classes per rank).")
    var shardBy: ShardStrategy = .contiguous

    @Option(help: "Run directory for metrics.jsonl and model.safetensors (default: runs/<timestamp>).")
    var runDir: String?

    @Flag(help: "Do not draw the progress line within epochs.")
    var noProgress = false

    @Option(help: "IES: an instance is mastered when the sum of its last k moving averages of |d2 loss| is below this (0 disables IES).")
    var iesThreshold: Float = 1e-3

    @Option(help: "IES: number of d2 values in each moving average.")
    var iesWindow = 3

    @Option(help: "IES: number of moving averages summed.")
    var iesK = 1

    func validate() throws {
        do {
            try makeConfig().validate()
        } catch let error as TrainingError {
            throw ValidationError(error.description)
        } catch let error as LRScheduleError {
            throw ValidationError("--lr-schedule \(error.description)")
        } catch let error as MasteryError {
            throw ValidationError(error.description)
        }
    }

    func makeConfig() throws -> TrainingConfig {
        var config = TrainingConfig(runDirectory: runDir ?? Train.defaultRunDirectory())
        config.dataDirectory = data
        config.model = model
        config.epochs = epochs
        config.batchSize = batchSize
        config.learningRate = lr
        config.momentum = momentum
        config.weightDecay = weightDecay
        config.schedule = try LRSchedule(parsing: lrSchedule)
        config.seed = seed
        config.limit = limit
        config.threads = threads
        config.sharding = shardBy
        config.showProgress = !noProgress
        config.mastery = try MasteryRule(threshold: iesThreshold, window: iesWindow, k: iesK)
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
            let trainer = try Trainer(config: makeConfig(), communicator: communicator)
            _ = try trainer.run()
            communicator.finalize()
        } catch {
            // One rank failing alone would leave the others waiting in a collective: end the job.
            if communicator.size > 1 {
                FileHandle.standardError.write(Data("Error (rank \(communicator.rank)): \(error)\n".utf8))
                communicator.abort(code: 1)
            }
            throw error
        }
    }
}
