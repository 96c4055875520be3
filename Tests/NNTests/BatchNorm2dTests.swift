import NN
import NNTestSupport
import TestSupport
import XCTest

final class BatchNorm2dTests: XCTestCase {
    func testSpecsBuffersAndDescription() throws {
        let bn = try BatchNorm2d(shape: [3, 2, 2])
        XCTAssertEqual(bn.parameterSpecs.map(\.suffix), ["weight", "bias"])
        XCTAssertEqual(bn.bufferSpecs.map(\.suffix), ["running_mean", "running_var"])
        XCTAssertEqual(bn.parameterSpecs.map(\.initialization), [.constant(1), .constant(0)])
        XCTAssertEqual(bn.bufferSpecs.map(\.initialization), [.constant(0), .constant(1)])
        XCTAssertTrue(bn.tracksBatches)
        XCTAssertEqual(bn.description, "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)")
        XCTAssertThrowsError(try BatchNorm2d(shape: [3]))
    }

    /// One channel, batch 2 of 2x1 planes: x = [1, 3 | 5, 7], mean 4, biased var 5.
    func testTrainingForwardHandComputed() throws {
        let harness = LayerHarness(try BatchNorm2d(shape: [1, 2, 1]), batch: 2, input: [1, 3, 5, 7])
        harness.parameters.load([2, 0.5])  // weight 2, bias 0.5
        let y = harness.forward(training: true)
        let inverseStd: Double = 1 / (5 + 1e-5).squareRoot()
        let expected: [Float] = [1.0, 3, 5, 7].map { Float(2 * ($0 - 4) * inverseStd + 0.5) }
        assertClose(y, expected, absolute: 1e-6, relative: 1e-6)
    }

    /// Evaluation uses the running statistics: y = w (x - rm) / sqrt(rv + eps) + b.
    func testEvaluationUsesRunningStatistics() throws {
        let harness = LayerHarness(try BatchNorm2d(shape: [2, 1, 1]), batch: 1, input: [1, 2])
        harness.parameters.load([1, 3, 0, -1])
        harness.model.buffers.load([0.5, -1, 4, 0.25])  // running_mean [0.5, -1], running_var [4, 0.25]
        let y = harness.forward(training: false)
        let first: Double = (1 - 0.5) / (4 + 1e-5).squareRoot()
        let second: Double = 3 * (2 + 1) / (0.25 + 1e-5).squareRoot() - 1
        assertClose(y, [Float(first), Float(second)], absolute: 1e-6, relative: 1e-6)
    }

    /// PyTorch's running-statistics update with momentum 0.1 and the unbiased variance,
    /// applied through the statistics a training forward leaves for the model to fold.
    func testRunningStatisticsAfterFoldHandComputed() throws {
        let model = try Model(try BatchNorm2d(shape: [2, 2, 1]), maxBatch: 2, compute: .serial)
        model.initialize(seed: 0)
        model.buffers.load([1, 0, 2, 1])  // running_mean [1, 0], running_var [2, 1]
        // Channel 0: values 1, 3, 5, 7 (mean 4, unbiased var 20/3); channel 1: 0, 0, 2, 2 (mean 1, var 4/3).
        let input: [Float] = [1, 3, 0, 0, 5, 7, 2, 2]
        model.input.update(from: input, count: input.count)
        var statistics = [Float](repeating: .nan, count: model.statisticsCount)
        statistics.withUnsafeMutableBufferPointer {
            model.forward(batch: 2, training: true, options: Model.TrainingOptions(statistics: $0))
        }
        // Shifted by the running mean: channel 0 Σ(x - 1) = 12, Σ(x - 1)² = 56; channel 1 Σx = 4, Σx² = 8.
        XCTAssertEqual(statistics, [12, 4, 56, 8])
        XCTAssertEqual(model.buffers.snapshot(), [1, 0, 2, 1], "forward alone must not touch the buffers")
        statistics.withUnsafeBufferPointer { model.foldStatistics($0, instances: 2) }
        let m = 0.1
        let expected: [Double] = [0.9 * 1 + m * 4, 0.9 * 0 + m * 1, 0.9 * 2 + m * 20 / 3, 0.9 * 1 + m * 4 / 3]
        assertClose(model.buffers.snapshot(), expected.map { Float($0) }, absolute: 1e-6, relative: 1e-6)
        XCTAssertEqual(model.trainingSteps, 1)
    }

    func testContract() throws {
        LayerHarness(try BatchNorm2d(shape: [3, 2, 3]), batch: 4, seed: 3).assertContract(modesDiffer: true)
    }

    /// The training-mode function (batch statistics) against central differences, input and
    /// affine parameters, with non-trivial weight and bias.
    func testGradientCheckInTrainingMode() throws {
        let harness = LayerHarness(try BatchNorm2d(shape: [3, 2, 3]), batch: 4, seed: 9)
        harness.parameters.load([1.5, -0.7, 0.9, 0.2, -0.3, 0.1])
        harness.trainingObjective = true
        GradientCheck.assertPassed(harness.checkGradients(step: 1e-2), "BatchNorm2d")
    }

    /// The same with two threads (channels split over the threads).
    func testTwoThreadsGiveTheSameResults() throws {
        let one = LayerHarness(try BatchNorm2d(shape: [8, 3, 3]), batch: 5, seed: 4, compute: .serial)
        let two = LayerHarness(try BatchNorm2d(shape: [8, 3, 3]), batch: 5, seed: 4, compute: Compute(threads: 2))
        XCTAssertEqual(one.forward(training: true), two.forward(training: true))
        XCTAssertEqual(one.backward()!, two.backward()!)
        XCTAssertEqual(one.gradients, two.gradients)
    }

    /// One rank alone (no `synchronize`) runs each block of channels' two passes back to back; with a
    /// `synchronize` (here one that changes nothing, as on one rank) the passes run over the
    /// whole batch in memory order. Both must give the same bits: y, the statistics left for
    /// the fold, dx and the parameter gradients, on one thread and on two.
    func testChannelByChannelPassesGiveTheSynchronizedPassesBits() throws {
        try withWatchdog("BatchNorm2dTests") {
            // Blocks of one channel ([16, 28, 28]), of a thread's whole range ([5, 4, 4]), and of
            // 6 channels of a thread's 8 or 12, the last block cut short ([24, 16, 16]).
            XCTAssertEqual(BatchNorm2d.blockChannels(batch: 20, plane: 256), 6)
            let cases = [
                ([16, 6, 5], 5, 1), ([16, 28, 28], 8, 2), ([3, 1, 1], 7, 2), ([5, 4, 4], 3, 3), ([24, 16, 16], 20, 3),
                ([24, 16, 16], 20, 2),
            ]
            for (shape, batch, threads) in cases {
                let plain = try passes(shape: shape, batch: batch, threads: threads, synchronize: nil)
                let synchronized = try passes(shape: shape, batch: batch, threads: threads, synchronize: { _ in })
                XCTAssertEqual(plain.count, 4)
                for (name, (a, b)) in zip(["y", "statistics", "dx", "gradients"], zip(plain, synchronized)) {
                    let differing = zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
                    XCTAssertEqual(a.count, b.count)
                    XCTAssertEqual(differing, 0, "\(name) differs, \(shape), batch \(batch), \(threads) threads")
                    XCTAssertFalse(a.contains { !$0.isFinite }, "\(name) not all written")
                }
            }
        }
    }

    /// Forward then backward of a BatchNorm2d with varied weights, biases and running means:
    /// [y, statistics, dx, gradients].
    private func passes(
        shape: [Int], batch: Int, threads: Int, synchronize: ((UnsafeMutableBufferPointer<Double>) -> Void)?
    ) throws -> [[Float]] {
        let channels = shape[0]
        let harness = LayerHarness(
            try BatchNorm2d(shape: shape), batch: batch, seed: 11,
            compute: threads == 1 ? .serial : Compute(threads: threads))
        let model = harness.model, layer = harness.layer
        model.parameters.load((0..<2 * channels).map { Float($0 % 7) * 0.3 - 0.8 })
        model.buffers.load((0..<2 * channels).map { $0 < channels ? Float($0) * 0.05 - 0.2 : 1 })
        var y = [Float](repeating: .nan, count: batch * layer.outputSize)
        var dx = [Float](repeating: .nan, count: batch * layer.inputSize)
        var statistics = [Float](repeating: .nan, count: model.statisticsCount)
        var gradients = [Float](repeating: 0.25, count: model.parameters.count)
        statistics.withUnsafeMutableBufferPointer { statistics in
            let options = Model.TrainingOptions(statistics: statistics, synchronize: synchronize)
            harness.input.withUnsafeBufferPointer { x in
                y.withUnsafeMutableBufferPointer { y in
                    model.withContext(gradients: nil, training: true, options: options) {
                        layer.forward(x.baseAddress!, y.baseAddress!, batch: batch, context: $0)
                    }
                    harness.dyWeights.withUnsafeBufferPointer { dy in
                        dx.withUnsafeMutableBufferPointer { dx in
                            gradients.withUnsafeMutableBufferPointer { g in
                                model.withContext(gradients: g, training: true, options: options) {
                                    layer.backward(
                                        x.baseAddress!, y.baseAddress!, dy.baseAddress!, dx.baseAddress!, batch: batch,
                                        context: $0)
                                }
                            }
                        }
                    }
                }
            }
        }
        return [y, statistics, dx, gradients]
    }
}

final class PoolingDropoutResidualTests: XCTestCase {
    func testGlobalAveragePoolHandComputed() throws {
        let harness = LayerHarness(try GlobalAvgPool2d(shape: [2, 1, 2]), batch: 1, input: [1, 3, -2, 6])
        XCTAssertEqual(harness.forward(training: true), [2, 2])
        XCTAssertEqual(harness.backward(dy: [1, -4])!, [0.5, 0.5, -2, -2])
        GradientCheck.assertPassed(LayerHarness(try GlobalAvgPool2d(shape: [3, 2, 2]), batch: 2).checkGradients())
    }

    /// The mask follows (seed, epoch, id), not the slot: the same instance gets the same mask
    /// in any batch position; the kept share is about 1 - p and kept values are scaled.
    func testDropoutMaskFollowsTheInstance() throws {
        let dropout = try Dropout(shape: [64], probability: 0.5, stream: 1)
        let model = try Model(dropout, maxBatch: 2, compute: .serial)
        let ones = [Float](repeating: 1, count: 128)
        func run(_ ids: [Int32], epoch: Int) -> [Float] {
            model.input.update(from: ones, count: 128)
            ids.withUnsafeBufferPointer {
                model.forward(
                    batch: 2, training: true,
                    options: Model.TrainingOptions(identity: BatchIdentity(seed: 7, epoch: epoch, ids: $0.baseAddress!)))
            }
            return Array(UnsafeBufferPointer(start: model.output, count: 128))
        }
        let a = run([10, 20], epoch: 3), b = run([20, 10], epoch: 3)
        XCTAssertEqual(Array(a[0..<64]), Array(b[64...]))
        XCTAssertEqual(Array(a[64...]), Array(b[0..<64]))
        XCTAssertTrue(a.allSatisfy { $0 == 0 || $0 == 2 })
        XCTAssertEqual(Double(a.filter { $0 == 2 }.count) / 128, 0.5, accuracy: 0.15)
        XCTAssertNotEqual(run([10, 20], epoch: 4), a, "another epoch, another mask")
        model.forward(batch: 2, training: false)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: model.output, count: 128)), ones, "evaluation is the identity")
    }

    private func basicBlock(channels: Int, stride: Int, out: Int) throws -> ResidualBlock {
        let input = [channels, 5, 4]
        let conv1 = try Conv2d(inputShape: input, outChannels: out, kernel: 3, stride: stride, padding: 1, bias: false)
        let conv2 = try Conv2d(inputShape: conv1.outputShape, outChannels: out, kernel: 3, padding: 1, bias: false)
        let main = try Sequential(named: [
            ("conv1", conv1), ("bn1", try BatchNorm2d(shape: conv1.outputShape)), (nil, ReLU(shape: conv1.outputShape)),
            ("conv2", conv2), ("bn2", try BatchNorm2d(shape: conv2.outputShape)),
        ])
        var shortcut: Sequential?
        if stride != 1 || channels != out {
            let conv = try Conv2d(inputShape: input, outChannels: out, kernel: 1, stride: stride, bias: false)
            shortcut = try Sequential([conv, try BatchNorm2d(shape: conv.outputShape)])
        }
        return try ResidualBlock(name: "BasicBlock", main: main, shortcut: shortcut)
    }

    /// Identity and projection shortcuts, in training mode (BatchNorm with batch statistics).
    func testResidualBlockGradients() throws {
        for (channels, stride, out) in [(3, 1, 3), (2, 2, 4)] {
            let harness = LayerHarness(try basicBlock(channels: channels, stride: stride, out: out), batch: 3, seed: 5)
            harness.trainingObjective = true
            GradientCheck.assertPassed(
                harness.checkGradients(
                    step: 1e-2, tolerance: GradientTolerance(absolute: 3e-3, relative: 3e-2), refinements: 3),
                "block \(channels)->\(out) stride \(stride)")
            harness.assertContract(modesDiffer: true)
        }
    }

    /// The ResNet-50 block: 1x1, 3x3 (stride), 1x1 with expansion 4 and a projection shortcut.
    func testBottleneckBlockGradients() throws {
        let network = try ModelPreset.resnet50.network(channels: 2, height: 8, width: 8, classes: 3, stageWidth: 2)
        let stages = try XCTUnwrap(network as? Sequential)
        for stage in ["layer1", "layer2"] {
            let blocks = try XCTUnwrap(stages.children.first { $0.name == stage }?.layer as? Sequential)
            let harness = LayerHarness(blocks.children[0].layer, batch: 3, seed: 5)
            harness.trainingObjective = true
            GradientCheck.assertPassed(
                harness.checkGradients(
                    step: 1e-2, tolerance: GradientTolerance(absolute: 3e-3, relative: 3e-2), refinements: 3),
                "\(stage).0")
        }
    }

    func testResidualBlockNamesAndShapeChecks() throws {
        let model = try Model(try basicBlock(channels: 2, stride: 2, out: 4), maxBatch: 1, compute: .serial)
        XCTAssertEqual(
            model.parameters.entries.map(\.name),
            ["conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias", "shortcut.0.weight",
             "shortcut.1.weight", "shortcut.1.bias"])
        XCTAssertEqual(model.batchCounterNames, ["bn1.num_batches_tracked", "bn2.num_batches_tracked", "shortcut.1.num_batches_tracked"])
        let main = try Sequential([try Conv2d(inputShape: [2, 4, 4], outChannels: 3, kernel: 1)])
        XCTAssertThrowsError(try ResidualBlock(name: "Bad", main: main, shortcut: nil))
    }
}
