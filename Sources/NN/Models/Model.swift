/// A network ready to train: a tree of layers whose tensors are named as PyTorch names
/// them ("0.weight", "layer1.0.bn1.running_mean"), its parameters in ONE flat buffer,
/// its non-learnable buffers in a second, and input/output workspaces sized once.
///
/// Gradients are not owned here: `backward` accumulates into a flat buffer the caller
/// provides (same layout as `parameters`), so a trainer can place them where it reduces them.
///
/// ```swift
/// let model = try Model(Sequential([Flatten(shape: [1, 28, 28]), Linear(inFeatures: 784, outFeatures: 10)]),
///                       maxBatch: 64, compute: Compute(threads: 1))
/// // write a batch into model.input, then:
/// model.forward(batch: 64, training: true)   // logits in model.output
/// // write dL/dlogits into model.outputGradient, then:
/// gradients.withUnsafeMutableBufferPointer { model.backward(batch: 64, into: $0) }
/// ```
public final class Model: CustomStringConvertible {
    public let root: Layer
    public let parameters: TensorStore
    public let buffers: TensorStore
    /// Threads for the kernels.
    public var compute: Compute
    public private(set) var maxBatch = 0
    private var inputBuffer: UnsafeMutablePointer<Float>?
    private var outputBuffer: UnsafeMutablePointer<Float>?
    private var outputGradientBuffer: UnsafeMutablePointer<Float>?

    /// Names every tensor from the layer tree, lays them out and binds each layer to its offsets.
    /// Values start at zero; `initialize(seed:)` sets them as PyTorch would.
    public init(_ root: Layer, maxBatch: Int, compute: Compute) throws {
        self.root = root
        self.compute = compute
        var parameterSpecs: [(name: String, spec: ParameterSpec)] = []
        var bufferSpecs: [(name: String, spec: ParameterSpec)] = []
        var offsets: [(layer: Layer, parameter: Int, buffer: Int)] = []
        var parameterOffset = 0, bufferOffset = 0
        for (prefix, layer) in Model.walk(root) {
            offsets.append((layer, parameterOffset, bufferOffset))
            for spec in layer.parameterSpecs {
                parameterSpecs.append((prefix + spec.suffix, spec))
                parameterOffset += spec.count
            }
            for spec in layer.bufferSpecs {
                bufferSpecs.append((prefix + spec.suffix, spec))
                bufferOffset += spec.count
            }
        }
        let names = parameterSpecs.map(\.name) + bufferSpecs.map(\.name)
        if let clash = Dictionary(grouping: names, by: { $0 }).first(where: { $0.value.count > 1 }) {
            throw ShapeError("two tensors are both named \(clash.key)")
        }
        parameters = TensorStore(parameterSpecs)
        buffers = TensorStore(bufferSpecs)
        for (layer, parameter, buffer) in offsets { layer.bind(parameterOffset: parameter, bufferOffset: buffer) }
        reserve(maxBatch: maxBatch)
    }

    deinit { release() }

    private func release() {
        inputBuffer?.deallocate()
        outputBuffer?.deallocate()
        outputGradientBuffer?.deallocate()
    }

    /// Every layer of the tree in pre-order (PyTorch's registration order) with the
    /// prefix of its tensor names ("", "layer1.0.", ...).
    public static func walk(_ root: Layer) -> [(prefix: String, layer: Layer)] {
        var result: [(String, Layer)] = []
        func visit(_ layer: Layer, _ prefix: String) {
            result.append((prefix, layer))
            for child in layer.children { visit(child.layer, child.name.map { prefix + $0 + "." } ?? prefix) }
        }
        visit(root, "")
        return result
    }

    /// The leaves of the tree (layers without children) in forward order.
    public var leaves: [Layer] { Model.walk(root).map(\.layer).filter { $0.children.isEmpty } }

    /// Sets parameters and buffers as PyTorch initializes them; uniform draws come from a
    /// generator seeded by `seed`, in parameter order.
    public func initialize(seed: UInt64) {
        var generator = SeededGenerator(seed: seed, streams: 0x1A17)
        parameters.initialize(generator: &generator)
        buffers.initialize(generator: &generator)
    }

    public var inputShape: [Int] { root.inputShape }
    public var outputShape: [Int] { root.outputShape }
    public var inputSize: Int { root.inputSize }
    public var outputSize: Int { root.outputSize }

    /// Sizes every workspace for batches of up to `maxBatch` (grows only).
    public func reserve(maxBatch newMax: Int) {
        guard newMax > maxBatch else { return }
        release()
        maxBatch = newMax
        inputBuffer = .allocate(capacity: newMax * inputSize)
        outputBuffer = .allocate(capacity: newMax * outputSize)
        outputGradientBuffer = .allocate(capacity: newMax * outputSize)
        root.reserve(maxBatch: newMax)
    }

    /// Where the caller writes a batch of inputs [B, inputShape].
    public var input: UnsafeMutablePointer<Float> { inputBuffer! }
    /// The last forward's outputs [B, outputShape].
    public var output: UnsafePointer<Float> { UnsafePointer(outputBuffer!) }
    /// Where the caller writes dL/doutput before `backward`.
    public var outputGradient: UnsafeMutablePointer<Float> { outputGradientBuffer! }

    /// Runs the layers on `input` for `batch` samples; training mode keeps what backward needs.
    public func forward(batch: Int, training: Bool) {
        precondition(batch <= maxBatch, "batch \(batch) exceeds the reserved \(maxBatch)")
        withContext(gradients: nil, training: training) {
            root.forward(UnsafePointer(input), outputBuffer!, batch: batch, context: $0)
        }
    }

    /// Backpropagates `outputGradient` through all layers, accumulating (+=) the parameter
    /// gradients into `gradients` (`parameters.count` floats). Follows a training forward.
    public func backward(batch: Int, into gradients: UnsafeMutableBufferPointer<Float>) {
        precondition(gradients.count == parameters.count, "gradients hold \(gradients.count) floats, not \(parameters.count)")
        withContext(gradients: gradients, training: true) {
            root.backward(UnsafePointer(input), output, UnsafePointer(outputGradient), nil, batch: batch, context: $0)
        }
    }

    /// Runs `body` with the context the model's layers see (for calling a layer directly:
    /// tests, per-layer benchmarks). `gradients` must hold `parameters.count` floats.
    public func withContext<R>(
        gradients: UnsafeMutableBufferPointer<Float>?, training: Bool, _ body: (LayerContext) throws -> R
    ) rethrows -> R {
        precondition(gradients.map { $0.count == parameters.count } ?? true)
        return try body(
            LayerContext(
                parameters: UnsafePointer(parameters.base), gradients: gradients?.baseAddress, buffers: buffers.base,
                training: training, compute: compute))
    }

    public var description: String { "\(root)" }
}
