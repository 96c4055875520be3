/// One named tensor of a safetensors file: dtype, shape and little-endian raw bytes.
///
/// The invariant `bytes.count == product(shape) * dtype.byteSize` is checked
/// by every initializer (a violation is a programmer error and traps). An
/// empty shape denotes a scalar with one element.
public struct SafetensorsTensor: Sendable, Equatable {
    /// Name of the tensor in the file header.
    public let name: String
    /// Element type.
    public let dtype: SafetensorsDType
    /// Dimensions, outermost first (row-major); `[]` is a scalar.
    public let shape: [Int]
    /// Little-endian raw element data; `count == product(shape) * dtype.byteSize`.
    public let bytes: [UInt8]

    /// Creates a tensor from raw little-endian bytes.
    public init(name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8]) {
        guard let count = Self.elementCount(shape: shape) else {
            preconditionFailure("SafetensorsTensor \(name): invalid shape \(shape) (negative or overflowing)")
        }
        let (expected, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        precondition(!overflow && bytes.count == expected,
                     "SafetensorsTensor \(name): \(bytes.count) bytes given, shape \(shape) of \(dtype.rawValue) needs \(count) * \(dtype.byteSize)")
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// Creates an F32 tensor by copying `floats` (count must equal the product of `shape`).
    public init(name: String, shape: [Int], floats: UnsafeBufferPointer<Float>) {
        self.init(name: name, shape: shape, elements: floats)
    }

    /// Creates an F32 tensor from `floats` (count must equal the product of `shape`).
    public init(name: String, shape: [Int], floats: [Float]) {
        self = floats.withUnsafeBufferPointer { Self(name: name, shape: shape, elements: $0) }
    }

    /// Creates an I64 tensor from `int64s` (count must equal the product of `shape`).
    public init(name: String, shape: [Int], int64s: [Int64]) {
        self = int64s.withUnsafeBufferPointer { Self(name: name, shape: shape, elements: $0) }
    }

    /// Creates an I32 tensor from `int32s` (count must equal the product of `shape`).
    public init(name: String, shape: [Int], int32s: [Int32]) {
        self = int32s.withUnsafeBufferPointer { Self(name: name, shape: shape, elements: $0) }
    }

    /// Creates an F64 tensor from `float64s` (count must equal the product of `shape`).
    public init(name: String, shape: [Int], float64s: [Double]) {
        self = float64s.withUnsafeBufferPointer { Self(name: name, shape: shape, elements: $0) }
    }

    /// The elements of an F32 tensor (traps if `dtype != .f32`).
    public var floats: [Float] { elements(Float.self) }

    /// The elements of an I64 tensor (traps if `dtype != .i64`).
    public var int64s: [Int64] { elements(Int64.self) }

    /// The elements of an I32 tensor (traps if `dtype != .i32`).
    public var int32s: [Int32] { elements(Int32.self) }

    /// The elements of an F64 tensor (traps if `dtype != .f64`).
    public var float64s: [Double] { elements(Double.self) }

    /// Number of elements of `shape`, or nil if a dimension is negative or the product overflows.
    static func elementCount(shape: [Int]) -> Int? {
        var count = 1
        for dim in shape {
            guard dim >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow else { return nil }
            count = product
        }
        return count
    }

    private init<T: SafetensorsElement>(name: String, shape: [Int], elements: UnsafeBufferPointer<T>) {
        let size = MemoryLayout<T.Bits>.size
        var bytes = [UInt8](repeating: 0, count: elements.count * size)
        bytes.withUnsafeMutableBytes { raw in
            for (i, value) in elements.enumerated() {
                raw.storeBytes(of: value.safetensorsBits.littleEndian, toByteOffset: i * size, as: T.Bits.self)
            }
        }
        self.init(name: name, dtype: T.safetensorsDType, shape: shape, bytes: bytes)
    }

    private func elements<T: SafetensorsElement>(_: T.Type) -> [T] {
        precondition(dtype == T.safetensorsDType,
                     "SafetensorsTensor \(name) has dtype \(dtype.rawValue), not \(T.safetensorsDType.rawValue)")
        let size = MemoryLayout<T.Bits>.size
        return bytes.withUnsafeBytes { raw in
            (0..<(raw.count / size)).map { i in
                T(safetensorsBits: T.Bits(littleEndian: raw.loadUnaligned(fromByteOffset: i * size, as: T.Bits.self)))
            }
        }
    }
}

/// A Swift scalar type with a safetensors dtype and a fixed-width bit pattern.
protocol SafetensorsElement {
    associatedtype Bits: FixedWidthInteger & UnsignedInteger
    static var safetensorsDType: SafetensorsDType { get }
    var safetensorsBits: Bits { get }
    init(safetensorsBits: Bits)
}

extension Float: SafetensorsElement {
    static var safetensorsDType: SafetensorsDType { .f32 }
    var safetensorsBits: UInt32 { bitPattern }
    init(safetensorsBits: UInt32) { self.init(bitPattern: safetensorsBits) }
}

extension Double: SafetensorsElement {
    static var safetensorsDType: SafetensorsDType { .f64 }
    var safetensorsBits: UInt64 { bitPattern }
    init(safetensorsBits: UInt64) { self.init(bitPattern: safetensorsBits) }
}

extension Int32: SafetensorsElement {
    static var safetensorsDType: SafetensorsDType { .i32 }
    var safetensorsBits: UInt32 { UInt32(bitPattern: self) }
    init(safetensorsBits: UInt32) { self.init(bitPattern: safetensorsBits) }
}

extension Int64: SafetensorsElement {
    static var safetensorsDType: SafetensorsDType { .i64 }
    var safetensorsBits: UInt64 { UInt64(bitPattern: self) }
    init(safetensorsBits: UInt64) { self.init(bitPattern: safetensorsBits) }
}
