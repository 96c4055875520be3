import ArgumentParser
import Datasets
import Foundation
import Mastery
import NN
import Training

/// `ies eval`: test loss and accuracy of a saved model, or (`--view-noise`) how much of the
/// training instances' d2 comes from the augmented view changing.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print test loss and accuracy of a model.safetensors.",
        discussion: """
            --view-noise instead evaluates the first --limit training instances under the augmented views of \
            --view-epochs consecutive epochs at the model's fixed parameters and folds their losses through the IES \
            rule: every d2 is then view noise alone, and the instances the rule does not master over these views \
            cannot stay mastered in a run that augments its data, however slowly the model moves.
            """)

    @Option(help: "A model.safetensors written by `ies train`.")
    var modelFile: String

    @Option(help: "Dataset directory (its test split is used).")
    var data = "/usr/share/datasets/fashion-mnist"

    @Option(name: Setting.npyLayout.optionName, help: Setting.npyLayout.argumentHelp)
    var npyLayout: NPYLayout?

    @Option(parsing: .unconditional, help: "Compute threads (default: all cores).")
    var threads: Int?

    @Flag(help: "Measure the d2 that augmentation alone causes (see below) instead of the test accuracy.")
    var viewNoise = false

    @Option(parsing: .unconditional, help: "--view-noise: training instances measured (the first N).")
    var limit = 10_000

    @Option(help: "--view-noise: the augmentation whose views are compared.")
    var augment: Augmentation = .cropFlip

    @Option(parsing: .unconditional, help: "--view-noise: the run's seed (views are a function of seed, epoch and instance).")
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: "--view-noise: the first epoch (0-based) whose view is used.")
    var firstEpoch = 0

    @Option(name: Setting.iesThreshold.optionName, parsing: .unconditional, help: "--view-noise: the IES threshold.")
    var iesThreshold: Float = MasteryRule.defaults.threshold

    func validate() throws {
        if let threads, threads <= 0 || threads > TrainingConfig.maxThreads {
            throw ValidationError("--threads must be in 1...\(TrainingConfig.maxThreads), got \(threads)")
        }
        if limit <= 0 { throw ValidationError("--limit must be >= 1, got \(limit)") }
        if firstEpoch < 0 { throw ValidationError("--first-epoch must be >= 0, got \(firstEpoch)") }
    }

    func run() throws {
        let compute = Compute(threads: threads ?? CoreShare.currentCPUs.count)
        let (file, model) = try ModelFile.read(path: modelFile, compute: compute)
        let batch = model.maxBatch
        let layout = npyLayout ?? TrainingConfig(runDirectory: "").npyLayout  // the default lives there
        let splits = try DatasetLoader.load(directory: data, npyLayout: layout)
        let test = viewNoise ? splits.train : splits.test
        guard test.channels == file.channels, test.height == file.height, test.width == file.width,
              test.classCount <= file.classes
        else {
            throw TrainingError.badModelFile(
                path: modelFile,
                message: "model expects \(file.channels)x\(file.height)x\(file.width) inputs and \(file.classes) classes; "
                    + "\(data) has \(test.channels)x\(test.height)x\(test.width) and \(test.classCount)")
        }
        if viewNoise {
            let rule = try MasteryRule(
                threshold: iesThreshold, window: MasteryRule.defaults.window, k: MasteryRule.defaults.k)
            let train = test.subset(slots: Array(0..<min(limit, test.count)))
            let noise = ViewNoise(
                model: model, normalization: file.normalization, data: train, augmentation: augment, seed: seed,
                firstEpoch: firstEpoch, rule: rule, batchSize: batch)
            print(String(
                format: "view noise: %ld training instances, %@ views of epochs %ld-%ld at fixed parameters",
                train.count, augment.rawValue, firstEpoch + 1, firstEpoch + noise.views))
            print(String(
                format: "|d2| from the views alone: median %.3g, 75th percentile %.3g, 90th %.3g; %.1f%% of d2 values >= %g",
                noise.quantile(0.5), noise.quantile(0.75), noise.quantile(0.9), noise.shareAbove(rule.threshold) * 100,
                rule.threshold))
            print(String(
                format: "the rule's moving average of |d2| over these views: median %.3g, 75th percentile %.3g, 90th %.3g",
                noise.movingAverageQuantile(0.5), noise.movingAverageQuantile(0.75), noise.movingAverageQuantile(0.9)))
            print(String(
                format: "%@ masters %ld of %ld (%.1f%%) over these views: the share that frozen parameters would let stay mastered",
                rule.description, noise.mastered, noise.instances, Double(noise.mastered) / Double(noise.instances) * 100))
            return
        }
        let totals = Evaluator(model: model, normalization: file.normalization, batchSize: batch).evaluate(test)
        print(String(format: "test loss %.4f  test accuracy %.2f%% (%ld/%ld)", totals.meanLoss, totals.accuracy * 100,
                     totals.correct, totals.count))
    }
}
