import Foundation
import NN
import TestSupport
import XCTest

// Finite-difference gradient checking for NN layers and models.
//
// The scalar objective for a layer is L = sum_i r_i * y_i with a fixed random r, so
// dL/dy = r is what `backward` receives. Objectives are accumulated in Double from
// the Float outputs; the central difference divides by the step actually taken in
// Float ((x + h) - (x - h) after rounding), not by the nominal 2h.

/// |analytic - numeric| <= absolute + relative * max(|analytic|, |numeric|).
public struct GradientTolerance: Sendable, CustomStringConvertible {
    public var absolute: Double
    public var relative: Double

    public init(absolute: Double, relative: Double) {
        self.absolute = absolute
        self.relative = relative
    }

    /// Suited to Float32 forward passes with steps of about 1e-2.
    public static let float32 = GradientTolerance(absolute: 2e-3, relative: 2e-2)

    public func bound(_ a: Double, _ b: Double) -> Double { absolute + relative * max(abs(a), abs(b)) }
    /// |a - b| as a multiple of the allowed error: <= 1 passes.
    public func excess(_ a: Double, _ b: Double) -> Double {
        let e = abs(a - b) / bound(a, b)
        return e.isNaN ? .infinity : e
    }

    public var description: String { "abs \(absolute), rel \(relative)" }
}

/// The outcome of comparing an analytic gradient with central differences.
public struct GradientComparison: CustomStringConvertible {
    public let label: String
    /// Number of coordinates compared.
    public var checked = 0
    /// Coordinates outside the tolerance.
    public var failures = 0
    /// The coordinate with the largest error relative to its tolerance.
    public var worstIndex: Int?
    public var worstAnalytic = 0.0
    public var worstNumeric = 0.0
    /// |analytic - numeric| / tolerance at `worstIndex`; <= 1 passes.
    public var worstExcess = 0.0
    /// max |numeric| over the checked coordinates (0 means the check was vacuous).
    public var largestNumeric = 0.0

    public init(label: String) { self.label = label }

    public var passed: Bool { checked > 0 && failures == 0 }

    public var description: String {
        var text = "\(label): \(failures)/\(checked) coordinates off"
        if let worstIndex {
            text += "; worst index \(worstIndex): analytic \(worstAnalytic) vs numeric \(worstNumeric)"
            text += " (\(String(format: "%.3g", worstExcess))x tolerance)"
        }
        return text + "; max |numeric| \(largestNumeric)"
    }
}

public enum GradientCheck {
    /// (L(x + h) - L(x - h)) / ((x + h) - (x - h)) for coordinate `index` of `variable`,
    /// restoring the coordinate afterwards. `objective` must re-run the forward pass.
    public static func centralDifference(
        at variable: UnsafeMutablePointer<Float>, index: Int, step: Float, objective: () -> Double
    ) -> Double {
        // The one-sided differences need L at the centre; the central one does not.
        differences(at: variable, index: index, step: step, center: 0, objective: objective).central
    }

    /// (central, forward, backward) differences for coordinate `index` with step h;
    /// `center` is L at the unperturbed point.
    public static func differences(
        at variable: UnsafeMutablePointer<Float>, index: Int, step: Float, center: Double, objective: () -> Double
    ) -> (central: Double, forward: Double, backward: Double) {
        let saved = variable[index]
        let plus = saved + step, minus = saved - step
        variable[index] = plus
        let up = objective()
        variable[index] = minus
        let down = objective()
        variable[index] = saved
        return ((up - down) / (Double(plus) - Double(minus)),
                (up - center) / (Double(plus) - Double(saved)),
                (center - down) / (Double(saved) - Double(minus)))
    }

    /// Compares `analytic[i]` with the central difference at each of `indices`.
    ///
    /// With `refinements > 0` (meant for whole models, whose ReLU/max-pool kinks a step
    /// can cross) a coordinate that misses the tolerance is retried with steps h/sqrt(10), h/10, ...
    /// and also with one-sided differences: it passes if any estimate agrees. On each linear
    /// piece all estimates approach the same derivative, so a wrong analytic gradient still
    /// fails; a kink on one side of x spoils only that side's estimate.
    public static func compare(
        _ label: String, analytic: [Float], variable: UnsafeMutablePointer<Float>, indices: [Int],
        step: Float = 1e-2, tolerance: GradientTolerance = .float32, refinements: Int = 0,
        objective: () -> Double
    ) -> GradientComparison {
        var result = GradientComparison(label: label)
        for index in indices {
            let a = Double(analytic[index])
            var h = step
            var best = (excess: Double.infinity, numeric: Double.nan)
            func consider(_ numeric: Double) {
                let excess = tolerance.excess(a, numeric)
                if excess < best.excess || best.numeric.isNaN { best = (excess, numeric) }
            }
            if refinements <= 0 {
                consider(centralDifference(at: variable, index: index, step: h, objective: objective))
            } else {
                let center = objective()
                for attempt in 0...refinements {
                    if attempt > 0 { h /= 3.1622777 }
                    let d = differences(at: variable, index: index, step: h, center: center, objective: objective)
                    consider(d.central)
                    consider(d.forward)
                    consider(d.backward)
                    if best.excess <= 0.1 { break }
                }
            }
            result.checked += 1
            result.largestNumeric = max(result.largestNumeric, abs(best.numeric))
            if !(best.excess <= 1) { result.failures += 1 }
            if result.worstIndex == nil || best.excess > result.worstExcess {
                result.worstIndex = index
                result.worstAnalytic = a
                result.worstNumeric = best.numeric
                result.worstExcess = best.excess
            }
        }
        return result
    }

    /// All of 0..<count when count <= limit, else `limit` distinct random indices
    /// (always including the first and the last), sorted.
    public static func sampleIndices(count: Int, limit: Int?, generator: inout SeededGenerator) -> [Int] {
        guard let limit, count > limit else { return Array(0..<count) }
        var all = Array(0..<count)
        generator.shuffle(&all)
        var picked = Set(all.prefix(max(0, limit - 2)))
        picked.insert(0)
        picked.insert(count - 1)
        return picked.sorted()
    }

    /// Asserts that every comparison passed and that at least one saw a nonzero gradient.
    public static func assertPassed(
        _ comparisons: [GradientComparison], _ message: String = "",
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertFalse(comparisons.isEmpty, "no gradient comparisons \(message)", file: file, line: line)
        if ProcessInfo.processInfo.environment["IES_GRADCHECK_VERBOSE"] != nil {
            for comparison in comparisons { print("gradcheck \(message) \(comparison)") }
        }
        for comparison in comparisons {
            XCTAssertTrue(comparison.passed, "\(comparison) \(message)", file: file, line: line)
        }
        XCTAssertTrue(
            comparisons.contains { $0.largestNumeric > 1e-3 },
            "all numeric gradients are ~0: the check is vacuous \(message)", file: file, line: line)
    }
}

/// Random Floats in [low, high) from `generator`.
public func randomFloats(_ count: Int, _ low: Float = -1, _ high: Float = 1, generator: inout SeededGenerator) -> [Float] {
    (0..<count).map { _ in generator.uniform(low, high) }
}

/// A single layer in a model of its own (which lays out and binds its parameters and
/// buffers), driven directly through `forward`/`backward` with caller-owned buffers.
///
/// Parameters are named by their suffix ("weight", "bias") and initialized like PyTorch
/// from `seed`; `dyWeights` is the fixed random r of the objective sum r_i y_i.
public final class LayerHarness {
    public let layer: Layer
    public let batch: Int
    public let model: Model
    public var input: [Float]
    public let dyWeights: [Float]
    /// Where backward accumulates parameter gradients.
    public var gradients: [Float]
    /// Evaluate the objective in training mode (layers such as BatchNorm compute a different
    /// function in training mode, and that is the one backward differentiates).
    public var trainingObjective = false

    public init(_ layer: Layer, batch: Int, input: [Float]? = nil, seed: UInt64 = 1, compute: Compute = .serial) {
        self.layer = layer
        self.batch = batch
        model = try! Model(layer, maxBatch: batch, compute: compute)
        var generator = SeededGenerator(seed: seed, streams: 0x6C)
        model.parameters.initialize(generator: &generator)
        model.buffers.initialize(generator: &generator)
        self.input = input ?? randomFloats(batch * layer.inputSize, generator: &generator)
        precondition(self.input.count == batch * layer.inputSize, "input has \(self.input.count) floats")
        dyWeights = randomFloats(batch * layer.outputSize, generator: &generator)
        gradients = [Float](repeating: 0, count: model.parameters.count)
    }

    public var parameters: TensorStore { model.parameters }

    public func zeroGradients() { gradients = [Float](repeating: 0, count: model.parameters.count) }

    /// Runs forward on `input` into a NaN-filled output buffer and returns it.
    public func forward(training: Bool) -> [Float] {
        var y = [Float](repeating: .nan, count: batch * layer.outputSize)
        input.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { y in
                model.withContext(gradients: nil, training: training) {
                    layer.forward(x.baseAddress!, y.baseAddress!, batch: batch, context: $0)
                }
            }
        }
        return y
    }

    /// sum_i r_i y_i in Double (inference forward unless `trainingObjective`).
    public func objective() -> Double {
        let y = forward(training: trainingObjective)
        var sum = 0.0
        for i in 0..<y.count { sum += Double(dyWeights[i]) * Double(y[i]) }
        return sum
    }

    /// Forward (training), then backward with dy = `dy ?? dyWeights`, WITHOUT zeroing the
    /// parameter gradients. dx is prefilled with `dxFill` so unwritten entries show.
    public func backward(dy: [Float]? = nil, inputGradient: Bool = true, dxFill: Float = .nan) -> [Float]? {
        let dy = dy ?? dyWeights
        precondition(dy.count == batch * layer.outputSize)
        let y = forward(training: true)
        var dx = [Float](repeating: dxFill, count: batch * layer.inputSize)
        var g = gradients
        input.withUnsafeBufferPointer { x in
            y.withUnsafeBufferPointer { y in
                dy.withUnsafeBufferPointer { dy in
                    dx.withUnsafeMutableBufferPointer { dx in
                        g.withUnsafeMutableBufferPointer { g in
                            model.withContext(gradients: g, training: true) {
                                layer.backward(
                                    x.baseAddress!, y.baseAddress!, dy.baseAddress!,
                                    inputGradient ? dx.baseAddress! : nil, batch: batch, context: $0)
                            }
                        }
                    }
                }
            }
        }
        gradients = g
        return inputGradient ? dx : nil
    }

    /// Gradient checks of dL/dx (when `checkInput`) and of every parameter tensor.
    /// At most `parameterSamples` coordinates per tensor are checked (all when nil).
    /// `refinements` > 0 retries a coordinate with smaller and one-sided steps (for layer
    /// stacks with ReLU kinks, see `GradientCheck.compare`).
    public func checkGradients(
        step: Float = 1e-2, tolerance: GradientTolerance = .float32, checkInput: Bool = true,
        parameterSamples: Int? = nil, inputSamples: Int? = nil, refinements: Int = 0
    ) -> [GradientComparison] {
        zeroGradients()
        let dx = backward(inputGradient: checkInput)
        let analytic = gradients
        var generator = SeededGenerator(seed: 99, streams: 7)
        var comparisons: [GradientComparison] = []
        if let dx {
            let indices = GradientCheck.sampleIndices(count: input.count, limit: inputSamples, generator: &generator)
            var x = input
            comparisons.append(x.withUnsafeMutableBufferPointer { buffer -> GradientComparison in
                // The objective reads `input`, so perturb through a pointer that `objective` sees.
                let variable = buffer.baseAddress!
                return GradientCheck.compare(
                    "\(layer) dx", analytic: dx, variable: variable, indices: indices, step: step,
                    tolerance: tolerance, refinements: refinements
                ) {
                    self.input = Array(UnsafeBufferPointer(start: variable, count: self.input.count))
                    return self.objective()
                }
            })
            input = x
        }
        for entry in parameters.entries {
            let indices = GradientCheck.sampleIndices(count: entry.count, limit: parameterSamples, generator: &generator)
            comparisons.append(parameters.withUnsafeMutableBufferPointer { values in
                GradientCheck.compare(
                    "\(layer) d\(entry.name)", analytic: Array(analytic[entry.offset..<(entry.offset + entry.count)]),
                    variable: values.baseAddress! + entry.offset, indices: indices, step: step, tolerance: tolerance,
                    refinements: refinements, objective: objective)
            })
        }
        return comparisons
    }

    /// Checks the Layer contract around the gradients:
    /// - forward writes every output and training/inference outputs agree (unless `modesDiffer`);
    /// - backward writes every dx entry (dx is prefilled with NaN);
    /// - parameter gradients ACCUMULATE (+=) and do not depend on whether dx is requested.
    public func assertContract(modesDiffer: Bool = false, file: StaticString = #filePath, line: UInt = #line) {
        let yTrain = forward(training: true)
        let yInfer = forward(training: false)
        XCTAssertTrue(yTrain.allSatisfy(\.isFinite), "\(layer): forward left outputs unwritten", file: file, line: line)
        XCTAssertTrue(yInfer.allSatisfy(\.isFinite), "\(layer): eval forward left outputs unwritten", file: file, line: line)
        if !modesDiffer {
            XCTAssertEqual(yTrain, yInfer, "\(layer): training and inference forward differ", file: file, line: line)
        }

        zeroGradients()
        let dx = backward(inputGradient: true)!
        XCTAssertTrue(dx.allSatisfy(\.isFinite), "\(layer): backward left dx entries unwritten", file: file, line: line)
        let once = gradients

        // A second backward with garbage in dx must give the same dx (overwrite, not +=).
        zeroGradients()
        let dx2 = backward(inputGradient: true, dxFill: 1000)!
        assertClose(dx2, dx, absolute: 0, relative: 0, "\(layer): dx depends on the buffer's old contents", file: file, line: line)

        // Without dx: same parameter gradients.
        zeroGradients()
        XCTAssertNil(backward(inputGradient: false))
        assertClose(gradients, once, absolute: 0, relative: 0, "\(layer): parameter gradients differ without dx", file: file, line: line)

        // Accumulation: starting from 0.5 everywhere, one more backward adds `once`. A GEMM
        // with beta 1 may add C first or last (libxsmm and OpenBLAS differ), so the rounding
        // allowed grows with the gradients' largest magnitude; a gradient not accumulated is
        // off by 0.5 or by a whole `once`.
        guard parameters.count > 0 else { return }
        let accumulated = 4e-6 * (1 + (once.map(abs).max() ?? 0))
        gradients = [Float](repeating: 0.5, count: parameters.count)
        _ = backward(inputGradient: true)
        assertClose(gradients, once.map { $0 + 0.5 }, absolute: accumulated, relative: 1e-6,
                    "\(layer): backward does not accumulate parameter gradients", file: file, line: line)
        // And two passes from zero give twice the gradient.
        zeroGradients()
        _ = backward(inputGradient: true)
        _ = backward(inputGradient: false)
        assertClose(gradients, once.map { 2 * $0 }, absolute: accumulated, relative: 1e-6,
                    "\(layer): two backward passes do not sum", file: file, line: line)
    }
}

/// Whole-model gradient check through `Model.backward` with the summed softmax
/// cross-entropy as objective (parameters only: the first layer gets no dx).
public enum ModelGradientCheck {
    /// Sum of per-instance losses after a forward (inference unless `training`), computed in
    /// Double from the Float logits (Float losses would add ~1e-7 relative noise to every difference).
    public static func loss(_ model: Model, input: [Float], labels: [Int32], training: Bool = false) -> Double {
        let batch = labels.count, classes = model.outputSize
        input.withUnsafeBufferPointer { model.input.update(from: $0.baseAddress!, count: input.count) }
        model.forward(batch: batch, training: training)
        var total = 0.0
        for n in 0..<batch {
            let z = (0..<classes).map { Double(model.output[n * classes + $0]) }
            let m = z.max()!
            total += m + Foundation.log(z.reduce(0.0) { $0 + Foundation.exp($1 - m) }) - z[Int(labels[n])]
        }
        return total
    }

    /// A training forward, the loss gradient and `backward` into zeroed gradients; returns them.
    public static func analytic(_ model: Model, input: [Float], labels: [Int32]) -> [Float] {
        let batch = labels.count
        input.withUnsafeBufferPointer { model.input.update(from: $0.baseAddress!, count: input.count) }
        model.forward(batch: batch, training: true)
        var losses = [Float](repeating: .nan, count: batch)
        _ = labels.withUnsafeBufferPointer { labels in
            SoftmaxCrossEntropy.forward(
                logits: model.output, labels: labels.baseAddress!, batch: batch, classes: model.outputSize,
                losses: &losses, gradient: model.outputGradient)
        }
        var gradients = [Float](repeating: 0, count: model.parameters.count)
        gradients.withUnsafeMutableBufferPointer { model.backward(batch: batch, into: $0) }
        return gradients
    }

    /// Tighter than `.float32`: gradients of early layers are small (~1e-2).
    public static let tolerance = GradientTolerance(absolute: 4e-4, relative: 2e-2)

    /// One comparison per parameter tensor, at most `samplesPerTensor` coordinates each.
    /// `training` evaluates the loss in training mode (BatchNorm with batch statistics).
    public static func check(
        _ model: Model, input: [Float], labels: [Int32], samplesPerTensor: Int?, seed: UInt64 = 5,
        step: Float = 1e-2, tolerance: GradientTolerance = ModelGradientCheck.tolerance, refinements: Int = 2,
        training: Bool = false
    ) -> [GradientComparison] {
        let gradients = analytic(model, input: input, labels: labels)
        var generator = SeededGenerator(seed: seed, streams: 3)
        return model.parameters.entries.map { entry in
            let indices = GradientCheck.sampleIndices(count: entry.count, limit: samplesPerTensor, generator: &generator)
            return model.parameters.withUnsafeMutableBufferPointer { values in
                GradientCheck.compare(
                    "d\(entry.name)", analytic: Array(gradients[entry.offset..<(entry.offset + entry.count)]),
                    variable: values.baseAddress! + entry.offset, indices: indices, step: step,
                    tolerance: tolerance, refinements: refinements
                ) { loss(model, input: input, labels: labels, training: training) }
            }
        }
    }
}
