/// Global average pooling then flatten, PyTorch `flatten(adaptive_avg_pool2d(x, 1), 1)`:
/// (C, H, W) -> (C), y[n, c] = mean over the plane; dx[n, c, :] = dy[n, c] / (H W).
public final class GlobalAvgPool2d: Layer {
    public let channels: Int, height: Int, width: Int

    public init(shape: [Int]) throws {
        guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else {
            throw ShapeError("GlobalAvgPool2d expects (C, H, W) input, got \(shape)")
        }
        channels = shape[0]; height = shape[1]; width = shape[2]
    }

    public var inputShape: [Int] { [channels, height, width] }
    public var outputShape: [Int] { [channels] }
    public var description: String { "AdaptiveAvgPool2d(output_size=1)" }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        let plane = height * width, inverse = 1 / Float(plane)
        for i in 0..<(batch * channels) {
            var sum: Float = 0
            let p = x + i * plane
            for j in 0..<plane { sum += p[j] }
            y[i] = sum * inverse
        }
    }

    public func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) {
        guard let dx else { return }
        let plane = height * width, inverse = 1 / Float(plane)
        for i in 0..<(batch * channels) { (dx + i * plane).update(repeating: dy[i] * inverse, count: plane) }
    }
}
