/// 16-bit formats for gradients sent over a slow network (`--allreduce-dtype`): half the
/// bytes of Float32, summed by MPI through a user-defined operation (`Communicator`).
public enum HalfPrecision: String, Sendable, Codable, CaseIterable {
    /// bfloat16: Float32's exponent range, 8 bits of mantissa (no scaling needed).
    case bfloat16 = "bf16"
    /// IEEE half: 11 bits of mantissa, but gradients below 6e-8 vanish and above 65504 overflow.
    case float16 = "fp16"

    /// The 16-bit pattern of `value` (round to nearest, ties to even).
    @inline(__always)
    public func encode(_ value: Float) -> UInt16 {
        switch self {
        case .bfloat16:
            let bits = value.bitPattern
            guard !value.isNaN else { return UInt16(truncatingIfNeeded: bits >> 16) | 0x40 }
            let rounding = 0x7FFF + ((bits >> 16) & 1)
            return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
        case .float16:
            return Float16(value).bitPattern
        }
    }

    /// The Float32 value of a 16-bit pattern.
    @inline(__always)
    public func decode(_ bits: UInt16) -> Float {
        switch self {
        case .bfloat16: return Float(bitPattern: UInt32(bits) << 16)
        case .float16: return Float(Float16(bitPattern: bits))
        }
    }

    /// Encodes `source` into `destination` (same count).
    public func encode(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<UInt16>) {
        for i in 0..<source.count { destination[i] = encode(source[i]) }
    }

    /// Decodes `source` into `destination` (same count).
    public func decode(_ source: UnsafeBufferPointer<UInt16>, into destination: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<source.count { destination[i] = decode(source[i]) }
    }
}
