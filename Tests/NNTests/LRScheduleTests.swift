import Foundation
import NN
import XCTest

final class LRScheduleTests: XCTestCase {
    private func rates(_ schedule: LRSchedule, base: Double = 1, epochs: Int, at points: [Int]) -> [Double] {
        points.map { schedule.learningRate(base: base, epoch: $0, epochs: epochs) }
    }

    private func assertRates(
        _ actual: [Double], _ expected: [Double], file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(actual.count, expected.count, file: file, line: line)
        for (a, e) in zip(actual, expected) {
            XCTAssertEqual(a, e, accuracy: 1e-12 + 1e-9 * abs(e), "\(actual) vs \(expected)", file: file, line: line)
        }
    }

    func testConstant() {
        assertRates(rates(.constant, base: 0.1, epochs: 5, at: [0, 1, 4, 10]), [0.1, 0.1, 0.1, 0.1])
    }

    func testExponential() {
        assertRates(rates(.exponential(gamma: 0.96), base: 0.5, epochs: 20, at: [0, 1, 10]),
                    [0.5, 0.48, 0.5 * pow(0.96, 10)])
        XCTAssertEqual(LRSchedule.exponential(gamma: 0.96).learningRate(base: 1, epoch: 10, epochs: 20), 0.664832636, accuracy: 1e-9)
    }

    func testStep() throws {
        assertRates(rates(try LRSchedule(parsing: "step:2:0.5"), base: 0.8, epochs: 10, at: [0, 1, 2, 3, 4, 5, 9]),
                    [0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.05])
    }

    /// LinearLR(start 1, end 0, total_iters 4): factors 1, 0.75, 0.5, 0.25, then 0 from epoch 4 on.
    func testLinear() {
        assertRates(rates(.linear(start: 1, end: 0), base: 0.2, epochs: 4, at: [0, 1, 2, 3, 4, 6]),
                    [0.2, 0.15, 0.1, 0.05, 0, 0])
        assertRates(rates(.linear(start: 0.5, end: 1), base: 1, epochs: 2, at: [0, 1, 2]), [0.5, 0.75, 1])
    }

    /// CosineAnnealingLR(T_max 4): factors 1, (1 + cos(pi/4))/2 = 0.853553, 0.5, 0.146447.
    func testCosine() {
        assertRates(rates(.cosine(minimum: 0), base: 1, epochs: 4, at: [0, 1, 2, 3, 4, 7]),
                    [1, 0.8535533905932737, 0.5, 0.14644660940672624, 0, 0])
        assertRates(rates(.cosine(minimum: 0.01), base: 0.1, epochs: 4, at: [0, 2, 4]), [0.1, 0.055, 0.01])
    }

    private func warmedRates(
        _ schedule: LRSchedule, base: Double = 1, epochs: Int, warmup: Int, at points: [Int]
    ) -> [Double] {
        points.map { schedule.learningRate(base: base, epoch: $0, epochs: epochs, warmup: warmup) }
    }

    /// Warm-up 2 of 6 epochs at base 0.4: 0.4 * 1/2, 0.4 * 2/2, then the schedule over 4 epochs.
    func testWarmUpThenConstantAndStep() throws {
        assertRates(warmedRates(.constant, base: 0.4, epochs: 6, warmup: 2, at: [0, 1, 2, 5]), [0.2, 0.4, 0.4, 0.4])
        // step:1:0.5 after the warm-up: epochs 2, 3, 4 are schedule epochs 0, 1, 2 -> 0.4, 0.2, 0.1.
        assertRates(warmedRates(try LRSchedule(parsing: "step:1:0.5"), base: 0.4, epochs: 6, warmup: 2, at: [0, 1, 2, 3, 4]),
                    [0.2, 0.4, 0.4, 0.2, 0.1])
    }

    /// Warm-up 4 of 8 at base 1: 0.25, 0.5, 0.75, 1; then cosine over T_max 4:
    /// 1, (1 + cos(pi/4))/2 = 0.853553, 0.5, 0.146447.
    func testWarmUpThenCosine() {
        assertRates(warmedRates(.cosine(minimum: 0), epochs: 8, warmup: 4, at: Array(0..<8)),
                    [0.25, 0.5, 0.75, 1, 1, 0.8535533905932737, 0.5, 0.14644660940672624])
    }

    /// Warm-up 3 of 5 at base 0.3: 0.1, 0.2, 0.3; then LinearLR(1 -> 0, total_iters 2): factors 1, 0.5.
    /// ExponentialLR(0.5) after a warm-up of 1: 0.3, then 0.3, 0.15.
    func testWarmUpThenLinearAndExponential() {
        assertRates(warmedRates(.linear(start: 1, end: 0), base: 0.3, epochs: 5, warmup: 3, at: [0, 1, 2, 3, 4]),
                    [0.1, 0.2, 0.3, 0.3, 0.15])
        assertRates(warmedRates(.exponential(gamma: 0.5), base: 0.3, epochs: 5, warmup: 1, at: [0, 1, 2]),
                    [0.3, 0.3, 0.15])
    }

    /// Warm-up 0 is the schedule itself, exactly, for every kind of schedule.
    func testNoWarmUpIsTheScheduleItself() {
        let schedules: [LRSchedule] = [
            .constant, .exponential(gamma: 0.96), .step(size: 3, gamma: 0.1), .linear(start: 1, end: 0.25),
            .linear(start: 0.1, end: 1), .cosine(minimum: 0), .cosine(minimum: 1e-4),
        ]
        for schedule in schedules {
            for epochs in [1, 7, 30] {
                for epoch in 0...(epochs + 2) {
                    XCTAssertEqual(
                        schedule.learningRate(base: 0.37, epoch: epoch, epochs: epochs, warmup: 0),
                        schedule.learningRate(base: 0.37, epoch: epoch, epochs: epochs), "\(schedule) epoch \(epoch)")
                }
            }
        }
    }

    func testParsingValidStrings() throws {
        XCTAssertEqual(try LRSchedule(parsing: "constant"), .constant)
        XCTAssertEqual(try LRSchedule(parsing: "exponential:0.96"), .exponential(gamma: 0.96))
        XCTAssertEqual(try LRSchedule(parsing: "step:2:0.5"), .step(size: 2, gamma: 0.5))
        XCTAssertEqual(try LRSchedule(parsing: "linear:1:0"), .linear(start: 1, end: 0))
        XCTAssertEqual(try LRSchedule(parsing: "linear:0.1:1e0"), .linear(start: 0.1, end: 1))
        XCTAssertEqual(try LRSchedule(parsing: "cosine"), .cosine(minimum: 0))
        XCTAssertEqual(try LRSchedule(parsing: "cosine:0.001"), .cosine(minimum: 0.001))
        XCTAssertEqual(try LRSchedule(parsing: "exponential:1.5"), .exponential(gamma: 1.5))
    }

    /// description is the text form: it parses back to the same schedule.
    func testDescriptionRoundTrips() throws {
        let schedules: [LRSchedule] = [
            .constant, .exponential(gamma: 0.96), .step(size: 3, gamma: 0.1), .linear(start: 1, end: 0.25),
            .cosine(minimum: 0), .cosine(minimum: 1e-4),
        ]
        for schedule in schedules {
            XCTAssertEqual(try LRSchedule(parsing: schedule.description), schedule, schedule.description)
        }
    }

    func testMalformedStringsThrow() {
        let malformed = [
            "", "Constant", "constant:1", " constant", "constant ", "warmup",
            "exponential", "exponential:", "exponential:abc", "exponential:0", "exponential:-0.5",
            "exponential:nan", "exponential:inf", "exponential:0.9:1", "exponential:1e999",
            "step", "step:2", "step:0:0.5", "step:-1:0.5", "step:1.5:0.5", "step:x:0.5", "step:2:0", "step:2:",
            "step:2:0.5:1",
            "linear", "linear:1", "linear:-0.1:1", "linear:1:-1", "linear:a:0", "linear:1:0:0", "linear::",
            "cosine:", "cosine:-1", "cosine:x", "cosine:0:1", "cosine:nan",
        ]
        for text in malformed {
            XCTAssertThrowsError(try LRSchedule(parsing: text), "'\(text)' parsed") { error in
                XCTAssertTrue(error is LRScheduleError, "'\(text)' threw \(type(of: error))")
                XCTAssertTrue((error as? LRScheduleError)?.description.contains("'\(text)'") ?? false,
                              "error for '\(text)' does not quote the input: \(error)")
            }
        }
    }
}
