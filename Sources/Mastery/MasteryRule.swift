/// The instance-dependent early stopping rule (Yuan et al., ICLR 2025).
///
/// For instance i with losses L(t) recorded once per epoch:
///   d2(t) = L(t) - 2 L(t-1) + L(t-2)
/// Keep the last `window + k` values of d2. The moving average of |d2| over `window`
/// consecutive values, taken at each of the last `k` positions, gives k averages;
/// the instance is mastered for the next epoch when it has `window + k` d2 values and
/// the sum of those k averages is below `threshold`. Threshold 0 never masters (plain training).
///
/// With the defaults (1e-3, 3, 1) the first d2 exists after epoch 3 and the fourth after
/// epoch 6, so instances can first be mastered at the end of epoch 6.
public struct MasteryRule: Sendable, Equatable, Codable, CustomStringConvertible {
    public let threshold: Float
    public let window: Int
    public let k: Int

    /// The number of d2 values kept per instance.
    public var historyLength: Int { window + k }
    /// False for threshold 0: the tracker still records, but nothing is ever mastered.
    public var isEnabled: Bool { threshold > 0 }

    public static let defaults = try! MasteryRule(threshold: 1e-3, window: 3, k: 1)

    public init(threshold: Float, window: Int, k: Int) throws {
        guard threshold.isFinite, threshold >= 0 else {
            throw MasteryError.invalidRule(
                field: .threshold, "must be a finite number >= 0 (0 disables IES), got \(threshold)")
        }
        guard window >= 1 else { throw MasteryError.invalidRule(field: .window, "must be >= 1, got \(window)") }
        guard k >= 1 else { throw MasteryError.invalidRule(field: .k, "must be >= 1, got \(k)") }
        // Each alone first: window + k would overflow for values near Int.max.
        guard window <= 64 else { throw MasteryError.invalidRule(field: .window, "must be at most 64, got \(window)") }
        guard k <= 64 else { throw MasteryError.invalidRule(field: .k, "must be at most 64, got \(k)") }
        guard window + k <= 64 else {
            throw MasteryError.invalidRule(field: .window, "plus k must be at most 64, got \(window) + \(k)")
        }
        self.threshold = threshold
        self.window = window
        self.k = k
    }

    public var description: String { "IES(threshold=\(threshold), window=\(window), k=\(k))" }

    private enum CodingKeys: String, CodingKey { case threshold, window, k }

    /// Decodes through the validating initializer, so a corrupt checkpoint cannot carry an invalid rule.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            threshold: container.decode(Float.self, forKey: .threshold),
            window: container.decode(Int.self, forKey: .window), k: container.decode(Int.self, forKey: .k))
    }

    /// The decision for one instance from its last `historyLength` d2 values, oldest first:
    /// `movingAverageSum(history:) < threshold` (never, when the rule is disabled). THE IES
    /// decision: the tracker's `decide()` calls exactly this.
    @inlinable @inline(__always)
    public func isMastered(history: UnsafePointer<Float>) -> Bool {
        isEnabled && movingAverageSum(history: history) < threshold
    }

    /// The sum of the moving averages of |d2| over `window` values at each of the last `k`
    /// positions of a full history of `historyLength` values (oldest first): what is compared
    /// with the threshold.
    ///
    ///   sum over j in 0..<k of (|d2[h-j-window]| + ... + |d2[h-j-1]|) * (1 / window)
    ///
    /// The ONE place this value is computed: the tracker's decisions, `isMastered(history:)`,
    /// `MasteryTracker.movingAverageSum(slot:)` and `ies inspect --instances` all call it, so
    /// a listed value is always on the side of the threshold that the decision took. The
    /// order of the additions and the multiplication by the inverse of the window (not a
    /// division, which rounds differently for about a third of inputs) are part of the
    /// result: every run so far decided with exactly this arithmetic.
    @inlinable @inline(__always)
    public func movingAverageSum(history: UnsafePointer<Float>) -> Float {
        let h = historyLength, window = self.window
        let inverseWindow = 1 / Float(window)
        var sum: Float = 0
        for j in 0..<k {
            // the window ending at position h - 1 - j
            var windowSum: Float = 0
            for p in (h - j - window)..<(h - j) { windowSum += abs(history[p]) }
            sum += windowSum * inverseWindow
        }
        return sum
    }
}

extension MasteryRule {
    /// The second difference of an instance's losses `previous`, `last` and `loss`, recorded
    /// `gapBefore` and `gap` epochs apart (1 and 1 when it is trained or probed every epoch):
    /// how far `loss` lies from the straight line through the two losses before it,
    ///
    ///   d2 = (loss - last) - (last - previous) * gap / gapBefore,
    ///
    /// which is exactly the paper's L(t) - 2 L(t-1) + L(t-2) for consecutive epochs (and
    /// computed with that expression whenever the two gaps are equal, so every run with
    /// losses in consecutive epochs gets the same bits as before). It is a residual in loss
    /// units, not a divided difference: a jump of the loss between two probes shows in full
    /// however long the gap (dividing by the gaps would hide it by their square), and a
    /// slow curve shows more the longer the gap, so a spaced probe can only be stricter
    /// than probing every epoch, never more lenient.
    @inlinable @inline(__always)
    public static func secondDifference(
        loss: Float, last: Float, previous: Float, gapBefore: Int32, gap: Int32
    ) -> Float {
        if gapBefore == gap { return loss - 2 * last + previous }
        return (loss - last) - (last - previous) * (Float(gap) / Float(gapBefore))
    }
}

extension MasteryRule {
    /// The rule's settings, for errors that name the one at fault.
    public enum Field: String, Sendable {
        case threshold, window, k
    }
}

/// Errors of the mastery module: a bad rule or malformed serialized state.
public enum MasteryError: Error, CustomStringConvertible, Equatable {
    /// `field` of the rule is out of range; `problem` says what was expected ("must be >= 1, got 0").
    case invalidRule(field: MasteryRule.Field, _ problem: String)
    case invalidState(String)
    /// A malformed `--probe` value; the message says what was expected.
    case invalidProbeSchedule(String)

    public var description: String {
        switch self {
        case .invalidRule(let field, let problem): return "IES \(field.rawValue) \(problem)"
        case .invalidProbeSchedule(let message): return message
        case .invalidState(let message): return "mastery state: \(message)"
        }
    }
}
