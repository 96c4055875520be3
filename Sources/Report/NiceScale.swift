import Foundation

/// An axis range with round tick values (steps of 1, 2 or 5 times a power of ten) and
/// tick labels that show just the digits the step needs.
public struct NiceScale: Sendable, Equatable {
    public var lower: Double
    public var upper: Double
    public var step: Double
    /// Decimal exponent of `step` (step = m x 10^exponent, m in {1, 2, 5}).
    var exponent: Int

    /// A range covering `minimum...maximum` with about `targetTicks` ticks.
    /// `integer` keeps steps >= 1 (epochs, counts); `includeZero` extends the range to 0.
    public init(minimum: Double, maximum: Double, targetTicks: Int = 6, integer: Bool = false, includeZero: Bool = false) {
        var low = minimum.isFinite ? minimum : 0
        var high = maximum.isFinite ? maximum : 1
        if low > high { swap(&low, &high) }
        if includeZero { low = min(low, 0); high = max(high, 0) }
        if high == low {
            let pad = low == 0 ? 1 : abs(low) * 0.1
            low -= integer ? max(pad, 1) : pad
            high += integer ? max(pad, 1) : pad
            if includeZero && minimum >= 0 { low = max(low, 0) }
        }
        let rough = (high - low) / Double(max(targetTicks - 1, 1))
        var exponent = Int(floor(log10(rough)))
        let fraction = rough / pow(10, Double(exponent))
        let mantissa: Double
        if fraction <= 1 { mantissa = 1 } else if fraction <= 2 { mantissa = 2 } else if fraction <= 5 { mantissa = 5 } else {
            mantissa = 1
            exponent += 1
        }
        var step = mantissa * pow(10, Double(exponent))
        if integer && step < 1 {
            step = 1
            exponent = 0
        }
        self.step = step
        self.exponent = exponent
        // Snap with a little tolerance so that 0.3 / 0.1 does not become 3.0000001 -> 4 steps.
        lower = floor(low / step + 1e-9) * step
        upper = ceil(high / step - 1e-9) * step
        if upper <= lower { upper = lower + step }
    }

    /// Tick values from `lower` to `upper` inclusive.
    public var ticks: [Double] {
        let count = Int(((upper - lower) / step).rounded())
        return (0...count).map { i in
            let value = lower + Double(i) * step
            return abs(value) < step * 1e-9 ? 0 : value
        }
    }

    /// `value` mapped to 0...1 over the range.
    public func fraction(_ value: Double) -> Double { (value - lower) / (upper - lower) }

    /// The tick label of `value`: thousands as "k" once the axis reaches 10,000,
    /// otherwise as many decimals as the step has, with thousands separators.
    public func label(_ value: Double) -> String {
        if max(abs(upper), abs(lower)) >= 10_000 && step >= 1_000 {
            if value == 0 { return "0" }
            return NumberText.grouped(value / 1_000, decimals: max(0, 3 - exponent)) + "k"
        }
        return NumberText.grouped(value, decimals: max(0, -exponent))
    }
}
