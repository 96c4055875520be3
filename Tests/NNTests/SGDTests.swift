import NN
import NNTestSupport
import TestSupport
import XCTest

final class SGDTests: XCTestCase {
    /// Runs `gradients.count` steps from `start` and returns the parameters after each step.
    private func run(
        _ sgd: SGD, start: [Float], gradients: [[Float]], scale: Float, lr: Float
    ) -> [[Float]] {
        var p = start
        var history: [[Float]] = []
        for g in gradients {
            p.withUnsafeMutableBufferPointer { p in
                g.withUnsafeBufferPointer { sgd.step(parameters: p, gradients: $0, gradientScale: scale, learningRate: lr) }
            }
            history.append(p)
        }
        return history
    }

    /// lr 0.5, momentum 0.9, weight decay 0.1, gradientScale 0.5, by hand:
    ///   d = 0.5 g + 0.1 p;  buf = d (step 1), else 0.9 buf + d;  p -= 0.5 buf
    func testMomentumAndWeightDecayHandComputed() {
        let sgd = SGD(parameterCount: 2, momentum: 0.9, weightDecay: 0.1)
        XCTAssertEqual(sgd.state.steps, 0)
        let history = run(sgd, start: [1, -2], gradients: [[0.4, 0.2], [-0.2, 0.6], [1, 0]], scale: 0.5, lr: 0.5)
        // Step 1: d = [0.2 + 0.1, 0.1 - 0.2] = [0.3, -0.1] = buf; p = [1 - 0.15, -2 + 0.05]
        assertClose(history[0], [0.85, -1.95], absolute: 1e-6, relative: 1e-6, "step 1")
        // Step 2: d = [-0.1 + 0.085, 0.3 - 0.195] = [-0.015, 0.105]; buf = [0.27 - 0.015, -0.09 + 0.105] = [0.255, 0.015]
        assertClose(history[1], [0.7225, -1.9575], absolute: 1e-6, relative: 1e-6, "step 2")
        // Step 3: d = [0.5 + 0.07225, -0.19575]; buf = [0.2295 + 0.57225, 0.0135 - 0.19575] = [0.80175, -0.18225]
        assertClose(history[2], [0.321625, -1.866375], absolute: 1e-6, relative: 1e-6, "step 3")
        XCTAssertEqual(sgd.state.steps, 3)
        assertClose(velocity(sgd), [0.80175, -0.18225], absolute: 1e-6, relative: 1e-6, "momentum buffer")
    }

    /// The first step initializes the buffer with d (PyTorch), not with (1 - dampening) d or m * 0 + d
    /// from a nonzero buffer: a stale buffer restored with 0 steps taken is ignored.
    func testFirstStepIgnoresStaleBuffer() throws {
        let sgd = SGD(parameterCount: 2, momentum: 0.9, weightDecay: 0.1)
        try sgd.restore(OptimizerState(arrays: ["momentum_buffer": [100, -100]], steps: 0))
        let history = run(sgd, start: [1, -2], gradients: [[0.4, 0.2]], scale: 0.5, lr: 0.5)
        assertClose(history[0], [0.85, -1.95], absolute: 1e-6, relative: 1e-6)
        assertClose(velocity(sgd), [0.3, -0.1], absolute: 1e-7, relative: 1e-6)
    }

    /// A state that does not fit is refused, naming what is wrong.
    func testRestoreRefusesAStateThatDoesNotFit() {
        let sgd = SGD(parameterCount: 2, momentum: 0.9, weightDecay: 0.1)
        XCTAssertThrowsError(try sgd.restore(OptimizerState(arrays: ["momentum_buffer": [1]], steps: 1))) {
            XCTAssertTrue("\($0)".contains("1 values for 2 parameters"), "\($0)")
        }
        XCTAssertThrowsError(try sgd.restore(OptimizerState(arrays: ["exp_avg": [1, 2]], steps: 1))) {
            XCTAssertTrue("\($0)".contains("no momentum_buffer"), "\($0)")
        }
    }

    private func velocity(_ sgd: SGD) -> [Float] { sgd.state.arrays["momentum_buffer"]! }

    /// Momentum 0: plain p -= lr (scale g + wd p), and no buffer is used.
    func testNoMomentumHandComputed() {
        let sgd = SGD(parameterCount: 2, momentum: 0, weightDecay: 0.1)
        let history = run(sgd, start: [1, -2], gradients: [[0.4, 0.2], [-0.2, 0.6]], scale: 0.5, lr: 0.5)
        assertClose(history[0], [0.85, -1.95], absolute: 1e-6, relative: 1e-6, "step 1")
        // Step 2: d = [-0.1 + 0.085, 0.3 - 0.195] = [-0.015, 0.105]; p = [0.85 + 0.0075, -1.95 - 0.0525]
        assertClose(history[1], [0.8575, -2.0025], absolute: 1e-6, relative: 1e-6, "step 2")
        XCTAssertEqual(velocity(sgd), [0, 0])
    }

    /// No weight decay, no momentum, scale 1: p -= lr g exactly.
    func testPlainGradientDescent() {
        let sgd = SGD(parameterCount: 3, momentum: 0, weightDecay: 0)
        let history = run(sgd, start: [1, 2, 3], gradients: [[1, -2, 0.5]], scale: 1, lr: 0.25)
        XCTAssertEqual(history[0], [0.75, 2.5, 2.875])
    }

    /// A run resumed from a saved state continues bit-identically.
    func testResumeFromSavedState() throws {
        var generator = SeededGenerator(seed: 3)
        let start = randomFloats(5, generator: &generator)
        let gradients = (0..<4).map { _ in randomFloats(5, generator: &generator) }
        let full = SGD(parameterCount: 5, momentum: 0.9, weightDecay: 5e-4)
        let reference = run(full, start: start, gradients: gradients, scale: 0.25, lr: 0.1)

        let first = SGD(parameterCount: 5, momentum: 0.9, weightDecay: 5e-4)
        let half = run(first, start: start, gradients: Array(gradients[0..<2]), scale: 0.25, lr: 0.1)
        let resumed = SGD(parameterCount: 5, momentum: 0.9, weightDecay: 5e-4)
        try resumed.restore(first.state)
        XCTAssertEqual(resumed.state.steps, 2)
        let rest = run(resumed, start: half[1], gradients: Array(gradients[2...]), scale: 0.25, lr: 0.1)
        XCTAssertEqual(rest.last, reference.last)
        XCTAssertEqual(resumed.state, full.state)
    }

    /// Only `parameterCount` floats are touched.
    func testTouchesOnlyItsParameters() {
        let sgd = SGD(parameterCount: 2, momentum: 0.9, weightDecay: 0.1)
        var p: [Float] = [1, 1, 42]
        let g: [Float] = [1, 1, 1]
        p.withUnsafeMutableBufferPointer { p in
            g.withUnsafeBufferPointer {
                sgd.step(
                    parameters: UnsafeMutableBufferPointer(rebasing: p[0..<2]), gradients: $0, gradientScale: 1,
                    learningRate: 1)
            }
        }
        XCTAssertEqual(p[2], 42)
        XCTAssertNotEqual(p[0], 1)
    }
}
