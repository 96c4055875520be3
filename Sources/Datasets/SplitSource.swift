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
    /// Copies the image bytes of `ids` (ascending, each `sampleSize` bytes, CHW) into `buffer`.
    func readImages(ids: [Int], into buffer: UnsafeMutableRawBufferPointer) throws
    /// Bytes read from the split so far (labels and images), for tests of per-rank reading.
    var bytesRead: Int { get }
}

extension SplitSource {
    /// Bytes per instance.
    public var sampleSize: Int { channels * height * width }

    /// The instances `ids` (ascending) with their `labels`, read into memory.
    public func dataset(ids: [Int], labels: [Int32]) throws -> Dataset {
        precondition(ids.count == labels.count, "SplitSource.dataset: \(ids.count) ids for \(labels.count) labels")
        let size = ids.count * sampleSize
        var failure: Error?
        let images = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            do {
                try readImages(ids: ids, into: UnsafeMutableRawBufferPointer(buffer))
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
