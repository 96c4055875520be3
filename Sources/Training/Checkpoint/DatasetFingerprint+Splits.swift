import Datasets
import RunFormat

extension DatasetFingerprint {
    /// The fingerprint of the data a run trains on: sizes, shape, classes, and FNV-1a 64 of
    /// the training labels and images.
    public init(splits: DatasetSplits) {
        let train = splits.train
        var hash = FNV1a()
        for label in train.labels { hash.mix(UInt64(UInt32(bitPattern: label))) }
        train.images.withUnsafeBytes { hash.mix(bytes: $0) }
        self.init(
            trainCount: train.count, testCount: splits.test.count, shape: [train.channels, train.height, train.width],
            classes: train.classCount, digest: String(hash.value, radix: 16))
    }
}
