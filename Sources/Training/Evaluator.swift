import Datasets
import NN

/// Summed loss and correct count over some instances; reduced across ranks by adding.
public struct EvaluationTotals: Sendable, Equatable {
    public var lossSum: Double = 0
    public var correct: Int = 0
    public var count: Int = 0
    public var meanLoss: Double { count > 0 ? lossSum / Double(count) : 0 }
    public var accuracy: Double { count > 0 ? Double(correct) / Double(count) : 0 }
    public init(lossSum: Double = 0, correct: Int = 0, count: Int = 0) {
        self.lossSum = lossSum; self.correct = correct; self.count = count
    }
}

/// Forward-only passes (eval mode) over a dataset, in batches, with reusable buffers.
public final class Evaluator {
    public let model: Model
    public let normalization: Normalization
    public let batchSize: Int
    private var labels: [Int32]
    private var losses: [Float]
    private var chosen: [Int]

    public init(model: Model, normalization: Normalization, batchSize: Int) {
        precondition(batchSize <= model.maxBatch)
        self.model = model
        self.normalization = normalization
        self.batchSize = batchSize
        labels = Array(repeating: 0, count: batchSize)
        losses = Array(repeating: 0, count: batchSize)
        chosen = Array(repeating: 0, count: batchSize)
    }

    /// Loss and accuracy over the instances in `slots` of `dataset`, each seen through
    /// `augmentation` when given (the probe sees the view training would have used).
    /// `perInstance`, when given, receives (offset in `slots`, losses of the batch) per batch.
    public func evaluate(
        _ dataset: Dataset, slots: [Int], augmentation: (Augmentation, AugmentationKey)? = nil,
        perInstance: ((Int, UnsafeBufferPointer<Float>) -> Void)? = nil
    ) -> EvaluationTotals {
        var totals = EvaluationTotals()
        let classes = model.outputSize
        var start = 0
        while start < slots.count {
            let batch = min(batchSize, slots.count - start)
            for i in 0..<batch { chosen[i] = slots[start + i] }
            chosen.withUnsafeBufferPointer { chosen in
                labels.withUnsafeMutableBufferPointer { labelBuffer in
                    normalization.fill(
                        from: dataset, slots: UnsafeBufferPointer(rebasing: chosen[0..<batch]),
                        output: model.input, labels: labelBuffer.baseAddress!, augmentation: augmentation,
                        compute: model.compute)
                }
            }
            model.forward(batch: batch, training: false)
            let correct = labels.withUnsafeBufferPointer { labelBuffer in
                losses.withUnsafeMutableBufferPointer { lossBuffer in
                    SoftmaxCrossEntropy.forward(
                        logits: model.output, labels: labelBuffer.baseAddress!, batch: batch, classes: classes,
                        losses: lossBuffer.baseAddress!, gradient: nil)
                }
            }
            totals.correct += correct
            totals.count += batch
            for i in 0..<batch { totals.lossSum += Double(losses[i]) }
            if let perInstance {
                losses.withUnsafeBufferPointer { perInstance(start, UnsafeBufferPointer(rebasing: $0[0..<batch])) }
            }
            start += batch
        }
        return totals
    }

    /// Loss and accuracy over the whole dataset.
    public func evaluate(_ dataset: Dataset) -> EvaluationTotals {
        evaluate(dataset, slots: Array(0..<dataset.count))
    }
}
