import NN
import NNTestSupport
import TestSupport
import XCTest

/// Adam and AdamW against values computed by hand (PyTorch's formulas, see `Adam`).
/// scripts/dev/adam_torch_check.py compares the same class against torch.optim (not run here).
final class AdamTests: XCTestCase {
    /// Runs `gradients.count` steps from `start` and returns the parameters after each step.
    private func run(_ adam: Adam, start: [Float], gradients: [[Float]], scale: Float, lr: Float) -> [[Float]] {
        var p = start
        var history: [[Float]] = []
        for g in gradients {
            p.withUnsafeMutableBufferPointer { p in
                g.withUnsafeBufferPointer { adam.step(parameters: p, gradients: $0, gradientScale: scale, learningRate: lr) }
            }
            history.append(p)
        }
        return history
    }

    private let start: [Float] = [1, -2]
    private let gradients: [[Float]] = [[0.4, 0.2], [-0.2, 0.6], [1, 0]]

    /// Adam, lr 0.1, weight decay 0.1 (L2), gradientScale 0.5, betas (0.9, 0.999), eps 1e-8:
    ///   g = 0.5 G + 0.1 p;  m = 0.9 m + 0.1 g;  v = 0.999 v + 0.001 g^2
    ///   p -= (0.1 / (1 - 0.9^t)) m / (sqrt(v) / sqrt(1 - 0.999^t) + 1e-8)
    func testAdamHandComputed() {
        let adam = Adam(parameterCount: 2, weightDecay: 0.1, decoupledWeightDecay: false)
        XCTAssertEqual(adam.state.steps, 0)
        let history = run(adam, start: start, gradients: gradients, scale: 0.5, lr: 0.1)
        // Step 1: g = [0.2 + 0.1, 0.1 - 0.2] = [0.3, -0.1]; m = [0.03, -0.01]; v = [9e-5, 1e-5]
        //   bc1 = 0.1, bc2 = 0.001: step size 1, denom = [0.3, 0.1] + 1e-8
        //   update = [0.03 / 0.30000001, -0.01 / 0.10000001] = [0.09999999667, -0.09999999]
        assertClose(history[0], [0.9000000033, -1.90000001], absolute: 1e-6, relative: 1e-6, "step 1")
        // Step 2: g = [-0.1 + 0.09, 0.3 - 0.19] = [-0.01, 0.11]
        //   m = [0.027 - 0.001, -0.009 + 0.011] = [0.026, 0.002]
        //   v = [8.991e-5 + 1e-7, 9.99e-6 + 1.21e-5] = [9.001e-5, 2.209e-5]
        //   bc1 = 0.19, bc2 = 0.001999: step size 0.5263158, sqrt(bc2) = 0.04471018
        //   denom = [0.009487360 / 0.04471018, 0.004699999 / 0.04471018] = [0.2121969, 0.1051215]
        //   update = 0.5263158 [0.026 / 0.2121969, 0.002 / 0.1051215] = [0.06448827, 0.01001348]
        assertClose(history[1], [0.8355117308, -1.9100134863], absolute: 1e-6, relative: 1e-6, "step 2")
        // Step 3: g = [0.5 + 0.08355117, 0 - 0.19100135] = [0.58355117, -0.19100135]
        //   m = [0.0234 + 0.05835512, 0.0018 - 0.01910013] = [0.08175512, -0.01730013]
        //   v = [8.991999e-5 + 3.405320e-4, 2.206791e-5 + 3.648152e-5] = [4.304520e-4, 5.854942e-5]
        //   bc1 = 0.271, bc2 = 0.002997001: step size 0.3690037, sqrt(bc2) = 0.05474487
        //   denom = [0.02074734 / 0.05474487, 0.007651760 / 0.05474487] = [0.3789823, 0.1397713]
        //   update = 0.3690037 [0.08175512 / 0.3789823, -0.01730013 / 0.1397713] = [0.07960251, -0.04567329]
        assertClose(history[2], [0.7559092245, -1.8643401963], absolute: 1e-6, relative: 1e-6, "step 3")
        XCTAssertEqual(adam.state.steps, 3)
        assertClose(adam.state.arrays["exp_avg"]!, [0.08175511734, -0.01730013495], absolute: 1e-8, relative: 1e-6)
        assertClose(adam.state.arrays["exp_avg_sq"]!, [4.304519616e-4, 5.854942496e-5], absolute: 1e-10, relative: 1e-6)
    }

    /// AdamW, same inputs, weight decay 0.1 decoupled: p *= 1 - 0.1 * 0.1 = 0.99 first, g = 0.5 G.
    func testAdamWHandComputed() {
        let adamW = Adam(parameterCount: 2, weightDecay: 0.1, decoupledWeightDecay: true)
        let history = run(adamW, start: start, gradients: gradients, scale: 0.5, lr: 0.1)
        // Step 1: p = [0.99, -1.98]; g = [0.2, 0.1]; m = [0.02, 0.01]; v = [4e-5, 1e-5]
        //   denom = [0.2, 0.1] + 1e-8; update = [0.02 / 0.20000001, 0.01 / 0.10000001] = [0.099999995, 0.09999999]
        assertClose(history[0], [0.890000005, -2.07999999], absolute: 1e-6, relative: 1e-6, "step 1")
        // Step 2: p = 0.99 [0.890000005, -2.07999999] = [0.881100005, -2.05919999]; g = [-0.1, 0.3]
        //   m = [0.018 - 0.01, 0.009 + 0.03] = [0.008, 0.039]; v = [3.996e-5 + 1e-5, 9.99e-6 + 9e-5] = [4.996e-5, 9.999e-5]
        //   denom = [0.007068239 / 0.04471018, 0.009999500 / 0.04471018] = [0.1580902, 0.2236515]
        //   update = 0.5263158 [0.008 / 0.1580902, 0.039 / 0.2236515] = [0.02663370, 0.09177811]
        assertClose(history[1], [0.8544663027, -2.1509780979], absolute: 1e-6, relative: 1e-6, "step 2")
        // Step 3: p = 0.99 [0.8544663, -2.1509781] = [0.8459216, -2.1294683]; g = [0.5, 0]
        //   m = [0.0072 + 0.05, 0.0351 + 0] = [0.0572, 0.0351]; v = [4.991004e-5 + 2.5e-4, 9.989001e-5] = [2.9991004e-4, 9.989001e-5]
        //   denom = [0.01731791 / 0.05474487, 0.009994499 / 0.05474487] = [0.3163385, 0.1825650]
        //   update = 0.3690037 [0.0572 / 0.3163385, 0.0351 / 0.1825650] = [0.06672286, 0.07094474]
        assertClose(history[2], [0.7791987778, -2.2004130595], absolute: 1e-6, relative: 1e-6, "step 3")
        assertClose(adamW.state.arrays["exp_avg"]!, [0.0572, 0.0351], absolute: 1e-8, relative: 1e-6)
        assertClose(adamW.state.arrays["exp_avg_sq"]!, [2.9991004e-4, 9.989001e-5], absolute: 1e-10, relative: 1e-6)
    }

    /// Without weight decay the two variants are the same update, bit for bit.
    func testAdamAndAdamWAgreeWithoutWeightDecay() {
        var generator = SeededGenerator(seed: 11)
        let start = randomFloats(7, generator: &generator)
        let gradients = (0..<5).map { _ in randomFloats(7, generator: &generator) }
        let adam = run(Adam(parameterCount: 7, weightDecay: 0, decoupledWeightDecay: false),
                       start: start, gradients: gradients, scale: 0.3, lr: 0.01)
        let adamW = run(Adam(parameterCount: 7, weightDecay: 0, decoupledWeightDecay: true),
                        start: start, gradients: gradients, scale: 0.3, lr: 0.01)
        XCTAssertEqual(adam, adamW)
    }

    /// A run resumed from a saved state continues bit-identically, for both variants.
    func testResumeFromSavedState() throws {
        for decoupled in [false, true] {
            var generator = SeededGenerator(seed: 5)
            let start = randomFloats(6, generator: &generator)
            let gradients = (0..<5).map { _ in randomFloats(6, generator: &generator) }
            func make() -> Adam { Adam(parameterCount: 6, weightDecay: 5e-4, decoupledWeightDecay: decoupled) }
            let full = make()
            let reference = run(full, start: start, gradients: gradients, scale: 0.25, lr: 1e-3)

            let first = make()
            let head = run(first, start: start, gradients: Array(gradients[0..<2]), scale: 0.25, lr: 1e-3)
            let resumed = make()
            try resumed.restore(first.state)
            XCTAssertEqual(resumed.state.steps, 2)
            let rest = run(resumed, start: head[1], gradients: Array(gradients[2...]), scale: 0.25, lr: 1e-3)
            XCTAssertEqual(rest.last, reference.last, "decoupled \(decoupled)")
            XCTAssertEqual(resumed.state, full.state, "decoupled \(decoupled)")
        }
    }

    /// A state that does not fit is refused, naming what is wrong, and leaves the optimizer as it was.
    func testRestoreRefusesAStateThatDoesNotFit() {
        let adam = Adam(parameterCount: 2, weightDecay: 0, decoupledWeightDecay: false)
        let bad: [(OptimizerState, String)] = [
            (OptimizerState(arrays: ["exp_avg": [1, 2], "exp_avg_sq": [1]], steps: 1), "exp_avg_sq holds 1 values for 2 parameters"),
            (OptimizerState(arrays: ["exp_avg": [1, 2, 3], "exp_avg_sq": [1, 2]], steps: 1), "exp_avg holds 3 values for 2 parameters"),
            (OptimizerState(arrays: ["exp_avg": [1, 2]], steps: 1), "no exp_avg_sq"),
            (OptimizerState(arrays: ["momentum_buffer": [1, 2]], steps: 1), "no exp_avg"),
            (OptimizerState(arrays: ["exp_avg": [1, 2], "exp_avg_sq": [1, 2], "max_exp_avg_sq": [1, 2]], steps: 1),
             "max_exp_avg_sq"),
            (OptimizerState(arrays: ["exp_avg": [1, 2], "exp_avg_sq": [1, 2]], steps: -1), "-1 steps"),
        ]
        for (state, message) in bad {
            XCTAssertThrowsError(try adam.restore(state)) {
                XCTAssertTrue($0 is OptimizerStateError)
                XCTAssertTrue("\($0)".contains(message), "\($0) should mention \(message)")
            }
        }
        XCTAssertEqual(adam.state, OptimizerState(arrays: ["exp_avg": [0, 0], "exp_avg_sq": [0, 0]], steps: 0))
    }

    /// Only `parameterCount` floats are touched, even when the gradient buffer is longer
    /// (the trainer's fused buffer holds statistics after the gradients).
    func testTouchesOnlyItsParameters() {
        for decoupled in [false, true] {
            let adam = Adam(parameterCount: 2, weightDecay: 0.1, decoupledWeightDecay: decoupled)
            var p: [Float] = [1, 1, 42]
            let g: [Float] = [1, 1, 1e6]
            p.withUnsafeMutableBufferPointer { p in
                g.withUnsafeBufferPointer {
                    adam.step(
                        parameters: UnsafeMutableBufferPointer(rebasing: p[0..<2]), gradients: $0, gradientScale: 1,
                        learningRate: 1)
                }
            }
            XCTAssertEqual(p[2], 42)
            XCTAssertNotEqual(p[0], 1)
            XCTAssertEqual(adam.state.arrays["exp_avg"]!.count, 2)
        }
    }
}
