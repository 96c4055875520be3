/// TensorBoard's `Event` message (tensorflow/core/util/event.proto), only the parts we write:
///
///     message Event { double wall_time = 1; int64 step = 2;
///                     oneof what { string file_version = 3; Summary summary = 5; } }
///     message Summary { repeated Value value = 1; }
///     message Summary.Value { string tag = 1; oneof value { float simple_value = 2; } }
public enum TensorBoardEvent {
    /// The first event of every file: announces the format version.
    public static func fileVersion(wallTime: Double) -> [UInt8] {
        var event = ProtobufEncoder()
        event.double(1, wallTime)
        event.int64(2, 0)
        event.string(3, "brain.Event:2")
        return event.bytes
    }

    /// An event holding one scalar summary value per (tag, value).
    public static func scalars(_ scalars: [(tag: String, value: Float)], step: Int, wallTime: Double) -> [UInt8] {
        var summary = ProtobufEncoder()
        for scalar in scalars {
            var value = ProtobufEncoder()
            value.string(1, scalar.tag)
            value.float(2, scalar.value)
            summary.lengthDelimited(1, value.bytes)
        }
        var event = ProtobufEncoder()
        event.double(1, wallTime)
        event.int64(2, Int64(step))
        event.lengthDelimited(5, summary.bytes)
        return event.bytes
    }

    /// TFRecord framing of one record: length (uint64 LE), masked CRC-32C of the length
    /// bytes, the data, masked CRC-32C of the data (both uint32 LE).
    public static func record(_ data: [UInt8]) -> [UInt8] {
        func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
            (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
        }
        let length = littleEndian(UInt64(data.count))
        return length + littleEndian(CRC32C.masked(length)) + data + littleEndian(CRC32C.masked(data))
    }
}
