import Report
import XCTest

/// Round ticks and their labels.
final class NiceScaleTests: XCTestCase {
    func testRoundSteps() {
        let counts = NiceScale(minimum: 0, maximum: 3000, integer: true, includeZero: true)
        XCTAssertEqual(counts.ticks, [0, 1000, 2000, 3000])
        XCTAssertEqual(counts.ticks.map(counts.label), ["0", "1,000", "2,000", "3,000"])

        let accuracy = NiceScale(minimum: 71.14, maximum: 80.23)
        XCTAssertEqual(accuracy.ticks, [70, 72, 74, 76, 78, 80, 82])

        let lr = NiceScale(minimum: 0.0751, maximum: 0.1)
        XCTAssertEqual(lr.ticks.map(lr.label), ["0.075", "0.080", "0.085", "0.090", "0.095", "0.100"])

        let big = NiceScale(minimum: 0, maximum: 60000, includeZero: true)
        XCTAssertEqual(big.ticks.map(big.label), ["0", "20k", "40k", "60k"])
        let many = NiceScale(minimum: 0, maximum: 60000, targetTicks: 7, includeZero: true)
        XCTAssertEqual(many.ticks.map(many.label), ["0", "10k", "20k", "30k", "40k", "50k", "60k"])
    }

    func testDegenerateRanges() {
        let flat = NiceScale(minimum: 0.1, maximum: 0.1)
        XCTAssertLessThan(flat.lower, 0.1)
        XCTAssertGreaterThan(flat.upper, 0.1)
        let zero = NiceScale(minimum: 0, maximum: 0, integer: true, includeZero: true)
        XCTAssertEqual(zero.lower, 0)
        XCTAssertGreaterThanOrEqual(zero.upper, 1)
        XCTAssertEqual(NiceScale(minimum: 1, maximum: 8, integer: true).step, 2)
    }

    func testNumberText() {
        XCTAssertEqual(NumberText.grouped(1234567.891, decimals: 1), "1,234,567.9")
        XCTAssertEqual(NumberText.grouped(-0.0001, decimals: 2), "0.00")
        XCTAssertEqual(NumberText.points(-3), "-3.00 pp")
        XCTAssertEqual(NumberText.duration(83), "83.0 s")
        XCTAssertEqual(NumberText.duration(245), "4 min 05 s")
    }
}
