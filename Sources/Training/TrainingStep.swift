import Datasets
import NN

/// One optimizer step on a batch of instances: normalize into the model input, forward
/// (train mode), per-instance cross-entropy, backward of the summed loss into the step
/// buffer; then, once the buffer is summed over ranks, fold the batch statistics into the
/// model's buffers and update the parameters with the mean gradient.
///
/// The step buffer carries gradients, statistics and [count, loss sum, correct], so that a
/// data-parallel step combines everything with one allreduce between `accumulate` and `apply`.
public final class TrainingStep {
    public let model: Model
    public let optimizer: Optimizer
    public let normalization: Normalization
    public let buffer: StepBuffer
    /// The run's seed: with the epoch and the instance ids it fixes every random choice
    /// made for an instance (Dropout masks).
    public let seed: UInt64
    /// How each instance's view is drawn (a function of seed, epoch and its global id).
    public var augmentation: Augmentation = .none
    /// Sums over all ranks for synchronized BatchNorm (nil: each rank normalizes with its batch).
    public var synchronize: ((UnsafeMutableBufferPointer<Double>) -> Void)?
    /// Per-instance losses of the last `accumulate`, in batch order.
    public private(set) var losses: [Float]
    private var labels: [Int32]
    private var ids: [Int32]

    /// `bufferStorage`: memory for the step buffer (`StepBuffer.floats` of the model's
    /// counts), e.g. a shared-memory window; nil allocates it.
    public init(
        model: Model, optimizer: Optimizer, normalization: Normalization, seed: UInt64 = 0,
        bufferStorage: UnsafeMutableBufferPointer<Float>? = nil
    ) {
        self.model = model
        self.optimizer = optimizer
        self.normalization = normalization
        self.seed = seed
        buffer = bufferStorage.map {
            StepBuffer(parameterCount: model.parameters.count, statisticsCount: model.statisticsCount, storage: $0)
        } ?? StepBuffer(parameterCount: model.parameters.count, statisticsCount: model.statisticsCount)
        losses = Array(repeating: 0, count: model.maxBatch)
        labels = Array(repeating: 0, count: model.maxBatch)
        ids = Array(repeating: 0, count: model.maxBatch)
    }

    /// Zeroes the step buffer, then adds the summed-loss gradients of the instances in
    /// `slots` of `dataset` (in `epoch`) and writes the batch statistics and [count, loss
    /// sum, correct, stop]. An empty batch leaves zeros (and, with synchronized BatchNorm,
    /// still joins the layers' reductions). `buckets`, when given, start reducing during
    /// backward; call `buckets.finish()` before `apply`.
    func accumulate(
        _ dataset: Dataset, slots: UnsafeBufferPointer<Int>, epoch: Int = 0, stop: Bool = false,
        buckets: GradientBuckets?
    ) throws {
        buffer.zero(compute: model.compute, split: model.parameterSplit)
        buffer.stopRequests = stop ? 1 : 0
        buckets?.reset()
        let batch = slots.count
        guard batch > 0 || synchronize != nil else { return }
        precondition(batch <= model.maxBatch)
        labels.withUnsafeMutableBufferPointer {
            normalization.fill(
                from: dataset, slots: slots, output: model.input, labels: $0.baseAddress!,
                augmentation: (augmentation, AugmentationKey(seed: seed, epoch: epoch)), compute: model.compute)
        }
        for i in 0..<batch { ids[i] = dataset.ids[slots[i]] }
        var thrown: Error?
        ids.withUnsafeBufferPointer { ids in
            var options = Model.TrainingOptions(
                statistics: buffer.statistics, identity: BatchIdentity(seed: seed, epoch: epoch, ids: ids.baseAddress!),
                synchronize: synchronize)
            model.forward(batch: batch, training: true, options: options)
            buffer.correct = labels.withUnsafeBufferPointer { labelBuffer in
                losses.withUnsafeMutableBufferPointer { lossBuffer in
                    SoftmaxCrossEntropy.forward(
                        logits: model.output, labels: labelBuffer.baseAddress!, batch: batch,
                        classes: model.outputSize, losses: lossBuffer.baseAddress!, gradient: model.outputGradient)
                }
            }
            // The tail is complete before backward: the last bucket may leave as backward ends.
            var lossSum: Float = 0
            for i in 0..<batch { lossSum += losses[i] }
            buffer.count = batch
            buffer.lossSum = lossSum
            if let buckets {
                options.backwardFinished = { layer in
                    guard thrown == nil else { return }
                    do { try buckets.layerFinished(layer) } catch { thrown = error }
                }
            }
            model.backward(batch: batch, into: buffer.gradients, options: options)
        }
        if let thrown { throw thrown }
    }

    /// Zeroes the step buffer and accumulates the batch (see the throwing variant), without buckets.
    public func accumulate(_ dataset: Dataset, slots: UnsafeBufferPointer<Int>, epoch: Int = 0) {
        try! accumulate(dataset, slots: slots, epoch: epoch, stop: false, buckets: nil)
    }

    /// Applies the (reduced) step: folds the batch statistics into the model's buffers and
    /// updates the parameters with the mean gradient (sum / count); nothing when count is 0.
    public func apply(learningRate: Float) {
        let count = buffer.count
        guard count > 0 else { return }
        model.foldStatistics(UnsafeBufferPointer(buffer.statistics), instances: count)
        model.parameters.withUnsafeMutableBufferPointer { parameters in
            optimizer.step(
                parameters: parameters, gradients: UnsafeBufferPointer(buffer.gradients), gradientScale: 1 / Float(count),
                learningRate: learningRate, split: model.parameterSplit, compute: model.compute)
        }
    }
}
