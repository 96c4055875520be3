/// The buffer one data-parallel step reduces: the model's gradients followed by a small
/// tail [instance count, loss sum, correct], so that ONE allreduce per step combines
/// everything the ranks need to agree on.
///
/// Layout (floats): [0, parameterCount) gradients | count | loss sum | correct.
public final class StepBuffer {
    public let parameterCount: Int
    private var storage: [Float]

    public static let tailCount = 3

    public init(parameterCount: Int) {
        self.parameterCount = parameterCount
        storage = [Float](repeating: 0, count: parameterCount + Self.tailCount)
    }

    /// Zeroes gradients and tail.
    public func zero() {
        storage.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// The gradient part, for `Model.backward(into:)`.
    public func withGradients<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeMutableBufferPointer { try body(UnsafeMutableBufferPointer(rebasing: $0[0..<parameterCount])) }
    }

    /// The whole buffer, for the allreduce.
    public func withAll<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeMutableBufferPointer { try body($0) }
    }

    /// Instances in the step (after a reduction: over all ranks).
    public var count: Int {
        get { Int(storage[parameterCount]) }
        set { storage[parameterCount] = Float(newValue) }
    }

    /// Sum of the instances' losses.
    public var lossSum: Float {
        get { storage[parameterCount + 1] }
        set { storage[parameterCount + 1] = newValue }
    }

    /// Correct predictions among them.
    public var correct: Int {
        get { Int(storage[parameterCount + 2]) }
        set { storage[parameterCount + 2] = Float(newValue) }
    }
}
