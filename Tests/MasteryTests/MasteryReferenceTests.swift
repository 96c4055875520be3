import Foundation
import Mastery
import XCTest

/// Many instances, losses recorded in shuffled mini-batches through the buffer API,
/// compared decision by decision with `ReferenceIES` (full loss lists, Double).
final class MasteryReferenceTests: XCTestCase {
    /// A loss curve with a random mix of decay, plateau, noise and a late jump, so that
    /// instances master, return and re-master at different epochs.
    struct Curve {
        var base: Double, rate: Double, floor: Double, noise: Double
        var jumpEpoch: Int, jump: Double

        init(using rng: inout SplitMix64) {
            base = Double.random(in: 0.05...1.5, using: &rng)
            rate = [0, 0.1, 0.3, 0.8, 2.0].randomElement(using: &rng)!
            floor = Double.random(in: 0...0.5, using: &rng)
            noise = [0, 0, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 5e-2].randomElement(using: &rng)!
            jumpEpoch = Bool.random(using: &rng) ? Int.random(in: 5...20, using: &rng) : Int.max
            jump = Double.random(in: -0.05...0.3, using: &rng)
        }

        func loss(epoch: Int, using rng: inout SplitMix64) -> Float {
            var l = floor + base * exp(-rate * Double(epoch))
            if epoch >= jumpEpoch { l += jump }
            l += noise * Double.random(in: -1...1, using: &rng)
            return Float(max(l, 0))
        }
    }

    func checkAgainstReference(rule: MasteryRule, instances: Int, epochs: Int, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let ids = (0..<instances).map { Int32(1000 + 7 * $0) }
        let curves = (0..<instances).map { _ in Curve(using: &rng) }
        let tracker = MasteryTracker(rule: rule, ids: ids)
        var history = [[Float]](repeating: [], count: instances)
        var previous = [Bool](repeating: false, count: instances)
        // Float rounding of d2 in the tracker is below ~5e-7 per value for losses < 4;
        // instances whose reference score is this close to the threshold are not compared.
        let margin = 5e-6 * Double(rule.k)
        var compared = 0, skipped = 0, masteredSeen = 0, notMasteredSeen = 0, returnsSeen = 0

        for epoch in 1...epochs {
            let losses = (0..<instances).map { curves[$0].loss(epoch: epoch, using: &rng) }
            for i in 0..<instances { history[i].append(losses[i]) }
            // Shuffled order, uneven mini-batches.
            let order = (0..<instances).shuffled(using: &rng)
            var start = 0
            while start < order.count {
                let end = min(order.count, start + Int.random(in: 1...97, using: &rng))
                let batch = Array(order[start..<end])
                tracker.record(losses: batch.map { losses[$0] }, slots: batch)
                start = end
            }
            let counts = tracker.decide()

            let flags = tracker.flags
            for i in 0..<instances {
                let expected: Bool
                if let score = ReferenceIES.score(losses: history[i], window: rule.window, k: rule.k) {
                    if abs(score - Double(rule.threshold)) < margin {
                        skipped += 1
                        continue
                    }
                    expected = rule.isEnabled && score < Double(rule.threshold)
                } else {
                    expected = false
                }
                compared += 1
                if flags[i] != expected {
                    XCTFail("epoch \(epoch) slot \(i): tracker \(flags[i]), reference \(expected), rule \(rule)")
                    return
                }
            }
            // The counts describe the change of the flags.
            let returned = (0..<instances).filter { previous[$0] && !flags[$0] }.count
            let newly = (0..<instances).filter { !previous[$0] && flags[$0] }.count
            XCTAssertEqual(
                counts, MasteryCounts(mastered: flags.filter { $0 }.count, returned: returned, newlyMastered: newly),
                "epoch \(epoch)")
            // slots(mastered:) and masteredCount agree with isMastered.
            XCTAssertEqual(tracker.masteredCount, flags.filter { $0 }.count)
            XCTAssertEqual(tracker.slots(mastered: true), (0..<instances).filter { flags[$0] })
            XCTAssertEqual(tracker.slots(mastered: false), (0..<instances).filter { !flags[$0] })
            if epoch < rule.window + rule.k + 2 { XCTAssertEqual(counts.mastered, 0, "mastered before warm-up ends") }
            masteredSeen += counts.mastered
            notMasteredSeen += instances - counts.mastered
            returnsSeen += returned
            previous = flags
        }
        XCTAssertEqual(tracker.ids, ids)
        // The data must exercise both outcomes, and few comparisons may be skipped.
        XCTAssertGreaterThan(masteredSeen, instances, "rule \(rule)")
        XCTAssertGreaterThan(notMasteredSeen, instances, "rule \(rule)")
        XCTAssertGreaterThan(returnsSeen, 0, "rule \(rule)")
        XCTAssertLessThan(Double(skipped), 0.01 * Double(compared + skipped), "rule \(rule)")
        print("reference check \(rule): \(compared) compared, \(skipped) skipped, \(returnsSeen) returns")
    }

    func testDefaultsAgainstReference() {
        checkAgainstReference(rule: .defaults, instances: 2000, epochs: 30, seed: 1)
    }

    func testWindowAndKVariantsAgainstReference() {
        let rules = [
            makeRule(5e-3, window: 2, k: 2),
            makeRule(2e-3, window: 1, k: 3),
            makeRule(1e-2, window: 5, k: 1),
            makeRule(3e-3, window: 4, k: 3),
            makeRule(1e-3, window: 1, k: 1),
        ]
        for (i, rule) in rules.enumerated() {
            checkAgainstReference(rule: rule, instances: 1000, epochs: 28, seed: 100 + UInt64(i))
        }
    }

    func testThresholdZeroAgainstReference() {
        let rule = makeRule(0, window: 3, k: 1)
        let tracker = MasteryTracker(rule: rule, ids: (0..<300).map(Int32.init))
        var rng = SplitMix64(seed: 9)
        for _ in 0..<15 {
            let order = (0..<300).shuffled(using: &rng)
            // Half the instances constant, half noisy.
            tracker.record(
                losses: order.map { $0 % 2 == 0 ? 0.5 : Float.random(in: 0...1, using: &rng) },
                slots: order)
            XCTAssertEqual(tracker.decide(), MasteryCounts())
            XCTAssertEqual(tracker.masteredCount, 0)
            XCTAssertEqual(tracker.slots(mastered: true), [])
        }
    }
}
