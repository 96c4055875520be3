/// PyTorch `nn.Dropout(p)`: in training each element is zeroed with probability p and the
/// others scaled by 1/(1-p); in evaluation the identity.
///
/// The mask of an instance is a function of (seed, epoch, global id, `stream`) only
/// (`LayerContext.identity`), so a run's result does not depend on which rank holds the
/// instance or on its slot; `stream` tells two dropout layers of a model apart.
public final class Dropout: Layer {
    public let inputShape: [Int]
    public let probability: Float
    public let stream: UInt64
    /// The mask of the last training forward (0 or 1/(1-p) per element).
    private var mask: [Float] = []

    public init(shape: [Int], probability: Float = 0.5, stream: UInt64) throws {
        guard probability >= 0, probability < 1 else { throw ShapeError("Dropout probability must be in [0, 1), got \(probability)") }
        inputShape = shape
        self.probability = probability
        self.stream = stream
    }

    public var outputShape: [Int] { inputShape }
    public var description: String { "Dropout(p=\(probability), inplace=False)" }

    public func reserve(maxBatch: Int) {
        if mask.count < maxBatch * inputSize { mask = [Float](repeating: 0, count: maxBatch * inputSize) }
    }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        let size = inputSize
        guard context.training, probability > 0 else {
            y.update(from: x, count: batch * size)
            return
        }
        guard let identity = context.identity else {
            preconditionFailure("Dropout in training mode needs the batch's identity (seed, epoch, instance ids)")
        }
        let keep = 1 / (1 - probability), p = probability
        mask.withUnsafeMutableBufferPointer { mask in
            for n in 0..<batch {
                var generator = SeededGenerator(
                    seed: identity.seed, streams: UInt64(identity.epoch), UInt64(UInt32(bitPattern: identity.ids[n])),
                    stream)
                let m = mask.baseAddress! + n * size, xs = x + n * size, ys = y + n * size
                for i in 0..<size {
                    m[i] = generator.nextUnitFloat() < p ? 0 : keep
                    ys[i] = xs[i] * m[i]
                }
            }
        }
    }

    /// The keep mask (1 kept, 0 dropped) of the last training forward's first `batch`
    /// instances, batch-major: for checking against a reference.
    public func keepMask(batch: Int) -> [Float] {
        mask.prefix(batch * inputSize).map { $0 == 0 ? 0 : 1 }
    }

    public func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) {
        guard let dx else { return }
        guard probability > 0 else {
            dx.update(from: dy, count: batch * inputSize)
            return
        }
        mask.withUnsafeBufferPointer { mask in
            for i in 0..<(batch * inputSize) { dx[i] = dy[i] * mask[i] }
        }
    }
}
