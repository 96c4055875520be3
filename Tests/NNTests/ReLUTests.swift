import NN
import NNTestSupport
import TestSupport
import XCTest

final class ReLUTests: XCTestCase {
    /// Values with |x| >= 0.1, so a step of 1e-2 never crosses the kink at 0.
    private func awayFromZero(_ count: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in
            let magnitude = generator.uniform(0.1, 2)
            return generator.below(2) == 0 ? magnitude : -magnitude
        }
    }

    func testShapes() {
        let relu = ReLU(shape: [3, 4, 5])
        XCTAssertEqual(relu.inputShape, [3, 4, 5])
        XCTAssertEqual(relu.outputShape, [3, 4, 5])
        XCTAssertEqual(relu.parameterSpecs, [])
        XCTAssertEqual(relu.description, "ReLU()")
    }

    func testForwardHandComputed() {
        let harness = LayerHarness(ReLU(shape: [3]), batch: 2, input: [-2, -0.5, 0, 0.5, 3, -0.0])
        let y = harness.forward(training: true)
        XCTAssertEqual(y, [0, 0, 0, 0.5, 3, 0])
        XCTAssertEqual(harness.forward(training: false), y)
    }

    /// dx = dy where the output is positive, 0 elsewhere (also at exactly 0, like PyTorch).
    func testBackwardHandComputed() {
        let harness = LayerHarness(ReLU(shape: [3]), batch: 2, input: [-2, -0.5, 0, 0.5, 3, 1e-30])
        XCTAssertEqual(harness.backward(dy: [1, 2, 3, 4, 5, 6])!, [0, 0, 0, 4, 5, 6])
    }

    /// ReLU(NaN) = NaN in PyTorch, so a diverged activation is not silently turned into 0.
    /// Checked both in the vectorized body (first 16-float blocks) and in the scalar tail.
    func testNaNPropagatesAtEveryPosition() {
        let count = 35  // two 16-float blocks plus a 3-float tail
        for position in [0, 17, 31, 32, 34] {
            var x = [Float](repeating: -1, count: count)
            x[position] = .nan
            let y = LayerHarness(ReLU(shape: [count]), batch: 1, input: x).forward(training: true)
            XCTAssertTrue(y[position].isNaN, "ReLU(NaN) at index \(position) of \(count) gave \(y[position])")
            XCTAssertEqual(y.enumerated().filter { $0.offset != position }.map(\.element), [Float](repeating: 0, count: count - 1))
        }
    }

    /// Long buffers go through the blocked (and, with threads, parallel) path: same values
    /// as the scalar definition, including the tail.
    func testLongBuffersMatchScalarDefinition() {
        for threads in [1, 2] {
            let count = 4096 * 16 * 2 + 13
            let input = awayFromZero(count, seed: UInt64(threads))
            let harness = LayerHarness(ReLU(shape: [count]), batch: 1, input: input, compute: Compute(threads: threads))
            XCTAssertEqual(harness.forward(training: true), input.map { $0 > 0 ? $0 : 0 }, "threads \(threads)")
            var generator = SeededGenerator(seed: 4)
            let dy = randomFloats(count, generator: &generator)
            XCTAssertEqual(harness.backward(dy: dy)!, zip(input, dy).map { $0 > 0 ? $1 : 0 }, "threads \(threads)")
        }
    }

    func testContract() {
        LayerHarness(ReLU(shape: [2, 3, 3]), batch: 2, input: awayFromZero(36, seed: 1)).assertContract()
    }

    func testGradientCheck() {
        let harness = LayerHarness(ReLU(shape: [2, 3, 4]), batch: 2, input: awayFromZero(48, seed: 2))
        let comparisons = harness.checkGradients()
        GradientCheck.assertPassed(comparisons)
        XCTAssertEqual(comparisons.first?.checked, 48)
    }
}
