import Datasets
import NN

/// One SGD step on a batch of instances: normalize into the model input, forward
/// (train mode), per-instance cross-entropy, backward of the summed loss into the
/// flat gradient buffer, then the optimizer step with the mean gradient.
///
/// The gradient buffer's tail carries [count, loss sum, correct] so that a data-parallel
/// step can combine everything with one allreduce before `apply`.
public final class TrainingStep {
    public let model: Sequential
    public let optimizer: SGD
    public let normalization: Normalization
    /// Per-instance losses of the last `accumulate`, in batch order.
    public private(set) var losses: [Float]
    private var labels: [Int32]

    public init(model: Sequential, optimizer: SGD, normalization: Normalization) {
        self.model = model
        self.optimizer = optimizer
        self.normalization = normalization
        losses = Array(repeating: 0, count: model.maxBatch)
        labels = Array(repeating: 0, count: model.maxBatch)
    }

    /// Zeroes the gradient buffer, then adds the summed-loss gradients of the instances at
    /// `positions` of `dataset` and writes [count, loss sum, correct] into the tail.
    /// Returns the number of correct predictions. An empty batch leaves zeros.
    @discardableResult
    public func accumulate(_ dataset: Dataset, positions: UnsafeBufferPointer<Int32>) -> Int {
        let store = model.parameters
        store.zeroGradients()
        let batch = positions.count
        guard batch > 0 else { return 0 }
        precondition(batch <= model.maxBatch)
        labels.withUnsafeMutableBufferPointer {
            normalization.fill(from: dataset, indices: positions, output: model.input, labels: $0.baseAddress!)
        }
        model.forward(batch: batch, training: true)
        let correct = labels.withUnsafeBufferPointer { labelBuffer in
            losses.withUnsafeMutableBufferPointer { lossBuffer in
                SoftmaxCrossEntropy.forward(
                    logits: model.output, labels: labelBuffer.baseAddress!, batch: batch,
                    classes: model.outputSize, losses: lossBuffer.baseAddress!, gradient: model.outputGradient)
            }
        }
        model.backward(batch: batch)
        var lossSum: Float = 0
        for i in 0..<batch { lossSum += losses[i] }
        store.gradients[store.count] = Float(batch)
        store.gradients[store.count + 1] = lossSum
        store.gradients[store.count + 2] = Float(correct)
        return correct
    }

    /// The instance count in the gradient tail (after any reduction).
    public var count: Int { Int(model.parameters.gradients[model.parameters.count]) }
    /// The loss sum in the gradient tail (after any reduction).
    public var lossSum: Float { model.parameters.gradients[model.parameters.count + 1] }
    /// The number of correct predictions in the gradient tail (after any reduction).
    public var correctCount: Int { Int(model.parameters.gradients[model.parameters.count + 2]) }

    /// Applies the optimizer with the mean gradient (sum / count); skipped when count is 0.
    public func apply(lr: Float) {
        let count = self.count
        guard count > 0 else { return }
        optimizer.step(
            parameters: model.parameters.values, gradients: model.parameters.gradients,
            gradientScale: 1 / Float(count), lr: lr)
    }
}
