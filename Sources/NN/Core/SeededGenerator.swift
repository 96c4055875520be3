/// A small, fast, seedable random generator (xoshiro256**, Blackman & Vigna 2018).
///
/// The standard library offers no seedable generator and its shuffle algorithm
/// is not specified, so runs that must be bit-identical use this type and
/// `shuffle(_:)` below.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable, Codable {
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    /// Seeds the four state words from `seed` and `streams` (e.g. epoch, rank) with SplitMix64.
    public init(seed: UInt64, streams: UInt64...) {
        var mixer = seed
        for stream in streams { mixer = SeededGenerator.splitMix(&mixer) ^ (stream &* 0x9E37_79B9_7F4A_7C15) }
        state = (
            SeededGenerator.splitMix(&mixer), SeededGenerator.splitMix(&mixer),
            SeededGenerator.splitMix(&mixer), SeededGenerator.splitMix(&mixer)
        )
    }

    /// Restores a generator from its four state words (checkpoints).
    public init(state: [UInt64]) {
        precondition(state.count == 4 && state.contains { $0 != 0 }, "xoshiro state must be 4 words, not all zero")
        self.state = (state[0], state[1], state[2], state[3])
    }

    /// The state as four words (checkpoints).
    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    private static func splitMix(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// A uniform Float in [0, 1) from the top 24 bits.
    @inline(__always)
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// A uniform Float in [low, high).
    @inline(__always)
    public mutating func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * nextUnitFloat() }

    /// A uniform integer in 0..<bound without modulo bias (Lemire's method).
    @inline(__always)
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0)
        let b = UInt64(bound)
        var product = next().multipliedFullWidth(by: b)
        if product.low < b {
            let threshold = (0 &- b) % b
            while product.low < threshold { product = next().multipliedFullWidth(by: b) }
        }
        return Int(product.high)
    }

    /// Fisher-Yates shuffle with a fully specified algorithm (stable across Swift versions).
    public mutating func shuffle<T>(_ values: inout [T]) {
        var i = values.count
        while i > 1 {
            let j = below(i)
            i -= 1
            values.swapAt(i, j)
        }
    }

    public static func == (a: SeededGenerator, b: SeededGenerator) -> Bool { a.stateWords == b.stateWords }

    public init(from decoder: Decoder) throws { self.init(state: try [UInt64](from: decoder)) }
    public func encode(to encoder: Encoder) throws { try stateWords.encode(to: encoder) }
}
