import Foundation
import Mastery
import XCTest

/// A literal reading of the spaced probe schedule and of the rule on irregular gaps, in
/// Double, for one instance whose loss at every epoch is given (what a probe or a training
/// pass would see then):
///   - an instance in training has a loss every epoch; a mastered one only in the epochs its
///     schedule probes (the epoch after it is mastered, then intervals 2, 4, ... up to max);
///   - each loss after the first two gives d2 = (L2 - L1) - (L1 - L0) * (t2 - t1) / (t1 - t0)
///     over the epochs t0 < t1 < t2 of the last three losses;
///   - the decision, made after each loss, is the rule's over the d2 values so far.
/// It keeps every loss with its epoch and recomputes everything from them.
enum ReferenceSpacedIES {
    struct Epoch: Equatable {
        var recorded: Bool
        var mastered: Bool
    }

    static func run(losses: [Float], rule: MasteryRule, maxInterval: Int) -> [Epoch] {
        var seen: [(epoch: Int, loss: Double)] = []
        var mastered = false, interval = 1, nextProbe = 0
        var result: [Epoch] = []
        for (epoch, loss) in losses.enumerated() {
            let recorded = !mastered || epoch == nextProbe
            if recorded {
                seen.append((epoch, Double(loss)))
                var d2: [Double] = []
                if seen.count >= 3 {
                    for i in 2..<seen.count {
                        let (t0, l0) = seen[i - 2], (t1, l1) = seen[i - 1], (t2, l2) = seen[i]
                        d2.append((l2 - l1) - (l1 - l0) * Double(t2 - t1) / Double(t1 - t0))
                    }
                }
                var now = false
                if rule.isEnabled && d2.count >= rule.historyLength {
                    var score = 0.0
                    for j in 0..<rule.k {
                        let end = d2.count - j
                        score += d2[(end - rule.window)..<end].map(abs).reduce(0, +) / Double(rule.window)
                    }
                    now = score < Double(rule.threshold)
                }
                interval = now ? (mastered ? min(2 * interval, maxInterval) : 1) : 1
                mastered = now
                nextProbe = epoch + interval
            }
            result.append(Epoch(recorded: recorded, mastered: mastered))
        }
        return result
    }
}

final class ProbeScheduleTests: XCTestCase {
    /// Loss series on a grid of 2^-8, so that every loss, difference and gap ratio (powers
    /// of two) is exact in Float, and decisions stay clear of the threshold: long straight
    /// stretches (mastered), small bends and jumps (returns).
    private func series(instances: Int, epochs: Int, seed: UInt64) -> [[Float]] {
        var generator = SplitMix64(seed: seed)
        return (0..<instances).map { _ in
            var level = Int.random(in: 256...768, using: &generator), slope = 0
            return (0..<epochs).map { _ in
                let roll = Int.random(in: 0..<100, using: &generator)
                if roll < 8 { level += Int.random(in: -24...24, using: &generator) }  // a jump
                else if roll < 25 { slope = Int.random(in: -1...1, using: &generator) }  // a bend
                level = min(1024, max(64, level + slope))
                return Float(level) / 256
            }
        }
    }

    /// Runs trackers over `losses` (row = global id), the instances split over `parts`
    /// trackers (ranks), recording what the schedule asks for each epoch; after `moveAt`
    /// epochs every second instance moves to the next tracker with its state (a rebalance).
    private func simulate(
        _ losses: [[Float]], rule: MasteryRule, schedule: ProbeSchedule, parts: Int, moveAt: Int? = nil
    ) throws -> [[ReferenceSpacedIES.Epoch]] {
        let n = losses.count, epochs = losses[0].count
        var trackers = (0..<parts).map { p in
            MasteryTracker(rule: rule, schedule: schedule, ids: (0..<Int32(n)).filter { Int($0) % parts == p })
        }
        var result = [[ReferenceSpacedIES.Epoch]](repeating: [], count: n)
        for epoch in 0..<epochs {
            for tracker in trackers {
                var recorded: [Int32: Bool] = [:]
                for slot in 0..<tracker.count {
                    let id = tracker.ids[slot]
                    let due = !tracker.isMastered(slot) || tracker.isDue(slot)
                    XCTAssertEqual(due, !tracker.isMastered(slot) || tracker.probeSlots().contains(slot))
                    if due { tracker.record(loss: losses[Int(id)][epoch], slot: slot) }
                    recorded[id] = due
                }
                tracker.decide()
                for slot in 0..<tracker.count {
                    let id = tracker.ids[slot]
                    result[Int(id)].append(.init(recorded: recorded[id]!, mastered: tracker.isMastered(slot)))
                }
            }
            if epoch + 1 == moveAt && parts > 1 {
                var moving: [MasteryTracker.State] = []
                for tracker in trackers {
                    moving.append(tracker.remove(slots: Array(stride(from: 0, to: tracker.count, by: 2))))
                }
                for (p, state) in moving.enumerated() { try trackers[(p + 1) % parts].append(state) }
                trackers = try trackers.map { try MasteryTracker(state: $0.state(), schedule: schedule) }
            }
        }
        return result
    }

    func testSpacedScheduleAndIrregularGapsAgainstTheReference() throws {
        let rule = try MasteryRule(threshold: 0.02, window: 3, k: 1)
        let losses = series(instances: 400, epochs: 80, seed: 7)
        for maxInterval in [2, 4, 8] {
            let got = try simulate(losses, rule: rule, schedule: .spaced(maxInterval: maxInterval), parts: 1)
            var probesSkipped = 0, returns = 0
            for (id, series) in losses.enumerated() {
                let expected = ReferenceSpacedIES.run(losses: series, rule: rule, maxInterval: maxInterval)
                XCTAssertEqual(got[id], expected, "instance \(id), spaced:\(maxInterval)")
                probesSkipped += expected.indices.filter { $0 > 0 && expected[$0 - 1].mastered && !expected[$0].recorded }.count
                returns += expected.indices.filter { $0 > 0 && expected[$0 - 1].mastered && !expected[$0].mastered }.count
            }
            // The fixture exercises what it should: skipped probes and returns after a gap.
            XCTAssertGreaterThan(probesSkipped, 1000, "spaced:\(maxInterval)")
            XCTAssertGreaterThan(returns, 100, "spaced:\(maxInterval)")
        }
    }

    /// `every` is the paper's rule: the reference with an interval of one, and exactly the
    /// decisions of a tracker that is given every loss (the default schedule).
    func testEveryProbesEachMasteredInstanceEachEpoch() throws {
        let rule = try MasteryRule(threshold: 0.02, window: 3, k: 1)
        let losses = series(instances: 200, epochs: 40, seed: 11)
        let got = try simulate(losses, rule: rule, schedule: .every, parts: 1)
        for (id, series) in losses.enumerated() {
            XCTAssertEqual(got[id], ReferenceSpacedIES.run(losses: series, rule: rule, maxInterval: 1), "instance \(id)")
            XCTAssertTrue(got[id].allSatisfy(\.recorded))
            XCTAssertEqual(got[id].map(\.mastered), masteredAfterEachEpoch(rule: rule, losses: series))
        }
    }

    /// An instance's schedule is a function of its own losses: split over 1, 2 or 3
    /// trackers (ranks), and moved between them mid-run, every instance gets the same probes
    /// and decisions.
    func testTheScheduleIsTheSameOnAnyNumberOfRanksAndAcrossMoves() throws {
        let rule = try MasteryRule(threshold: 0.02, window: 3, k: 1)
        let losses = series(instances: 150, epochs: 50, seed: 3)
        let one = try simulate(losses, rule: rule, schedule: .spaced(maxInterval: 8), parts: 1)
        for parts in [2, 3] {
            XCTAssertEqual(try simulate(losses, rule: rule, schedule: .spaced(maxInterval: 8), parts: parts), one)
            XCTAssertEqual(
                try simulate(losses, rule: rule, schedule: .spaced(maxInterval: 8), parts: parts, moveAt: 23), one)
        }
    }

    /// A constant loss: mastered after epoch 6, then probed at gaps 1, 2, 4, 8, 8; a jump
    /// between two probes shows at the next one, and the instance returns at once, to be
    /// trained (a loss every epoch) from then on.
    func testAnInstanceWhoseLossJumpsBetweenProbesReturnsAtTheNextProbe() {
        let tracker = MasteryTracker(rule: .defaults, schedule: .spaced(maxInterval: 8), ids: [5])
        var probedEpochs: [Int] = [], returnedAt: Int?
        for epoch in 1...40 {
            let loss: Float = epoch < 30 ? 0.5 : 0.75  // the jump comes at epoch 30, between probes
            if !tracker.isMastered(0) || tracker.isDue(0) {
                if tracker.isMastered(0) { probedEpochs.append(epoch) }
                tracker.record(loss: loss, slot: 0)
            }
            let counts = tracker.decide()
            if counts.returned == 1 { returnedAt = epoch }
        }
        XCTAssertEqual(probedEpochs, [7, 9, 13, 21, 29, 37])
        XCTAssertEqual(returnedAt, 37, "the first probe after the jump (epoch 30) is at epoch 37")
        XCTAssertFalse(tracker.isMastered(0))
        XCTAssertEqual(tracker.state().recorded, [6 + 6 + 3], "6 trained, probes at 7 9 13 21 29 37, trained 38-40")
    }

    func testTextFormAndErrors() throws {
        XCTAssertEqual(try ProbeSchedule(parsing: "every"), .every)
        XCTAssertEqual(try ProbeSchedule(parsing: "spaced"), .spaced(maxInterval: 8))
        XCTAssertEqual(try ProbeSchedule(parsing: "spaced:16"), .spaced(maxInterval: 16))
        XCTAssertEqual(ProbeSchedule.spaced(maxInterval: 4).description, "spaced:4")
        for bad in ["", "sometimes", "spaced:1", "spaced:65", "spaced:x", "every:2", "spaced:4:2"] {
            XCTAssertThrowsError(try ProbeSchedule(parsing: bad), bad) { error in
                XCTAssertTrue("\(error)".contains("'\(bad)'"), "\(error)")
            }
        }
        let json = try JSONEncoder().encode([ProbeSchedule.spaced(maxInterval: 4)])
        XCTAssertEqual(String(decoding: json, as: UTF8.self), "[\"spaced:4\"]")
        XCTAssertEqual(try JSONDecoder().decode([ProbeSchedule].self, from: json), [.spaced(maxInterval: 4)])
        XCTAssertThrowsError(try JSONDecoder().decode([ProbeSchedule].self, from: Data("[\"spaced:0\"]".utf8)))
    }

    /// The second difference over gaps: the paper's expression for equal gaps, the residual
    /// from the straight line through the two losses before otherwise.
    func testSecondDifferenceOverGaps() {
        XCTAssertEqual(MasteryRule.secondDifference(loss: 3, last: 2, previous: 2, gapBefore: 1, gap: 1), 1)
        XCTAssertEqual(MasteryRule.secondDifference(loss: 0.75, last: 0.5, previous: 0.25, gapBefore: 4, gap: 4), 0)
        // a straight line over gaps 1 then 2: no d2
        XCTAssertEqual(MasteryRule.secondDifference(loss: 4, last: 2, previous: 1, gapBefore: 1, gap: 2), 0)
        // a jump of 0.25 after 8 epochs shows in full
        XCTAssertEqual(MasteryRule.secondDifference(loss: 0.75, last: 0.5, previous: 0.5, gapBefore: 4, gap: 8), 0.25)
    }

    /// A state written before the schedule existed has no schedule columns: it reads with
    /// those of a run that probed every epoch.
    func testStateWithoutScheduleColumnsTakesTheirDefaults() throws {
        let tracker = MasteryTracker(rule: .defaults, schedule: .spaced(maxInterval: 8), ids: [0, 1])
        for epoch in 1...7 {
            tracker.record(loss: 0.5, slot: 0)
            tracker.record(loss: Float(epoch % 2), slot: 1)
            tracker.decide()
        }
        let state = tracker.state()
        let old = state.columns.filter { !MasteryTracker.State.columnsWithDefaults.contains($0.name) }
        let read = try MasteryTracker.State(rule: .defaults, ids: state.ids, columns: old)
        XCTAssertEqual(read.lossGap, [1, 1])
        XCTAssertEqual(read.epochsSinceLoss, [0, 0])
        XCTAssertEqual(read.probeInterval, [1, 1])
        XCTAssertEqual(read.mastered, state.mastered)
    }

    func testInconsistentScheduleColumnsAreInvalid() {
        let tracker = MasteryTracker(rule: .defaults, schedule: .spaced(maxInterval: 8), ids: [0, 1])
        for _ in 1...8 {
            for slot in 0..<2 where !tracker.isMastered(slot) || tracker.isDue(slot) { tracker.record(loss: 0.5, slot: slot) }
            tracker.decide()
        }
        let good = tracker.state()
        XCTAssertNoThrow(try good.validate())
        XCTAssertEqual(good.probeInterval, [2, 2])
        var s = good
        s.epochsSinceLoss[0] = 2  // past its interval: a probe was missed
        XCTAssertThrowsError(try s.validate())
        s = good
        s.mastered[1] = false  // in training with an interval of 2
        XCTAssertThrowsError(try s.validate())
        s = good
        s.lossGap[0] = 0
        XCTAssertThrowsError(try s.validate())
        s = good
        s.probeInterval[1] = 0
        XCTAssertThrowsError(try s.validate())
    }
}
