import ArgumentParser
import NN
import SafeTensors
import Training

/// `ies-testbed gradients`: a preset's tensors, a random batch, its logits and the flat
/// parameter gradient of the summed cross-entropy in training mode, for
/// scripts/dev/check_gradients_against_torch.py to compare with PyTorch's autograd
/// (networks without Dropout: its masks are ours, not PyTorch's).
struct DumpGradients: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradients", abstract: "Write a model's tensors, a batch, its logits and gradients.")

    @Option var model: ModelPreset
    @Option var width: Int?
    @Option var input: String = "2,16,16"
    @Option var classes = 3
    @Option var batch = 4
    @Option var seed: UInt64 = 11
    @Option var output: String

    func run() throws {
        let shape = input.split(separator: ",").compactMap { Int($0) }
        guard shape.count == 3 else { throw ValidationError("--input must be C,H,W") }
        let net = try model.build(
            channels: shape[0], height: shape[1], width: shape[2], classes: classes, maxBatch: batch, seed: seed,
            compute: Compute(threads: 1), stageWidth: width)
        var generator = SeededGenerator(seed: seed, streams: 1)
        let x = (0..<(batch * net.inputSize)).map { _ in generator.uniform(-2, 2) }
        let labels = (0..<batch).map { Int32($0 % classes) }
        guard !(net.leaves.contains { $0 is Dropout }) else {
            throw ValidationError("\(model.rawValue) has Dropout, whose masks PyTorch cannot reproduce")
        }
        x.withUnsafeBufferPointer { net.input.update(from: $0.baseAddress!, count: x.count) }
        net.forward(batch: batch, training: true)
        var losses = [Float](repeating: 0, count: batch)
        labels.withUnsafeBufferPointer {
            _ = SoftmaxCrossEntropy.forward(
                logits: net.output, labels: $0.baseAddress!, batch: batch, classes: classes, losses: &losses,
                gradient: net.outputGradient)
        }
        let logits = Array(UnsafeBufferPointer(start: net.output, count: batch * classes))
        var gradients = [Float](repeating: 0, count: net.parameters.count)
        gradients.withUnsafeMutableBufferPointer { net.backward(batch: batch, into: $0) }
        try SafetensorsFile(tensors: ModelFile.tensors(of: net) + [
            SafetensorsTensor(name: "__input", shape: [batch] + shape, floats: x),
            SafetensorsTensor(name: "__grad", shape: [gradients.count], floats: gradients),
            SafetensorsTensor(name: "__logits", shape: [batch, classes], floats: logits),
        ]).write(path: output)
        print("labels: " + labels.map(String.init).joined(separator: " "))
    }
}
extension ModelPreset: ExpressibleByArgument {}
