import NN
import XCTest

/// An optimizer step split over threads updates every parameter exactly as the serial step
/// does: each parameter's update reads only its own values.
final class OptimizerThreadsTests: XCTestCase {
    /// More than two pieces' minimum, and not a multiple of 16, so the split has a ragged end.
    private let count = 100_003
    /// Tensors filling `count`, with row counts that are not multiples of 16.
    private let shapes = [[300, 200], [300], [77, 500], [3], [1_200]]

    /// Three steps of `make()` on 1 and on 2 threads from the same start: parameters and
    /// state must be identical after each.
    private func assertSplitMatchesSerial(_ make: () -> Optimizer, file: StaticString = #filePath, line: UInt = #line) {
        var generator = SystemRandomNumberGenerator()
        let start = (0..<count).map { _ in Float.random(in: -1...1, using: &generator) }
        let gradients = (0..<3).map { _ in (0..<count).map { _ in Float.random(in: -2...2, using: &generator) } }
        let serial = make(), split = make(), byRows = make()
        var p1 = start, p2 = start, p3 = start
        let threads = Compute(threads: 2)
        let rows = ParameterSplit.byRows(shapes: shapes, compute: threads)
        XCTAssertEqual(rows.pieces.count, 2, file: file, line: line)
        for g in gradients {
            g.withUnsafeBufferPointer { g in
                p1.withUnsafeMutableBufferPointer {
                    serial.step(parameters: $0, gradients: g, gradientScale: 0.25, learningRate: 0.05, compute: .serial)
                }
                p2.withUnsafeMutableBufferPointer {
                    split.step(parameters: $0, gradients: g, gradientScale: 0.25, learningRate: 0.05, compute: threads)
                }
                p3.withUnsafeMutableBufferPointer {
                    byRows.step(
                        parameters: $0, gradients: g, gradientScale: 0.25, learningRate: 0.05, split: rows, compute: threads)
                }
            }
            XCTAssertEqual(p1.map(\.bitPattern), p2.map(\.bitPattern), file: file, line: line)
            XCTAssertEqual(p1.map(\.bitPattern), p3.map(\.bitPattern), "split by rows", file: file, line: line)
            XCTAssertEqual(serial.state, split.state, file: file, line: line)
            XCTAssertEqual(serial.state, byRows.state, "split by rows", file: file, line: line)
        }
        XCTAssertNotEqual(p1, start, "the steps changed nothing", file: file, line: line)
    }

    func testSGDWithMomentum() {
        assertSplitMatchesSerial { SGD(parameterCount: count, momentum: 0.9, weightDecay: 5e-4) }
    }

    func testSGDWithoutMomentum() {
        assertSplitMatchesSerial { SGD(parameterCount: count, momentum: 0, weightDecay: 5e-4) }
    }

    func testAdam() {
        assertSplitMatchesSerial { Adam(parameterCount: count, weightDecay: 1e-4, decoupledWeightDecay: false) }
    }

    func testAdamW() {
        assertSplitMatchesSerial { Adam(parameterCount: count, weightDecay: 1e-2, decoupledWeightDecay: true) }
    }
}
