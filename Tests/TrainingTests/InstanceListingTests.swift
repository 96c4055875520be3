import Foundation
import Mastery
import NN
import Training
import XCTest

/// `ies inspect --instances` lists the value the decision was taken on: for random
/// histories, each row's moving average equals `MasteryRule.movingAverageSum(history:)`
/// bit for bit, and its `mastered` is exactly `value < threshold`.
final class InstanceListingTests: XCTestCase {
    func testListedValueIsTheDecisionsValueOverRandomHistories() {
        var rng = SeededGenerator(seed: 19)
        let n = 64
        var full = 0, mastered = 0, failures: [String] = []
        for trial in 0..<400 {
            let window = Int.random(in: 1...9, using: &rng), k = Int.random(in: 1...6, using: &rng)
            let h = window + k
            let scale = Float(pow(10, Double.random(in: -7...3, using: &rng)))
            // Some trials end before the histories are full (no value listed).
            let epochs = Int.random(in: 1...(h + 5), using: &rng)
            let losses: [[Float]] = (0..<n).map { _ in
                let base = scale * Float.random(in: 0.5...2, using: &rng)
                let noise = scale * Float.random(in: 0...1, using: &rng)
                return (0..<epochs).map { _ in base + noise * Float.random(in: -1...1, using: &rng) }
            }
            // A threshold near the instances' values: the ones from a probe run, nudged.
            let threshold: Float
            do {
                let probe = MasteryTracker(rule: try MasteryRule(threshold: 1, window: window, k: k), ids: (0..<Int32(n)).map { $0 })
                for epoch in 0..<epochs {
                    for slot in 0..<n { probe.record(loss: losses[slot][epoch], slot: slot) }
                    probe.decide()
                }
                let values = (0..<n).compactMap { probe.movingAverageSum(slot: $0) }.filter { $0 > 0 && $0.isFinite }
                let pick = values.isEmpty ? scale : values[Int.random(in: 0..<values.count, using: &rng)]
                threshold = [pick, pick.nextUp, pick.nextDown][trial % 3]
            } catch {
                return XCTFail("\(error)")
            }
            guard let rule = try? MasteryRule(threshold: threshold, window: window, k: k) else {
                return XCTFail("rule \(threshold) \(window) \(k)")
            }
            let tracker = MasteryTracker(rule: rule, ids: (0..<Int32(n)).map { $0 })
            for epoch in 0..<epochs {
                for slot in 0..<n { tracker.record(loss: losses[slot][epoch], slot: slot) }
                tracker.decide()
            }
            let state = tracker.state()
            let listing = InstanceListing(
                state: state, owners: [Int32](repeating: 0, count: n), labels: [Int32](repeating: 0, count: n))
            state.history.withUnsafeBufferPointer { history in
                for (slot, row) in listing.rows.enumerated() {
                    let isFull = Int(state.historyCount[slot]) == h
                    let value = isFull ? rule.movingAverageSum(history: history.baseAddress! + slot * h) : nil
                    let decision = value.map { $0 < threshold } ?? false
                    if isFull { full += 1 }
                    if decision { mastered += 1 }
                    guard row.movingAverage?.bitPattern == value?.bitPattern, row.mastered == decision,
                          tracker.isMastered(slot) == decision
                    else {
                        if failures.count < 5 {
                            failures.append(
                                "trial \(trial) window \(window) k \(k) threshold \(threshold) slot \(slot): listed "
                                    + "\(String(describing: row.movingAverage)) mastered \(row.mastered), "
                                    + "rule \(String(describing: value)) decision \(decision)")
                        }
                        continue
                    }
                }
            }
        }
        XCTAssertEqual(failures, [])
        XCTAssertGreaterThan(full, 5_000)
        XCTAssertGreaterThan(mastered, 500)
    }
}
