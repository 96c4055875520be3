import NN
import NNTestSupport
import TestSupport
import XCTest

final class FlattenTests: XCTestCase {
    func testShapes() {
        let flatten = Flatten(shape: [2, 3, 4])
        XCTAssertEqual(flatten.inputShape, [2, 3, 4])
        XCTAssertEqual(flatten.outputShape, [24])
        XCTAssertEqual(flatten.parameterSpecs, [])
        XCTAssertEqual(flatten.description, "Flatten(start_dim=1, end_dim=-1)")
    }

    /// NCHW flattening keeps the C, H, W order: the identity on the raw buffer.
    func testForwardAndBackwardAreCopies() {
        let input = (0..<24).map { Float($0) - 5.5 }
        let harness = LayerHarness(Flatten(shape: [1, 3, 4]), batch: 2, input: input)
        XCTAssertEqual(harness.forward(training: true), input)
        let dy = (0..<24).map { Float($0 * $0) }
        XCTAssertEqual(harness.backward(dy: dy)!, dy)
    }

    func testContract() {
        LayerHarness(Flatten(shape: [2, 2, 3]), batch: 3, seed: 4).assertContract()
    }

    func testGradientCheck() {
        GradientCheck.assertPassed(LayerHarness(Flatten(shape: [2, 2, 3]), batch: 2, seed: 5).checkGradients())
    }
}
