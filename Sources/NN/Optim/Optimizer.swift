/// An update rule over a model's flat parameter buffer.
///
/// Gradients arrive as sums over instances; `gradientScale` (1 / instance count) turns
/// them into the mean before anything else, so a data-parallel trainer can reduce sums.
public protocol Optimizer: AnyObject {
    /// The number of parameters it updates.
    var parameterCount: Int { get }
    /// One update of `parameters` with `gradients * gradientScale` at `learningRate`, each
    /// piece of `split` on its own thread of `compute`. Every parameter's update depends on
    /// its own values only, so the result is the same, bit for bit, for any split.
    func step(
        parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>, gradientScale: Float,
        learningRate: Float, split: ParameterSplit, compute: Compute)
    /// What a checkpoint must keep to continue bit for bit.
    var state: OptimizerState { get }
    /// Continues from a saved state (array names and lengths must match).
    func restore(_ state: OptimizerState) throws
}

extension Optimizer {
    /// One update split into one contiguous stretch per thread of `compute`.
    public func step(
        parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>, gradientScale: Float,
        learningRate: Float, compute: Compute
    ) {
        step(parameters: parameters, gradients: gradients, gradientScale: gradientScale, learningRate: learningRate,
             split: .contiguous(count: parameterCount, compute: compute), compute: compute)
    }

    /// One update on the calling thread.
    public func step(
        parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>, gradientScale: Float,
        learningRate: Float
    ) {
        step(parameters: parameters, gradients: gradients, gradientScale: gradientScale, learningRate: learningRate,
             compute: .serial)
    }
}

/// An optimizer's state: per-parameter arrays by name (PyTorch's state names, such as
/// "momentum_buffer", "exp_avg") and the number of steps taken.
public struct OptimizerState: Sendable, Equatable {
    public var arrays: [String: [Float]]
    public var steps: Int

    public init(arrays: [String: [Float]], steps: Int) {
        self.arrays = arrays
        self.steps = steps
    }
}

/// A saved optimizer state that does not fit the optimizer.
public struct OptimizerStateError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension OptimizerState {
    /// The array `name`, which must hold `count` values.
    func array(_ name: String, count: Int) throws -> [Float] {
        guard let values = arrays[name] else {
            throw OptimizerStateError("optimizer state has no \(name) (it has \(arrays.keys.sorted()))")
        }
        guard values.count == count else {
            throw OptimizerStateError("optimizer state \(name) holds \(values.count) values for \(count) parameters")
        }
        return values
    }
}
