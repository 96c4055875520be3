import Foundation
import RunFormat

/// Which epoch figures become TensorBoard scalars, under which tags. Tags group by their
/// prefix in TensorBoard's UI (accuracy, loss, ies, throughput).
public enum TensorBoardScalars {
    /// (tag, value) in the order they are written. Accuracies and backprop saved stay in
    /// 0...1, as in metrics.jsonl.
    public static let tags: [(tag: String, value: @Sendable (EpochMetrics) -> Double)] = [
        ("accuracy/test", \.testAccuracy), ("accuracy/train", \.trainAccuracy),
        ("loss/test", \.testLoss), ("loss/train", \.trainLoss),
        ("ies/mastered", { Double($0.mastered) }), ("ies/trained", { Double($0.trained) }),
        ("ies/backprop_saved", \.backpropSaved),
        ("lr", \.lr), ("throughput/samples_per_second", \.samplesPerSecond),
    ]

    /// The scalars of one epoch.
    public static func scalars(for record: EpochMetrics) -> [(tag: String, value: Float)] {
        tags.map { ($0.tag, Float($0.value(record))) }
    }
}
