extension NPYReader {
    /// The images file memory-mapped (its header, dtype, shape and size checked as `readSplit`
    /// checks them) with the labels file read whole and checked by `ClassLabels`; NHWC images
    /// are reordered to C, H, W as each rank reads its own. `classCount` as for `readSplit`.
    static func source(
        imagesPath: String, labelsPath: String, classCount: Int?, layout: NPYLayout, limit: Int?
    ) throws -> RecordFileSource {
        let imagesFile = try NPYFile(path: imagesPath)
        guard imagesFile.dtype == .uint8 else {
            throw DatasetError.unsupportedDType(
                file: imagesPath, found: imagesFile.dtype.description, accepted: "uint8 images ('|u1')")
        }
        let shape = try layout.resolve(imagesFile.shape, path: imagesPath)
        let count = imagesFile.count
        guard count > 0 else { throw DatasetError.badDimensions(file: imagesPath, reason: "holds 0 images") }
        let labelsFile = try NPYFile(path: labelsPath)
        guard labelsFile.shape.count == 1 else {
            throw DatasetError.unsupportedShape(file: labelsPath, shape: labelsFile.shape, expected: "labels of shape (N,)")
        }
        guard labelsFile.count == count else {
            throw DatasetError.countMismatch(
                imagesFile: imagesPath, imageCount: count, labelsFile: labelsPath, labelCount: labelsFile.count)
        }
        let labels = try labelsFile.integers()
        let classes = try classCount ?? ClassLabels.trainingClasses(labels, path: labelsPath)
        try ClassLabels.check(labels, below: classes, path: labelsPath)
        return RecordFileSource(
            parts: [RecordFileSource.Part(file: try MappedFile(imagesPath), headerSize: imagesFile.dataOffset, records: count)],
            labels: .separate(labels.map { Int32($0) }), limit: limit, channels: shape.channels, height: shape.height,
            width: shape.width, classCount: classes, channelsLast: shape.layout == .nhwc
        ) { _, records in records }
    }
}
