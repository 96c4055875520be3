/// PyTorch `nn.Flatten`: (C, H, W) -> (C*H*W) in C, H, W order; a copy in NCHW.
public final class Flatten: Layer {
    public let inputShape: [Int]
    public init(shape: [Int]) { inputShape = shape }
    public var outputShape: [Int] { [inputSize] }
    public var description: String { "Flatten(start_dim=1, end_dim=-1)" }
    /// NCHW is already (C·H·W) per sample: a chain skips the copy (`Layer.isView`).
    public var isView: Bool { true }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        y.update(from: x, count: batch * inputSize)
    }

    public func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) {
        dx?.update(from: dy, count: batch * inputSize)
    }
}
