/// Training-set augmentation, applied to the raw pixel bytes by `Normalization.fill`.
///
/// `cropFlip` is torchvision's `RandomCrop(size, padding=4)` (fill 0) followed by
/// `RandomHorizontalFlip()` (p = 0.5): zero-pad 4 pixels on every side, crop an H x W
/// window at offsets dy, dx uniform in 0...8, then mirror it left-right with probability
/// 1/2. Padding is raw 0, so after normalization it is (0 - mean[c]) / std[c], as
/// torchvision pads before `Normalize`.
///
/// Unlike torchvision, the random choice is not drawn from a generator whose state
/// advances with every image: an instance's view is a pure function of (seed, epoch,
/// global id), see `view(id:key:)`. So it does not depend on which rank holds the
/// instance, on its slot, on batch order or on what else was augmented, and a resumed run
/// sees the same views.
public enum Augmentation: String, Sendable, Codable, CaseIterable {
    case none
    case cropFlip = "crop-flip"

    /// Zero pixels added on every side before the crop (torchvision's `padding=4`).
    public static let padding = 4

    /// The crop offsets into the padded image and the flip of instance `id` under `key`.
    ///
    /// `.none` gives the identity view (dy = dx = padding, no flip). For `.cropFlip`, with
    /// SplitMix64 (Steele, Lea & Flood 2014) as a counter-based generator:
    ///   state = mix(mix(mix(seed) ^ epoch) ^ id)      (mix = SplitMix64's finalizer of x + golden)
    ///   dy = floor(9 * r1 / 2^64), dx = floor(9 * r2 / 2^64), flip = top bit of r3,
    /// where r1, r2, r3 are the next three outputs of SplitMix64 started from `state`
    /// (the multiply-high maps a 64-bit draw to 0...8 with bias below 2^-60).
    public func view(id: Int32, key: AugmentationKey) -> (dy: Int, dx: Int, flip: Bool) {
        switch self {
        case .none:
            return (Augmentation.padding, Augmentation.padding, false)
        case .cropFlip:
            var stream = SplitMix64(key: key, id: id)
            let range = UInt64(2 * Augmentation.padding + 1)
            let dy = Int(stream.next().multipliedFullWidth(by: range).high)
            let dx = Int(stream.next().multipliedFullWidth(by: range).high)
            let flip = stream.next() >> 63 == 1
            return (dy, dx, flip)
        }
    }
}

/// What an instance's augmented view depends on besides its global id: the run's seed and
/// the epoch.
public struct AugmentationKey: Sendable, Equatable {
    public var seed: UInt64
    public var epoch: Int

    public init(seed: UInt64, epoch: Int) {
        self.seed = seed
        self.epoch = epoch
    }
}

/// SplitMix64: state += 0x9E3779B97F4A7C15, output = the state through a 64-bit finalizer
/// (xor-shift 30, multiply, xor-shift 27, multiply, xor-shift 31). Stateless use: the
/// starting state is hashed from (seed, epoch, id), so every instance has its own stream.
/// Datasets imports nothing of ours, so it carries this small generator itself.
struct SplitMix64 {
    private var state: UInt64

    init(key: AugmentationKey, id: Int32) {
        let epoch = UInt64(bitPattern: Int64(key.epoch))
        let id = UInt64(UInt32(bitPattern: id))
        state = SplitMix64.mix(SplitMix64.mix(SplitMix64.mix(key.seed) ^ epoch) ^ id)
    }

    /// SplitMix64's finalizer applied to x + golden ratio: a bijection of UInt64 that mixes every bit.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func next() -> UInt64 {
        let output = SplitMix64.mix(state)
        state &+= 0x9E37_79B9_7F4A_7C15
        return output
    }
}
