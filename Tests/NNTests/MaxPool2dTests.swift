import NN
import NNTestSupport
import TestSupport
import XCTest

final class MaxPool2dTests: XCTestCase {
    /// `count` distinct values 0.1 apart in a seeded random order, so the argmax of
    /// every window survives perturbations of +-1e-2.
    private func distinctInput(_ count: Int, seed: UInt64) -> [Float] {
        var order = Array(0..<count)
        var generator = SeededGenerator(seed: seed)
        generator.shuffle(&order)
        return order.map { Float($0 - count / 2) * 0.1 }
    }

    func testShapesAndDescription() throws {
        let pool = try MaxPool2d(shape: [3, 4, 4], kernel: 2)
        XCTAssertEqual(pool.inputShape, [3, 4, 4])
        XCTAssertEqual(pool.outputShape, [3, 2, 2])
        XCTAssertEqual(pool.parameterSpecs, [])
        XCTAssertEqual(pool.description, "MaxPool2d(kernel_size=2, stride=2, padding=0)")
        XCTAssertEqual(try MaxPool2d(shape: [1, 7, 7], kernel: 2).outputShape, [1, 3, 3])  // floor mode
        XCTAssertEqual(try MaxPool2d(shape: [2, 7, 5], kernel: 3, stride: 2).outputShape, [2, 3, 2])
        XCTAssertEqual(try MaxPool2d(shape: [1, 28, 28], kernel: 2).outputShape, [1, 14, 14])
        XCTAssertThrowsError(try MaxPool2d(shape: [4, 4], kernel: 2))
        XCTAssertThrowsError(try MaxPool2d(shape: [1, 1, 4], kernel: 2))
        XCTAssertThrowsError(try MaxPool2d(shape: [1, 4, 4], kernel: 0))
        XCTAssertThrowsError(try MaxPool2d(shape: [1, 4, 4], kernel: 2, stride: 0))
    }

    /// 4x4 -> 2x2, two channels, two samples.
    func testForwardHandComputed() throws {
        let pool = try MaxPool2d(shape: [2, 4, 4], kernel: 2)
        let plane: [Float] = [
            1, 5, -2, 0,
            3, 2, 7, 6,
            -1, -4, 8, 8.5,
            -3, -2, 9, -10,
        ]
        let negated = plane.map { -$0 }
        let input = plane + negated + negated.map { $0 * 2 } + plane.map { $0 + 100 }
        let harness = LayerHarness(pool, batch: 2, input: input)
        let expected: [Float] = [5, 7, -1, 9] + [-1, 2, 4, 10] + [-2, 4, 8, 20] + [105, 107, 99, 109]
        XCTAssertEqual(harness.forward(training: true), expected)
        XCTAssertEqual(harness.forward(training: false), expected)
    }

    /// dy goes to the argmax of each window, everything else gets 0.
    func testBackwardHandComputed() throws {
        let pool = try MaxPool2d(shape: [1, 4, 4], kernel: 2)
        let harness = LayerHarness(pool, batch: 1, input: [
            1, 5, -2, 0,
            3, 2, 7, 6,
            -1, -4, 8, 8.5,
            -3, -2, 9, -10,
        ])
        let dx = harness.backward(dy: [10, 20, 30, 40])!
        XCTAssertEqual(dx, [
            0, 10, 0, 0,
            0, 0, 20, 0,
            30, 0, 0, 0,
            0, 0, 40, 0,
        ])
    }

    /// Ties go to the first maximum in row-major window order (PyTorch); overlapping
    /// windows that share an argmax add their gradients there.
    func testTiesAndOverlappingWindows() throws {
        let pool = try MaxPool2d(shape: [1, 2, 2], kernel: 2)
        let tie = LayerHarness(pool, batch: 1, input: [4, 4, 4, 4])
        XCTAssertEqual(tie.backward(dy: [1])!, [1, 0, 0, 0])
        let late = LayerHarness(try MaxPool2d(shape: [1, 2, 2], kernel: 2), batch: 1, input: [1, 3, 2, 3])
        XCTAssertEqual(late.backward(dy: [1])!, [0, 1, 0, 0])

        // kernel 3, stride 2 on 3x5: windows at columns 0-2 and 2-4 share column 2.
        let overlap = try MaxPool2d(shape: [1, 3, 5], kernel: 3, stride: 2)
        XCTAssertEqual(overlap.outputShape, [1, 1, 2])
        let harness = LayerHarness(overlap, batch: 1, input: [
            0, 0, 0, 0, 0,
            0, 0, 9, 0, 0,
            0, 0, 0, 0, 0,
        ])
        XCTAssertEqual(harness.forward(training: true), [9, 9])
        XCTAssertEqual(harness.backward(dy: [2, 3])!, [
            0, 0, 0, 0, 0,
            0, 0, 5, 0, 0,
            0, 0, 0, 0, 0,
        ])
    }

    /// Ties in the general (not 2x2/stride 2) path also go to the first maximum.
    func testTiesGeneralKernel() throws {
        let pool = try MaxPool2d(shape: [1, 3, 3], kernel: 3)
        let harness = LayerHarness(pool, batch: 1, input: [0, 1, 1, 1, 0, 1, 1, 1, 1])
        XCTAssertEqual(harness.forward(training: true), [1])
        XCTAssertEqual(harness.backward(dy: [2])!, [0, 2, 0, 0, 0, 0, 0, 0, 0])
        let stride1 = try MaxPool2d(shape: [1, 2, 3], kernel: 2, stride: 1)
        let h1 = LayerHarness(stride1, batch: 1, input: [5, 5, 5, 5, 5, 5])
        XCTAssertEqual(h1.backward(dy: [1, 10])!, [1, 10, 0, 0, 0, 0])
    }

    /// The parallel path (more than one thread) gives the same outputs and gradients.
    func testThreadsDoNotChangeResults() throws {
        for (kernel, stride) in [(2, 2), (3, 2)] {
            var results: [[Float]] = []
            for threads in [1, 2] {
                let pool = try MaxPool2d(shape: [16, 6, 6], kernel: kernel, stride: stride)
                let harness = LayerHarness(
                    pool, batch: 5, input: distinctInput(5 * pool.inputSize, seed: 6), compute: Compute(threads: threads))
                results.append(harness.forward(training: true) + harness.backward()!)
            }
            XCTAssertEqual(results[0], results[1], "kernel \(kernel) stride \(stride)")
        }
    }

    func testContract() throws {
        LayerHarness(try MaxPool2d(shape: [2, 4, 6], kernel: 2), batch: 2, input: distinctInput(96, seed: 3))
            .assertContract()
    }

    func testGradientCheckKernel2() throws {
        let pool = try MaxPool2d(shape: [2, 4, 6], kernel: 2)
        let harness = LayerHarness(pool, batch: 2, input: distinctInput(2 * pool.inputSize, seed: 4))
        GradientCheck.assertPassed(harness.checkGradients())
    }

    /// Odd size (floor mode leaves the last row and column out) with overlapping windows.
    func testGradientCheckOverlappingOddSize() throws {
        let pool = try MaxPool2d(shape: [2, 5, 7], kernel: 3, stride: 2)
        let harness = LayerHarness(pool, batch: 2, input: distinctInput(2 * pool.inputSize, seed: 5))
        GradientCheck.assertPassed(harness.checkGradients())
    }

    /// The 2x2 stride-2 path against a direct max with first-maximum ties, PyTorch's rule:
    /// wide, odd and narrow planes, many ties, one and two threads.
    func testKernel2MatchesDirectMaximum() throws {
        for (channels, h, w) in [(3, 28, 28), (2, 14, 14), (2, 7, 7), (1, 5, 35), (2, 33, 17), (1, 2, 50)] {
            for compute in [Compute.serial, Compute(threads: 2)] {
                let pool = try MaxPool2d(shape: [channels, h, w], kernel: 2)
                var generator = SeededGenerator(seed: UInt64(h * 100 + w))
                let input = (0..<(2 * pool.inputSize)).map { _ in Float(generator.below(4)) }
                let harness = LayerHarness(pool, batch: 2, input: input, compute: compute)
                var expected = [Float](), expectedDx = [Float](repeating: 0, count: input.count)
                var o = 0
                for plane in 0..<(2 * channels) {
                    for oh in 0..<(h / 2) {
                        for ow in 0..<(w / 2) {
                            var best = -Float.infinity, at = 0
                            for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                                let index = plane * h * w + (2 * oh + i) * w + 2 * ow + j
                                if input[index] > best { (best, at) = (input[index], index) }
                            }
                            expected.append(best)
                            expectedDx[at] = harness.dyWeights[o]
                            o += 1
                        }
                    }
                }
                XCTAssertEqual(harness.forward(training: true), expected, "\(channels)x\(h)x\(w)")
                XCTAssertEqual(harness.backward()!, expectedDx, "dx \(channels)x\(h)x\(w)")
            }
        }
    }
}
