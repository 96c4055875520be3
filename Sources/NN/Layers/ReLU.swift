/// Rectified linear unit, PyTorch `nn.ReLU`: y = max(x, 0), dx = dy * [y > 0].
public final class ReLU: Layer {
    public let inputShape: [Int]
    public init(shape: [Int]) { inputShape = shape }
    public var outputShape: [Int] { inputShape }
    public var description: String { "ReLU()" }
    /// Elementwise, and backward needs only y and dy: a chain may run it in place.
    public var runsInPlace: Bool { true }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        Vector.relu(x, y, count: batch * inputSize, compute: context.compute)
    }

    public func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) {
        guard let dx else { return }
        Vector.reluBackward(y, dy, dx, count: batch * inputSize, compute: context.compute)
    }
}
