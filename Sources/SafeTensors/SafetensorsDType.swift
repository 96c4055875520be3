/// Element types supported by the safetensors reader and writer.
///
/// The raw value is the dtype string used in the safetensors header. Other
/// dtypes of the format (F16, BF16, BOOL, ...) are rejected when decoding.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f32 = "F32"
    case f64 = "F64"
    case i32 = "I32"
    case i64 = "I64"
    case u8 = "U8"

    /// Size in bytes of one element of this dtype.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f64, .i64: return 8
        case .u8: return 1
        }
    }
}
