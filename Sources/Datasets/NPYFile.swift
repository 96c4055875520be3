import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A NumPy `.npy` file as `np.save` writes it: its header, checked, and reads of its data.
///
/// Layout (NumPy's "format" module, versions 1.0, 2.0 and 3.0):
///
///     "\x93NUMPY" | major | minor | header length (uint16 LE in 1.0, uint32 LE in 2.0 and 3.0)
///     | header: a Python dict literal, latin-1 (utf-8 in 3.0), space-padded, ending in "\n"
///       {'descr': '<u1', 'fortran_order': False, 'shape': (60000, 28, 28), }
///     | data: product(shape) items of `descr`, C order            (at `dataOffset`)
///
/// The array is a sequence of `count` records (one per index of the first dimension) of
/// `recordSize` bytes each, so record i is the byte range
/// `dataOffset + i * recordSize ..< dataOffset + (i + 1) * recordSize` of the file:
/// what a reader of some records only (one rank's share) needs, see `readRecords(_:)`.
///
///     let file = try NPYFile(path: "data/train_labels.npy")   // header checked, size checked
///     let labels = try file.integers()                          // any integer dtype
public struct NPYFile: Sendable, Equatable {
    /// The leading bytes of every `.npy` file.
    public static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    /// The versions read: 1.0, 2.0 and 3.0.
    public static let versions: [(major: UInt8, minor: UInt8)] = [(1, 0), (2, 0), (3, 0)]
    /// Header lengths above this are not NumPy's (it writes a few hundred bytes).
    static let maxHeaderLength = 1 << 20

    /// An element type the reader accepts: unsigned or signed integers of 1, 2, 4 or 8 bytes.
    public struct DType: Sendable, Equatable, CustomStringConvertible {
        public let signed: Bool
        /// Bytes per item: 1, 2, 4 or 8.
        public let itemSize: Int
        /// Byte order of multi-byte items ('>' in the descr); single bytes have none.
        public let bigEndian: Bool

        public static let uint8 = DType(signed: false, itemSize: 1, bigEndian: false)

        /// The descr as NumPy writes it: "|u1", "<i8", ">u4".
        public var description: String {
            (itemSize == 1 ? "|" : bigEndian ? ">" : "<") + (signed ? "i" : "u") + "\(itemSize)"
        }

        /// numpy's name: "uint8", "int64".
        public var name: String { (signed ? "int" : "uint") + "\(itemSize * 8)" }

        /// The accepted descrs, as error messages list them.
        public static let accepted = "int8/16/32/64 or uint8/16/32/64, little- or big-endian ('|u1', '<i8', '>u4', ...)"

        /// Parses a descr: a byte-order character ('<', '>', '|', or '=' for single bytes) and
        /// 'u' or 'i' with the item size; nil for anything else (floats, bools, structures).
        public init?(descr: String) {
            let characters = Array(descr)
            guard characters.count == 3, let size = Int(String(characters[2])), [1, 2, 4, 8].contains(size) else {
                return nil
            }
            switch characters[1] {
            case "u": signed = false
            case "i": signed = true
            default: return nil
            }
            switch characters[0] {
            case "<": bigEndian = false
            case ">": bigEndian = true
            case "|", "=": guard size == 1 else { return nil }; bigEndian = false
            default: return nil
            }
            itemSize = size
        }

        init(signed: Bool, itemSize: Int, bigEndian: Bool) {
            self.signed = signed
            self.itemSize = itemSize
            self.bigEndian = bigEndian
        }
    }

    public let path: String
    /// The format version, "1.0", "2.0" or "3.0".
    public let version: String
    public let dtype: DType
    /// The array's shape; the first dimension counts the records.
    public let shape: [Int]
    /// Always false for a file that opened: Fortran order is refused.
    public let fortranOrder: Bool
    /// Where the data starts: magic, version, length field and header.
    public let dataOffset: Int

    /// Records: the first dimension (1 for a 0-d array).
    public var count: Int { shape.first ?? 1 }
    /// Bytes of one record: the product of the other dimensions times the item size.
    public var recordSize: Int { shape.dropFirst().reduce(dtype.itemSize, *) }
    /// Bytes of the data: `count * recordSize` (no overflow: checked against the file size on opening).
    public var dataSize: Int { count * recordSize }

    /// Reads and checks the header of `path`, and that the file holds exactly the data the
    /// header describes (no fewer bytes, no more).
    ///
    /// - Throws: `DatasetError` naming the file: `.missingFile`, `.unreadableFile`,
    ///   `.notNumPy` (wrong magic), `.unsupportedNumPyVersion`, `.truncatedFile` (header or
    ///   data), `.malformedNumPyHeader`, `.unsupportedDType`, `.fortranOrder`, `.trailingBytes`.
    public init(path: String) throws {
        let file = try RawFile(path: path)
        let prefixLength = min(file.size, 12)
        let header = try Self.parse(try file.read(at: 0, count: prefixLength), fileSize: file.size, path: path) {
            try file.read(at: $0.lowerBound, count: $0.count)
        }
        self = header
    }

    /// Parses a header from `prefix` (the file's first up to 12 bytes), asking `read` for
    /// the header's byte range; checks the data size against `fileSize`.
    static func parse(
        _ prefix: [UInt8], fileSize: Int, path: String, read: (Range<Int>) throws -> [UInt8]
    ) throws -> NPYFile {
        let magicPart = Array(prefix.prefix(magic.count))
        guard magicPart == Array(magic.prefix(magicPart.count)) else {
            throw DatasetError.notNumPy(file: path, found: magicPart)
        }
        guard prefix.count >= 8 else { throw DatasetError.truncatedFile(file: path, expectedBytes: 10, foundBytes: fileSize) }
        let (major, minor) = (prefix[6], prefix[7])
        guard versions.contains(where: { $0.major == major && $0.minor == minor }) else {
            throw DatasetError.unsupportedNumPyVersion(file: path, major: Int(major), minor: Int(minor))
        }
        let fieldSize = major == 1 ? 2 : 4
        guard prefix.count >= 8 + fieldSize else {
            throw DatasetError.truncatedFile(file: path, expectedBytes: 8 + fieldSize, foundBytes: fileSize)
        }
        let length = (0..<fieldSize).reduce(0) { $0 | Int(prefix[8 + $1]) << (8 * $1) }
        let start = 8 + fieldSize
        guard length <= maxHeaderLength else {
            throw DatasetError.malformedNumPyHeader(file: path, reason: "header length \(length) bytes, at most \(maxHeaderLength)")
        }
        guard fileSize >= start + length else {
            throw DatasetError.truncatedFile(file: path, expectedBytes: start + length, foundBytes: fileSize)
        }
        let bytes = try read(start..<(start + length))
        let text: String
        if major >= 3 {
            guard let utf8 = String(validating: bytes, as: UTF8.self) else {
                throw DatasetError.malformedNumPyHeader(file: path, reason: "header is not valid utf-8")
            }
            text = utf8
        } else {
            text = String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))  // latin-1
        }
        let dict = try HeaderDict.parse(text, path: path)

        guard let dtype = DType(descr: dict.descr) else {
            throw DatasetError.unsupportedDType(file: path, found: dict.descr, accepted: DType.accepted)
        }
        guard !dict.fortranOrder else { throw DatasetError.fortranOrder(file: path) }
        var size = dtype.itemSize
        for dimension in dict.shape {
            let (product, overflow) = size.multipliedReportingOverflow(by: dimension)
            guard !overflow else {
                throw DatasetError.badDimensions(file: path, reason: "shape \(shapeText(dict.shape)) is too large")
            }
            size = product
        }
        let expected = start + length + size
        if fileSize < expected { throw DatasetError.truncatedFile(file: path, expectedBytes: expected, foundBytes: fileSize) }
        if fileSize > expected { throw DatasetError.trailingBytes(file: path, expectedBytes: expected, foundBytes: fileSize) }
        return NPYFile(
            path: path, version: "\(major).\(minor)", dtype: dtype, shape: dict.shape, fortranOrder: false,
            dataOffset: start + length)
    }

    private init(path: String, version: String, dtype: DType, shape: [Int], fortranOrder: Bool, dataOffset: Int) {
        self.path = path
        self.version = version
        self.dtype = dtype
        self.shape = shape
        self.fortranOrder = fortranOrder
        self.dataOffset = dataOffset
    }

    /// "(60000, 28, 28)", "(60000,)": a shape as Python prints it.
    public static func shapeText(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    // MARK: - Reading the data

    /// The bytes of records `records` (all of them by default), as stored (C order, file byte order).
    public func readRecords(_ records: Range<Int>? = nil) throws -> [UInt8] {
        let records = records ?? 0..<count
        precondition(records.lowerBound >= 0 && records.upperBound <= count, "NPYFile: records \(records) outside 0..<\(count)")
        let file = try RawFile(path: path)
        return try file.read(at: dataOffset + records.lowerBound * recordSize, count: records.count * recordSize)
    }

    /// The items of records `records` (all by default) as integers, whatever the integer
    /// dtype and byte order. A uint64 above `Int.max` reads as `Int.max` (no label is that large).
    public func integers(_ records: Range<Int>? = nil) throws -> [Int] {
        Self.integers(try readRecords(records), dtype: dtype)
    }

    /// Decodes `bytes` (whole items) as items of `dtype` (a uint64 above `Int.max` as `Int.max`).
    public static func integers(_ bytes: [UInt8], dtype: DType) -> [Int] {
        let size = dtype.itemSize
        let count = bytes.count / size
        var values = [Int](repeating: 0, count: count)
        for i in 0..<count {
            var raw: UInt64 = 0
            for b in 0..<size {
                let byte = UInt64(bytes[i * size + (dtype.bigEndian ? b : size - 1 - b)])
                raw = raw << 8 | byte
            }
            if dtype.signed {
                let shift = UInt64(64 - 8 * size)
                values[i] = Int(Int64(bitPattern: raw << shift) >> Int64(shift))  // sign-extended
            } else {
                values[i] = raw > UInt64(Int.max) ? Int.max : Int(raw)
            }
        }
        return values
    }
}

// MARK: - The header dict

/// The three keys of a `.npy` header, parsed from its Python dict literal.
struct HeaderDict {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]

    /// Parses `{'descr': '<u1', 'fortran_order': False, 'shape': (3, 4), }` (spaces and a
    /// trailing comma allowed, padding and the final newline ignored; keys in any order, each
    /// exactly once, no others).
    static func parse(_ text: String, path: String) throws -> HeaderDict {
        var scanner = Scanner(characters: Array(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        func fail(_ reason: String) -> DatasetError {
            .malformedNumPyHeader(file: path, reason: reason)
        }
        var descr: String?
        var fortranOrder: Bool?
        var shape: [Int]?
        guard scanner.take("{") else { throw fail("header does not start with '{'") }
        while true {
            scanner.skipSpaces()
            if scanner.take("}") { break }
            guard let key = scanner.string() else { throw fail("expected a quoted key at character \(scanner.position)") }
            scanner.skipSpaces()
            guard scanner.take(":") else { throw fail("expected ':' after '\(key)'") }
            scanner.skipSpaces()
            switch key {
            case "descr" where descr == nil:
                guard let value = scanner.string() else { throw fail("'descr' is not a quoted string (structured dtypes are not read)") }
                descr = value
            case "fortran_order" where fortranOrder == nil:
                guard let value = scanner.boolean() else { throw fail("'fortran_order' is not True or False") }
                fortranOrder = value
            case "shape" where shape == nil:
                guard let value = scanner.tuple() else { throw fail("'shape' is not a tuple of non-negative integers") }
                shape = value
            case "descr", "fortran_order", "shape": throw fail("key '\(key)' appears twice")
            default: throw fail("unexpected key '\(key)'")
            }
            scanner.skipSpaces()
            if scanner.take(",") { continue }
            scanner.skipSpaces()
            guard scanner.take("}") else { throw fail("expected ',' or '}' at character \(scanner.position)") }
            break
        }
        scanner.skipSpaces()
        guard scanner.atEnd else { throw fail("text after the closing '}'") }
        guard let descr, let fortranOrder, let shape else {
            let missing = [("descr", descr == nil), ("fortran_order", fortranOrder == nil), ("shape", shape == nil)]
                .filter(\.1).map { "'\($0.0)'" }
            throw fail("missing \(missing.joined(separator: ", "))")
        }
        return HeaderDict(descr: descr, fortranOrder: fortranOrder, shape: shape)
    }

    /// A cursor over the characters of a header.
    struct Scanner {
        let characters: [Character]
        var position = 0

        var atEnd: Bool { position == characters.count }

        mutating func skipSpaces() {
            while position < characters.count, characters[position] == " " { position += 1 }
        }

        mutating func take(_ c: Character) -> Bool {
            guard position < characters.count, characters[position] == c else { return false }
            position += 1
            return true
        }

        /// A '...' or "..." string without escapes.
        mutating func string() -> String? {
            guard position < characters.count, characters[position] == "'" || characters[position] == "\"" else { return nil }
            let quote = characters[position]
            guard let end = characters[(position + 1)...].firstIndex(of: quote) else { return nil }
            let value = String(characters[(position + 1)..<end])
            guard !value.contains("\\") else { return nil }
            position = end + 1
            return value
        }

        mutating func boolean() -> Bool? {
            for (word, value) in [("True", true), ("False", false)] {
                let w = Array(word)
                if characters.count - position >= w.count, Array(characters[position..<(position + w.count)]) == w {
                    position += w.count
                    return value
                }
            }
            return nil
        }

        /// `()`, `(3,)`, `(3, 4)`, `(3, 4,)`; Python 2's `3L` accepted.
        mutating func tuple() -> [Int]? {
            guard take("(") else { return nil }
            var values: [Int] = []
            while true {
                skipSpaces()
                if take(")") { return values }
                var digits = ""
                while position < characters.count, characters[position].isASCII, characters[position].isNumber {
                    digits.append(characters[position])
                    position += 1
                }
                guard !digits.isEmpty, digits.count <= 18, let value = Int(digits) else { return nil }
                _ = take("L")
                values.append(value)
                skipSpaces()
                if take(",") { continue }
                skipSpaces()
                guard take(")") else { return nil }
                // Python needs the comma in a one-element tuple: "(3)" is the integer 3.
                return values.count == 1 ? nil : values
            }
        }
    }
}

// MARK: - File access

/// A file opened read-only for positioned reads (pread), closed when released.
private final class RawFile {
    let path: String
    let descriptor: Int32
    let size: Int

    init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw DatasetError.missingFile(path: path)
        }
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw DatasetError.unreadableFile(file: path, message: String(cString: strerror(errno)))
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let message = String(cString: strerror(errno))
            close(descriptor)
            throw DatasetError.unreadableFile(file: path, message: message)
        }
        size = Int(info.st_size)
    }

    deinit { close(descriptor) }

    /// Exactly `count` bytes at `offset`; a short read (the file shrank) is a truncation.
    func read(at offset: Int, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw DatasetError.unreadableFile(file: path, message: String(cString: strerror(errno)))
            }
            if n == 0 { throw DatasetError.truncatedFile(file: path, expectedBytes: offset + count, foundBytes: offset + done) }
            done += n
        }
        return bytes
    }
}
