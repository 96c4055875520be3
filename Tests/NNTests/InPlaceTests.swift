import NN
import NNTestSupport
import TestSupport
import XCTest

/// A chain runs a ReLU in place over the output of a layer whose backward does not read
/// it (`Layer.runsInPlace`, `Layer.backwardReadsOutput`): outputs, parameter gradients
/// and input gradients equal, bit for bit, those of the same chain with a ReLU that writes
/// a buffer of its own, wherever the ReLU stands.
final class InPlaceTests: XCTestCase {
    func testChainsRunReLUInPlaceWithTheSameResults() throws {
        let image = [2, 6, 6]
        let conv = { try Conv2d(inputShape: image, outChannels: 3, kernel: 3, padding: 1) }
        let chains: [(name: String, inPlace: [Int], layers: (_ relu: ([Int]) -> Layer) throws -> [Layer])] = [
            ("conv relu pool", [1], { relu in
                [try conv(), relu([3, 6, 6]), try MaxPool2d(shape: [3, 6, 6], kernel: 2), Flatten(shape: [3, 3, 3]),
                 Linear(inFeatures: 27, outFeatures: 4)]
            }),
            ("conv bn relu conv", [2], { relu in
                [try conv(), try BatchNorm2d(shape: [3, 6, 6]), relu([3, 6, 6]),
                 try Conv2d(inputShape: [3, 6, 6], outChannels: 2, kernel: 3, padding: 1)]
            }),
            ("through a view", [2], { relu in
                [try conv(), Flatten(shape: [3, 6, 6]), relu([108]), Linear(inFeatures: 108, outFeatures: 5)]
            }),
            ("linear relu relu linear", [2], { relu in
                // The second ReLU reads its own output in backward: it never runs over it.
                [Flatten(shape: image), Linear(inFeatures: 72, outFeatures: 8), relu([8]), relu([8]),
                 Linear(inFeatures: 8, outFeatures: 3)]
            }),
            ("first and last", [], { relu in
                [relu(image), Flatten(shape: image), Linear(inFeatures: 72, outFeatures: 6), relu([6])]
            }),
            ("after a layer that reads its output", [], { relu in
                [Flatten(shape: image), Linear(inFeatures: 72, outFeatures: 8), Square(features: 8), relu([8]),
                 Linear(inFeatures: 8, outFeatures: 3)]
            }),
        ]
        for chain in chains {
            let inPlace = try Sequential(chain.layers { ReLU(shape: $0) })
            let apart = try Sequential(chain.layers { CopyingReLU(shape: $0) })
            XCTAssertEqual(inPlace.childrenInPlace, chain.inPlace, chain.name)
            XCTAssertEqual(apart.childrenInPlace, [], chain.name)
            for training in [true, false] {
                let a = LayerHarness(inPlace, batch: 3, seed: 11), b = LayerHarness(apart, batch: 3, seed: 11)
                XCTAssertEqual(a.forward(training: training), b.forward(training: training), chain.name)
                guard training else { continue }
                // Twice: the second pass runs over buffers the first left behind.
                for _ in 0..<2 {
                    a.zeroGradients()
                    b.zeroGradients()
                    XCTAssertEqual(a.forward(training: true), b.forward(training: true), chain.name)
                    XCTAssertEqual(a.backward(), b.backward(), chain.name)
                    XCTAssertEqual(a.gradients, b.gradients, chain.name)
                }
                XCTAssertTrue(a.gradients.contains { $0 != 0 }, chain.name)
                a.trainingObjective = true  // BatchNorm: backward differentiates the training-mode function
                GradientCheck.assertPassed(a.checkGradients(refinements: 2), chain.name)
            }
        }
    }

    /// The presets run every ReLU that follows a convolution, a linear layer or BatchNorm
    /// inside a chain in place (VGG-16: 13 in its stages, 2 in its classifier).
    func testPresetsRunTheirReLUsInPlace() throws {
        for (preset, count, width) in [(ModelPreset.mlp, 2, nil), (.cnn, 3, nil), (.resnet18, 9, 4), (.vgg16, 15, nil)] {
            let model = try preset.build(
                channels: 3, height: 32, width: 32, classes: 10, maxBatch: 1, seed: 0, compute: .serial, stageWidth: width)
            let chains = Model.walk(model.root).compactMap { $0.layer as? Sequential }
            XCTAssertEqual(chains.flatMap(\.childrenInPlace).count, count, "\(preset)")
        }
    }
}

/// ReLU's arithmetic without `runsInPlace`: a chain gives it a buffer of its own.
private final class CopyingReLU: Layer {
    let inputShape: [Int]
    init(shape: [Int]) { inputShape = shape }
    var outputShape: [Int] { inputShape }
    var description: String { "CopyingReLU" }
    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        for i in 0..<(batch * inputSize) { y[i] = x[i] < 0 ? 0 : x[i] }
    }
    func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) {
        guard let dx else { return }
        for i in 0..<(batch * inputSize) { dx[i] = y[i] > 0 ? dy[i] : 0 }
    }
}

/// y = x², whose backward reads y (dx = dy · 2 sign(x) sqrt(y)): a ReLU after it must
/// not overwrite y.
private final class Square: Layer {
    let inputShape: [Int]
    init(features: Int) { inputShape = [features] }
    var outputShape: [Int] { inputShape }
    var description: String { "Square" }
    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        for i in 0..<(batch * inputSize) { y[i] = x[i] * x[i] }
    }
    func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) {
        guard let dx else { return }
        for i in 0..<(batch * inputSize) { dx[i] = dy[i] * 2 * (x[i] < 0 ? -1 : 1) * y[i].squareRoot() }
    }
}
