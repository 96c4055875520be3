/// Errors thrown while decoding a safetensors file or encoding one with invalid names
/// (reading and writing files throw `FileError`).
///
/// Every case carries the path of the file (or `"<memory>"` for in-memory
/// decoding) and its `description` is a single line naming the path and what
/// was expected.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    /// The file is shorter than the 8-byte header length prefix.
    case fileTooShort(path: String, size: Int)
    /// The header length prefix claims more bytes than the file holds after the prefix.
    case headerLengthExceedsFile(path: String, headerLength: UInt64, available: Int)
    /// The header bytes are not valid UTF-8.
    case headerNotUTF8(path: String)
    /// The header is not valid JSON; `detail` says where and why.
    case invalidJSON(path: String, detail: String)
    /// The header is valid JSON but not a JSON object.
    case headerNotObject(path: String)
    /// The `__metadata__` entry is not an object mapping strings to strings.
    case invalidMetadata(path: String, detail: String)
    /// A tensor entry is malformed; `field` is nil when the entry itself is not an object.
    case malformedEntry(path: String, name: String, field: String?, problem: String)
    /// A tensor entry names a dtype this implementation does not know or support.
    case unknownDType(path: String, name: String, dtype: String)
    /// The byte span of `data_offsets` does not equal element count times dtype size.
    case sizeMismatch(path: String, name: String, expectedBytes: Int, offsetBytes: Int)
    /// A tensor's `data_offsets` end lies beyond the end of the data section.
    case offsetsOutOfRange(path: String, name: String, begin: Int, end: Int, dataSize: Int)
    /// A tensor starts after the end of the previous tensor (in offset order), leaving unused bytes.
    case dataGap(path: String, name: String, begin: Int, expectedBegin: Int)
    /// A tensor starts before the end of the previous tensor (in offset order).
    case dataOverlap(path: String, name: String, begin: Int, expectedBegin: Int)
    /// The tensors do not cover the whole data section (trailing bytes are left over).
    case dataNotCovered(path: String, coveredBytes: Int, dataSize: Int)
    /// Two tensors have the same name.
    case duplicateName(path: String, name: String)
    /// A tensor uses the reserved name `__metadata__`.
    case reservedName(path: String, name: String)

    /// A one-line message naming the file and what was expected.
    public var description: String {
        switch self {
        case let .fileTooShort(path, size):
            return "\(path): safetensors file too short: \(size) bytes, expected at least 8 (the header length prefix)"
        case let .headerLengthExceedsFile(path, headerLength, available):
            return "\(path): safetensors header length \(headerLength) is larger than the \(available) bytes that follow the length prefix"
        case let .headerNotUTF8(path):
            return "\(path): safetensors header is not valid UTF-8"
        case let .invalidJSON(path, detail):
            return "\(path): safetensors header is not valid JSON: \(detail)"
        case let .headerNotObject(path):
            return "\(path): safetensors header must be a JSON object mapping tensor names to entries"
        case let .invalidMetadata(path, detail):
            return "\(path): safetensors \"__metadata__\" must be an object of string values: \(detail)"
        case let .malformedEntry(path, name, field, problem):
            if let field {
                return "\(path): tensor \(Self.quote(name)): field \"\(field)\" \(problem)"
            }
            return "\(path): tensor \(Self.quote(name)): entry \(problem)"
        case let .unknownDType(path, name, dtype):
            let known = SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", ")
            return "\(path): tensor \(Self.quote(name)): unknown or unsupported dtype \(Self.quote(dtype)), expected one of \(known)"
        case let .sizeMismatch(path, name, expectedBytes, offsetBytes):
            return "\(path): tensor \(Self.quote(name)): shape and dtype require \(expectedBytes) bytes but data_offsets span \(offsetBytes) bytes"
        case let .offsetsOutOfRange(path, name, begin, end, dataSize):
            return "\(path): tensor \(Self.quote(name)): data_offsets [\(begin), \(end)] exceed the data section of \(dataSize) bytes"
        case let .dataGap(path, name, begin, expectedBegin):
            return "\(path): tensor \(Self.quote(name)): starts at data byte \(begin) but the previous tensor ends at \(expectedBegin) (gap of \(begin - expectedBegin) bytes)"
        case let .dataOverlap(path, name, begin, expectedBegin):
            return "\(path): tensor \(Self.quote(name)): starts at data byte \(begin) but the previous tensor ends at \(expectedBegin) (overlap)"
        case let .dataNotCovered(path, coveredBytes, dataSize):
            return "\(path): tensors cover \(coveredBytes) bytes but the data section has \(dataSize) bytes (trailing bytes not covered by any tensor)"
        case let .duplicateName(path, name):
            return "\(path): duplicate tensor name \(Self.quote(name))"
        case let .reservedName(path, name):
            return "\(path): \(Self.quote(name)) is reserved and cannot be used as a tensor name"
        }
    }

    /// Quotes a name with JSON escaping so that control characters cannot break the one-line message.
    private static func quote(_ s: String) -> String {
        var out: [UInt8] = []
        SafetensorsJSONWriter.appendString(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
