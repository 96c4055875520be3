import Benchmarks
import NN
import Training
import XCTest

/// `ies bench --layers`: the flop and GEMM-shape bookkeeping, and a tiny profile run.
final class LayerBenchmarkTests: XCTestCase {
    func testConvolutionCostIsItsIm2colLowering() throws {
        let conv = try Conv2d(inputShape: [32, 14, 14], outChannels: 64, kernel: 3, padding: 1)
        let cost = LayerCost(conv, batch: 4, inputGradient: true)
        let k = 32 * 9, columns = 4 * 14 * 14
        XCTAssertEqual(cost.forwardGEMM, LayerCost.GEMM(m: 64, n: columns, k: k))
        XCTAssertEqual(cost.backwardGEMMs, [
            LayerCost.GEMM(m: 64, n: k, k: columns, transB: true), LayerCost.GEMM(m: k, n: columns, k: 64, transA: true),
        ])
        XCTAssertEqual(cost.forwardFlops, 2.0 * 64 * Double(k * columns))
        XCTAssertEqual(cost.backwardFlops, 2 * cost.forwardFlops)
        XCTAssertEqual(LayerCost(conv, batch: 4, inputGradient: false).backwardFlops, cost.forwardFlops)
        XCTAssertEqual(LayerCost(ReLU(shape: [3]), batch: 4, inputGradient: true).forwardFlops, 0)
    }

    /// No input gradient up to the first layer with parameters (Flatten, then the first Linear).
    func testTrainingFlopsCountNoInputGradientBeforeParameters() throws {
        let model = try ModelPreset.mlp.build(
            channels: 1, height: 28, width: 28, classes: 10, maxBatch: 1, seed: 0, compute: .serial)
        let forward: Double = 2 * Double(784 * 256 + 256 * 128 + 128 * 10)
        let first: Double = 2 * 784 * 256
        XCTAssertEqual(Benchmark.trainingFlopsPerSample(model), 3 * forward - first)
    }

    func testProfileTimesEveryLeaf() throws {
        let model = try ModelPreset.cnn.build(
            channels: 1, height: 8, width: 8, classes: 3, maxBatch: 2, seed: 0, compute: .serial)
        let profile = Benchmark.profileLayers(model: model, batch: 2, repeats: 1, seconds: 0.001, sgemm: true)
        XCTAssertEqual(profile.layers.map(\.name), (0..<10).map(String.init))
        XCTAssertEqual(profile.layers[0].summary, "Conv2d 1>32 3x3 s1 p1 low")
        XCTAssertTrue(profile.layers.allSatisfy { $0.forwardSeconds > 0 && $0.backwardSeconds > 0 })
        XCTAssertNotNil(profile.layers[3].sgemmForward)
        XCTAssertNil(profile.layers[1].sgemmForward)
        XCTAssertEqual(profile.table.count, 13)
        let inside = try XCTUnwrap(profile.leavesInsideSeconds)
        XCTAssertTrue(inside.forward > 0 && inside.forward <= profile.modelForwardSeconds, "\(inside) \(profile.modelForwardSeconds)")
        XCTAssertTrue(inside.backward > 0 && inside.backward <= profile.modelBackwardSeconds)
        XCTAssertGreaterThan(Benchmark.fmaPeakGFLOPS(repeats: 1, seconds: 0.01), 0)
    }
}
