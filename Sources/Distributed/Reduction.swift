/// How `Communicator.allreduce` combines the ranks' values.
public enum ReductionOperation: Sendable {
    case sum, max, min, bitwiseXor
}

/// The element types MPI can reduce (arithmetic on them happens inside MPI, so it must
/// know the type, unlike gathers and broadcasts, which move bytes).
public enum ReductionType: Sendable {
    case float32, float64, int32, int64, uint64, uint8
}

/// A type `Communicator.allreduce` can combine.
public protocol ReductionElement: BitwiseCopyable {
    static var reductionType: ReductionType { get }
}

extension Float: ReductionElement { public static var reductionType: ReductionType { .float32 } }
extension Double: ReductionElement { public static var reductionType: ReductionType { .float64 } }
extension Int32: ReductionElement { public static var reductionType: ReductionType { .int32 } }
extension Int64: ReductionElement { public static var reductionType: ReductionType { .int64 } }
extension UInt64: ReductionElement { public static var reductionType: ReductionType { .uint64 } }
extension UInt8: ReductionElement { public static var reductionType: ReductionType { .uint8 } }
