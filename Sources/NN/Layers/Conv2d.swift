/// 2-D convolution, PyTorch `nn.Conv2d(in, out, kernel, stride, padding, bias)`.
///
/// Shapes: x [B, Cin, H, W], weight [Cout, Cin, kh, kw], bias [Cout], y [B, Cout, Ho, Wo]
/// with Ho = (H + 2 pad - kh) / stride + 1; activations stay NCHW and the weight stays in
/// PyTorch's layout in the model's parameters.
///
/// Two algorithms, chosen per shape (`algorithm`):
/// - `lowered` (any kernel, stride, padding; `Conv2d+Lowered.swift`): im2col of a few
///   images at a time and one sgemm per group, writing NCHW directly when a group is one
///   image; 1x1 stride-1 convolutions multiply the image itself.
/// - `winograd` (3x3, stride 1; `Conv2d+Winograd.swift`): F(2x2, 3x3), 16 sgemms over
///   transformed tiles, 2.25x fewer multiplications; `winograd4`: F(4x4, 3x3), 36 sgemms,
///   4x fewer. With stride 2 (`Conv2d+WinogradStrideTwo.swift`), `winograd` is the
///   stride-2 pass: 2x2 output tiles from 5x5 patches, 25 sgemms, 1.44x fewer.
/// Both split the batch over `Compute`'s threads, each thread running single-threaded
/// sgemm on its own images, and keep their temporary matrices in the model's shared
/// `LayerContext.scratch` (nothing per layer scales with the batch).
public final class Conv2d: Layer {
    public let inChannels: Int, outChannels: Int
    public let height: Int, width: Int
    public let kernel: Int, stride: Int, padding: Int
    public let outHeight: Int, outWidth: Int
    public let hasBias: Bool
    /// Offset of the weight in the model's parameters; the bias (if any) follows it.
    var weightOffset = 0
    let geometry: ConvGeometry

    /// How the convolution is computed.
    public enum Algorithm: String, Sendable, CaseIterable {
        /// The fastest measured for the shape: `winograd4` for 3x3 stride-1 convolutions with
        /// at least 64 channels in and out and outputs of at least 16x16, or at least 16
        /// channels and outputs of 3, 4, 7 or 8 a side; `winograd` for other 3x3 stride-1 ones
        /// with at least 8 channels in and out and for 3x3 stride-2 ones with as many channels
        /// and outputs of at least 7x7, else `lowered`.
        case automatic
        /// im2col + sgemm per group of images (every shape).
        case lowered
        /// Winograd F(2x2, 3x3) (3x3 kernels with stride 1 or 2, padding at most 2; others
        /// fall back to `lowered`).
        case winograd
        /// Winograd F(4x4, 3x3): 4x fewer multiplications than direct, larger rounding errors
        /// (3x3 kernels with stride 1; others fall back to `lowered`).
        case winograd4
    }

    /// The requested algorithm (tests and benchmarks force one; `automatic` by default).
    /// The model sizes its scratch from it: set it before building the model, or call
    /// `Model.reserveScratch()` after.
    public var algorithm: Algorithm = .automatic

    public init(
        inputShape shape: [Int], outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true
    ) throws {
        guard shape.count == 3 else { throw ShapeError("Conv2d expects (C, H, W) input, got \(shape)") }
        inChannels = shape[0]; height = shape[1]; width = shape[2]
        self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        hasBias = bias
        guard kernel > 0, stride > 0, padding >= 0, outChannels > 0,
              height + 2 * padding >= kernel, width + 2 * padding >= kernel
        else {
            throw ShapeError("Conv2d(kernel=\(kernel), stride=\(stride), padding=\(padding)) does not fit input \(shape)")
        }
        outHeight = (height + 2 * padding - kernel) / stride + 1
        outWidth = (width + 2 * padding - kernel) / stride + 1
        geometry = ConvGeometry(
            inChannels: inChannels, height: height, width: width, kernel: kernel, stride: stride, padding: padding,
            outHeight: outHeight, outWidth: outWidth)
    }

    public var inputShape: [Int] { [inChannels, height, width] }
    public var outputShape: [Int] { [outChannels, outHeight, outWidth] }
    var patchSize: Int { inChannels * kernel * kernel }
    var positions: Int { outHeight * outWidth }
    public var parameterSpecs: [ParameterSpec] {
        let weight = ParameterSpec(
            suffix: "weight", shape: [outChannels, inChannels, kernel, kernel], initialization: .uniformFanIn(patchSize))
        guard hasBias else { return [weight] }
        return [weight, ParameterSpec(suffix: "bias", shape: [outChannels], initialization: .uniformFanIn(patchSize))]
    }
    public func bind(parameterOffset: Int, bufferOffset: Int) { weightOffset = parameterOffset }
    var biasOffset: Int { weightOffset + outChannels * patchSize }
    public var description: String {
        "Conv2d(\(inChannels), \(outChannels), kernel_size=(\(kernel), \(kernel)), stride=(\(stride), \(stride)), "
            + "padding=(\(padding), \(padding))\(hasBias ? "" : ", bias=False"))"
    }

    /// Backward needs x, the weight and dy, never y: a ReLU after it may run in place.
    public var backwardReadsOutput: Bool { false }

    /// The algorithm that runs: `algorithm` resolved for this shape.
    public var resolvedAlgorithm: Algorithm {
        switch algorithm {
        case .lowered: return .lowered
        case .winograd:
            return WinogradPlan.applies(to: geometry) || StrideTwoWinogradPass.applies(to: geometry) ? .winograd : .lowered
        case .winograd4: return WinogradPlan.applies(to: geometry) ? .winograd4 : .lowered
        case .automatic:
            if WinogradPlan.paysWithLargeTiles(for: geometry, outChannels: outChannels) { return .winograd4 }
            if StrideTwoWinogradPass.pays(for: geometry, outChannels: outChannels) { return .winograd }
            return WinogradPlan.pays(for: geometry, outChannels: outChannels) ? .winograd : .lowered
        }
    }

    public func scratchSize(maxBatch: Int, threads: Int) -> Int {
        let pieces = max(1, min(threads, maxBatch))
        if usesStrideTwoWinograd { return strideTwoWinogradPlan(batch: maxBatch, pieces: pieces).scratch(pieces: pieces) }
        switch resolvedAlgorithm {
        case .winograd, .winograd4:
            let byImages = winogradPlan(batch: maxBatch, pieces: pieces).scratch(pieces: pieces)
            let byChannels = winogradChannelPlan(batch: maxBatch, pieces: pieces)?.scratch(pieces: pieces) ?? 0
            return max(byImages, byChannels)
        default: return loweredPlan.perPiece * pieces
        }
    }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        if usesStrideTwoWinograd { return forwardStrideTwoWinograd(x, y, batch: batch, context: context) }
        switch resolvedAlgorithm {
        case .winograd, .winograd4: forwardWinograd(x, y, batch: batch, context: context)
        default: forwardLowered(x, y, batch: batch, context: context)
        }
    }

    public func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) {
        guard let gradients = context.gradients else { return }
        if usesStrideTwoWinograd {
            return backwardStrideTwoWinograd(x, dy, dx, gradients: gradients, batch: batch, context: context)
        }
        switch resolvedAlgorithm {
        case .winograd, .winograd4: backwardWinograd(x, dy, dx, gradients: gradients, batch: batch, context: context)
        default: backwardLowered(x, dy, dx, gradients: gradients, batch: batch, context: context)
        }
    }
}
