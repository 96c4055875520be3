import Foundation

/// Parser for the CIFAR-10 and CIFAR-100 binary versions (fixed-size records, no header).
enum CIFARReader {
    /// Which CIFAR variant; decides the label bytes per record and the class count.
    enum Variant {
        case cifar10
        case cifar100

        /// CIFAR-100 records carry a coarse label before the fine one.
        var labelBytes: Int { self == .cifar10 ? 1 : 2 }
        var classCount: Int { self == .cifar10 ? 10 : 100 }
        var recordSize: Int { labelBytes + CIFARReader.imageBytes }
    }

    static let channels = 3
    static let side = 32
    static let imageBytes = channels * side * side

    /// Reads the concatenation of `paths` into one dataset with ids `0..<total` in file order.
    static func read(_ paths: [String], variant: Variant) throws -> Dataset {
        var images = [UInt8]()
        var labels = [Int32]()
        for path in paths {
            let bytes = try GzipFile.read(path)
            let recordSize = variant.recordSize
            let records = bytes.count / recordSize
            if records == 0 || bytes.count % recordSize != 0 {
                throw DatasetError.truncatedFile(
                    file: path, expectedBytes: (records + 1) * recordSize, foundBytes: bytes.count)
            }
            images.reserveCapacity(images.count + records * imageBytes)
            labels.reserveCapacity(labels.count + records)
            try bytes.withUnsafeBufferPointer { source in
                for r in 0..<records {
                    let record = r * recordSize
                    // CIFAR-100 stores (coarse, fine); the fine label is the classification target.
                    let label = Int(source[record + variant.labelBytes - 1])
                    guard label < variant.classCount else {
                        throw DatasetError.labelOutOfRange(
                            file: path, index: r, value: label, validRange: 0..<variant.classCount)
                    }
                    // The coarse label is not used, but one out of its 20 classes means a misaligned file.
                    if variant == .cifar100, source[record] >= 20 {
                        throw DatasetError.labelOutOfRange(
                            file: path, index: r, value: Int(source[record]), validRange: 0..<20)
                    }
                    labels.append(Int32(label))
                    let start = record + variant.labelBytes
                    images.append(contentsOf: UnsafeBufferPointer(rebasing: source[start..<(start + imageBytes)]))
                }
            }
        }
        let total = labels.count
        return Dataset(
            images: images, labels: labels, ids: Array(0..<Int32(total)),
            channels: channels, height: side, width: side, classCount: variant.classCount)
    }
}
