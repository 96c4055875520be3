import Datasets
import NN

/// One optimizer step on a batch of instances: normalize into the model input, forward
/// (train mode), per-instance cross-entropy, backward of the summed loss into the step
/// buffer, then the optimizer with the mean gradient.
///
/// The step buffer's tail carries [count, loss sum, correct], so that a data-parallel
/// step can combine everything with one allreduce between `accumulate` and `apply`.
public final class TrainingStep {
    public let model: Model
    public let optimizer: Optimizer
    public let normalization: Normalization
    public let buffer: StepBuffer
    /// Per-instance losses of the last `accumulate`, in batch order.
    public private(set) var losses: [Float]
    private var labels: [Int32]

    public init(model: Model, optimizer: Optimizer, normalization: Normalization) {
        self.model = model
        self.optimizer = optimizer
        self.normalization = normalization
        buffer = StepBuffer(parameterCount: model.parameters.count)
        losses = Array(repeating: 0, count: model.maxBatch)
        labels = Array(repeating: 0, count: model.maxBatch)
    }

    /// Zeroes the step buffer, then adds the summed-loss gradients of the instances in
    /// `slots` of `dataset` and writes [count, loss sum, correct] into the tail.
    /// An empty batch leaves zeros.
    public func accumulate(_ dataset: Dataset, slots: UnsafeBufferPointer<Int>) {
        buffer.zero()
        let batch = slots.count
        guard batch > 0 else { return }
        precondition(batch <= model.maxBatch)
        labels.withUnsafeMutableBufferPointer {
            normalization.fill(from: dataset, slots: slots, output: model.input, labels: $0.baseAddress!)
        }
        model.forward(batch: batch, training: true)
        let correct = labels.withUnsafeBufferPointer { labelBuffer in
            losses.withUnsafeMutableBufferPointer { lossBuffer in
                SoftmaxCrossEntropy.forward(
                    logits: model.output, labels: labelBuffer.baseAddress!, batch: batch,
                    classes: model.outputSize, losses: lossBuffer.baseAddress!, gradient: model.outputGradient)
            }
        }
        buffer.withGradients { model.backward(batch: batch, into: $0) }
        var lossSum: Float = 0
        for i in 0..<batch { lossSum += losses[i] }
        buffer.count = batch
        buffer.lossSum = lossSum
        buffer.correct = correct
    }

    /// Applies the optimizer with the mean gradient (sum / count); skipped when count is 0.
    public func apply(learningRate: Float) {
        let count = buffer.count
        guard count > 0 else { return }
        model.parameters.withUnsafeMutableBufferPointer { parameters in
            buffer.withGradients { gradients in
                optimizer.step(
                    parameters: parameters, gradients: UnsafeBufferPointer(gradients), gradientScale: 1 / Float(count),
                    learningRate: learningRate)
            }
        }
    }
}
