/// A split already in memory (gzip IDX, which cannot be read by offset, or `DatasetSplits`
/// given directly): every rank holds all of it until its shard is copied out.
public final class InMemorySource: SplitSource {
    let data: Dataset
    public private(set) var bytesRead = 0

    public init(_ data: Dataset) {
        self.data = data
    }

    public var count: Int { data.count }
    public var channels: Int { data.channels }
    public var height: Int { data.height }
    public var width: Int { data.width }
    public var classCount: Int { data.classCount }
    public var labelsPerRecord: Int { 1 }

    public func labelRecords(_ range: Range<Int>) throws -> [Int32] {
        bytesRead += range.count * MemoryLayout<Int32>.size
        return Array(data.labels[range])
    }

    /// The labels were checked when the dataset was read.
    public func checkedLabels(_ records: [Int32]) throws -> [Int32] { records }

    public func readImages(ids: [Int], into buffer: UnsafeMutableRawBufferPointer, visit: (Range<Int>) -> Void) throws {
        let size = sampleSize
        precondition(buffer.count >= ids.count * size)
        let run = visitRun
        data.images.withUnsafeBytes { source in
            for first in stride(from: 0, to: ids.count, by: run) {
                let slots = first..<min(first + run, ids.count)
                for k in slots {
                    let id = ids[k]
                    precondition(id >= 0 && id < count, "InMemorySource: id \(id) outside 0..<\(count)")
                    (buffer.baseAddress! + k * size).copyMemory(from: source.baseAddress! + id * size, byteCount: size)
                }
                visit(slots)
            }
        }
        bytesRead += ids.count * size
    }
}
