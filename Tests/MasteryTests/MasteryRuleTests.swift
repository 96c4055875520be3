import Foundation
import Mastery
import XCTest

final class MasteryRuleTests: XCTestCase {
    func testDefaults() {
        let rule = MasteryRule.defaults
        XCTAssertEqual(rule.threshold, 1e-3)
        XCTAssertEqual(rule.window, 3)
        XCTAssertEqual(rule.k, 1)
        XCTAssertEqual(rule.historyLength, 4)
        XCTAssertTrue(rule.isEnabled)
    }

    func testHistoryLengthIsWindowPlusK() {
        XCTAssertEqual(makeRule(1e-3, window: 2, k: 2).historyLength, 4)
        XCTAssertEqual(makeRule(1e-3, window: 5, k: 3).historyLength, 8)
        XCTAssertEqual(makeRule(1e-3, window: 1, k: 1).historyLength, 2)
    }

    func testThresholdZeroIsValidButDisabled() {
        let rule = makeRule(0, window: 3, k: 1)
        XCTAssertFalse(rule.isEnabled)
        XCTAssertTrue(makeRule(Float.leastNonzeroMagnitude, window: 3, k: 1).isEnabled)
    }

    func testSmallestValidWindowAndK() {
        XCTAssertNoThrow(try MasteryRule(threshold: 1e-3, window: 1, k: 1))
    }

    /// Asserts that `body` throws `.invalidRule` naming `field`.
    private func assertInvalidRule(
        _ field: MasteryRule.Field, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> MasteryRule
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard case MasteryError.invalidRule(let named, let problem) = error else {
                return XCTFail("expected MasteryError.invalidRule, got \(error)", file: file, line: line)
            }
            XCTAssertEqual(named, field, file: file, line: line)
            XCTAssertTrue(problem.contains("must"), "problem '\(problem)' does not say what was expected", file: file, line: line)
            XCTAssertTrue("\(error)".contains(field.rawValue), "description does not name \(field)", file: file, line: line)
        }
    }

    func testInvalidThresholdThrowsNamingTheFlag() {
        for bad: Float in [-1e-3, -1, -.infinity, .infinity, .nan, -.leastNonzeroMagnitude] {
            assertInvalidRule(.threshold) { try MasteryRule(threshold: bad, window: 3, k: 1) }
        }
    }

    func testInvalidWindowThrowsNamingTheFlag() {
        for bad in [0, -1, Int.min] {
            assertInvalidRule(.window) { try MasteryRule(threshold: 1e-3, window: bad, k: 1) }
        }
    }

    func testInvalidKThrowsNamingTheFlag() {
        for bad in [0, -1, Int.min] {
            assertInvalidRule(.k) { try MasteryRule(threshold: 1e-3, window: 3, k: bad) }
        }
    }

    func testCodableRoundTrip() throws {
        let rule = makeRule(2.5e-3, window: 4, k: 2)
        let decoded = try JSONDecoder().decode(MasteryRule.self, from: JSONEncoder().encode(rule))
        XCTAssertEqual(decoded, rule)
    }

    /// A rule read back from a checkpoint must satisfy the same constraints as one
    /// built from the command line; otherwise a corrupt or hand-edited state file
    /// produces a tracker that never masters (window 0: 0 * inf = NaN) or traps
    /// (negative window: invalid range in decide()).
    func testDecodingRejectsInvalidRule() {
        let bad = [
            #"{"threshold":0.001,"window":0,"k":1}"#,
            #"{"threshold":0.001,"window":3,"k":0}"#,
            #"{"threshold":-1,"window":3,"k":1}"#,
            #"{"threshold":0.001,"window":-2,"k":3}"#,
        ]
        for json in bad {
            XCTAssertThrowsError(
                try JSONDecoder().decode(MasteryRule.self, from: Data(json.utf8)), "decoded invalid rule \(json)")
        }
    }

    /// `isMastered(history:)` on hand-made histories (oldest first).
    func testIsMasteredOnHistories() {
        func decide(_ rule: MasteryRule, _ history: [Double]) -> Bool {
            precondition(history.count == rule.historyLength)
            let h = history.map { Float($0) }
            return h.withUnsafeBufferPointer { rule.isMastered(history: $0.baseAddress!) }
        }
        let defaults = MasteryRule.defaults
        // window 3, k 1: mean |d2| of positions 1...3, position 0 is not used.
        XCTAssertTrue(decide(defaults, [0, 0, 0, 0]))
        XCTAssertTrue(decide(defaults, [1.0, 0, 0, 0]))  // oldest kept value ignored
        XCTAssertFalse(decide(defaults, [0, 1.0, 0, 0]))
        XCTAssertTrue(decide(defaults, [0, 4 * u, -4 * u, 4 * u]))  // mean 4u = 0.000977 < 0.001
        XCTAssertFalse(decide(defaults, [0, 4 * u, -5 * u, 4 * u]))  // mean 4.33u = 0.00106
        // window 2, k 2: (|h2| + |h3|)/2 + (|h1| + |h2|)/2.
        let w2k2 = makeRule(1e-3, window: 2, k: 2)
        XCTAssertTrue(decide(w2k2, [0, 2 * u, 1 * u, 2 * u]))  // 1.5u + 1.5u = 3u
        XCTAssertFalse(decide(w2k2, [0, 9 * u, 0, 0]))  // 0 + 4.5u
        XCTAssertTrue(decide(w2k2, [0, 8 * u, 0, 0]))  // 0 + 4u
        XCTAssertFalse(decide(w2k2, [0, 0, 0, 9 * u]))  // 4.5u + 0
        XCTAssertTrue(decide(w2k2, [0.5, 0, 0, 0]))
        // threshold 0 never masters.
        XCTAssertFalse(decide(makeRule(0, window: 3, k: 1), [0, 0, 0, 0]))
    }
}
