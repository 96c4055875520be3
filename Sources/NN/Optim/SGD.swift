/// Stochastic gradient descent with momentum and weight decay, PyTorch `torch.optim.SGD` semantics
/// (Sutskever et al. 2013 momentum form as implemented by PyTorch, dampening 0, no Nesterov).
///
/// For each parameter p with gradient g (already divided by the instance count):
///   d = g + weightDecay * p              (decay added to the gradient, before momentum)
///   buf = d on the first step, else momentum * buf + d
///   p = p - lr * buf
public final class SGD: Optimizer {
    public let momentum: Float
    public let weightDecay: Float
    public let parameterCount: Int
    /// Momentum buffers, one float per parameter.
    private var velocity: [Float]
    /// Steps taken; PyTorch initializes the buffer with d on the first.
    private var steps = 0

    public init(parameterCount: Int, momentum: Float, weightDecay: Float) {
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.parameterCount = parameterCount
        velocity = [Float](repeating: 0, count: parameterCount)
    }

    public func step(
        parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>, gradientScale: Float,
        learningRate lr: Float, split: ParameterSplit, compute: Compute
    ) {
        precondition(parameters.count == parameterCount && gradients.count >= parameterCount && split.count == parameterCount)
        let wd = weightDecay, m = momentum, scale = gradientScale
        guard let p = parameters.baseAddress, let g = gradients.baseAddress else { return }
        defer { steps += 1 }
        if momentum == 0 {
            split.forEachRange(compute: compute) { range in
                for i in range { p[i] -= lr * (g[i] * scale + wd * p[i]) }
            }
            return
        }
        let first = steps == 0
        velocity.withUnsafeMutableBufferPointer { buffer in
            let v = buffer.baseAddress!
            split.forEachRange(compute: compute) { range in
                if first {
                    for i in range {
                        let d = g[i] * scale + wd * p[i]
                        v[i] = d
                        p[i] -= lr * d
                    }
                } else {
                    for i in range {
                        let d = g[i] * scale + wd * p[i]
                        v[i] = m * v[i] + d
                        p[i] -= lr * v[i]
                    }
                }
            }
        }
    }

    public var state: OptimizerState { OptimizerState(arrays: ["momentum_buffer": velocity], steps: steps) }

    public func restore(_ state: OptimizerState) throws {
        velocity = try state.array("momentum_buffer", count: parameterCount)
        steps = state.steps
    }
}
