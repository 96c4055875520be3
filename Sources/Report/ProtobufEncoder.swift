/// The few protobuf wire-format encodings TensorBoard's `Event` needs, by hand, so the
/// module needs no protobuf library or generated code: varints, 64-bit and 32-bit
/// fixed fields, and length-delimited fields (strings, nested messages).
public struct ProtobufEncoder {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// Wire types of the field key.
    enum WireType: UInt64 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func key(_ field: Int, _ type: WireType) {
        varint(UInt64(field) << 3 | type.rawValue)
    }

    /// `int64` field (negative values take ten bytes, as protobuf specifies).
    public mutating func int64(_ field: Int, _ value: Int64) {
        key(field, .varint)
        varint(UInt64(bitPattern: value))
    }

    /// `double` field: 8 bytes little-endian.
    public mutating func double(_ field: Int, _ value: Double) {
        key(field, .fixed64)
        let bits = value.bitPattern
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
    }

    /// `float` field: 4 bytes little-endian.
    public mutating func float(_ field: Int, _ value: Float) {
        key(field, .fixed32)
        let bits = value.bitPattern
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt32(shift))) }
    }

    /// `bytes`/`string`/embedded message field: length, then the bytes.
    public mutating func lengthDelimited(_ field: Int, _ payload: [UInt8]) {
        key(field, .lengthDelimited)
        varint(UInt64(payload.count))
        bytes += payload
    }

    public mutating func string(_ field: Int, _ value: String) {
        lengthDelimited(field, Array(value.utf8))
    }
}
