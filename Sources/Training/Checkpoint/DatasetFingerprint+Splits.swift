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
        dataset.images.withUnsafeBytes { contentDigest(images: $0, ids: dataset.ids[...], labels: dataset.labels[...]) }
    }

    /// The wrapping sum of `instanceHash` over a run of instances: `images` holds one image
    /// per id, back to back. Runs' sums add up to `contentDigest(of:)` of the whole.
    static func contentDigest(images: UnsafeRawBufferPointer, ids: ArraySlice<Int32>, labels: ArraySlice<Int32>) -> UInt64 {
        precondition(ids.count == labels.count, "contentDigest: \(ids.count) ids for \(labels.count) labels")
        guard !ids.isEmpty else { return 0 }
        let size = images.count / ids.count
        precondition(size * ids.count == images.count, "contentDigest: \(images.count) bytes for \(ids.count) images")
        func id(_ k: Int) -> Int32 { ids[ids.startIndex + k] }
        func label(_ k: Int) -> Int32 { labels[labels.startIndex + k] }
        var sum: UInt64 = 0
        // Four instances at a time, their hashes mixed word by word side by side: four
        // independent multiply chains keep the multiplier busy (one chain waits on each
        // multiply). Each instance's hash is the same as `instanceHash` computes.
        var k = 0
        let words = size / 8
        while k + 4 <= ids.count {
            var h = (FNV1a(), FNV1a(), FNV1a(), FNV1a())
            h.0.mix(UInt64(UInt32(bitPattern: id(k))))
            h.1.mix(UInt64(UInt32(bitPattern: id(k + 1))))
            h.2.mix(UInt64(UInt32(bitPattern: id(k + 2))))
            h.3.mix(UInt64(UInt32(bitPattern: id(k + 3))))
            h.0.mix(UInt64(UInt32(bitPattern: label(k))))
            h.1.mix(UInt64(UInt32(bitPattern: label(k + 1))))
            h.2.mix(UInt64(UInt32(bitPattern: label(k + 2))))
            h.3.mix(UInt64(UInt32(bitPattern: label(k + 3))))
            let first = k * size
            for w in 0..<words {
                let offset = first + w * 8
                h.0.mix(images.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                h.1.mix(images.loadUnaligned(fromByteOffset: offset + size, as: UInt64.self))
                h.2.mix(images.loadUnaligned(fromByteOffset: offset + 2 * size, as: UInt64.self))
                h.3.mix(images.loadUnaligned(fromByteOffset: offset + 3 * size, as: UInt64.self))
            }
            for i in (words * 8)..<size {
                h.0.mix(UInt64(images[first + i]))
                h.1.mix(UInt64(images[first + size + i]))
                h.2.mix(UInt64(images[first + 2 * size + i]))
                h.3.mix(UInt64(images[first + 3 * size + i]))
            }
            sum &+= finalized(h.0.value) &+ finalized(h.1.value) &+ finalized(h.2.value) &+ finalized(h.3.value)
            k += 4
        }
        for k in k..<ids.count {
            let image = UnsafeRawBufferPointer(rebasing: images[(k * size)..<((k + 1) * size)])
            sum &+= instanceHash(id: id(k), label: label(k), image: image)
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
        return finalized(hash.value)
    }

    /// The SplitMix64 finalizer of an instance's FNV-1a value.
    @inline(__always)
    private static func finalized(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
