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

    /// A chain hands a Flatten's input on instead of calling it (`Layer.isView`): outputs,
    /// parameter gradients and input gradients equal, bit for bit, those of the same chain
    /// with a layer that copies, with the view first, in the middle and last.
    func testChainsHandViewsOnWithTheSameResults() throws {
        let shape = [2, 3, 4]
        let chains: [(String, (Layer) -> [Layer])] = [
            ("first", { [$0, Linear(inFeatures: 24, outFeatures: 5), ReLU(shape: [5])] }),
            ("middle", { [ReLU(shape: shape), $0, Linear(inFeatures: 24, outFeatures: 5), ReLU(shape: [5])] }),
            ("two in a row", { [ReLU(shape: shape), $0, CopyingReshape(shape: [24]), Linear(inFeatures: 24, outFeatures: 3)] }),
            ("last", { [ReLU(shape: shape), Linear3D(shape: shape), $0] }),
        ]
        for (name, layers) in chains {
            let view = LayerHarness(try Sequential(layers(Flatten(shape: shape))), batch: 3, seed: 7)
            let copy = LayerHarness(try Sequential(layers(CopyingReshape(shape: shape))), batch: 3, seed: 7)
            XCTAssertEqual(view.forward(training: true), copy.forward(training: true), name)
            XCTAssertEqual(view.backward(), copy.backward(), name)
            XCTAssertEqual(view.gradients, copy.gradients, name)
            XCTAssertFalse(view.gradients.isEmpty, name)
            GradientCheck.assertPassed(view.checkGradients(refinements: 2), name)
        }
    }
}

/// Flatten's arithmetic without `isView`: a chain calls it to copy.
private final class CopyingReshape: Layer {
    let inputShape: [Int]
    init(shape: [Int]) { inputShape = shape }
    var outputShape: [Int] { [inputSize] }
    var description: String { "CopyingReshape" }
    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        y.update(from: x, count: batch * inputSize)
    }
    func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) { dx?.update(from: dy, count: batch * inputSize) }
}

/// A per-element scale with parameters, keeping a (C, H, W) shape, so that a chain can end
/// in a view with parameters below it.
private final class Linear3D: Layer {
    let inputShape: [Int]
    private var offset = 0
    init(shape: [Int]) { inputShape = shape }
    var outputShape: [Int] { inputShape }
    var description: String { "Linear3D" }
    var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(suffix: "weight", shape: inputShape, initialization: .uniformFanIn(1))]
    }
    func bind(parameterOffset: Int, bufferOffset: Int) { offset = parameterOffset }
    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        let w = context.parameters + offset
        for n in 0..<batch { for i in 0..<inputSize { y[n * inputSize + i] = x[n * inputSize + i] * w[i] } }
    }
    func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) {
        let w = context.parameters + offset
        for n in 0..<batch {
            for i in 0..<inputSize {
                context.gradients![offset + i] += dy[n * inputSize + i] * x[n * inputSize + i]
                dx?[n * inputSize + i] = dy[n * inputSize + i] * w[i]
            }
        }
    }
}
