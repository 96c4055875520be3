import Foundation

/// Which metrics.jsonl fields become TensorBoard scalars, under which tags. Tags group
/// by their prefix in TensorBoard's UI (accuracy, loss, ies, throughput).
public enum TensorBoardScalars {
    /// (tag, metrics.jsonl key) in the order they are written.
    public static let tags: [(tag: String, key: String)] = [
        ("accuracy/test", "test_accuracy"), ("accuracy/train", "train_accuracy"),
        ("loss/test", "test_loss"), ("loss/train", "train_loss"),
        ("ies/mastered", "mastered"), ("ies/trained", "trained"), ("ies/backprop_saved", "backprop_saved"),
        ("lr", "lr"), ("throughput/samples_per_second", "samples_per_second"),
    ]

    /// The scalars of one epoch; fields the record lacks are left out. Accuracies and
    /// backprop saved stay in 0...1, as in metrics.jsonl.
    public static func scalars(for record: EpochRecord) -> [(tag: String, value: Float)] {
        let values: [String: Double?] = [
            "test_accuracy": record.testAccuracy, "train_accuracy": record.trainAccuracy,
            "test_loss": record.testLoss, "train_loss": record.trainLoss,
            "mastered": record.mastered.map(Double.init), "trained": record.trained.map(Double.init),
            "backprop_saved": record.backpropSaved, "lr": record.lr, "samples_per_second": record.samplesPerSecond,
        ]
        return tags.compactMap { entry in
            guard let value = values[entry.key] ?? nil else { return nil }
            return (entry.tag, Float(value))
        }
    }

    /// The same from one encoded metrics line (e.g. `JSONEncoder().encode(epochMetrics)`
    /// in the trainer), so that callers need not know `EpochRecord`.
    public static func scalars(json: Data) throws -> [(tag: String, value: Float)] {
        scalars(for: try EpochRecord(json: json))
    }
}
