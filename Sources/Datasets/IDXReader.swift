import Foundation

/// Parser for the IDX unsigned-byte format used by MNIST and Fashion-MNIST.
enum IDXReader {
    /// Magic number of an IDX file of unsigned bytes with 3 dimensions (count, rows, cols).
    static let imagesMagic: UInt32 = 0x0000_0803
    /// Magic number of an IDX file of unsigned bytes with 1 dimension (count).
    static let labelsMagic: UInt32 = 0x0000_0801
    /// Upper bound on rows and cols; anything larger is a corrupt header, not an image.
    static let maxSide = 4096

    /// Pixel bytes of an IDX image file.
    struct Images {
        var count: Int
        var rows: Int
        var cols: Int
        var pixels: [UInt8]
    }

    /// Reads an image file (gzip or raw), checking magic, dimensions and exact payload size.
    static func readImages(_ path: String) throws -> Images {
        let headerSize = 16
        let bytes = try readFile(path, magic: imagesMagic, headerSize: headerSize)
        let header = try bytes.withUnsafeBytes { try imagesHeader($0, path: path) }
        return Images(count: header.count, rows: header.rows, cols: header.cols, pixels: Array(bytes[headerSize...]))
    }

    /// Bytes before the pixels of an image file.
    static let imagesHeaderSize = 16

    /// Checks the header of the (decompressed) image file `bytes` and that its size is exactly
    /// what the header declares; the pixels follow at `imagesHeaderSize`.
    static func imagesHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws -> (count: Int, rows: Int, cols: Int) {
        let headerSize = imagesHeaderSize
        guard bytes.count >= 4 else {
            throw DatasetError.truncatedFile(file: path, expectedBytes: 4, foundBytes: bytes.count)
        }
        let magic = bigEndianUInt32(bytes, at: 0)
        guard magic == imagesMagic else { throw DatasetError.wrongMagic(file: path, expected: imagesMagic, found: magic) }
        guard bytes.count >= headerSize else {
            throw DatasetError.truncatedFile(file: path, expectedBytes: headerSize, foundBytes: bytes.count)
        }
        let count = Int(bigEndianUInt32(bytes, at: 4))
        let rows = Int(bigEndianUInt32(bytes, at: 8))
        let cols = Int(bigEndianUInt32(bytes, at: 12))
        guard count > 0 else { throw DatasetError.badDimensions(file: path, reason: "header declares 0 images") }
        guard rows > 0, cols > 0, rows <= maxSide, cols <= maxSide else {
            throw DatasetError.badDimensions(
                file: path, reason: "image size \(rows)x\(cols), expected rows and cols in 1...\(maxSide)")
        }
        // count < 2^32 and rows*cols <= 2^24, so this cannot overflow Int64.
        let expected = headerSize + count * rows * cols
        try checkSize(bytes.count, expected: expected, path: path)
        return (count, rows, cols)
    }

    /// The bytes of `path` (gzip or raw) after checking its magic number and that the header is complete.
    private static func readFile(_ path: String, magic: UInt32, headerSize: Int) throws -> [UInt8] {
        let bytes = try GzipFile.read(path)
        try checkMagic(bytes, expected: magic, path: path)
        guard bytes.count >= headerSize else {
            throw DatasetError.truncatedFile(file: path, expectedBytes: headerSize, foundBytes: bytes.count)
        }
        return bytes
    }

    /// Reads a label file (gzip or raw), checking magic and exact payload size; `readSplit` checks the labels.
    static func readLabels(_ path: String) throws -> [UInt8] {
        let headerSize = 8
        let bytes = try readFile(path, magic: labelsMagic, headerSize: headerSize)
        let count = Int(bigEndianUInt32(bytes, at: 4))
        guard count > 0 else { throw DatasetError.badDimensions(file: path, reason: "header declares 0 labels") }
        try checkSize(bytes.count, expected: headerSize + count, path: path)
        return Array(bytes[headerSize...])
    }

    /// Reads a matching image/label pair into a dataset with ids `0..<count`.
    ///
    /// - Parameter classCount: if nil, the training split defines the classes
    ///   (`ClassLabels.trainingClasses`); otherwise every label must be below it.
    static func readSplit(imagesPath: String, labelsPath: String, classCount: Int?) throws -> Dataset {
        let images = try readImages(imagesPath)
        let rawLabels = try readLabels(labelsPath)
        guard rawLabels.count == images.count else {
            throw DatasetError.countMismatch(
                imagesFile: imagesPath, imageCount: images.count, labelsFile: labelsPath, labelCount: rawLabels.count)
        }
        let labels = rawLabels.map(Int.init)
        let classes = try classCount ?? ClassLabels.trainingClasses(labels, path: labelsPath)
        try ClassLabels.check(labels, below: classes, path: labelsPath)
        return Dataset(
            images: images.pixels, labels: rawLabels.map { Int32($0) }, ids: Array(0..<Int32(images.count)),
            channels: 1, height: images.rows, width: images.cols, classCount: classes)
    }

    /// The class count of a label file by `ClassLabels`' rule: `classCount` (the training
    /// split's, for a test split) or, if nil, the training classes; every label below it.
    static func checkedClasses(_ rawLabels: [UInt8], classCount: Int?, path: String) throws -> Int {
        let labels = rawLabels.map(Int.init)
        let classes = try classCount ?? ClassLabels.trainingClasses(labels, path: path)
        try ClassLabels.check(labels, below: classes, path: path)
        return classes
    }

    private static func checkMagic(_ bytes: [UInt8], expected: UInt32, path: String) throws {
        guard bytes.count >= 4 else {
            throw DatasetError.truncatedFile(file: path, expectedBytes: 4, foundBytes: bytes.count)
        }
        let magic = bigEndianUInt32(bytes, at: 0)
        guard magic == expected else { throw DatasetError.wrongMagic(file: path, expected: expected, found: magic) }
    }

    private static func checkSize(_ size: Int, expected: Int, path: String) throws {
        if size < expected { throw DatasetError.truncatedFile(file: path, expectedBytes: expected, foundBytes: size) }
        if size > expected { throw DatasetError.trailingBytes(file: path, expectedBytes: expected, foundBytes: size) }
    }

    private static func bigEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }

    private static func bigEndianUInt32(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }
}
