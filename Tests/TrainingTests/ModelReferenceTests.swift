import Datasets
import Foundation
import NN
import SafeTensors
import NNTestSupport
import TestSupport
import Training
import XCTest

/// Every network, as `model.safetensors` describes it, computes under an independent numpy
/// implementation of PyTorch's semantics (numpy_reference.py, built from the tensor names)
/// the logits `ies` computed: in evaluation mode (running statistics), and in training mode
/// (batch statistics), where the running statistics and num_batches_tracked after the
/// step must agree too, and VGG's Dropout uses the masks ies drew.
final class ModelReferenceTests: RunDirectoryTestCase {
    private static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("numpy_reference.py").path

    /// Builds `preset`, gives its BatchNorm layers random affine parameters and running
    /// statistics, runs a random batch in `training` mode (folding the batch statistics, as
    /// a training step does), and asks the reference to agree.
    private func check(_ preset: ModelPreset, input: [Int], width: Int?, batch: Int, training: Bool) throws {
        let model = try preset.build(
            channels: input[0], height: input[1], width: input[2], classes: 10, maxBatch: batch, seed: 3,
            compute: Compute(threads: 1), stageWidth: width)
        var generator = SeededGenerator(seed: 17)
        for entry in model.parameters.entries where entry.name.contains("bn") || entry.name.hasPrefix("features")
            && entry.shape.count == 1 && !entry.name.hasSuffix("bias") {
            model.parameters.load(randomFloats(entry.count, 0.5, 1.5, generator: &generator), into: entry)
        }
        for entry in model.buffers.entries {
            let range: (Float, Float) = entry.name.hasSuffix("running_var") ? (0.5, 2) : (-0.5, 0.5)
            model.buffers.load(randomFloats(entry.count, range.0, range.1, generator: &generator), into: entry)
        }
        let inputs = randomFloats(batch * model.inputSize, -2, 2, generator: &generator)
        inputs.withUnsafeBufferPointer { model.input.update(from: $0.baseAddress!, count: inputs.count) }
        let ids = (0..<Int32(batch)).map { $0 * 7 + 1 }
        var statistics = [Float](repeating: 0, count: model.statisticsCount)
        ids.withUnsafeBufferPointer { ids in
            statistics.withUnsafeMutableBufferPointer { statistics in
                model.forward(
                    batch: batch, training: training,
                    options: Model.TrainingOptions(
                        statistics: statistics, identity: BatchIdentity(seed: 5, epoch: 0, ids: ids.baseAddress!)))
            }
        }
        let logits = Array(UnsafeBufferPointer(start: model.output, count: batch * 10))
        var tensors = [
            SafetensorsTensor(name: "inputs", shape: [batch] + input, floats: inputs),
            SafetensorsTensor(name: "logits", shape: [batch, 10], floats: logits),
        ]
        let run = try runDirectory()
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        // What the model file holds is what PyTorch would load: the state BEFORE the step.
        let file = ModelFile(
            preset: preset, stageWidth: width, channels: input[0], height: input[1], width: input[2], classes: 10,
            normalization: Normalization(mean: [Float](repeating: 0, count: input[0]), std: [Float](repeating: 1, count: input[0])))
        try file.write(model, to: run + "/model.safetensors")
        if training {
            statistics.withUnsafeBufferPointer { model.foldStatistics($0, instances: batch) }
            for entry in model.buffers.entries {
                tensors.append(SafetensorsTensor(name: "expected." + entry.name, shape: entry.shape, floats: model.buffers.values(of: entry)))
            }
            for name in model.batchCounterNames {
                tensors.append(SafetensorsTensor(name: "expected." + name, shape: [], int64s: [model.trainingSteps]))
            }
            for (prefix, layer) in Model.walk(model.root) {
                guard let dropout = layer as? Dropout else { continue }
                tensors.append(SafetensorsTensor(
                    name: "dropout." + prefix.dropLast(), shape: [batch, dropout.inputSize],
                    floats: dropout.keepMask(batch: batch)))
            }
        }
        try SafetensorsFile(tensors: tensors).write(path: run + "/io.safetensors")
        let mode = training ? "train" : "eval"
        let result = try Python.run([Self.script, run + "/model.safetensors", run + "/io.safetensors", mode], timeout: 300)
        XCTAssertEqual(result.status, 0, "\(preset) \(mode): \(result.stdout) \(result.stderr)")
        print("\(preset.rawValue) \(mode): " + result.stdout.replacingOccurrences(of: "\n", with: "; "))
    }

    func testResNet18() throws {
        try Python.require("safetensors", "numpy")
        for training in [false, true] { try check(.resnet18, input: [1, 28, 28], width: 8, batch: 4, training: training) }
    }

    func testResNet34AndResNet50() throws {
        try Python.require("safetensors", "numpy")
        for training in [false, true] {
            try check(.resnet34, input: [3, 32, 32], width: 4, batch: 3, training: training)
            try check(.resnet50, input: [3, 32, 32], width: 4, batch: 3, training: training)
        }
    }

    func testVGG16WithDropoutMasks() throws {
        try Python.require("safetensors", "numpy")
        for training in [false, true] { try check(.vgg16, input: [3, 32, 32], width: nil, batch: 3, training: training) }
    }
}
