import DurableIO

/// The contents of a safetensors file: tensors in data order plus string metadata.
///
/// Format (https://github.com/huggingface/safetensors): an 8-byte little-endian
/// header length N, N bytes of UTF-8 JSON mapping tensor names to
/// `{"dtype", "shape", "data_offsets"}` (plus an optional `"__metadata__"`
/// object of strings), then the raw little-endian tensor data, contiguous and
/// without gaps.
public struct SafetensorsFile: Sendable, Equatable {
    /// Tensors in order of their `data_offsets` (ascending begin); written in this order.
    public var tensors: [SafetensorsTensor]
    /// Free-form string metadata stored under `"__metadata__"`.
    public var metadata: [String: String]

    /// Reserved header key for the metadata object; no tensor may use it as its name.
    public static let metadataKey = "__metadata__"

    /// Creates a file from tensors (kept in the given order) and metadata.
    public init(tensors: [SafetensorsTensor], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The first tensor called `name`, or nil if there is none.
    public subscript(name: String) -> SafetensorsTensor? {
        tensors.first { $0.name == name }
    }

    // MARK: - Encoding

    /// The exact bytes of the file, with a hand-written, deterministic header.
    ///
    /// The header is `{"__metadata__":{...},"name":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},...}`
    /// with no whitespace: metadata first (only when non-empty, keys sorted by
    /// their UTF-8 bytes), then the tensors in array order, stored back to back.
    /// Names and metadata strings are JSON-escaped (`"`, `\`, control
    /// characters). The header is padded with spaces so that `8 + N` is a
    /// multiple of 8. Traps on duplicate or reserved (`__metadata__`) tensor
    /// names; `write(path:)` reports those as errors instead.
    public func encoded() -> [UInt8] {
        do {
            try validateNames(path: "<memory>")
        } catch {
            preconditionFailure("SafetensorsFile.encoded(): \(error)")
        }
        var header: [UInt8] = []
        header.append(UInt8(ascii: "{"))
        var first = true
        func separator() {
            if !first { header.append(UInt8(ascii: ",")) }
            first = false
        }
        if !metadata.isEmpty {
            separator()
            SafetensorsJSONWriter.appendString(Self.metadataKey, to: &header)
            header.append(contentsOf: Array(":{".utf8))
            let sorted = metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            for (i, entry) in sorted.enumerated() {
                if i > 0 { header.append(UInt8(ascii: ",")) }
                SafetensorsJSONWriter.appendString(entry.key, to: &header)
                header.append(UInt8(ascii: ":"))
                SafetensorsJSONWriter.appendString(entry.value, to: &header)
            }
            header.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for tensor in tensors {
            separator()
            SafetensorsJSONWriter.appendString(tensor.name, to: &header)
            header.append(contentsOf: Array(":{\"dtype\":\"".utf8))
            header.append(contentsOf: Array(tensor.dtype.rawValue.utf8))
            header.append(contentsOf: Array("\",\"shape\":[".utf8))
            for (i, dim) in tensor.shape.enumerated() {
                if i > 0 { header.append(UInt8(ascii: ",")) }
                SafetensorsJSONWriter.appendInt(dim, to: &header)
            }
            header.append(contentsOf: Array("],\"data_offsets\":[".utf8))
            SafetensorsJSONWriter.appendInt(offset, to: &header)
            header.append(UInt8(ascii: ","))
            offset += tensor.bytes.count
            SafetensorsJSONWriter.appendInt(offset, to: &header)
            header.append(contentsOf: Array("]}".utf8))
        }
        header.append(UInt8(ascii: "}"))
        let padding = (8 - header.count % 8) % 8
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))

        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for tensor in tensors { out.append(contentsOf: tensor.bytes) }
        return out
    }

    /// Throws if two tensors share a name (compared by UTF-8 bytes) or a tensor uses `__metadata__`.
    func validateNames(path: String) throws {
        var seen = Set<[UInt8]>()
        for tensor in tensors {
            if tensor.name == Self.metadataKey { throw SafetensorsError.reservedName(path: path, name: tensor.name) }
            if !seen.insert(Array(tensor.name.utf8)).inserted {
                throw SafetensorsError.duplicateName(path: path, name: tensor.name)
            }
        }
    }

    // MARK: - Decoding

    /// Parses and fully validates the bytes of a safetensors file; `path` is only used in error messages.
    ///
    /// Checks the length prefix, UTF-8 and JSON syntax of the header, each
    /// entry's fields, the dtype, that `data_offsets` span exactly
    /// `product(shape) * byteSize` bytes, that tensors lie within the data
    /// section, cover it exactly without gaps or overlaps, and that names are
    /// unique. Header padding is not required when reading.
    public static func decode(_ bytes: [UInt8], path: String = "<memory>") throws -> SafetensorsFile {
        guard bytes.count >= 8 else { throw SafetensorsError.fileTooShort(path: path, size: bytes.count) }
        var headerLength: UInt64 = 0
        for i in (0..<8).reversed() { headerLength = headerLength << 8 | UInt64(bytes[i]) }
        let available = bytes.count - 8
        guard headerLength <= UInt64(available) else {
            throw SafetensorsError.headerLengthExceedsFile(path: path, headerLength: headerLength, available: available)
        }
        let dataStart = 8 + Int(headerLength)
        let headerBytes = Array(bytes[8..<dataStart])
        guard Array(String(decoding: headerBytes, as: UTF8.self).utf8) == headerBytes else {
            throw SafetensorsError.headerNotUTF8(path: path)
        }
        let root: SafetensorsJSONValue
        do {
            root = try SafetensorsJSONParser.parse(headerBytes)
        } catch let error as SafetensorsJSONSyntaxError {
            throw SafetensorsError.invalidJSON(path: path, detail: error.detail)
        }
        guard case .object(let members) = root else { throw SafetensorsError.headerNotObject(path: path) }

        struct Entry {
            let index: Int
            let name: String
            let dtype: SafetensorsDType
            let shape: [Int]
            let begin: Int
            let end: Int
        }
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        var seen = Set<[UInt8]>()
        for (key, value) in members {
            if !seen.insert(Array(key.utf8)).inserted {
                if key == metadataKey {
                    throw SafetensorsError.invalidMetadata(path: path, detail: "\"__metadata__\" appears more than once")
                }
                throw SafetensorsError.duplicateName(path: path, name: key)
            }
            if key == metadataKey {
                metadata = try parseMetadata(value, path: path)
            } else {
                let (dtype, shape, begin, end) = try parseEntry(name: key, value, path: path)
                entries.append(Entry(index: entries.count, name: key, dtype: dtype, shape: shape, begin: begin, end: end))
            }
        }

        let dataSize = bytes.count - dataStart
        for entry in entries where entry.end > dataSize {
            throw SafetensorsError.offsetsOutOfRange(
                path: path, name: entry.name, begin: entry.begin, end: entry.end, dataSize: dataSize)
        }
        entries.sort { ($0.begin, $0.end, $0.index) < ($1.begin, $1.end, $1.index) }
        var covered = 0
        for entry in entries {
            if entry.begin > covered {
                throw SafetensorsError.dataGap(path: path, name: entry.name, begin: entry.begin, expectedBegin: covered)
            }
            if entry.begin < covered {
                throw SafetensorsError.dataOverlap(path: path, name: entry.name, begin: entry.begin, expectedBegin: covered)
            }
            covered = entry.end
        }
        guard covered == dataSize else {
            throw SafetensorsError.dataNotCovered(path: path, coveredBytes: covered, dataSize: dataSize)
        }

        let tensors = entries.map { entry in
            SafetensorsTensor(
                name: entry.name, dtype: entry.dtype, shape: entry.shape,
                bytes: Array(bytes[(dataStart + entry.begin)..<(dataStart + entry.end)]))
        }
        return SafetensorsFile(tensors: tensors, metadata: metadata)
    }

    private static func parseMetadata(_ value: SafetensorsJSONValue, path: String) throws -> [String: String] {
        guard case .object(let members) = value else {
            throw SafetensorsError.invalidMetadata(path: path, detail: "not a JSON object")
        }
        var metadata: [String: String] = [:]
        var seen = Set<[UInt8]>()
        for (key, value) in members {
            guard seen.insert(Array(key.utf8)).inserted else {
                throw SafetensorsError.invalidMetadata(path: path, detail: "duplicate key \(quoted(key))")
            }
            guard case .string(let text) = value else {
                throw SafetensorsError.invalidMetadata(path: path, detail: "value of key \(quoted(key)) is not a string")
            }
            metadata[key] = text
        }
        return metadata
    }

    private static func parseEntry(
        name: String, _ value: SafetensorsJSONValue, path: String
    ) throws -> (SafetensorsDType, [Int], Int, Int) {
        func malformed(_ field: String?, _ problem: String) -> SafetensorsError {
            .malformedEntry(path: path, name: name, field: field, problem: problem)
        }
        guard case .object(let fields) = value else { throw malformed(nil, "is not a JSON object") }
        func field(_ key: String) throws -> SafetensorsJSONValue {
            let matches = fields.filter { $0.key == key }
            guard let match = matches.first else { throw malformed(key, "is missing") }
            guard matches.count == 1 else { throw malformed(key, "appears more than once") }
            return match.value
        }

        guard case .string(let dtypeText) = try field("dtype") else { throw malformed("dtype", "is not a string") }
        guard let dtype = SafetensorsDType(rawValue: dtypeText) else {
            throw SafetensorsError.unknownDType(path: path, name: name, dtype: dtypeText)
        }

        let shapeProblem = "is not an array of non-negative integers"
        guard case .array(let dims) = try field("shape") else { throw malformed("shape", shapeProblem) }
        var shape: [Int] = []
        for dim in dims {
            guard let n = dim.nonNegativeInt else { throw malformed("shape", shapeProblem) }
            shape.append(n)
        }
        guard let count = SafetensorsTensor.elementCount(shape: shape) else {
            throw malformed("shape", "has an element count that overflows")
        }
        let (expectedBytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else { throw malformed("shape", "has a byte size that overflows") }

        let offsetsProblem = "is not an array of two non-negative integers [begin, end]"
        guard case .array(let offsets) = try field("data_offsets"), offsets.count == 2,
              let begin = offsets[0].nonNegativeInt, let end = offsets[1].nonNegativeInt
        else { throw malformed("data_offsets", offsetsProblem) }
        guard begin <= end else { throw malformed("data_offsets", "has end \(end) before begin \(begin)") }
        guard end - begin == expectedBytes else {
            throw SafetensorsError.sizeMismatch(path: path, name: name, expectedBytes: expectedBytes, offsetBytes: end - begin)
        }
        return (dtype, shape, begin, end)
    }

    private static func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        SafetensorsJSONWriter.appendString(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Files

    /// Reads the whole file at `path` and decodes it (see `decode(_:path:)`).
    public static func read(path: String) throws -> SafetensorsFile {
        try decode(DurableFile.read(path), path: path)
    }

    /// Writes `encoded()` to `path` durably and atomically (`DurableFile.write`).
    /// Throws `duplicateName` / `reservedName` for invalid tensor names (nothing is written)
    /// or a `FileError` naming the path and the failed call.
    public func write(path: String) throws {
        try validateNames(path: path)
        try DurableFile.write(encoded(), to: path)
    }
}
