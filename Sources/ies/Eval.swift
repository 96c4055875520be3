import ArgumentParser
import Datasets
import Foundation
import NN
import Training

/// `ies eval`: test loss and accuracy of a saved model.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print test loss and accuracy of a model.safetensors.")

    @Option(help: "A model.safetensors written by `ies train`.")
    var modelFile: String

    @Option(help: "Dataset directory (its test split is used).")
    var data = "/usr/share/datasets/fashion-mnist"

    @Option(name: Setting.npyLayout.optionName, help: Setting.npyLayout.argumentHelp)
    var npyLayout: NPYLayout?

    @Option(parsing: .unconditional, help: "Compute threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads <= 0 || threads > TrainingConfig.maxThreads {
            throw ValidationError("--threads must be in 1...\(TrainingConfig.maxThreads), got \(threads)")
        }
    }

    func run() throws {
        let compute = Compute(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let (file, model) = try ModelFile.read(path: modelFile, compute: compute)
        let batch = model.maxBatch
        let layout = npyLayout ?? TrainingConfig(runDirectory: "").npyLayout  // the default lives there
        let test = try DatasetLoader.load(directory: data, npyLayout: layout).test
        guard test.channels == file.channels, test.height == file.height, test.width == file.width,
              test.classCount <= file.classes
        else {
            throw TrainingError.badModelFile(
                path: modelFile,
                message: "model expects \(file.channels)x\(file.height)x\(file.width) inputs and \(file.classes) classes; "
                    + "\(data) has \(test.channels)x\(test.height)x\(test.width) and \(test.classCount)")
        }
        let totals = Evaluator(model: model, normalization: file.normalization, batchSize: batch).evaluate(test)
        print(String(format: "test loss %.4f  test accuracy %.2f%% (%ld/%ld)", totals.meanLoss, totals.accuracy * 100,
                     totals.correct, totals.count))
    }
}
