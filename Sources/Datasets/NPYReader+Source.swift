extension NPYReader {
    /// The images file memory-mapped (its header, dtype, shape and size checked as `readSplit`
    /// checks them) with the labels file read whole and checked by `ClassLabels`; NHWC images
    /// are reordered to C, H, W as each rank reads its own. `classCount` as for `readSplit`.
    static func source(
        imagesPath: String, labelsPath: String, classCount: Int?, layout: NPYLayout, limit: Int?
    ) throws -> RecordFileSource {
        let (imagesFile, shape, labels, classes) = try checkedSplit(
            imagesPath: imagesPath, labelsPath: labelsPath, classCount: classCount, layout: layout)
        let count = imagesFile.count
        return RecordFileSource(
            parts: [RecordFileSource.Part(file: try MappedFile(imagesPath), headerSize: imagesFile.dataOffset, records: count)],
            labels: .separate(labels.map { Int32($0) }), limit: limit, channels: shape.channels, height: shape.height,
            width: shape.width, classCount: classes, channelsLast: shape.layout == .nhwc
        ) { _, records in records }
    }
}
