/// Why a dataset directory or file could not be loaded.
///
/// Every `description` is a single line naming the offending path and what
/// was expected, so the command line can print it as-is.
public enum DatasetError: Error, CustomStringConvertible, Equatable {
    /// The dataset directory does not exist or is not a directory.
    case missingDirectory(path: String)
    /// The directory holds none of the supported layouts; `lookedFor` lists the file names tried.
    case noDatasetFiles(directory: String, lookedFor: [String])
    /// A file the detected layout needs is absent; `alternatives` are other accepted names for it.
    case missingFile(path: String, alternatives: [String] = [])
    /// The file exists but could not be opened (permissions, I/O error).
    case unreadableFile(file: String, message: String)
    /// The gzip stream is corrupt or cut short; `message` is zlib's.
    case corruptGzip(file: String, message: String)
    /// The IDX header does not carry the magic number of the expected kind of file.
    case wrongMagic(file: String, expected: UInt32, found: UInt32)
    /// The (decompressed) file is shorter than its header or record size implies.
    case truncatedFile(file: String, expectedBytes: Int, foundBytes: Int)
    /// The (decompressed) file has bytes after the payload its header describes.
    case trailingBytes(file: String, expectedBytes: Int, foundBytes: Int)
    /// An image file and its label file disagree on the number of instances.
    case countMismatch(imagesFile: String, imageCount: Int, labelsFile: String, labelCount: Int)
    /// A label at record `index` is outside `validRange`.
    case labelOutOfRange(file: String, index: Int, value: Int, validRange: Range<Int>)
    /// A training label file whose largest label (at record `index`) leaves classes below it
    /// without a single instance: the class count would be wrong (IDX does not declare one).
    case classesWithoutInstances(file: String, largestLabel: Int, index: Int, empty: [Int])
    /// A data directory holding more than one format (`found` names one file of each).
    case mixedFormats(directory: String, found: [String])
    /// Header dimensions are zero, absurd, or differ between train and test.
    case badDimensions(file: String, reason: String)
    /// A `.npy` file that does not start with NumPy's magic string (`found`: its first bytes).
    case notNumPy(file: String, found: [UInt8])
    /// A `.npy` file of a format version other than 1.0, 2.0 and 3.0.
    case unsupportedNumPyVersion(file: String, major: Int, minor: Int)
    /// A `.npy` header that is not the dict NumPy writes (`reason` says where it is wrong).
    case malformedNumPyHeader(file: String, reason: String)
    /// A `.npy` array of an element type the file's role does not take (`accepted` lists those it does).
    case unsupportedDType(file: String, found: String, accepted: String)
    /// A `.npy` array stored in Fortran (column-major) order.
    case fortranOrder(file: String)
    /// A `.npy` array whose shape the file's role does not take (`expected` says which it does).
    case unsupportedShape(file: String, shape: [Int], expected: String)

    public var description: String {
        switch self {
        case let .missingDirectory(path):
            return "\(path): dataset directory not found or not a directory"
        case let .noDatasetFiles(directory, lookedFor):
            return "\(directory): no dataset files found; looked for \(lookedFor.joined(separator: ", "))"
        case let .missingFile(path, alternatives):
            if alternatives.isEmpty { return "\(path): file not found" }
            return "\(path): file not found (also accepted: \(alternatives.joined(separator: ", ")))"
        case let .unreadableFile(file, message):
            return "\(file): cannot open file (\(message))"
        case let .corruptGzip(file, message):
            return "\(file): corrupt or truncated gzip data (zlib: \(message)); re-download or re-extract the file"
        case let .wrongMagic(file, expected, found):
            return "\(file): wrong magic number \(hex(found)), expected \(hex(expected)) (\(magicMeaning(expected)))"
        case let .truncatedFile(file, expectedBytes, foundBytes):
            return "\(file): truncated, expected \(expectedBytes) bytes but found \(foundBytes)"
        case let .trailingBytes(file, expectedBytes, foundBytes):
            return "\(file): \(foundBytes - expectedBytes) unexpected trailing bytes, expected exactly \(expectedBytes) bytes but found \(foundBytes)"
        case let .countMismatch(imagesFile, imageCount, labelsFile, labelCount):
            return "\(labelsFile): holds \(labelCount) labels but \(imagesFile) holds \(imageCount) images; they must match"
        case let .labelOutOfRange(file, index, value, validRange):
            return "\(file): label \(value) at index \(index) is outside the valid range \(validRange.lowerBound)..<\(validRange.upperBound)"
        case let .classesWithoutInstances(file, largestLabel, index, empty):
            return "\(file): label \(largestLabel) at index \(index) would make \(largestLabel + 1) classes, but "
                + "\(empty.count) of them (\(Self.ranges(empty))) have no training instance; labels must be "
                + "0..<C with every class present"
        case let .mixedFormats(directory, found):
            return "\(directory): holds more than one dataset format (\(found.joined(separator: " and "))); "
                + "give a directory with one format"
        case let .badDimensions(file, reason):
            return "\(file): bad dimensions: \(reason)"
        case let .notNumPy(file, found):
            return "\(file): not a NumPy .npy file: starts with \(found.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")), "
                + "expected 93 4e 55 4d 50 59 (\"\\x93NUMPY\"); write it with np.save"
        case let .unsupportedNumPyVersion(file, major, minor):
            return "\(file): .npy format version \(major).\(minor), expected 1.0, 2.0 or 3.0"
        case let .malformedNumPyHeader(file, reason):
            return "\(file): malformed .npy header: \(reason)"
        case let .unsupportedDType(file, found, accepted):
            return "\(file): dtype '\(found)' is not accepted; expected \(accepted)"
        case let .fortranOrder(file):
            return "\(file): array is in Fortran order; save a C-ordered one (np.save(path, np.ascontiguousarray(a)))"
        case let .unsupportedShape(file, shape, expected):
            return "\(file): shape \(NPYFile.shapeText(shape)) is not accepted; expected \(expected)"
        }
    }

    /// "10..<200, 203" for sorted values.
    private static func ranges(_ values: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        while i < values.count {
            var j = i
            while j + 1 < values.count && values[j + 1] == values[j] + 1 { j += 1 }
            parts.append(j == i ? "\(values[i])" : "\(values[i])..<\(values[j] + 1)")
            i = j + 1
        }
        return parts.joined(separator: ", ")
    }

    private func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    private func magicMeaning(_ magic: UInt32) -> String {
        switch magic {
        case IDXReader.imagesMagic: return "IDX unsigned-byte images, 3 dimensions"
        case IDXReader.labelsMagic: return "IDX unsigned-byte labels, 1 dimension"
        default: return "IDX"
        }
    }
}
