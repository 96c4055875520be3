/// One split of a dataset as it lies on disk, read by instance: what a rank needs to read
/// only its shard. Instance ids are positions `0..<count` in the split (after `--limit`).
///
/// The whole split's labels are assembled from blocks (`labelRecords`, one block per rank,
/// gathered) and checked once, by `checkedLabels`, on every rank alike, so that a bad label
/// fails every rank with the same message. Images are then read for the ids a rank owns.
///
/// Implementations: `RecordFileSource` (fixed-size records after a header, memory-mapped:
/// raw IDX, CIFAR binary; a `.npy` array is one more such layout) and `InMemorySource` (a
/// `Dataset` already read, e.g. from gzip IDX).
public protocol SplitSource: AnyObject {
    /// Instances in the split (after the limit).
    var count: Int { get }
    var channels: Int { get }
    var height: Int { get }
    var width: Int { get }
    /// The classes: declared by the format (CIFAR) or derived from the labels (IDX).
    var classCount: Int { get }
    /// Values per instance in `labelRecords` (CIFAR-100: coarse and fine label; otherwise 1).
    var labelsPerRecord: Int { get }
    /// The raw label values of the instances in `range`, `labelsPerRecord` per instance, unchecked.
    func labelRecords(_ range: Range<Int>) throws -> [Int32]
    /// The classification targets of the whole split from all its label records (`count *
    /// labelsPerRecord` values), after the format's checks (label ranges).
    func checkedLabels(_ records: [Int32]) throws -> [Int32]
    /// Copies the image bytes of `ids` (ascending, each `sampleSize` bytes, CHW) into `buffer`
    /// a run of consecutive slots at a time (at most `visitRun` instances), and calls `visit`
    /// with each run's slots as soon as they are written, while their bytes are in cache.
    func readImages(ids: [Int], into buffer: UnsafeMutableRawBufferPointer, visit: (Range<Int>) -> Void) throws
    /// Bytes read from the split so far (labels and images), for tests of per-rank reading.
    var bytesRead: Int { get }
}

extension SplitSource {
    /// Bytes per instance.
    public var sampleSize: Int { channels * height * width }

    /// Instances per run handed to `readImages`'s `visit`: about 32 KB of images, so that a
    /// run just copied is still in the first-level cache when it is visited; a multiple of 4
    /// where it can be (the content digest hashes four instances side by side).
    public var visitRun: Int {
        let run = (32 << 10) / max(1, sampleSize)
        return run >= 4 ? run / 4 * 4 : max(1, run)
    }

    /// Copies the image bytes of `ids` into `buffer` (`readImages` without a visitor).
    public func readImages(ids: [Int], into buffer: UnsafeMutableRawBufferPointer) throws {
        try readImages(ids: ids, into: buffer, visit: { _ in })
    }

    /// The instances `ids` (ascending) with their `labels`, read into memory.
    public func dataset(ids: [Int], labels: [Int32]) throws -> Dataset {
        try dataset(ids: ids, labels: labels, visiting: { _, _ in })
    }

    /// `dataset(ids:labels:)` in one pass that also hands each run of instances to `visit` as
    /// soon as it is copied: the run's slots (positions in `ids`) and its image bytes, still in
    /// cache. A rank reading its shard counts the normalization histograms and hashes the
    /// instances there instead of in two more passes over the whole shard.
    public func dataset(
        ids: [Int], labels: [Int32], visiting visit: (Range<Int>, UnsafeRawBufferPointer) -> Void
    ) throws -> Dataset {
        precondition(ids.count == labels.count, "SplitSource.dataset: \(ids.count) ids for \(labels.count) labels")
        let sample = sampleSize
        let size = ids.count * sample
        var failure: Error?
        let images = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            do {
                let bytes = UnsafeMutableRawBufferPointer(buffer)
                try readImages(ids: ids, into: bytes) { slots in
                    visit(slots, UnsafeRawBufferPointer(rebasing: bytes[(slots.lowerBound * sample)..<(slots.upperBound * sample)]))
                }
            } catch {
                failure = error
                buffer.initialize(repeating: 0)
            }
            initialized = size
        }
        if let failure { throw failure }
        return Dataset(
            images: images, labels: labels, ids: ids.map { Int32($0) }, channels: channels, height: height,
            width: width, classCount: classCount)
    }
}

/// The train and test sources of one dataset directory.
public struct DatasetSources {
    public let train: SplitSource
    public let test: SplitSource
    public let format: DatasetFormat
    /// The directory the files are read from.
    public let directory: String

    public init(train: SplitSource, test: SplitSource, format: DatasetFormat, directory: String) {
        self.train = train
        self.test = test
        self.format = format
        self.directory = directory
    }

    /// Splits already in memory (`DatasetLoader.load`'s, or built by a test).
    public init(splits: DatasetSplits) {
        self.init(
            train: InMemorySource(splits.train), test: InMemorySource(splits.test), format: splits.format,
            directory: splits.directory)
    }
}
