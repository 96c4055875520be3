import NN

/// The optimizers `ies` offers, with PyTorch's semantics (see `SGD` and `Adam`).
public enum OptimizerChoice: String, Sendable, Codable, CaseIterable {
    /// SGD with momentum; weight decay added to the gradient.
    case sgd
    /// Adam (betas 0.9/0.999, eps 1e-8); weight decay added to the gradient (L2).
    case adam
    /// AdamW: Adam with decoupled weight decay.
    case adamw

    /// A fresh optimizer of this kind for `parameterCount` parameters.
    public func make(parameterCount: Int, momentum: Double, weightDecay: Double) -> Optimizer {
        switch self {
        case .sgd:
            return SGD(parameterCount: parameterCount, momentum: Float(momentum), weightDecay: Float(weightDecay))
        case .adam, .adamw:
            return Adam(parameterCount: parameterCount, weightDecay: Float(weightDecay), decoupledWeightDecay: self == .adamw)
        }
    }
}
