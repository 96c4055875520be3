import NN

/// FNV-1a, 64-bit: a fast digest for comparing large buffers (not a checksum against
/// tampering; checkpoint files use SHA-256). Words are mixed 8 bytes at a time, which
/// keeps it at memory speed for tens of megabytes.
struct FNV1a {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func mix(_ word: UInt64) {
        value = (value ^ word) &* 0x0000_0100_0000_01B3
    }

    /// Mixes raw bytes, 8 at a time, then the remainder one by one.
    mutating func mix(bytes: UnsafeRawBufferPointer) {
        let words = bytes.count / 8
        for i in 0..<words { mix(bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
        for i in (words * 8)..<bytes.count { mix(UInt64(bytes[i])) }
    }

    /// Mixes the bit patterns of `floats`, one per round.
    mutating func mix(floats: UnsafeBufferPointer<Float>) {
        for value in floats { mix(UInt64(value.bitPattern)) }
    }
}

extension Model {
    /// A digest of the raw bits of every parameter and buffer: equal digests on two ranks
    /// mean (with overwhelming probability) bit-identical models.
    public var digest: UInt64 {
        var hash = FNV1a()
        parameters.withUnsafeBufferPointer { hash.mix(floats: $0) }
        buffers.withUnsafeBufferPointer { hash.mix(floats: $0) }
        if !batchCounterNames.isEmpty { hash.mix(UInt64(bitPattern: trainingSteps)) }
        return hash.value
    }
}
