import Mastery
import XCTest

// Helpers shared by the Mastery tests. Expected results come from the rule's
// specification (hand computations or `ReferenceIES` below), never from the
// tracker's own arithmetic.

/// A rule that is known to be valid.
func makeRule(_ threshold: Float, window: Int, k: Int, file: StaticString = #filePath, line: UInt = #line)
    -> MasteryRule
{
    do {
        return try MasteryRule(threshold: threshold, window: window, k: k)
    } catch {
        XCTFail("rule(\(threshold), \(window), \(k)) threw \(error)", file: file, line: line)
        fatalError("invalid test rule")
    }
}

/// One epoch of a single-instance run: the decision after the epoch and what decide() reported.
struct EpochResult: Equatable {
    var mastered: Bool
    var counts: MasteryCounts
}

/// Feeds `losses` (one per epoch) to a fresh one-instance tracker; element e is the
/// result after epoch e + 1.
func runSingle(rule: MasteryRule, losses: [Float]) -> [EpochResult] {
    let tracker = MasteryTracker(rule: rule, ids: [42])
    return losses.map { loss in
        tracker.record(loss: loss, slot: 0)
        let counts = tracker.decide()
        return EpochResult(mastered: tracker.isMastered(0), counts: counts)
    }
}

/// Just the decisions of `runSingle`, element e = after epoch e + 1.
func masteredAfterEachEpoch(rule: MasteryRule, losses: [Float]) -> [Bool] {
    runSingle(rule: rule, losses: losses).map(\.mastered)
}

/// The 1-based epochs after which the instance is mastered.
func masteredEpochs(rule: MasteryRule, losses: [Float]) -> [Int] {
    masteredAfterEachEpoch(rule: rule, losses: losses).enumerated().filter(\.element).map { $0.offset + 1 }
}

/// A loss sequence whose second differences are exactly `d2` (d2[0] is the d2 of
/// epoch 3): L1 = l1, L2 = l2, L(t) = d2(t) + 2 L(t-1) - L(t-2). The test values are
/// dyadic (multiples of 2^-12 near 1), so every loss is exact in Float and the
/// tracker's Float arithmetic reproduces `d2` exactly; this is asserted.
func losses(fromD2 d2: [Double], l1: Double = 1, l2: Double = 1) -> [Float] {
    var result = [l1, l2]
    for d in d2 { result.append(d + 2 * result[result.count - 1] - result[result.count - 2]) }
    let floats = result.map { Float($0) }
    for (f, d) in zip(floats, result) { precondition(Double(f) == d, "loss \(d) is not exact in Float") }
    for t in 2..<floats.count {
        let back = Double(floats[t]) - 2 * Double(floats[t - 1]) + Double(floats[t - 2])
        precondition(back == d2[t - 2], "d2 not reproduced exactly")
    }
    return floats
}

/// 2^-12: the unit of the hand-computed d2 sequences (threshold 1e-3 = 4.096 u).
let u: Double = 1.0 / 4096

/// Deterministic generator so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A literal, deliberately naive reading of the specification, in Double, from the
/// complete loss list of one instance:
///   d2(t) = L(t) - 2 L(t-1) + L(t-2) for every t >= 3;
///   ma(i) = mean of |d2| over the `window` values ending at d2 number i (whenever defined);
///   score = sum of the last k of those moving averages;
///   mastered  <=>  at least window + k d2 values exist  and  score < threshold.
/// It never keeps a ring of window + k values, so it is independent of how the tracker does.
enum ReferenceIES {
    static func d2Series(_ losses: [Float]) -> [Double] {
        let l = losses.map(Double.init)
        guard l.count >= 3 else { return [] }
        var d2: [Double] = []
        for t in 2..<l.count {
            let newest: Double = l[t], middle: Double = l[t - 1], oldest: Double = l[t - 2]
            d2.append(newest - 2 * middle + oldest)
        }
        return d2
    }

    /// The score, or nil while there are fewer than window + k d2 values.
    static func score(losses: [Float], window: Int, k: Int) -> Double? {
        let d2 = d2Series(losses)
        guard d2.count >= window + k else { return nil }
        var movingAverages: [Double] = []
        for i in (window - 1)..<d2.count {
            var s = 0.0
            for p in (i - window + 1)...i { s += abs(d2[p]) }
            movingAverages.append(s / Double(window))
        }
        return movingAverages.suffix(k).reduce(0, +)
    }

    static func isMastered(losses: [Float], rule: MasteryRule) -> Bool {
        guard let s = score(losses: losses, window: rule.window, k: rule.k) else { return false }
        return s < Double(rule.threshold)
    }
}

extension MasteryTracker {
    /// All decisions, by slot.
    var flags: [Bool] { (0..<count).map { isMastered($0) } }

    /// Records `losses[i]` for `slots[i]` through the buffer API.
    func record(losses: [Float], slots: [Int]) {
        losses.withUnsafeBufferPointer { l in
            slots.withUnsafeBufferPointer { s in record(losses: l, slots: s) }
        }
    }
}
