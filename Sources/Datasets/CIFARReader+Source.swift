extension CIFARReader {
    /// The records of `paths` (in order, ids `0..<total`) as a memory-mapped source, each
    /// file's size checked as `read` checks it; labels are checked by `checkedLabels` as
    /// `read` checks them. A gzip-compressed file is read whole (`read`) instead.
    static func source(_ paths: [String], variant: Variant, limit: Int?) throws -> SplitSource {
        var parts: [RecordFileSource.Part] = []
        for path in paths {
            let file = try MappedFile(path)
            if file.isGzip {
                let whole = try read(paths, variant: variant)
                return InMemorySource(limit.map { whole.prefix($0) } ?? whole)
            }
            let size = file.bytes.count, recordSize = variant.recordSize
            let records = size / recordSize
            if records == 0 || size % recordSize != 0 {
                throw DatasetError.truncatedFile(file: path, expectedBytes: (records + 1) * recordSize, foundBytes: size)
            }
            parts.append(RecordFileSource.Part(file: file, headerSize: 0, records: records))
        }
        return RecordFileSource(
            parts: parts, labels: .inRecords(bytes: variant.labelBytes), limit: limit, channels: channels,
            height: side, width: side, classCount: variant.classCount
        ) { source, records in
            try checkedLabels(records, variant: variant, location: source.location(of:))
        }
    }

    /// The fine labels of `records` (`labelBytes` values per instance), each checked as `read` does.
    static func checkedLabels(
        _ records: [Int32], variant: Variant, location: (Int) -> (path: String, record: Int)
    ) throws -> [Int32] {
        let width = variant.labelBytes
        let count = records.count / width
        var labels = [Int32]()
        labels.reserveCapacity(count)
        for i in 0..<count {
            let label = Int(records[i * width + width - 1])
            guard label < variant.classCount else {
                let (path, r) = location(i)
                throw DatasetError.labelOutOfRange(file: path, index: r, value: label, validRange: 0..<variant.classCount)
            }
            if variant == .cifar100, records[i * width] >= 20 {
                let (path, r) = location(i)
                throw DatasetError.labelOutOfRange(file: path, index: r, value: Int(records[i * width]), validRange: 0..<20)
            }
            labels.append(Int32(label))
        }
        return labels
    }
}
