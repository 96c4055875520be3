import Datasets
import RunFormat

extension DatasetFingerprint {
    /// The fingerprint of the data a run trains on: sizes, shape, classes, and the content
    /// digest of the training split (`ShardedData.contentDigest`, digest scheme 2).
    public init(data: ShardedData) {
        let train = data.train
        self.init(
            trainCount: data.globalTrainCount, testCount: data.globalTestCount,
            shape: [train.channels, train.height, train.width], classes: train.classCount,
            digest: String(data.contentDigest, radix: 16), digestScheme: 2)
    }

    /// The same fingerprint computed from whole splits in one process (for tests and tools).
    public init(splits: DatasetSplits) {
        let train = splits.train
        self.init(
            trainCount: train.count, testCount: splits.test.count, shape: [train.channels, train.height, train.width],
            classes: train.classCount, digest: String(DatasetFingerprint.contentDigest(of: train), radix: 16),
            digestScheme: 2)
    }

    /// Digest scheme 2: the wrapping sum over instances of `instanceHash`. A sum does not
    /// depend on the order or the grouping of its terms, so each rank adds up its own
    /// instances and an allreduce gives the same digest for any number of ranks and any
    /// sharding (a checkpoint resumes on another rank count). Scheme 1 (before) was FNV-1a
    /// over all labels then all images, which needs the whole split in one place.
    static func contentDigest(of dataset: Dataset) -> UInt64 {
        let size = dataset.sampleSize
        var sum: UInt64 = 0
        dataset.images.withUnsafeBytes { images in
            for slot in 0..<dataset.count {
                let image = UnsafeRawBufferPointer(rebasing: images[(slot * size)..<((slot + 1) * size)])
                sum &+= instanceHash(id: dataset.ids[slot], label: dataset.labels[slot], image: image)
            }
        }
        return sum
    }

    /// A 64-bit hash of one instance: FNV-1a of (id, label, image bytes), then the
    /// SplitMix64 finalizer so that every input bit reaches every output bit before the sum.
    static func instanceHash(id: Int32, label: Int32, image: UnsafeRawBufferPointer) -> UInt64 {
        var hash = FNV1a()
        hash.mix(UInt64(UInt32(bitPattern: id)))
        hash.mix(UInt64(UInt32(bitPattern: label)))
        hash.mix(bytes: image)
        var z = hash.value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
