import Mastery
import XCTest

/// Hand-computed single-instance sequences. Units: u = 2^-12, so the default
/// threshold 1e-3 is 4.096 u; every loss below is exact in Float.
final class MasterySequenceTests: XCTestCase {
    // MARK: - Defaults: first mastery exactly at epoch 6

    func testConstantLossMasteredExactlyAtEpochSix() {
        let results = masteredAfterEachEpoch(rule: .defaults, losses: Array(repeating: 0.5, count: 10))
        XCTAssertEqual(results, [false, false, false, false, false, true, true, true, true, true])
    }

    func testLinearLossIsMasteredAtEpochSix() {
        // 4.0, 3.75, 3.5, ...: d2 == 0 exactly from epoch 3 on.
        let linear = (0..<12).map { Float(4.0 - 0.25 * Double($0)) }
        XCTAssertEqual(masteredEpochs(rule: .defaults, losses: linear), Array(6...12))
        // Increasing too (the rule looks at |d2|, not at the direction).
        let rising = (0..<12).map { Float(0.5 + 0.125 * Double($0)) }
        XCTAssertEqual(masteredEpochs(rule: .defaults, losses: rising), Array(6...12))
    }

    func testConstantSecondDifferenceJustBelowAndJustAboveThreshold() {
        // mean |d2| = 4u = 0.000977 < 0.001: mastered from epoch 6.
        XCTAssertEqual(
            masteredEpochs(rule: .defaults, losses: losses(fromD2: Array(repeating: 4 * u, count: 10))), Array(6...12))
        // mean |d2| = 4.5u = 0.001099 > 0.001: never.
        XCTAssertEqual(
            masteredEpochs(rule: .defaults, losses: losses(fromD2: Array(repeating: 4.5 * u, count: 10))), [])
        // Alternating signs, same magnitudes: |d2| is what counts.
        let alternatingBelow = (0..<10).map { $0 % 2 == 0 ? 4 * u : -4 * u }
        XCTAssertEqual(masteredEpochs(rule: .defaults, losses: losses(fromD2: alternatingBelow)), Array(6...12))
        let alternatingAbove = (0..<10).map { $0 % 2 == 0 ? 4.5 * u : -4.5 * u }
        XCTAssertEqual(masteredEpochs(rule: .defaults, losses: losses(fromD2: alternatingAbove)), [])
    }

    func testDecisionFlipsWithTheMovingAverage() {
        // d2 of epochs 3...13 in units of u; mastered after epoch t (t >= 6) iff
        // |d2(t-2)| + |d2(t-1)| + |d2(t)| < 12.288 u.
        //   e6: 0+0+12 = 12 -> yes   e7: 0+12+1 = 13 -> no    e8: 12+1+0 = 13 -> no
        //   e9: 1+0+0 = 1 -> yes     e10: 0+0+13 = 13 -> no (a signed mean would say yes)
        //   e11, e12: 13 -> no       e13: 0 -> yes
        let d2: [Double] = [0, 0, 0, 12, 1, 0, 0, -13, 0, 0, 0].map { $0 * u }
        let results = runSingle(rule: .defaults, losses: losses(fromD2: d2))
        XCTAssertEqual(results.enumerated().filter(\.element.mastered).map { $0.offset + 1 }, [6, 9, 13])
        XCTAssertEqual(results[5].counts, MasteryCounts(mastered: 1, returned: 0, newlyMastered: 1))
        XCTAssertEqual(results[6].counts, MasteryCounts(mastered: 0, returned: 1, newlyMastered: 0))
        XCTAssertEqual(results[8].counts, MasteryCounts(mastered: 1, returned: 0, newlyMastered: 1))
        XCTAssertEqual(results[9].counts, MasteryCounts(mastered: 0, returned: 1, newlyMastered: 0))
        XCTAssertEqual(results[12].counts, MasteryCounts(mastered: 1, returned: 0, newlyMastered: 1))
    }

    // MARK: - Warm-up: fewer than window + k d2 values never master

    static let variants: [(window: Int, k: Int)] = [(1, 1), (3, 1), (2, 2), (1, 3), (4, 2), (3, 4), (5, 5), (1, 8)]

    func testFirstMasteryExactlyAtEpochWindowPlusKPlusTwo() {
        for (window, k) in Self.variants {
            let rule = makeRule(1e-3, window: window, k: k)
            let first = window + k + 2
            let epochs = first + 4
            let constant = [Float](repeating: 0.25, count: epochs)
            XCTAssertEqual(
                masteredEpochs(rule: rule, losses: constant), Array(first...epochs), "constant, window \(window) k \(k)")
            let linear = (0..<epochs).map { Float(8.0 - 0.5 * Double($0)) }
            XCTAssertEqual(
                masteredEpochs(rule: rule, losses: linear), Array(first...epochs), "linear, window \(window) k \(k)")
            let zero = [Float](repeating: 0, count: epochs)
            XCTAssertEqual(masteredEpochs(rule: rule, losses: zero), Array(first...epochs), "zero, window \(window) k \(k)")
        }
    }

    // MARK: - Window and k

    func testWindowTwoKTwo() {
        // Mastered after epoch t (t >= 6) iff (|d(t-1)|+|d(t)|)/2 + (|d(t-2)|+|d(t-1)|)/2 < 4.096u,
        // i.e. |d(t-2)| + 2|d(t-1)| + |d(t)| < 8.192u. d2 of epochs 3...12 (units of u):
        //   e6: 2+2+2 = 6 yes   e7: 1+4+0 = 5 yes   e8: 2+0+9 = 11 no   e9: 0+18+0 no
        //   e10: 9+0+0 = 9 no (one window large)    e11, e12: 0 yes
        let d2 = losses(fromD2: [0, 2, 1, 2, 0, 9, 0, 0, 0, 0].map { $0 * u })
        let w2k2 = makeRule(1e-3, window: 2, k: 2)
        XCTAssertEqual(masteredEpochs(rule: w2k2, losses: d2), [6, 7, 11, 12])
        // The same losses with k = 1: (|d(t-1)| + |d(t)|)/2 < 4.096u from epoch 5 on:
        //   e5: 3 yes  e6: 3 yes  e7: 2 yes  e8: 9 no  e9: 9 no  e10, e11, e12: 0 yes
        let w2k1 = makeRule(1e-3, window: 2, k: 1)
        XCTAssertEqual(masteredEpochs(rule: w2k1, losses: d2), [5, 6, 7, 10, 11, 12])
    }

    func testOnlyTheOlderWindowLargePreventsMastery() {
        // window 2, k 2, after epoch 6 the kept d2 are epochs 3...6 = [0, 9u, 0, 0]:
        // newest window 0, older window 4.5u -> sum 0.0011 > 0.001: not mastered,
        // although the newest window alone (k = 1) is 0.
        let seq = losses(fromD2: [0, 9 * u, 0, 0])
        XCTAssertEqual(masteredAfterEachEpoch(rule: makeRule(1e-3, window: 2, k: 2), losses: seq).last, false)
        // [0, 8u, 0, 0]: older window 4u = 0.000977 -> mastered.
        let seq8 = losses(fromD2: [0, 8 * u, 0, 0])
        XCTAssertEqual(masteredAfterEachEpoch(rule: makeRule(1e-3, window: 2, k: 2), losses: seq8).last, true)
        // [0, 0, 0, 9u]: the newest window 4.5u alone blocks.
        let late = losses(fromD2: [0, 0, 0, 9 * u])
        XCTAssertEqual(masteredAfterEachEpoch(rule: makeRule(1e-3, window: 2, k: 2), losses: late).last, false)
    }

    func testWindowOneKThree() {
        // Sum of the last three |d2| < 4.096u. d2 of epochs 3...13 (units of u):
        //   e6: 1+1+2 = 4 yes  e7: 3 yes  e8: 2 yes  e9: 0 yes  e10-e12: 5 no  e13: 0 yes
        let seq = losses(fromD2: [0, 1, 1, 2, 0, 0, 0, 5, 0, 0, 0].map { $0 * u })
        XCTAssertEqual(masteredEpochs(rule: makeRule(1e-3, window: 1, k: 3), losses: seq), [6, 7, 8, 9, 13])
    }

    func testWindowThreeKTwo() {
        // mean|d(t-2..t)| + mean|d(t-3..t-1)| < 4.096u  <=>  |a| + 2|b| + 2|c| + |d| < 12.288u
        // (a..d = d(t-3)..d(t)), first possible at epoch 7. d2 of epochs 3...11:
        // [1024 (huge, the oldest kept value at epoch 7), 0, 3, 0, 6, 0, 0, 0, 0] u
        //   e7: 0+6+0+6 = 12 yes (the huge oldest value is not in either window)
        //   e8: 3+0+12+0 = 15 no   e9: 0+12+0+0 = 12 yes   e10: 6 yes   e11: 0 yes
        let seq = losses(fromD2: [1024, 0, 3, 0, 6, 0, 0, 0, 0].map { $0 * u })
        XCTAssertEqual(masteredEpochs(rule: makeRule(1e-3, window: 3, k: 2), losses: seq), [7, 9, 10, 11])
    }

    /// The k windows ending at the newest positions cover only the newest
    /// window + k - 1 of the window + k kept d2 values: a huge oldest value must not
    /// block mastery, the next one must.
    func testOldestKeptValueIsNotInAnyWindow() {
        for (window, k) in Self.variants {
            let rule = makeRule(1e-3, window: window, k: k)
            let count = window + k + 4  // d2 values, epochs 3 ... window + k + 6
            let last = count + 2
            // Huge d2 at epoch 3: it is the oldest kept value at epoch window + k + 2.
            var first = [Double](repeating: 0, count: count)
            first[0] = 0.5
            XCTAssertEqual(
                masteredEpochs(rule: rule, losses: losses(fromD2: first)), Array((window + k + 2)...last),
                "huge d2 at epoch 3, window \(window) k \(k)")
            // Huge d2 at epoch 4: inside the oldest window at epoch window + k + 2.
            var second = [Double](repeating: 0, count: count)
            second[1] = -0.5
            XCTAssertEqual(
                masteredEpochs(rule: rule, losses: losses(fromD2: second)), Array((window + k + 3)...last),
                "huge d2 at epoch 4, window \(window) k \(k)")
        }
    }

    // MARK: - Return

    func testMasteredInstanceReturnsWhenItsLossMovesAndIsRemasteredLater() {
        // 0.5 for epochs 1-6, then 0.75. d2: e3-e6 0, e7 +0.25, e8 -0.25, e9.. 0.
        // Windows (3 newest d2): e7 and e8, e9, e10 contain a 0.25 -> not mastered;
        // e11 = (e9, e10, e11) = 0 -> mastered again.
        let seq: [Float] = Array(repeating: 0.5, count: 6) + Array(repeating: 0.75, count: 6)
        let results = runSingle(rule: .defaults, losses: seq)
        let none = MasteryCounts()
        let expected: [EpochResult] = [
            .init(mastered: false, counts: none), .init(mastered: false, counts: none),
            .init(mastered: false, counts: none), .init(mastered: false, counts: none),
            .init(mastered: false, counts: none),
            .init(mastered: true, counts: MasteryCounts(mastered: 1, returned: 0, newlyMastered: 1)),  // e6
            .init(mastered: false, counts: MasteryCounts(mastered: 0, returned: 1, newlyMastered: 0)),  // e7
            .init(mastered: false, counts: none), .init(mastered: false, counts: none),
            .init(mastered: false, counts: none),  // e10
            .init(mastered: true, counts: MasteryCounts(mastered: 1, returned: 0, newlyMastered: 1)),  // e11
            .init(mastered: true, counts: MasteryCounts(mastered: 1, returned: 0, newlyMastered: 0)),  // e12
        ]
        XCTAssertEqual(results, expected)
    }

    func testSmallMoveAboveThresholdAlsoReturns() {
        // e7 moves by 2^-8: d2 = 2^-8, -2^-8, 0: means 0.0013, 0.0026, 0.0026, 0.0013 -> back from e7 to e10.
        let seq: [Float] = Array(repeating: 0.5, count: 6) + Array(repeating: 0.5 + 1.0 / 256, count: 6)
        XCTAssertEqual(masteredEpochs(rule: .defaults, losses: seq), [6, 11, 12])
    }

    func testCountsOverSeveralInstances() {
        // A: mastered at 6, returns at 7, back at 11 (as above).
        // B: constant, mastered from 6 on.
        // C: d2 = +-1 until epoch 7, -0.5 at 8, then 0 -> mastered from 11.
        let a: [Float] = Array(repeating: 0.5, count: 6) + Array(repeating: 0.75, count: 6)
        let b: [Float] = Array(repeating: 0.5, count: 12)
        let c: [Float] = [1, 0.5, 1, 0.5, 1, 0.5, 1, 1, 1, 1, 1, 1]
        let tracker = MasteryTracker(rule: .defaults, ids: [10, 11, 12])
        var counts: [MasteryCounts] = []
        var mastered: [[Int]] = []
        for epoch in 0..<12 {
            // record order must not matter
            tracker.record(loss: c[epoch], slot: 2)
            tracker.record(loss: a[epoch], slot: 0)
            tracker.record(loss: b[epoch], slot: 1)
            counts.append(tracker.decide())
            mastered.append(tracker.slots(mastered: true))
            XCTAssertEqual(tracker.masteredCount, counts.last!.mastered)
            XCTAssertEqual(tracker.slots(mastered: false), (0..<3).filter { !tracker.isMastered($0) })
        }
        let none = MasteryCounts()
        let expected: [MasteryCounts] = [
            none, none, none, none, none,
            MasteryCounts(mastered: 2, returned: 0, newlyMastered: 2),  // e6: A, B
            MasteryCounts(mastered: 1, returned: 1, newlyMastered: 0),  // e7: A returns
            MasteryCounts(mastered: 1, returned: 0, newlyMastered: 0),
            MasteryCounts(mastered: 1, returned: 0, newlyMastered: 0),
            MasteryCounts(mastered: 1, returned: 0, newlyMastered: 0),
            MasteryCounts(mastered: 3, returned: 0, newlyMastered: 2),  // e11: A again, C
            MasteryCounts(mastered: 3, returned: 0, newlyMastered: 0),
        ]
        XCTAssertEqual(counts, expected)
        XCTAssertEqual(mastered[5], [0, 1])
        XCTAssertEqual(mastered[6], [1])
        XCTAssertEqual(mastered[10], [0, 1, 2])
    }

    // MARK: - Threshold 0

    func testThresholdZeroNeverMasters() {
        for (window, k) in [(3, 1), (1, 1), (2, 2)] {
            let rule = makeRule(0, window: window, k: k)
            let results = runSingle(rule: rule, losses: Array(repeating: 0.5, count: 20))
            XCTAssertEqual(results.filter(\.mastered).count, 0, "window \(window) k \(k)")
            XCTAssertTrue(results.allSatisfy { $0.counts == MasteryCounts() })
            let zeros = runSingle(rule: rule, losses: Array(repeating: 0, count: 20))
            XCTAssertEqual(zeros.filter(\.mastered).count, 0)
        }
        // The smallest positive threshold does master exact zeros: 0 is special only
        // because the comparison is strict.
        let tiny = makeRule(.leastNonzeroMagnitude, window: 3, k: 1)
        XCTAssertEqual(masteredEpochs(rule: tiny, losses: Array(repeating: 0.5, count: 8)), [6, 7, 8])
    }

    func testStrictComparisonAtExactThreshold() {
        // window 2 (an exact division): mean |d2| is exactly 4u = 2^-10 from epoch 5 on.
        // Threshold exactly 2^-10: never mastered (strict <); 2^-10 + 2^-20: mastered from epoch 5.
        let seq = losses(fromD2: Array(repeating: 4 * u, count: 6))
        XCTAssertEqual(masteredEpochs(rule: makeRule(Float(4 * u), window: 2, k: 1), losses: seq), [])
        XCTAssertEqual(
            masteredEpochs(rule: makeRule(Float(4 * u) + 1.0 / 1_048_576, window: 2, k: 1), losses: seq), [5, 6, 7, 8])
    }
}
