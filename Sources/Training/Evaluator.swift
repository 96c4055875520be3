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
    public let model: Sequential
    public let normalization: Normalization
    public let batchSize: Int
    private var labels: [Int32]
    private var losses: [Float]
    private var positions: [Int32]

    public init(model: Sequential, normalization: Normalization, batchSize: Int) {
        precondition(batchSize <= model.maxBatch)
        self.model = model
        self.normalization = normalization
        self.batchSize = batchSize
        labels = Array(repeating: 0, count: batchSize)
        losses = Array(repeating: 0, count: batchSize)
        positions = Array(repeating: 0, count: batchSize)
    }

    /// Loss and accuracy over the instances of `dataset` at `indices` (positions, not ids).
    /// `perInstance`, when given, receives each instance's loss in `indices` order.
    public func evaluate(
        _ dataset: Dataset, indices: [Int32], perInstance: ((Int, UnsafeBufferPointer<Float>) -> Void)? = nil
    ) -> EvaluationTotals {
        var totals = EvaluationTotals()
        let classes = model.outputSize
        var start = 0
        while start < indices.count {
            let batch = min(batchSize, indices.count - start)
            for i in 0..<batch { positions[i] = indices[start + i] }
            positions.withUnsafeBufferPointer { chosen in
                labels.withUnsafeMutableBufferPointer { labelBuffer in
                    normalization.fill(
                        from: dataset, indices: UnsafeBufferPointer(rebasing: chosen[0..<batch]),
                        output: model.input, labels: labelBuffer.baseAddress!)
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
        evaluate(dataset, indices: (0..<Int32(dataset.count)).map { $0 })
    }
}
