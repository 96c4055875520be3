extension IDXReader {
    /// A raw image file memory-mapped (its header and size checked as `readImages` does) with
    /// its label file read whole and checked as `readSplit` checks it; gzip images are read
    /// whole (`readSplit`) instead. `classCount` as for `readSplit`.
    static func source(imagesPath: String, labelsPath: String, classCount: Int?, limit: Int?) throws -> SplitSource {
        let file = try MappedFile(imagesPath)
        if file.isGzip {
            let whole = try readSplit(imagesPath: imagesPath, labelsPath: labelsPath, classCount: classCount)
            return InMemorySource(limit.map { whole.prefix($0) } ?? whole)
        }
        let header = try imagesHeader(file.bytes, path: imagesPath)
        let rawLabels = try readLabels(labelsPath)
        guard rawLabels.count == header.count else {
            throw DatasetError.countMismatch(
                imagesFile: imagesPath, imageCount: header.count, labelsFile: labelsPath, labelCount: rawLabels.count)
        }
        let classes = try checkedClasses(rawLabels, classCount: classCount, path: labelsPath)
        return RecordFileSource(
            parts: [RecordFileSource.Part(file: file, headerSize: imagesHeaderSize, records: header.count)],
            labels: .separate(rawLabels.map { Int32($0) }), limit: limit, channels: 1, height: header.rows,
            width: header.cols, classCount: classes
        ) { _, records in records }
    }
}
