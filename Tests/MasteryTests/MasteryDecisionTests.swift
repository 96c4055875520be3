import Foundation
import Mastery
import XCTest

/// The IES decision is ONE function, `MasteryRule.movingAverageSum(history:) < threshold`:
/// the tracker's `decide()`, `isMastered(history:)`, `movingAverageSum(slot:)` and the
/// state's `movingAverageSum(_:)` (what `ies inspect --instances` lists) agree with it bit
/// for bit, on random histories and at thresholds placed exactly on, just above and just
/// below an instance's value (where two different roundings would disagree).
final class MasteryDecisionTests: XCTestCase {
    /// Feeds `losses[slot][epoch]` to a fresh tracker, deciding after every epoch.
    private func tracker(_ rule: MasteryRule, losses: [[Float]]) -> MasteryTracker {
        let tracker = MasteryTracker(rule: rule, ids: (0..<Int32(losses.count)).map { $0 })
        for epoch in 0..<losses[0].count {
            for slot in losses.indices { tracker.record(loss: losses[slot][epoch], slot: slot) }
            tracker.decide()
        }
        return tracker
    }

    func testEveryDecisionIsTheOneFunctionOverRandomHistories() {
        var rng = SplitMix64(seed: 19)
        let n = 48
        var checked = 0, mastered = 0, onThreshold = 0, divisionDisagrees = 0
        var failures: [String] = []
        for trial in 0..<250 {
            let window = Int.random(in: 1...9, using: &rng), k = Int.random(in: 1...6, using: &rng)
            let h = window + k
            // Losses of one magnitude per trial, from 1e-7 to 1e3; some instances nearly
            // constant (tiny d2), others noisy.
            let scale = Float(pow(10, Double.random(in: -7...3, using: &rng)))
            let epochs = h + 2 + Int.random(in: 0...3, using: &rng)
            let losses: [[Float]] = (0..<n).map { slot in
                let base = scale * Float.random(in: 0.5...2, using: &rng)
                let noise = slot % 3 == 0 ? scale * 1e-4 : scale * Float.random(in: 0...1, using: &rng)
                return (0..<epochs).map { _ in base + noise * Float.random(in: -1...1, using: &rng) }
            }
            let probe = tracker(makeRule(1, window: window, k: k), losses: losses)
            let values = (0..<n).map { probe.movingAverageSum(slot: $0)! }
            let pick = values[Int.random(in: 0..<n, using: &rng)]
            let median = values.sorted()[n / 2]
            let thresholds = [pick, pick.nextUp, pick.nextDown, median, 0].filter { $0.isFinite && $0 >= 0 }
            for threshold in thresholds {
                let rule = makeRule(threshold, window: window, k: k)
                let tracker = tracker(rule, losses: losses)
                let state = tracker.state()
                state.history.withUnsafeBufferPointer { history in
                    for slot in 0..<n {
                        let row = history.baseAddress! + slot * h
                        let value = rule.movingAverageSum(history: row)
                        let decision = threshold > 0 && value < threshold
                        var divided: Float = 0  // the other rounding: each window sum divided by the window
                        for j in 0..<k {
                            var sum: Float = 0
                            for p in (h - j - window)..<(h - j) { sum += abs(row[p]) }
                            divided += sum / Float(window)
                        }
                        if threshold > 0 && (divided < threshold) != decision { divisionDisagrees += 1 }
                        if value == threshold { onThreshold += 1 }
                        checked += 1
                        if decision { mastered += 1 }
                        let agree = value.bitPattern == values[slot].bitPattern
                            && tracker.movingAverageSum(slot: slot)?.bitPattern == value.bitPattern
                            && state.movingAverageSum(slot)?.bitPattern == value.bitPattern
                            && tracker.isMastered(slot) == decision && rule.isMastered(history: row) == decision
                            && state.mastered[slot] == decision
                        if !agree && failures.count < 5 {
                            failures.append(
                                "trial \(trial) window \(window) k \(k) threshold \(threshold) slot \(slot): value \(value) "
                                    + "(probe \(values[slot]), tracker \(String(describing: tracker.movingAverageSum(slot: slot)))), "
                                    + "decided \(tracker.isMastered(slot)), expected \(decision)")
                        }
                    }
                }
            }
        }
        XCTAssertEqual(failures, [])
        XCTAssertGreaterThan(checked, 50_000)
        XCTAssertGreaterThan(mastered, checked / 10, "too few mastered instances to test anything")
        XCTAssertGreaterThan(onThreshold, 200, "thresholds placed on values")
        XCTAssertGreaterThan(divisionDisagrees, 0, "the thresholds no longer reach values where the two roundings differ")
        print(
            "MasteryDecisionTests: \(checked) decisions checked, \(mastered) mastered, \(onThreshold) exactly on the "
                + "threshold, \(divisionDisagrees) where dividing by the window would have decided otherwise")
    }
}
