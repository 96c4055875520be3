import NN
import NNTestSupport
import TestSupport
import XCTest

final class LinearTests: XCTestCase {
    func testShapesAndParameterSpecs() {
        let layer = Linear(inFeatures: 3, outFeatures: 2)
        XCTAssertEqual(layer.inputShape, [3])
        XCTAssertEqual(layer.outputShape, [2])
        XCTAssertEqual(layer.parameterSpecs, [
            ParameterSpec(suffix: "weight", shape: [2, 3], initialization: .uniformFanIn(3)),
            ParameterSpec(suffix: "bias", shape: [2], initialization: .uniformFanIn(3)),
        ])
        XCTAssertEqual(layer.description, "Linear(in_features=3, out_features=2, bias=True)")
    }

    /// y = x W^T + b with W [2, 3] in PyTorch layout.
    func testForwardHandComputed() {
        let layer = Linear(inFeatures: 3, outFeatures: 2)
        let harness = LayerHarness(layer, batch: 2, input: [1, 2, 3, -1, 0, 0.5])
        harness.parameters.load([
            1, 2, 3,  // W row 0
            -1, 0.5, 0,  // W row 1
            0.25, -2,  // b
        ])
        // sample 0: [1*1 + 2*2 + 3*3 + 0.25, -1 + 1 + 0 - 2] = [14.25, -2]
        // sample 1: [-1 + 0 + 1.5 + 0.25, 1 + 0 + 0 - 2] = [0.75, -1]
        XCTAssertEqual(harness.forward(training: true), [14.25, -2, 0.75, -1])
        XCTAssertEqual(harness.forward(training: false), [14.25, -2, 0.75, -1])
    }

    /// dW = dy^T x, db = sum over the batch of dy, dx = dy W, by hand.
    func testBackwardHandComputed() {
        let layer = Linear(inFeatures: 3, outFeatures: 2)
        let harness = LayerHarness(layer, batch: 2, input: [1, 2, 3, -1, 0, 0.5])
        harness.parameters.load([1, 2, 3, -1, 0.5, 0, 0.25, -2])
        harness.zeroGradients()
        let dx = harness.backward(dy: [1, 2, -1, 0.5])!
        // dx[n] = dy[n] W: n0 = 1*[1,2,3] + 2*[-1,.5,0] = [-1, 3, 3]; n1 = -1*[1,2,3] + .5*[-1,.5,0] = [-1.5, -1.75, -3]
        XCTAssertEqual(dx, [-1, 3, 3, -1.5, -1.75, -3])
        // dW[o, i] = sum_n dy[n, o] x[n, i]: o0 = 1*[1,2,3] - 1*[-1,0,.5] = [2, 2, 2.5]; o1 = 2*[1,2,3] + .5*[-1,0,.5] = [1.5, 4, 6.25]
        // db = [1 - 1, 2 + 0.5] = [0, 2.5]
        XCTAssertEqual(harness.gradients, [2, 2, 2.5, 1.5, 4, 6.25, 0, 2.5])
    }

    func testContract() {
        LayerHarness(Linear(inFeatures: 5, outFeatures: 4), batch: 3, seed: 11).assertContract()
    }

    func testGradientCheck() {
        let harness = LayerHarness(Linear(inFeatures: 5, outFeatures: 4), batch: 3, seed: 2)
        GradientCheck.assertPassed(harness.checkGradients())
    }

    func testGradientCheckBatchOne() {
        let harness = LayerHarness(Linear(inFeatures: 7, outFeatures: 1), batch: 1, seed: 3)
        GradientCheck.assertPassed(harness.checkGradients())
    }

    /// With two threads each computes its own 16-aligned columns of y (outputs) and of
    /// dW and dx (inputs), the last range ragged: all equal a double-precision reference.
    func testColumnsSplitOverThreadsMatchReference() {
        let (inFeatures, outFeatures, batch) = (300, 70, 9)
        for threads in [1, 2] {
            let harness = LayerHarness(
                Linear(inFeatures: inFeatures, outFeatures: outFeatures), batch: batch, seed: 21,
                compute: Compute(threads: threads))
            let p = harness.parameters.snapshot(), x = harness.input
            let weight = { (o: Int, i: Int) in Double(p[o * inFeatures + i]) }
            let bias = { (o: Int) in Double(p[outFeatures * inFeatures + o]) }
            let y = harness.forward(training: true)
            var generator = SeededGenerator(seed: 5)
            let dy = (0..<(batch * outFeatures)).map { _ in generator.uniform(-1, 1) }
            harness.zeroGradients()
            let dx = harness.backward(dy: dy)!
            let g = harness.gradients
            for n in 0..<batch {
                for o in 0..<outFeatures {
                    var sum = bias(o)
                    for i in 0..<inFeatures { sum += Double(x[n * inFeatures + i]) * weight(o, i) }
                    XCTAssertEqual(Double(y[n * outFeatures + o]), sum, accuracy: 1e-4, "y[\(n), \(o)], \(threads) threads")
                }
                for i in 0..<inFeatures {
                    var sum = 0.0
                    for o in 0..<outFeatures { sum += Double(dy[n * outFeatures + o]) * weight(o, i) }
                    XCTAssertEqual(Double(dx[n * inFeatures + i]), sum, accuracy: 1e-4, "dx[\(n), \(i)], \(threads) threads")
                }
            }
            for o in 0..<outFeatures {
                var biasSum = 0.0
                for n in 0..<batch { biasSum += Double(dy[n * outFeatures + o]) }
                XCTAssertEqual(Double(g[outFeatures * inFeatures + o]), biasSum, accuracy: 1e-4, "db[\(o)]")
                for i in 0..<inFeatures {
                    var sum = 0.0
                    for n in 0..<batch { sum += Double(dy[n * outFeatures + o]) * Double(x[n * inFeatures + i]) }
                    XCTAssertEqual(Double(g[o * inFeatures + i]), sum, accuracy: 1e-4, "dW[\(o), \(i)], \(threads) threads")
                }
            }
        }
    }

    /// The checker itself must catch a wrong gradient (guards against a vacuous checker).
    func testGradientCheckDetectsAWrongGradient() {
        let harness = LayerHarness(ScaledGradientLinear(inFeatures: 4, outFeatures: 3, factor: 1.1), batch: 2, seed: 4)
        let comparisons = harness.checkGradients()
        XCTAssertEqual(comparisons.count, 3)
        for comparison in comparisons {
            XCTAssertFalse(comparison.passed, "a 10% gradient error went unnoticed: \(comparison)")
        }
        // The correct layer with the same setup passes.
        GradientCheck.assertPassed(
            LayerHarness(ScaledGradientLinear(inFeatures: 4, outFeatures: 3, factor: 1), batch: 2, seed: 4)
                .checkGradients())
    }
}

/// A Linear whose backward is scaled by `factor` (1 = correct), to test the checker.
private final class ScaledGradientLinear: Layer {
    let inner: Linear
    let factor: Float
    init(inFeatures: Int, outFeatures: Int, factor: Float) {
        inner = Linear(inFeatures: inFeatures, outFeatures: outFeatures)
        self.factor = factor
    }
    var inputShape: [Int] { inner.inputShape }
    var outputShape: [Int] { inner.outputShape }
    var parameterSpecs: [ParameterSpec] { inner.parameterSpecs }
    func bind(parameterOffset: Int, bufferOffset: Int) {
        inner.bind(parameterOffset: parameterOffset, bufferOffset: bufferOffset)
    }
    var description: String { "ScaledGradientLinear(\(factor))" }
    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        inner.forward(x, y, batch: batch, context: context)
    }
    func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) {
        let scaled = (0..<(batch * outputSize)).map { dy[$0] * factor }
        scaled.withUnsafeBufferPointer { inner.backward(x, y, $0.baseAddress!, dx, batch: batch, context: context) }
    }
}
