/// Stochastic gradient descent with momentum and weight decay, PyTorch `torch.optim.SGD` semantics
/// (Sutskever et al. 2013 momentum form as implemented by PyTorch, dampening 0, no Nesterov).
///
/// For each parameter p with gradient g (already divided by the instance count):
///   d = g + weightDecay * p              (decay added to the gradient, before momentum)
///   buf = d on the first step, else momentum * buf + d
///   p = p - lr * buf
public final class SGD {
    public var momentum: Float
    public var weightDecay: Float
    /// Momentum buffers, one float per parameter (checkpointed).
    public let velocity: UnsafeMutablePointer<Float>
    public let count: Int
    /// False until the first step, when PyTorch initializes the buffer with d.
    public var hasVelocity = false

    public init(parameterCount: Int, momentum: Float, weightDecay: Float) {
        self.momentum = momentum
        self.weightDecay = weightDecay
        count = parameterCount
        velocity = .allocate(capacity: max(1, parameterCount))
        velocity.initialize(repeating: 0, count: max(1, parameterCount))
    }
    deinit { velocity.deallocate() }

    /// One update of `parameters` with `gradients * gradientScale` at learning rate `lr`.
    public func step(
        parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
        gradientScale: Float, lr: Float
    ) {
        let wd = weightDecay, m = momentum, v = velocity
        if momentum == 0 {
            for i in 0..<count { p[i] -= lr * (g[i] * gradientScale + wd * p[i]) }
            return
        }
        if hasVelocity {
            for i in 0..<count {
                let d = g[i] * gradientScale + wd * p[i]
                v[i] = m * v[i] + d
                p[i] -= lr * v[i]
            }
        } else {
            for i in 0..<count {
                let d = g[i] * gradientScale + wd * p[i]
                v[i] = d
                p[i] -= lr * d
            }
            hasVelocity = true
        }
    }

    /// The momentum buffers as an array (checkpoints).
    public var velocitySnapshot: [Float] { Array(UnsafeBufferPointer(start: velocity, count: count)) }

    /// Restores the momentum buffers (checkpoints).
    public func loadVelocity(_ values: [Float], initialized: Bool) {
        precondition(values.count == count)
        values.withUnsafeBufferPointer { velocity.update(from: $0.baseAddress!, count: count) }
        hasVelocity = initialized
    }
}
