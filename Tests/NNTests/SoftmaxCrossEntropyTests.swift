import Foundation
import NN
import NNTestSupport
import TestSupport
import XCTest

final class SoftmaxCrossEntropyTests: XCTestCase {
    /// (losses, gradient, correct count); the gradient buffer starts as NaN to catch unwritten entries.
    private func run(_ logits: [Float], _ labels: [Int32], classes: Int, gradient: Bool = true)
        -> (losses: [Float], gradient: [Float], correct: Int)
    {
        let batch = labels.count
        precondition(logits.count == batch * classes)
        var losses = [Float](repeating: .nan, count: batch)
        var grad = [Float](repeating: .nan, count: logits.count)
        let correct = grad.withUnsafeMutableBufferPointer { g in
            SoftmaxCrossEntropy.forward(
                logits: logits, labels: labels, batch: batch, classes: classes, losses: &losses,
                gradient: gradient ? g.baseAddress! : nil)
        }
        return (losses, grad, correct)
    }

    /// logits [1, 2, 3], label 2: loss = log(e + e^2 + e^3) - 3; gradient = softmax - onehot.
    func testHandComputed() {
        let (losses, gradient, correct) = run([1, 2, 3], [2], classes: 3)
        let sum = exp(1.0) + exp(2.0) + exp(3.0)
        XCTAssertEqual(Double(losses[0]), log(sum) - 3, accuracy: 1e-6)
        XCTAssertEqual(Double(losses[0]), 0.4076059644, accuracy: 1e-6)
        assertClose(gradient, [Float(exp(1.0) / sum), Float(exp(2.0) / sum), Float(exp(3.0) / sum - 1)],
                    absolute: 1e-6, relative: 1e-5)
        XCTAssertEqual(correct, 1)

        // Another label on the same logits: loss = log(sum) - 1, and a miss.
        let other = run([1, 2, 3], [0], classes: 3)
        XCTAssertEqual(Double(other.losses[0]), log(sum) - 1, accuracy: 1e-6)
        XCTAssertEqual(other.correct, 0)
        assertClose(other.gradient, [Float(exp(1.0) / sum - 1), Float(exp(2.0) / sum), Float(exp(3.0) / sum)],
                    absolute: 1e-6, relative: 1e-5)
    }

    /// Per-instance losses (reduction "none"), and the number of correct argmax predictions.
    func testBatchLossesAndAccuracyCount() {
        let logits: [Float] = [
            0, 0, 0, 0,  // uniform: loss log 4; tie -> class 0
            5, 1, -1, 2,  // argmax 0
            0, 3, 3, 1,  // tie between 1 and 2 -> class 1
            -1, -2, -3, 4,  // argmax 3
        ]
        let (losses, gradient, correct) = run(logits, [0, 1, 2, 3], classes: 4)
        // Correct: sample 0 (tie -> 0 = label), sample 3. Sample 2's tie goes to class 1, label 2: wrong.
        XCTAssertEqual(correct, 2)
        XCTAssertEqual(losses[0], Float(log(4.0)), accuracy: 1e-6)
        for n in 0..<4 {
            let row = logits[(n * 4)..<(n * 4 + 4)].map(Double.init)
            let label = [0, 1, 2, 3][n]
            let expected = log(row.map(exp).reduce(0, +)) - row[label]
            XCTAssertEqual(Double(losses[n]), expected, accuracy: 1e-5, "sample \(n)")
            // Each gradient row sums to 0 (softmax sums to 1, minus the one-hot).
            XCTAssertEqual(gradient[(n * 4)..<(n * 4 + 4)].reduce(0, +), 0, accuracy: 1e-6)
        }
        // Predictions are [0, 0, 1, 3]: against labels [1, 0, 1, 3] three are right.
        XCTAssertEqual(run(logits, [1, 0, 1, 3], classes: 4).correct, 3)
    }

    /// Ties go to the lowest class.
    func testTiesGoToTheLowestClass() {
        XCTAssertEqual(run([2, 2, 1], [0], classes: 3).correct, 1)
        XCTAssertEqual(run([2, 2, 1], [1], classes: 3).correct, 0)
        XCTAssertEqual(run([1, 2, 2], [1], classes: 3).correct, 1)
        XCTAssertEqual(run([1, 2, 2], [2], classes: 3).correct, 0)
    }

    /// logsumexp is shifted by the maximum: logits of 1000 stay finite.
    func testLargeLogitsStayFinite() {
        let (losses, gradient, correct) = run([1000, 0, -1000, 1000, 1000, 1000, -1000, 1000, 999], [1, 0, 2], classes: 3)
        XCTAssertTrue(losses.allSatisfy(\.isFinite), "\(losses)")
        XCTAssertTrue(gradient.allSatisfy(\.isFinite), "\(gradient)")
        XCTAssertEqual(losses[0], 1000, accuracy: 1e-3)
        // logsumexp(z) - z[label] in Float at |z| = 1000 carries ulp(1000) = 6e-5 of rounding.
        XCTAssertEqual(Double(losses[1]), log(3.0), accuracy: 2e-4)
        XCTAssertEqual(Double(losses[2]), log(1 + exp(-1.0)) + 1, accuracy: 2e-4)
        assertClose(Array(gradient[0..<3]), [1, -1, 0], absolute: 1e-6)
        XCTAssertEqual(correct, 1)  // sample 1 (tie -> 0); sample 0 predicts 0 vs 1; sample 2 predicts 1 vs 2
        let negative = run([-1000, -1001], [1], classes: 2)
        XCTAssertEqual(Double(negative.losses[0]), log(1 + exp(-1.0)) + 1, accuracy: 2e-4)
    }

    func testSingleClassHasZeroLoss() {
        let (losses, gradient, correct) = run([5, -3], [0, 0], classes: 1)
        XCTAssertEqual(losses, [0, 0])
        XCTAssertEqual(gradient, [0, 0])
        XCTAssertEqual(correct, 2)
    }

    func testGradientIsOptional() {
        var generator = SeededGenerator(seed: 8)
        let logits = randomFloats(12, -3, 3, generator: &generator)
        let with = run(logits, [0, 2, 1], classes: 4)
        let without = run(logits, [0, 2, 1], classes: 4, gradient: false)
        XCTAssertEqual(with.losses, without.losses)
        XCTAssertEqual(with.correct, without.correct)
        XCTAssertTrue(without.gradient.allSatisfy(\.isNaN), "gradient written although nil was passed")
    }

    /// The gradient is that of the SUM of the per-instance losses w.r.t. the logits.
    func testGradientCheck() {
        var generator = SeededGenerator(seed: 9)
        let batch = 3, classes = 5
        var logits = randomFloats(batch * classes, -2, 2, generator: &generator)
        let labels: [Int32] = [4, 0, 2]
        let analytic = run(logits, labels, classes: classes).gradient
        let comparison = logits.withUnsafeMutableBufferPointer { buffer in
            let variable = buffer.baseAddress!
            return GradientCheck.compare(
                "softmax cross-entropy dlogits", analytic: analytic, variable: variable,
                indices: Array(0..<(batch * classes))
            ) {
                var losses = [Float](repeating: .nan, count: batch)
                SoftmaxCrossEntropy.forward(
                    logits: variable, labels: labels, batch: batch, classes: classes, losses: &losses, gradient: nil)
                return losses.reduce(0.0) { $0 + Double($1) }
            }
        }
        GradientCheck.assertPassed([comparison])
        XCTAssertEqual(comparison.checked, 15)
    }
}
