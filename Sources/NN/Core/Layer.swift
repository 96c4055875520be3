/// One learnable tensor a layer asks for: its PyTorch suffix ("weight", "bias"),
/// its shape in PyTorch's layout, and the fan-in used by PyTorch's default init.
public struct ParameterSpec: Sendable, Equatable {
    public let suffix: String
    public let shape: [Int]
    public let fanIn: Int
    public var count: Int { shape.reduce(1, *) }

    public init(suffix: String, shape: [Int], fanIn: Int) {
        self.suffix = suffix
        self.shape = shape
        self.fanIn = fanIn
    }
}

/// A view of one parameter tensor and its gradient inside the model's flat buffers.
public struct ParameterView {
    public let value: UnsafeMutablePointer<Float>
    public let gradient: UnsafeMutablePointer<Float>
    public let count: Int
}

/// A layer: a forward/backward pair over a batch of samples of fixed per-sample shape.
///
/// Buffers are raw, batch-major and sized by the caller (`batch * shape product`),
/// so the training loop allocates nothing per step. `backward` accumulates
/// parameter gradients with `+=` and writes the input gradient only when `dx`
/// is non-nil (the first layer of a model needs none).
public protocol Layer: AnyObject, CustomStringConvertible {
    /// Per-sample input shape (C, H, W) or (features).
    var inputShape: [Int] { get }
    /// Per-sample output shape.
    var outputShape: [Int] { get }
    /// The parameters this layer owns, in PyTorch order; empty for none.
    var parameterSpecs: [ParameterSpec] { get }
    /// Gives the layer its views into the model's flat buffers, one per spec.
    func bind(_ views: [ParameterView])
    /// Sizes the workspaces for batches of up to `maxBatch` samples.
    func reserve(maxBatch: Int)
    /// y = f(x) for `batch` samples.
    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, training: Bool)
    /// Given dL/dy, accumulates dL/dparameters and writes dL/dx when `dx` is non-nil.
    /// Must follow a `forward(training: true)` on the same `x`.
    func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int)
}

extension Layer {
    public var parameterSpecs: [ParameterSpec] { [] }
    public func bind(_ views: [ParameterView]) {}
    public func reserve(maxBatch: Int) {}
    public var inputSize: Int { inputShape.reduce(1, *) }
    public var outputSize: Int { outputShape.reduce(1, *) }
}

/// Errors building a model from shapes that do not fit.
public struct ShapeError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
