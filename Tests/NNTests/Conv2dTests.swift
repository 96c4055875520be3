import NN
import NNTestSupport
import TestSupport
import XCTest

/// A direct (six nested loops) convolution in Double, the reference for Conv2d.
private struct ReferenceConv {
    let cin: Int, cout: Int, h: Int, w: Int, k: Int, s: Int, p: Int
    var ho: Int { (h + 2 * p - k) / s + 1 }
    var wo: Int { (w + 2 * p - k) / s + 1 }

    /// Calls body(n, co, oh, ow, ci, i, j, xIndex, wIndex) for every in-bounds tap.
    func taps(batch: Int, _ body: (Int, Int, Int, Int, Int, Int) -> Void) {
        for n in 0..<batch {
            for co in 0..<cout {
                for oh in 0..<ho {
                    for ow in 0..<wo {
                        let yIndex = ((n * cout + co) * ho + oh) * wo + ow
                        for ci in 0..<cin {
                            for i in 0..<k {
                                for j in 0..<k {
                                    let ih = oh * s - p + i, iw = ow * s - p + j
                                    guard ih >= 0, ih < h, iw >= 0, iw < w else { continue }
                                    body(yIndex, co,
                                         ((n * cin + ci) * h + ih) * w + iw,
                                         ((co * cin + ci) * k + i) * k + j, n, 0)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    func forward(x: [Float], weight: [Float], bias: [Float], batch: Int) -> [Double] {
        var y = [Double](repeating: 0, count: batch * cout * ho * wo)
        for index in 0..<y.count { y[index] = Double(bias[(index / (ho * wo)) % cout]) }
        taps(batch: batch) { yIndex, _, xIndex, wIndex, _, _ in
            y[yIndex] += Double(x[xIndex]) * Double(weight[wIndex])
        }
        return y
    }

    /// (dx, dweight, dbias) for upstream gradient dy.
    func backward(x: [Float], weight: [Float], dy: [Float], batch: Int) -> ([Double], [Double], [Double]) {
        var dx = [Double](repeating: 0, count: x.count)
        var dw = [Double](repeating: 0, count: weight.count)
        var db = [Double](repeating: 0, count: cout)
        for index in 0..<dy.count { db[(index / (ho * wo)) % cout] += Double(dy[index]) }
        taps(batch: batch) { yIndex, _, xIndex, wIndex, _, _ in
            dx[xIndex] += Double(dy[yIndex]) * Double(weight[wIndex])
            dw[wIndex] += Double(dy[yIndex]) * Double(x[xIndex])
        }
        return (dx, dw, db)
    }
}

final class Conv2dTests: XCTestCase {
    private func makeConv(
        _ c: (cin: Int, cout: Int, h: Int, w: Int, k: Int, s: Int, p: Int), algorithm: Conv2d.Algorithm = .automatic
    ) throws -> Conv2d {
        let conv = try Conv2d(inputShape: [c.cin, c.h, c.w], outChannels: c.cout, kernel: c.k, stride: c.s, padding: c.p)
        conv.algorithm = algorithm
        return conv
    }

    func testShapesSpecsAndDescription() throws {
        let conv = try Conv2d(inputShape: [3, 32, 30], outChannels: 16, kernel: 5, stride: 2, padding: 2)
        XCTAssertEqual(conv.inputShape, [3, 32, 30])
        XCTAssertEqual(conv.outputShape, [16, 16, 15])
        XCTAssertEqual(conv.parameterSpecs, [
            ParameterSpec(suffix: "weight", shape: [16, 3, 5, 5], initialization: .uniformFanIn(75)),
            ParameterSpec(suffix: "bias", shape: [16], initialization: .uniformFanIn(75)),
        ])
        XCTAssertEqual(conv.description, "Conv2d(3, 16, kernel_size=(5, 5), stride=(2, 2), padding=(2, 2))")
        XCTAssertEqual(try Conv2d(inputShape: [1, 28, 28], outChannels: 32, kernel: 3, padding: 1).outputShape, [32, 28, 28])
        XCTAssertEqual(try Conv2d(inputShape: [1, 7, 7], outChannels: 1, kernel: 3, stride: 2).outputShape, [1, 3, 3])
    }

    func testRejectsShapesThatDoNotFit() {
        XCTAssertThrowsError(try Conv2d(inputShape: [1, 28], outChannels: 1, kernel: 3))
        XCTAssertThrowsError(try Conv2d(inputShape: [1, 2, 5], outChannels: 1, kernel: 3))
        XCTAssertThrowsError(try Conv2d(inputShape: [1, 5, 5], outChannels: 1, kernel: 3, stride: 0))
        XCTAssertThrowsError(try Conv2d(inputShape: [1, 5, 5], outChannels: 1, kernel: 0))
        XCTAssertThrowsError(try Conv2d(inputShape: [1, 5, 5], outChannels: 0, kernel: 3))
        XCTAssertThrowsError(try Conv2d(inputShape: [1, 5, 5], outChannels: 1, kernel: 3, padding: -1))
        XCTAssertNoThrow(try Conv2d(inputShape: [1, 1, 1], outChannels: 1, kernel: 3, padding: 1))
    }

    /// 1 channel, 3x3 input 1...9, 2x2 kernel [[1, 2], [3, 4]], bias 0.5.
    func testForwardHandComputed() throws {
        let conv = try Conv2d(inputShape: [1, 3, 3], outChannels: 1, kernel: 2)
        let harness = LayerHarness(conv, batch: 1, input: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        harness.parameters.load([1, 2, 3, 4, 0.5])
        // [1*1 + 2*2 + 4*3 + 5*4, 2 + 6 + 15 + 24, 4 + 10 + 21 + 32, 5 + 12 + 24 + 36] + 0.5
        XCTAssertEqual(harness.forward(training: true), [37.5, 47.5, 67.5, 77.5])
    }

    /// Padding 1 with a 3x3 all-ones kernel on a 2x2 input: every output sees the whole input.
    func testForwardHandComputedPadding() throws {
        let conv = try Conv2d(inputShape: [1, 2, 2], outChannels: 1, kernel: 3, padding: 1)
        let harness = LayerHarness(conv, batch: 1, input: [1, 2, 3, 4])
        harness.parameters.load([1, 1, 1, 1, 1, 1, 1, 1, 1, -1])
        XCTAssertEqual(harness.forward(training: true), [9, 9, 9, 9])
        // A 3x3 input: corners see 4 inputs, edges 6, the center all 9.
        let conv3 = try Conv2d(inputShape: [1, 3, 3], outChannels: 1, kernel: 3, padding: 1)
        let harness3 = LayerHarness(conv3, batch: 1, input: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        harness3.parameters.load([1, 1, 1, 1, 1, 1, 1, 1, 1, 0])
        XCTAssertEqual(harness3.forward(training: true), [12, 21, 16, 27, 45, 33, 24, 39, 28])
    }

    /// Stride 2 with a 1x1 kernel picks every other pixel; two output channels.
    func testForwardHandComputedStride() throws {
        let conv = try Conv2d(inputShape: [1, 3, 3], outChannels: 2, kernel: 1, stride: 2)
        let harness = LayerHarness(conv, batch: 1, input: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        harness.parameters.load([2, -1, 0, 10])
        XCTAssertEqual(harness.forward(training: true), [2, 6, 14, 18, 9, 7, 3, 1])
    }

    private typealias Configuration = (cin: Int, cout: Int, h: Int, w: Int, k: Int, s: Int, p: Int, batch: Int)

    private let configurations: [Configuration] = [
        (1, 1, 3, 3, 2, 1, 0, 1),
        (2, 3, 5, 5, 3, 1, 1, 2),  // "same" padding
        (2, 3, 5, 6, 3, 2, 0, 2),  // stride 2, non-square
        (2, 3, 5, 5, 2, 2, 1, 2),  // stride 2 with padding
        (3, 2, 7, 4, 3, 2, 1, 3),
        (1, 2, 4, 4, 1, 1, 0, 2),  // 1x1 kernel
        (2, 2, 3, 5, 3, 3, 2, 2),  // stride 3, padding 2
        (1, 1, 2, 2, 3, 1, 1, 1),  // kernel larger than the input
        (1, 2, 6, 6, 4, 2, 1, 2),  // even kernel
        (1, 1, 3, 3, 1, 1, 2, 1),  // padding beyond the kernel: bias-only border
        (2, 4, 9, 8, 3, 1, 1, 3),
        (5, 6, 20, 18, 3, 1, 1, 2),  // rows longer than 16 floats (vectorized copies)
        (3, 9, 6, 7, 3, 1, 1, 2),  // >= 8 output channels: the bias/transpose loops split too
        (2, 3, 34, 33, 3, 2, 1, 2),  // stride 2, rows of 17 outputs: im2col's 8-wide gathers
        (2, 3, 17, 18, 3, 2, 0, 2),  // stride 2, rows of 8 and 9 outputs
    ]

    /// Forward, dx, dW and db against the direct convolution on random data. With
    /// `scaledByLargest` the absolute tolerance is `tolerance` times the largest magnitude of
    /// the expected array (at least 1): Winograd's rounding error grows with the terms summed,
    /// not with the (possibly cancelled) result (F(4x4)'s most; F(2x2)'s weight gradient, summed
    /// over every tile, needs it too with GEMM kernels that accumulate in another order).
    private func assertMatchesReference(
        _ configurations: [Configuration], algorithm: Conv2d.Algorithm = .automatic, expect: Conv2d.Algorithm? = nil,
        compute: Compute = .serial, tolerance: Float = 1e-5, scaledByLargest: Bool = false,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        func absolute(_ expected: [Float]) -> Float {
            scaledByLargest ? tolerance * max(1, expected.map(abs).max() ?? 0) : tolerance
        }
        for (number, c) in configurations.enumerated() {
            let conv = try makeConv((c.cin, c.cout, c.h, c.w, c.k, c.s, c.p), algorithm: algorithm)
            if let expect { XCTAssertEqual(conv.resolvedAlgorithm, expect, "\(c)", file: file, line: line) }
            let reference = ReferenceConv(cin: c.cin, cout: c.cout, h: c.h, w: c.w, k: c.k, s: c.s, p: c.p)
            XCTAssertEqual(conv.outputShape, [c.cout, reference.ho, reference.wo], file: file, line: line)
            let harness = LayerHarness(conv, batch: c.batch, seed: UInt64(100 + number), compute: compute)
            let values = harness.parameters.snapshot()
            let weight = Array(values[0..<(values.count - c.cout)])
            let bias = Array(values[(values.count - c.cout)...])
            let label = "configuration \(number) \(c) \(conv.resolvedAlgorithm) threads \(compute.threads)"

            let expected = reference.forward(x: harness.input, weight: weight, bias: bias, batch: c.batch).map { Float($0) }
            assertClose(harness.forward(training: true), expected, absolute: absolute(expected), relative: tolerance, "forward \(label)", file: file, line: line)
            assertClose(harness.forward(training: false), expected, absolute: absolute(expected), relative: tolerance, "inference \(label)", file: file, line: line)

            harness.zeroGradients()
            let dx = harness.backward()!
            let (rdx, rdw, rdb) = reference.backward(x: harness.input, weight: weight, dy: harness.dyWeights, batch: c.batch)
            let expectedDx = rdx.map { Float($0) }, expectedGradients = (rdw + rdb).map { Float($0) }
            assertClose(dx, expectedDx, absolute: absolute(expectedDx), relative: tolerance, "dx \(label)", file: file, line: line)
            assertClose(harness.gradients, expectedGradients, absolute: absolute(expectedGradients), relative: tolerance, "dW, db \(label)", file: file, line: line)
        }
    }

    func testMatchesReferenceConvolution() throws {
        try assertMatchesReference(configurations)
    }

    /// The same with NN's own loops split over two threads (im2col rows, col2im channels,
    /// bias/transpose channels).
    func testMatchesReferenceConvolutionWithTwoThreads() throws {
        try assertMatchesReference(configurations, compute: Compute(threads: 2))
    }

    // MARK: - Every fast path against the direct convolution, 1 and 2 threads

    /// 3x3 stride 1: Winograd F(2x2, 3x3) with padding 0, 1 and 2, odd and even output sizes
    /// (partial tiles), non-square, tile rows longer than one 8-tile chunk, several blocks
    /// per thread, and batches split unevenly over two threads.
    private let winogradConfigurations: [Configuration] = [
        (8, 8, 6, 6, 3, 1, 1, 2),
        (8, 9, 7, 5, 3, 1, 1, 3),  // odd output: partial tiles at the right and bottom
        (9, 8, 8, 11, 3, 1, 0, 2),  // no padding
        (8, 8, 5, 6, 3, 1, 2, 2),  // padding 2: the input gradient has padding 0
        (8, 16, 20, 37, 3, 1, 1, 3),  // 19 tiles per row: three chunks, the last partial
        (16, 8, 28, 28, 3, 1, 1, 2),
        (12, 10, 3, 3, 3, 1, 1, 5),  // 4 tiles per image: blocks span images
        (32, 32, 4, 4, 3, 1, 1, 3),
        (1, 2, 5, 5, 3, 1, 1, 2),  // forced even where it does not pay
        (16, 8, 2, 2, 3, 1, 1, 3),  // one tile per image: split by channels on two threads
    ]

    func testWinogradMatchesReference() throws {
        try assertMatchesReference(
            winogradConfigurations, algorithm: .winograd, expect: .winograd, tolerance: 2e-5, scaledByLargest: true)
    }

    func testWinogradMatchesReferenceWithTwoThreads() throws {
        try withWatchdog("Conv2dTests") {
            try assertMatchesReference(
                winogradConfigurations, algorithm: .winograd, expect: .winograd, compute: Compute(threads: 2),
                tolerance: 2e-5, scaledByLargest: true)
        }
    }

    /// 3x3 stride 2: the stride-2 Winograd pass with padding 0, 1 and 2, odd and even inputs
    /// and outputs (partial tiles, a last input column no output reads), non-square, tile
    /// rows longer than one 8-tile chunk (the shared patch column carried between chunks),
    /// blocks spanning images, and batches split unevenly over two threads.
    private let strideTwoWinogradConfigurations: [Configuration] = [
        (8, 8, 8, 8, 3, 2, 1, 2),
        (8, 9, 7, 5, 3, 2, 1, 3),  // odd output: partial tiles at the right and bottom
        (9, 8, 9, 12, 3, 2, 0, 2),  // no padding
        (8, 8, 10, 11, 3, 2, 0, 2),  // no padding, the last input row and column unread
        (8, 8, 5, 6, 3, 2, 2, 2),  // padding 2
        (8, 16, 20, 70, 3, 2, 1, 3),  // 18 tiles per row: three chunks, the last partial
        (16, 8, 32, 64, 3, 2, 1, 2),  // 16 tiles per row: two whole chunks
        (12, 10, 4, 4, 3, 2, 1, 5),  // one tile per image: blocks span images
        (32, 32, 8, 8, 3, 2, 1, 3),
        (1, 2, 5, 5, 3, 2, 1, 2),  // forced even where it does not pay
    ]

    func testStrideTwoWinogradMatchesReference() throws {
        try withWatchdog("Conv2dTests") {
            try assertMatchesReference(
                strideTwoWinogradConfigurations, algorithm: .winograd, expect: .winograd, tolerance: 2e-5,
                scaledByLargest: true)
        }
    }

    func testStrideTwoWinogradMatchesReferenceWithTwoThreads() throws {
        try withWatchdog("Conv2dTests") {
            try assertMatchesReference(
                strideTwoWinogradConfigurations, algorithm: .winograd, expect: .winograd, compute: Compute(threads: 2),
                tolerance: 2e-5, scaledByLargest: true)
        }
    }

    /// 3x3 stride 1: Winograd F(4x4, 3x3) on the shapes above (4x4 tiles: partial at 5, 6, 7,
    /// 11 and 37 columns; 1, 2 and 5 tiles per row) and chunks of 8 tiles over 32-float loads.
    private let winograd4Configurations: [Configuration] = [
        (8, 8, 6, 6, 3, 1, 1, 2),
        (8, 9, 7, 5, 3, 1, 1, 3),
        (9, 8, 8, 11, 3, 1, 0, 2),
        (8, 8, 5, 6, 3, 1, 2, 2),
        (8, 16, 20, 37, 3, 1, 1, 3),  // 10 tiles per row: two chunks, the last partial
        (16, 8, 28, 28, 3, 1, 1, 2),
        (12, 10, 3, 3, 3, 1, 1, 5),  // one tile per image: blocks span images
        (32, 32, 4, 4, 3, 1, 1, 3),
        (6, 5, 40, 70, 3, 1, 1, 2),  // 18 tiles per row, rows of input longer than 64 floats
        (1, 2, 5, 5, 3, 1, 1, 2),
        // One tile per image: threads split channels (more than one thread); the input
        // gradient's convolution with padding 2 has 4 tiles per image, with padding 0 one.
        (8, 12, 6, 6, 3, 1, 0, 3),
        (12, 8, 2, 2, 3, 1, 2, 3),
        (8, 8, 4, 4, 3, 1, 1, 260),  // two blocks of tiles
        (3, 1, 4, 4, 3, 1, 1, 3),  // fewer output channels than threads
    ]

    func testWinograd4MatchesReference() throws {
        try withWatchdog("Conv2dTests") {
            try assertMatchesReference(
                winograd4Configurations, algorithm: .winograd4, expect: .winograd4, tolerance: 5e-5, scaledByLargest: true)
        }
    }

    /// Two threads: split by images, and by channels where an output is one tile per image.
    func testWinograd4MatchesReferenceWithTwoThreads() throws {
        try withWatchdog("Conv2dTests") {
            try assertMatchesReference(
                winograd4Configurations, algorithm: .winograd4, expect: .winograd4, compute: Compute(threads: 2),
                tolerance: 5e-5, scaledByLargest: true)
        }
    }

    /// Split by channels (outputs of one tile per image), every sum runs inside one thread's
    /// sgemm or transform: y, dx, dW and db are the same bits on 1 thread (split by images,
    /// one piece), 2 and 3 threads, over one block and over two.
    func testWinogradByChannelsSameBitsOnAnyThreads() throws {
        try withWatchdog("Conv2dTests") {
            for (c, algorithm) in [
                ((16, 24, 4, 4, 3, 1, 1, 5), Conv2d.Algorithm.winograd4), ((24, 16, 3, 3, 3, 1, 1, 4), .winograd4),
                ((8, 8, 4, 4, 3, 1, 1, 260), .winograd4), ((16, 16, 2, 2, 3, 1, 1, 5), .winograd),
            ] as [(Configuration, Conv2d.Algorithm)] {
                var results: [[Float]] = []
                for threads in 1...3 {
                    let conv = try makeConv((c.cin, c.cout, c.h, c.w, c.k, c.s, c.p), algorithm: algorithm)
                    let harness = LayerHarness(conv, batch: c.batch, seed: 31, compute: Compute(threads: threads))
                    let y = harness.forward(training: true)
                    let dx = harness.backward()!
                    results.append(y + dx + harness.gradients)
                }
                XCTAssertFalse(results[0].contains { !$0.isFinite }, "\(c)")
                for threads in 2...3 {
                    XCTAssertEqual(
                        results[threads - 1].map(\.bitPattern), results[0].map(\.bitPattern), "\(c) \(algorithm) on \(threads) threads")
                }
            }
        }
    }

    /// The lowered path: single images (P >= 192: NCHW straight from sgemm, a 1x1 stride-1
    /// kernel multiplying the image itself) and groups of images (small P), stride 1 and 2.
    private let loweredConfigurations: [Configuration] = [
        (3, 5, 16, 14, 3, 1, 1, 3),  // P = 224: one image per sgemm
        (4, 6, 15, 14, 1, 1, 0, 3),  // P = 210, 1x1 stride 1: no im2col
        (6, 5, 4, 5, 1, 1, 0, 3),  // P = 20, 1x1 stride 1 with a small weight: still one image at a time
        (257, 512, 2, 2, 1, 1, 0, 2),  // 1x1 stride 1 with a large weight: grouped
        (4, 6, 15, 14, 1, 2, 0, 3),  // 1x1 stride 2: grouped gather
        (5, 7, 8, 8, 3, 2, 1, 5),  // P = 16: groups of 16 (here the whole batch)
        (6, 3, 9, 7, 3, 1, 1, 3),  // 3x3 stride 1 on the lowered path
        (8, 8, 6, 6, 3, 1, 1, 2),
        (2, 3, 30, 31, 3, 2, 1, 3),  // P = 240, stride 2, single images
    ]

    func testLoweredMatchesReference() throws {
        try assertMatchesReference(loweredConfigurations, algorithm: .lowered, expect: .lowered)
    }

    func testLoweredMatchesReferenceWithTwoThreads() throws {
        try assertMatchesReference(
            loweredConfigurations, algorithm: .lowered, expect: .lowered, compute: Compute(threads: 2))
    }

    /// Max |got - exact| / max |exact| of y, dx and dW for a 3x3 convolution (padding 1) with
    /// `algorithm` on typical data (PyTorch-initialized weights, inputs in [-1, 1), batch 2),
    /// exact being the direct convolution in Double.
    private func relativeErrors(
        cin: Int, cout: Int, size: Int, stride: Int, algorithm: Conv2d.Algorithm, seed: UInt64
    ) throws -> [Double] {
        let reference = ReferenceConv(cin: cin, cout: cout, h: size, w: size, k: 3, s: stride, p: 1)
        let conv = try makeConv((cin, cout, size, size, 3, stride, 1), algorithm: algorithm)
        XCTAssertEqual(conv.resolvedAlgorithm, algorithm)
        let harness = LayerHarness(conv, batch: 2, seed: seed)
        let values = harness.parameters.snapshot()
        let weight = Array(values[0..<(cout * cin * 9)]), bias = Array(values[(cout * cin * 9)...])
        let y = reference.forward(x: harness.input, weight: weight, bias: bias, batch: 2)
        let (dx, dw, _) = reference.backward(x: harness.input, weight: weight, dy: harness.dyWeights, batch: 2)
        func relative(_ got: [Float], _ exact: [Double]) -> Double {
            let scale = exact.map(abs).max()!
            return zip(got, exact).map { abs(Double($0) - $1) }.max()! / scale
        }
        harness.zeroGradients()
        let gotDx = harness.backward()!
        return [
            relative(harness.forward(training: true), y), relative(gotDx, dx),
            relative(Array(harness.gradients[0..<dw.count]), dw),
        ]
    }

    /// Winograd's rounding error on typical data next to the lowered path's, for y, dx and dW.
    func testWinogradAccuracyNextToLowered() throws {
        for (cin, cout, size) in [(16, 16, 28), (64, 64, 16), (256, 256, 4)] {
            var errors: [Conv2d.Algorithm: [Double]] = [:]
            for algorithm in [Conv2d.Algorithm.lowered, .winograd, .winograd4] {
                errors[algorithm] = try relativeErrors(
                    cin: cin, cout: cout, size: size, stride: 1, algorithm: algorithm, seed: 5)
            }
            let line = ["y", "dx", "dW"].enumerated().map { i, name in
                String(
                    format: "%@ %.1e, F(4x4) %.1e (lowered %.1e)", name, errors[.winograd]![i], errors[.winograd4]![i],
                    errors[.lowered]![i])
            }
            print("Winograd error \(cin)>\(cout) at \(size)x\(size): " + line.joined(separator: ", "))
            XCTAssertLessThan(errors[.winograd]!.max()!, 1e-4, "\(cin)>\(cout) at \(size)")
            XCTAssertLessThan(errors[.winograd4]!.max()!, 5e-4, "F(4x4) \(cin)>\(cout) at \(size)")
        }
    }

    /// The stride-2 pass's rounding error next to the lowered path's at the ResNets' stride-2
    /// shapes (the last stage's 4x4 outputs too): its transforms only add and subtract, so it stays of the same order.
    func testStrideTwoWinogradAccuracyNextToLowered() throws {
        try withWatchdog("Conv2dTests") { try strideTwoWinogradAccuracyNextToLowered() }
    }

    private func strideTwoWinogradAccuracyNextToLowered() throws {
        for (cin, cout, size) in [(16, 32, 28), (64, 128, 16), (128, 256, 16), (64, 128, 7), (256, 512, 8)] {
            let lowered = try relativeErrors(cin: cin, cout: cout, size: size, stride: 2, algorithm: .lowered, seed: 6)
            let winograd = try relativeErrors(cin: cin, cout: cout, size: size, stride: 2, algorithm: .winograd, seed: 6)
            let line = ["y", "dx", "dW"].enumerated().map { i, name in
                String(format: "%@ %.1e (lowered %.1e)", name, winograd[i], lowered[i])
            }
            print("Stride-2 Winograd error \(cin)>\(cout) at \(size)x\(size): " + line.joined(separator: ", "))
            for i in 0..<3 {
                XCTAssertLessThan(winograd[i], max(4 * lowered[i], 2e-6), "\(cin)>\(cout) at \(size)")
            }
        }
    }

    func testAutomaticChoice() throws {
        XCTAssertEqual(try makeConv((32, 64, 14, 14, 3, 1, 1)).resolvedAlgorithm, .winograd)
        XCTAssertEqual(try makeConv((64, 64, 32, 32, 3, 1, 1)).resolvedAlgorithm, .winograd4)
        XCTAssertEqual(try makeConv((128, 128, 16, 16, 3, 1, 1)).resolvedAlgorithm, .winograd4)
        XCTAssertEqual(try makeConv((256, 256, 8, 8, 3, 1, 1)).resolvedAlgorithm, .winograd4)
        XCTAssertEqual(try makeConv((512, 512, 8, 8, 3, 1, 1)).resolvedAlgorithm, .winograd4)
        XCTAssertEqual(try makeConv((32, 64, 32, 32, 3, 1, 1)).resolvedAlgorithm, .winograd)
        XCTAssertEqual(try makeConv((32, 32, 16, 16, 3, 1, 1)).resolvedAlgorithm, .winograd)
        XCTAssertEqual(try makeConv((64, 64, 14, 14, 3, 1, 1)).resolvedAlgorithm, .winograd)
        // Narrow planes: F(4x4) from 16 channels at sides 3, 4, 7 and 8, not 2, 5 or 6.
        XCTAssertEqual(try makeConv((64, 64, 8, 8, 3, 1, 1)).resolvedAlgorithm, .winograd4)
        XCTAssertEqual(try makeConv((512, 512, 4, 4, 3, 1, 1)).resolvedAlgorithm, .winograd4)
        XCTAssertEqual(try makeConv((128, 256, 8, 8, 3, 1, 1)).resolvedAlgorithm, .winograd4)
        XCTAssertEqual(try makeConv((256, 256, 8, 7, 3, 1, 1)).resolvedAlgorithm, .winograd4)
        XCTAssertEqual(try makeConv((64, 64, 7, 7, 3, 1, 1)).resolvedAlgorithm, .winograd4)
        XCTAssertEqual(try makeConv((16, 16, 3, 3, 3, 1, 1)).resolvedAlgorithm, .winograd4)
        XCTAssertEqual(try makeConv((8, 16, 8, 8, 3, 1, 1)).resolvedAlgorithm, .winograd)
        XCTAssertEqual(try makeConv((256, 256, 5, 5, 3, 1, 1)).resolvedAlgorithm, .winograd)
        XCTAssertEqual(try makeConv((256, 256, 6, 8, 3, 1, 1)).resolvedAlgorithm, .winograd)
        XCTAssertEqual(try makeConv((512, 512, 2, 2, 3, 1, 1)).resolvedAlgorithm, .winograd)
        XCTAssertEqual(try makeConv((1, 32, 28, 28, 3, 1, 1)).resolvedAlgorithm, .lowered)
        // Stride 2: the stride-2 Winograd pass with 8+ channels on both sides, for output sides
        // from 7 on, and of 4 and 6 (2x2 tiles without waste) where libxsmm runs the tile
        // GEMMs; never 2, 3 or 5.
        let evenSides: Conv2d.Algorithm = BLAS.libxsmmRoute == .none ? .lowered : .winograd
        XCTAssertEqual(try makeConv((64, 64, 32, 32, 3, 2, 1)).resolvedAlgorithm, .winograd)
        XCTAssertEqual(try makeConv((32, 32, 28, 28, 3, 2, 1)).resolvedAlgorithm, .winograd)
        XCTAssertEqual(try makeConv((32, 64, 14, 14, 3, 2, 1)).resolvedAlgorithm, .winograd)
        XCTAssertEqual(try makeConv((128, 256, 16, 16, 3, 2, 1)).resolvedAlgorithm, .winograd)
        XCTAssertEqual(try makeConv((64, 128, 8, 8, 3, 2, 1)).resolvedAlgorithm, evenSides)
        XCTAssertEqual(try makeConv((64, 128, 7, 7, 3, 2, 1)).resolvedAlgorithm, evenSides)
        XCTAssertEqual(try makeConv((256, 512, 8, 8, 3, 2, 1)).resolvedAlgorithm, evenSides)
        XCTAssertEqual(try makeConv((128, 256, 12, 12, 3, 2, 1)).resolvedAlgorithm, evenSides)
        XCTAssertEqual(try makeConv((128, 256, 14, 12, 3, 2, 1)).resolvedAlgorithm, evenSides)
        XCTAssertEqual(try makeConv((128, 256, 10, 10, 3, 2, 1)).resolvedAlgorithm, .lowered)
        XCTAssertEqual(try makeConv((128, 256, 12, 10, 3, 2, 1)).resolvedAlgorithm, .lowered)
        XCTAssertEqual(try makeConv((64, 128, 5, 5, 3, 2, 1)).resolvedAlgorithm, .lowered)
        XCTAssertEqual(try makeConv((256, 512, 4, 4, 3, 2, 1)).resolvedAlgorithm, .lowered)
        XCTAssertEqual(try makeConv((3, 64, 32, 32, 3, 2, 1)).resolvedAlgorithm, .lowered)
        XCTAssertEqual(try makeConv((64, 64, 32, 32, 3, 2, 3), algorithm: .winograd).resolvedAlgorithm, .lowered)
        XCTAssertEqual(try makeConv((64, 64, 32, 32, 3, 2, 1), algorithm: .winograd4).resolvedAlgorithm, .lowered)
        XCTAssertEqual(try makeConv((64, 128, 8, 8, 1, 2, 0)).resolvedAlgorithm, .lowered)
        XCTAssertEqual(try makeConv((8, 8, 8, 8, 3, 1, 3), algorithm: .winograd).resolvedAlgorithm, .lowered)
    }

    /// A Winograd block never holds more tile rows than a thread's images have, so its
    /// scratch depends on the batch: a smaller batch (the last of an epoch, an evaluation)
    /// must never need more than the `maxBatch` the model reserved for.
    func testWinogradScratchGrowsWithTheBatch() throws {
        let shapes: [(Int, Int, Int)] = [(512, 512, 4), (256, 256, 8), (64, 64, 32), (32, 64, 14), (8, 8, 5)]
        for (cin, cout, size) in shapes {
            for (algorithm, stride) in [(Conv2d.Algorithm.winograd, 1), (.winograd4, 1), (.winograd, 2)] {
                let conv = try makeConv((cin, cout, size, size, 3, stride, 1), algorithm: algorithm)
                for threads in 1...3 {
                    var previous = 0
                    for batch in 1...70 {
                        let need = conv.scratchSize(maxBatch: batch, threads: threads)
                        XCTAssertGreaterThanOrEqual(need, previous, "\(conv) \(algorithm), \(threads) threads, batch \(batch)")
                        previous = need
                    }
                }
            }
        }
    }

    /// Each sample of a batch gives the same output as when run alone (the batched
    /// column layout and the transposes keep samples apart).
    func testBatchedEqualsOneAtATime() throws {
        let conv = try Conv2d(inputShape: [2, 5, 4], outChannels: 3, kernel: 3, stride: 1, padding: 1)
        let batched = LayerHarness(conv, batch: 3, seed: 21)
        let y = batched.forward(training: true)
        let per = conv.outputSize
        for n in 0..<3 {
            let single = Array(batched.input[(n * conv.inputSize)..<((n + 1) * conv.inputSize)])
            var out = [Float](repeating: .nan, count: per)
            single.withUnsafeBufferPointer { x in
                batched.model.withContext(gradients: nil, training: true) {
                    conv.forward(x.baseAddress!, &out, batch: 1, context: $0)
                }
            }
            assertClose(out, Array(y[(n * per)..<((n + 1) * per)]), absolute: 1e-6, relative: 1e-6, "sample \(n)")
        }
    }

    func testContract() throws {
        LayerHarness(try Conv2d(inputShape: [2, 5, 5], outChannels: 3, kernel: 3, stride: 2, padding: 1), batch: 2, seed: 7)
            .assertContract()
    }

    /// The contract on every path, with one and two threads: Winograd, the lowered path on
    /// single images (1x1: no im2col) and on groups, each without bias too.
    func testContractOnEveryPath() throws {
        let cases: [(Configuration, Conv2d.Algorithm)] = [
            ((8, 8, 5, 6, 3, 1, 1, 3), .winograd), ((8, 8, 5, 6, 3, 1, 1, 3), .winograd4),
            ((8, 8, 9, 10, 3, 2, 1, 3), .winograd),
            ((4, 5, 15, 14, 1, 1, 0, 3), .lowered),
            ((4, 5, 15, 14, 3, 1, 1, 3), .lowered), ((3, 4, 6, 6, 3, 2, 1, 3), .lowered),
        ]
        for (c, algorithm) in cases {
            for bias in [true, false] {
                for compute in [Compute.serial, Compute(threads: 2)] {
                    let conv = try Conv2d(
                        inputShape: [c.cin, c.h, c.w], outChannels: c.cout, kernel: c.k, stride: c.s, padding: c.p,
                        bias: bias)
                    conv.algorithm = algorithm
                    XCTAssertEqual(conv.resolvedAlgorithm, algorithm)
                    LayerHarness(conv, batch: c.batch, seed: 17, compute: compute).assertContract()
                }
            }
        }
    }

    // MARK: - Gradient checks (multi-channel in/out, batch 2, non-square input)

    private func checkGradients(
        kernel: Int, stride: Int, padding: Int, channels: Int = 2, algorithm: Conv2d.Algorithm = .automatic,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let conv = try Conv2d(
            inputShape: [channels, 5, 6], outChannels: channels + 1, kernel: kernel, stride: stride, padding: padding)
        conv.algorithm = algorithm
        let harness = LayerHarness(conv, batch: 2, seed: UInt64(kernel * 100 + stride * 10 + padding))
        GradientCheck.assertPassed(harness.checkGradients(), "\(conv) \(conv.resolvedAlgorithm)", file: file, line: line)
    }

    func testGradientKernel3Stride1Padding1() throws { try checkGradients(kernel: 3, stride: 1, padding: 1) }
    func testGradientKernel3Stride2Padding0() throws { try checkGradients(kernel: 3, stride: 2, padding: 0) }
    func testGradientKernel2Stride2Padding1() throws { try checkGradients(kernel: 2, stride: 2, padding: 1) }
    func testGradientKernel1Stride1Padding0() throws { try checkGradients(kernel: 1, stride: 1, padding: 0) }
    func testGradientWinogradPadding1() throws {
        try checkGradients(kernel: 3, stride: 1, padding: 1, channels: 8, algorithm: .winograd)
    }
    func testGradientWinogradPadding0() throws {
        try checkGradients(kernel: 3, stride: 1, padding: 0, channels: 8, algorithm: .winograd)
    }
    func testGradientWinograd4Padding1() throws {
        try checkGradients(kernel: 3, stride: 1, padding: 1, channels: 8, algorithm: .winograd4)
    }
    func testGradientWinograd4Padding2() throws {
        try checkGradients(kernel: 3, stride: 1, padding: 2, channels: 8, algorithm: .winograd4)
    }
    func testGradientStrideTwoWinogradPadding1() throws {
        try withWatchdog("Conv2dTests") {
            try checkGradients(kernel: 3, stride: 2, padding: 1, channels: 8, algorithm: .winograd)
        }
    }
    func testGradientStrideTwoWinogradPadding0() throws {
        try withWatchdog("Conv2dTests") {
            try checkGradients(kernel: 3, stride: 2, padding: 0, channels: 8, algorithm: .winograd)
        }
    }

    // MARK: - Kernel wider than input plus padding on one side

    /// PyTorch accepts Conv2d(kernel 5, padding 2) on a 4x1 input (output 4x1). For column
    /// tap j = 0 the first valid output column is 2 > outWidth = 1; im2col must not write
    /// outside the row or build an inverted range. Runs in a child process because the
    /// failure mode is a trap.
    func testNarrowInputWithWidePaddedKernel() throws {
        let name = "NNTests.Conv2dTests/testNarrowInputWithWidePaddedKernel"
        guard Isolation.isChild(name) else { return try Isolation.assertChildSucceeds(name) }
        for (h, w) in [(4, 1), (1, 4), (1, 1)] {
            let conv = try Conv2d(inputShape: [1, h, w], outChannels: 2, kernel: 5, padding: 2)
            XCTAssertEqual(conv.outputShape, [2, h, w])
            let reference = ReferenceConv(cin: 1, cout: 2, h: h, w: w, k: 5, s: 1, p: 2)
            let harness = LayerHarness(conv, batch: 2, seed: 31)
            let values = harness.parameters.snapshot()
            let weight = Array(values[0..<50]), bias = Array(values[50...])
            let expected = reference.forward(x: harness.input, weight: weight, bias: bias, batch: 2)
            assertClose(harness.forward(training: true), expected.map { Float($0) }, absolute: 1e-5, relative: 1e-5, "\(h)x\(w)")
            harness.zeroGradients()
            let dx = harness.backward()!
            let (rdx, rdw, rdb) = reference.backward(x: harness.input, weight: weight, dy: harness.dyWeights, batch: 2)
            assertClose(dx, rdx.map { Float($0) }, absolute: 1e-5, relative: 1e-5, "dx \(h)x\(w)")
            assertClose(harness.gradients, (rdw + rdb).map { Float($0) }, absolute: 1e-5, relative: 1e-5, "dW \(h)x\(w)")
        }
    }
}
