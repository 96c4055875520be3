/// An in-memory image classification split: raw pixel bytes, labels and instance ids.
///
/// An instance's position in the arrays is its *slot* (local to this dataset); its *id*
/// is its index in the training file, kept through `prefix`, `subset` and moves.
///
/// Pixels stay as `UInt8` (a quarter of the memory of `Float`) and are
/// normalized per mini-batch by `Normalization.fill`, so the whole training
/// split can be held once per process.
public struct Dataset: Sendable {
    /// `count * sampleSize` bytes; each sample in C, H, W order.
    public var images: [UInt8]
    public var labels: [Int32]
    /// Global instance id: the index in the training file. Kept through
    /// `prefix` and `subset` so per-instance state (e.g. early-stopping
    /// decisions) can be keyed independently of how the data was sharded.
    public var ids: [Int32]
    public let channels: Int
    public let height: Int
    public let width: Int
    public let classCount: Int

    /// Number of instances.
    public var count: Int { labels.count }

    /// Bytes (and normalized floats) per instance: `channels * height * width`.
    public var sampleSize: Int { channels * height * width }

    /// Creates a dataset; the array sizes must agree with the shape.
    public init(
        images: [UInt8], labels: [Int32], ids: [Int32],
        channels: Int, height: Int, width: Int, classCount: Int
    ) {
        precondition(channels > 0 && height > 0 && width > 0, "Dataset: non-positive shape \(channels)x\(height)x\(width)")
        precondition(classCount > 0, "Dataset: classCount must be positive, got \(classCount)")
        precondition(ids.count == labels.count, "Dataset: \(ids.count) ids for \(labels.count) labels")
        precondition(
            images.count == labels.count * channels * height * width,
            "Dataset: \(images.count) image bytes for \(labels.count) samples of \(channels * height * width) bytes")
        self.images = images
        self.labels = labels
        self.ids = ids
        self.channels = channels
        self.height = height
        self.width = width
        self.classCount = classCount
    }

    /// The first `n` instances (all of them if `n >= count`).
    public func prefix(_ n: Int) -> Dataset {
        precondition(n >= 0, "Dataset.prefix: negative count \(n)")
        let k = Swift.min(n, count)
        return Dataset(
            images: Array(images[0..<(k * sampleSize)]), labels: Array(labels[0..<k]), ids: Array(ids[0..<k]),
            channels: channels, height: height, width: width, classCount: classCount)
    }

    /// The instances in `slots` (positions in this dataset), in that order, keeping their ids.
    public func subset(slots: [Int]) -> Dataset {
        let size = sampleSize
        let n = count
        var newLabels = [Int32]()
        var newIds = [Int32]()
        newLabels.reserveCapacity(slots.count)
        newIds.reserveCapacity(slots.count)
        for i in slots {
            precondition(i >= 0 && i < n, "Dataset.subset: index \(i) outside 0..<\(n)")
            newLabels.append(labels[i])
            newIds.append(ids[i])
        }
        let newImages = [UInt8](unsafeUninitializedCapacity: slots.count * size) { buffer, initialized in
            images.withUnsafeBufferPointer { source in
                for (k, i) in slots.enumerated() {
                    let from = UnsafeRawPointer(source.baseAddress! + i * size)
                    UnsafeMutableRawPointer(buffer.baseAddress! + k * size).copyMemory(from: from, byteCount: size)
                }
            }
            initialized = slots.count * size
        }
        return Dataset(
            images: newImages, labels: newLabels, ids: newIds,
            channels: channels, height: height, width: width, classCount: classCount)
    }
}

extension Dataset {
    /// Removes the instances in `slots` (any order), keeping the others in order.
    public mutating func remove(slots: [Int]) {
        guard !slots.isEmpty else { return }
        var drop = [Bool](repeating: false, count: count)
        for slot in slots { drop[slot] = true }
        self = subset(slots: (0..<count).filter { !drop[$0] })
    }

    /// Appends instances of the same shape (their images, labels and global ids).
    public mutating func append(images newImages: [UInt8], labels newLabels: [Int32], ids newIDs: [Int32]) {
        precondition(newLabels.count == newIDs.count && newImages.count == newLabels.count * sampleSize)
        images += newImages
        labels += newLabels
        ids += newIDs
    }

    /// The image bytes of the instances in `slots`, concatenated.
    public func images(inSlots slots: [Int]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(slots.count * sampleSize)
        for slot in slots { bytes += images[(slot * sampleSize)..<((slot + 1) * sampleSize)] }
        return bytes
    }
}
