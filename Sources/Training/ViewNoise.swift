import Datasets
import Mastery
import NN

/// How much of an instance's |d2| comes from its augmented view changing, not from learning:
/// at FIXED parameters, the loss of every instance under the views of consecutive epochs
/// (what training and the probe would see then), folded through the IES rule as if they
/// were epochs of a run. Parameters do not change, so every d2 here is view noise alone; an
/// instance the rule does not master over these views cannot stay mastered in a run however
/// slowly the model moves (`ies eval --view-noise`).
public struct ViewNoise: Sendable {
    /// |d2| of every instance and view triple, ascending.
    public let absoluteD2: [Float]
    /// What the rule compares with the threshold after the last view, per instance, ascending.
    public let movingAverageSums: [Float]
    /// Instances the rule masters after the last view.
    public let mastered: Int
    public let instances: Int
    /// Views (epochs) used: the rule's history length plus two.
    public let views: Int

    /// The q-quantile (0...1) of |d2|.
    public func quantile(_ q: Double) -> Float { Self.quantile(q, of: absoluteD2) }

    /// The q-quantile (0...1) of the instances' moving-average sums.
    public func movingAverageQuantile(_ q: Double) -> Float { Self.quantile(q, of: movingAverageSums) }

    private static func quantile(_ q: Double, of sorted: [Float]) -> Float {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((q * Double(sorted.count - 1)).rounded()))]
    }

    /// Share of |d2| values at or above `threshold`.
    public func shareAbove(_ threshold: Float) -> Double {
        Double(absoluteD2.count - absoluteD2.prefix { $0 < threshold }.count) / Double(max(1, absoluteD2.count))
    }

    /// Measures `data` through `augmentation` with the views of epochs `firstEpoch`,
    /// `firstEpoch + 1`, ... (seed `seed`), in eval mode as the probe does.
    public init(
        model: Model, normalization: Normalization, data: Dataset, augmentation: Augmentation, seed: UInt64,
        firstEpoch: Int, rule: MasteryRule, batchSize: Int
    ) {
        let evaluator = Evaluator(model: model, normalization: normalization, batchSize: min(batchSize, model.maxBatch))
        let slots = Array(0..<data.count)
        let tracker = MasteryTracker(rule: rule, ids: data.ids)
        views = rule.historyLength + 2
        var losses: [[Float]] = []
        for view in 0..<views {
            var epochLosses = [Float](repeating: .nan, count: data.count)
            _ = evaluator.evaluate(
                data, slots: slots, augmentation: (augmentation, AugmentationKey(seed: seed, epoch: firstEpoch + view))
            ) { offset, batch in
                for i in 0..<batch.count { epochLosses[offset + i] = batch[i] }
            }
            epochLosses.withUnsafeBufferPointer { l in slots.withUnsafeBufferPointer { tracker.record(losses: l, slots: $0) } }
            tracker.decide()
            losses.append(epochLosses)
        }
        var d2: [Float] = []
        for t in 2..<views {
            for i in 0..<data.count {
                d2.append(abs(MasteryRule.secondDifference(
                    loss: losses[t][i], last: losses[t - 1][i], previous: losses[t - 2][i], gapBefore: 1, gap: 1)))
            }
        }
        absoluteD2 = d2.sorted()
        movingAverageSums = (0..<data.count).compactMap { tracker.movingAverageSum(slot: $0) }.sorted()
        mastered = tracker.masteredCount
        instances = data.count
    }
}
