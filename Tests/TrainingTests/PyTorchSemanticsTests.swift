import Datasets
import Foundation
import NN
import SafeTensors
import TestSupport
import Training
import XCTest

/// model.safetensors must mean the same network to PyTorch: an independent numpy
/// implementation of the equivalent torch.nn.Sequential, fed the saved parameters,
/// must reproduce the logits ies computes.
final class PyTorchSemanticsTests: RunDirectoryTestCase {
    func testSavedModelsReproduceTheirLogitsUnderPyTorchSemantics() throws {
        try Python.require("safetensors", "numpy")
        let splits = try Fixtures.fashion(limit: 600)
        for preset in [ModelPreset.mlp, .cnn] {
            let run = try runDirectory()
            var config = TrainingConfig(runDirectory: run)
            config.model = preset
            config.epochs = 1
            config.showProgress = false
            config.threads = 1
            let trainer = try Trainer(config: config, splits: splits)
            trainer.report = { _ in }
            let summary = try trainer.run()

            // Inputs: 16 normalized test images; logits from the trained model.
            let (file, model) = try ModelFile.read(path: summary.modelPath, maxBatch: 16, compute: Compute(threads: 1))
            let count = 16, size = model.inputSize, classes = model.outputSize
            var labels = [Int32](repeating: 0, count: count)
            let slots = Array(0..<count)
            slots.withUnsafeBufferPointer { chosen in
                labels.withUnsafeMutableBufferPointer {
                    file.normalization.fill(from: splits.test, slots: chosen, output: model.input, labels: $0.baseAddress!)
                }
            }
            let inputs = Array(UnsafeBufferPointer(start: model.input, count: count * size))
            model.forward(batch: count, training: false)
            let logits = Array(UnsafeBufferPointer(start: model.output, count: count * classes))
            let io = run + "/io.safetensors"
            try SafetensorsFile(tensors: [
                SafetensorsTensor(name: "inputs", shape: [count] + model.inputShape, floats: inputs),
                SafetensorsTensor(name: "logits", shape: [count, classes], floats: logits),
            ]).write(path: io)

            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("numpy_reference.py").path
            let result = try Python.run([script, summary.modelPath, io, "eval"], timeout: 120)
            XCTAssertEqual(result.status, 0, "\(preset): \(result.stdout) \(result.stderr)")
            XCTAssertTrue(result.stdout.contains(preset.rawValue), result.stdout)
        }
    }
}
