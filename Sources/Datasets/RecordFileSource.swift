/// A split stored as fixed-size records after a header, in one or more memory-mapped files:
///
///     file = [header: `headerSize` bytes][record 0][record 1]...
///     record = [label: `labelBytes` bytes][image: sampleSize bytes]   (CIFAR)
///            = [image: sampleSize bytes], labels in a separate small file read whole (IDX, .npy)
///
/// Only the records a rank asks for are paged in. The caller has checked each file's header
/// and size (the format's reader does: `IDXReader.imagesHeader`, `CIFARReader.source`).
public final class RecordFileSource: SplitSource {
    /// One file's records.
    struct Part {
        let file: MappedFile
        let headerSize: Int
        /// Records in the file (all of them, whatever the limit).
        let records: Int
    }

    /// Where the labels are.
    enum Labels {
        /// `bytes` label bytes at the start of each record, before the image.
        case inRecords(bytes: Int)
        /// Read whole from a separate file (one value per instance).
        case separate([Int32])
    }

    let parts: [Part]
    let labels: Labels
    /// Images stored channels-last (H, W, C: a NumPy NHWC array): reordered to C, H, W as read.
    let channelsLast: Bool
    /// The format's label checks over the whole split's records (`SplitSource.checkedLabels`).
    let check: (RecordFileSource, [Int32]) throws -> [Int32]
    public let count: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    public let classCount: Int
    public private(set) var bytesRead = 0
    /// Bytes copied out between two `MappedFile.releasePages` (bounds the mapped pages resident at once).
    static let releaseEvery = 64 << 20
    /// Index of the first record of each part, and the total.
    private let starts: [Int]

    init(
        parts: [Part], labels: Labels, limit: Int?, channels: Int, height: Int, width: Int, classCount: Int,
        channelsLast: Bool = false, check: @escaping (RecordFileSource, [Int32]) throws -> [Int32]
    ) {
        self.parts = parts
        self.labels = labels
        self.channelsLast = channelsLast && channels > 1
        self.channels = channels
        self.height = height
        self.width = width
        self.classCount = classCount
        self.check = check
        var starts = [0]
        for part in parts { starts.append(starts.last! + part.records) }
        self.starts = starts
        count = min(limit ?? starts.last!, starts.last!)
    }

    var labelBytes: Int {
        if case .inRecords(let bytes) = labels { return bytes }
        return 0
    }
    var recordSize: Int { labelBytes + sampleSize }
    public var labelsPerRecord: Int { max(1, labelBytes) }

    public func labelRecords(_ range: Range<Int>) throws -> [Int32] {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "labelRecords: \(range) outside 0..<\(count)")
        switch labels {
        case .separate(let values):
            return Array(values[range])
        case .inRecords(let bytes):
            var records = [Int32]()
            records.reserveCapacity(range.count * bytes)
            var part = 0
            for id in range {
                while id >= starts[part + 1] { part += 1 }
                let record = recordStart(part: part, id: id)
                for b in 0..<bytes { records.append(Int32(record.load(fromByteOffset: b, as: UInt8.self))) }
            }
            bytesRead += range.count * bytes
            return records
        }
    }

    public func checkedLabels(_ records: [Int32]) throws -> [Int32] {
        precondition(records.count == count * labelsPerRecord, "checkedLabels: \(records.count) records for \(count) instances")
        return try check(self, records)
    }

    public func readImages(ids: [Int], into buffer: UnsafeMutableRawBufferPointer, visit: (Range<Int>) -> Void) throws {
        let size = sampleSize
        precondition(buffer.count >= ids.count * size)
        let run = visitRun
        var part = 0
        var previous = -1
        var sinceRelease = 0
        defer { parts.forEach { $0.file.releasePages() } }
        for first in stride(from: 0, to: ids.count, by: run) {
            let slots = first..<min(first + run, ids.count)
            for k in slots {
                let id = ids[k]
                sinceRelease += recordSize
                if sinceRelease >= Self.releaseEvery {
                    parts.forEach { $0.file.releasePages() }
                    sinceRelease = 0
                }
                precondition(id > previous && id < count, "readImages: ids must ascend within 0..<\(count), got \(id) after \(previous)")
                previous = id
                while id >= starts[part + 1] { part += 1 }
                copyImage(from: recordStart(part: part, id: id) + labelBytes, to: buffer.baseAddress! + k * size)
            }
            visit(slots)
        }
        bytesRead += ids.count * size
    }

    /// Copies one image from its record to `destination` in C, H, W order.
    @inline(__always)
    private func copyImage(from source: UnsafeRawPointer, to destination: UnsafeMutableRawPointer) {
        guard channelsLast else {
            destination.copyMemory(from: source, byteCount: sampleSize)
            return
        }
        // out[c][p] = in[p][c] over the image's height x width pixels p
        let area = height * width
        let from = source.assumingMemoryBound(to: UInt8.self)
        let to = destination.assumingMemoryBound(to: UInt8.self)
        if channels == 3 {  // RGB, the common case: three planes filled in one pass
            let (red, green, blue) = (to, to + area, to + 2 * area)
            // Eight pixels (24 bytes, three words) at a time: each plane's eight bytes are
            // gathered from the words by shifts and stored as one word.
            var p = 0
            while p + 8 <= area {
                let words = (
                    UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 3 * p, as: UInt64.self)),
                    UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 3 * p + 8, as: UInt64.self)),
                    UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 3 * p + 16, as: UInt64.self)))
                UnsafeMutableRawPointer(red + p).storeBytes(of: Self.gather(words, from: 0).littleEndian, as: UInt64.self)
                UnsafeMutableRawPointer(green + p).storeBytes(of: Self.gather(words, from: 1).littleEndian, as: UInt64.self)
                UnsafeMutableRawPointer(blue + p).storeBytes(of: Self.gather(words, from: 2).littleEndian, as: UInt64.self)
                p += 8
            }
            for p in p..<area {
                red[p] = from[3 * p]
                green[p] = from[3 * p + 1]
                blue[p] = from[3 * p + 2]
            }
        } else {
            for p in 0..<area {
                for c in 0..<channels { to[c * area + p] = from[p * channels + c] }
            }
        }
    }

    /// Bytes `first`, `first + 3`, ..., `first + 21` of the 24 bytes in `words` (little-endian),
    /// as one little-endian word: one colour's eight bytes of eight interleaved RGB pixels.
    @inline(__always)
    private static func gather(_ words: (UInt64, UInt64, UInt64), from first: Int) -> UInt64 {
        var value: UInt64 = 0
        for k in 0..<8 {
            let i = first + 3 * k
            let word = i < 8 ? words.0 : (i < 16 ? words.1 : words.2)
            value |= ((word >> UInt64(8 * (i & 7))) & 0xFF) << UInt64(8 * k)
        }
        return value
    }

    /// The file and record index within it of split position `id` (for error messages).
    func location(of id: Int) -> (path: String, record: Int) {
        var part = 0
        while id >= starts[part + 1] { part += 1 }
        return (parts[part].file.path, id - starts[part])
    }

    private func recordStart(part: Int, id: Int) -> UnsafeRawPointer {
        let p = parts[part]
        return p.file.bytes.baseAddress! + p.headerSize + (id - starts[part]) * recordSize
    }
}
