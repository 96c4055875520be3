import Foundation

/// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019) with the semantics of
/// PyTorch's `torch.optim.Adam` / `torch.optim.AdamW` (single-tensor path, amsgrad and
/// maximize off). AdamW is this class with `decoupledWeightDecay: true`.
///
/// Step t (counted from 1) for each parameter p with summed gradient G:
///   g = G * gradientScale
///   Adam:  g = g + weightDecay * p                 (L2, before the moments)
///   AdamW: p = p * (1 - lr * weightDecay)          (decoupled, before the update)
///   m = lerp(m, g, 1 - beta1) = m + (1 - beta1)(g - m)
///   v = beta2 v + ((1 - beta2) g) g
///   bc1 = 1 - beta1^t,  bc2 = 1 - beta2^t          (Double)
///   stepSize = lr / bc1,  root = sqrt(bc2)         (Double, then Float once per step)
///   denom = sqrt(v) / root + eps
///   p = p - (stepSize * m) / denom
///
/// As in PyTorch's float32 path, the per-element arithmetic is Float and the scalars
/// (weight decay, 1 - beta1, beta2, 1 - beta2, eps, the decay factor) are computed in
/// Double and rounded to Float. `lerp` follows PyTorch: for a weight w >= 0.5 it is
/// g - (g - m)(1 - w) instead, which only matters for beta1 <= 0.5.
public final class Adam: Optimizer {
    public let weightDecay: Float
    /// AdamW when true: weight decay shrinks the parameters instead of entering the gradient.
    public let decoupledWeightDecay: Bool
    public let beta1: Double
    public let beta2: Double
    public let epsilon: Double
    public let parameterCount: Int
    /// First moments ("exp_avg"), one float per parameter.
    private var firstMoment: [Float]
    /// Second moments ("exp_avg_sq"), one float per parameter.
    private var secondMoment: [Float]
    /// Steps taken; the next step is t = steps + 1.
    private var steps = 0

    /// `Adam(decoupledWeightDecay: false)` is torch.optim.Adam, `true` torch.optim.AdamW
    /// (whose PyTorch default weight decay, 1e-2, is not implied here).
    public init(
        parameterCount: Int, weightDecay: Float, decoupledWeightDecay: Bool,
        beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8
    ) {
        precondition(parameterCount >= 0, "Adam: negative parameter count \(parameterCount)")
        precondition((0..<1).contains(beta1) && (0..<1).contains(beta2), "Adam: betas must be in [0, 1), got \(beta1), \(beta2)")
        precondition(epsilon >= 0 && weightDecay >= 0, "Adam: epsilon and weight decay must be >= 0")
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.parameterCount = parameterCount
        firstMoment = [Float](repeating: 0, count: parameterCount)
        secondMoment = [Float](repeating: 0, count: parameterCount)
    }

    public func step(
        parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>, gradientScale: Float,
        learningRate lr: Float, split: ParameterSplit, compute: Compute
    ) {
        precondition(parameters.count == parameterCount && gradients.count >= parameterCount && split.count == parameterCount)
        guard let p = parameters.baseAddress, let g = gradients.baseAddress else { return }
        steps += 1
        let t = Double(steps)
        // Per-step scalars, each rounded to Float once (PyTorch passes them as Python floats).
        let stepSize = Float(Double(lr) / (1 - pow(beta1, t)))
        let root = Float((1 - pow(beta2, t)).squareRoot())
        let weight = Float(1 - beta1)
        let smallWeight = abs(weight) < 0.5
        let b2 = Float(beta2), c2 = Float(1 - beta2), eps = Float(epsilon), scale = gradientScale
        let addL2 = !decoupledWeightDecay && weightDecay != 0
        let l2 = weightDecay
        // p * 1 is exact, so Adam (and AdamW without decay) multiplies by 1.
        let shrink: Float = decoupledWeightDecay && weightDecay != 0 ? Float(1 - Double(lr) * Double(weightDecay)) : 1
        firstMoment.withUnsafeMutableBufferPointer { firstBuffer in
            secondMoment.withUnsafeMutableBufferPointer { secondBuffer in
                let m = firstBuffer.baseAddress!, v = secondBuffer.baseAddress!
                split.forEachRange(compute: compute) { range in
                    // `addL2` and `smallWeight` are loop invariant; the compiler unswitches them.
                    for i in range {
                        let pi = p[i] * shrink
                        var gi = g[i] * scale
                        if addL2 { gi = gi + l2 * pi }
                        let mi = smallWeight ? m[i] + weight * (gi - m[i]) : gi - (gi - m[i]) * (1 - weight)
                        let vi = v[i] * b2 + c2 * gi * gi
                        m[i] = mi
                        v[i] = vi
                        p[i] = pi - stepSize * mi / (vi.squareRoot() / root + eps)
                    }
                }
            }
        }
    }

    public var state: OptimizerState {
        OptimizerState(arrays: ["exp_avg": firstMoment, "exp_avg_sq": secondMoment], steps: steps)
    }

    public func restore(_ state: OptimizerState) throws {
        guard state.steps >= 0 else { throw OptimizerStateError("optimizer state has \(state.steps) steps") }
        let first = try state.array("exp_avg", count: parameterCount)
        let second = try state.array("exp_avg_sq", count: parameterCount)
        if let extra = Set(state.arrays.keys).subtracting(["exp_avg", "exp_avg_sq"]).sorted().first {
            throw OptimizerStateError("optimizer state has \(extra), which Adam does not keep")
        }
        firstMoment = first
        secondMoment = second
        steps = state.steps
    }
}
