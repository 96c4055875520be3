/// A stack of layers with PyTorch `nn.Sequential` naming ("0.weight", "3.bias", ...),
/// its flat parameter store, and activation/gradient workspaces sized once.
///
/// Usage: write a batch into `input`, call `forward`, read `output`; for training,
/// write dL/doutput into `outputGradient` and call `backward`, which accumulates
/// into `parameters.gradients`.
public final class Sequential: CustomStringConvertible {
    public let layers: [Layer]
    public let parameters: ParameterStore
    public private(set) var maxBatch = 0
    /// activations[0] is the input; activations[i + 1] the output of layer i.
    private var activations: [UnsafeMutablePointer<Float>] = []
    private var gradientA: UnsafeMutablePointer<Float>?
    private var gradientB: UnsafeMutablePointer<Float>?

    public init(_ layers: [Layer], maxBatch: Int) throws {
        precondition(!layers.isEmpty)
        for (i, pair) in zip(layers, layers.dropFirst()).enumerated() where pair.0.outputShape != pair.1.inputShape {
            throw ShapeError("layer \(i) outputs \(pair.0.outputShape) but layer \(i + 1) expects \(pair.1.inputShape)")
        }
        self.layers = layers
        var specs: [(name: String, spec: ParameterSpec)] = []
        for (index, layer) in layers.enumerated() {
            for spec in layer.parameterSpecs { specs.append(("\(index).\(spec.suffix)", spec)) }
        }
        parameters = ParameterStore(entries: specs)
        var offset = 0
        for layer in layers {
            let views = layer.parameterSpecs.map { spec -> ParameterView in
                defer { offset += spec.count }
                return ParameterView(
                    value: parameters.values + offset, gradient: parameters.gradients + offset, count: spec.count)
            }
            layer.bind(views)
        }
        reserve(maxBatch: maxBatch)
    }

    deinit { release() }

    private func release() {
        activations.forEach { $0.deallocate() }
        gradientA?.deallocate()
        gradientB?.deallocate()
    }

    public var inputShape: [Int] { layers[0].inputShape }
    public var outputShape: [Int] { layers[layers.count - 1].outputShape }
    public var inputSize: Int { layers[0].inputSize }
    public var outputSize: Int { layers[layers.count - 1].outputSize }

    /// Sizes every workspace for batches of up to `maxBatch` (grows only).
    public func reserve(maxBatch newMax: Int) {
        guard newMax > maxBatch else { return }
        release()
        maxBatch = newMax
        var largest = inputSize
        activations = [.allocate(capacity: newMax * inputSize)]
        for layer in layers {
            activations.append(.allocate(capacity: newMax * layer.outputSize))
            largest = max(largest, layer.outputSize)
            layer.reserve(maxBatch: newMax)
        }
        gradientA = .allocate(capacity: newMax * largest)
        gradientB = .allocate(capacity: newMax * largest)
    }

    /// Where the caller writes a batch of inputs [B, inputShape].
    public var input: UnsafeMutablePointer<Float> { activations[0] }
    /// The last forward's outputs [B, outputShape].
    public var output: UnsafePointer<Float> { UnsafePointer(activations[layers.count]) }
    /// Where the caller writes dL/doutput before `backward`.
    public var outputGradient: UnsafeMutablePointer<Float> { gradientA! }

    public func forward(batch: Int, training: Bool) {
        precondition(batch <= maxBatch, "batch \(batch) exceeds reserved \(maxBatch)")
        for (i, layer) in layers.enumerated() {
            layer.forward(activations[i], activations[i + 1], batch: batch, training: training)
        }
    }

    /// Backpropagates `outputGradient` through all layers (no input gradient for layer 0).
    public func backward(batch: Int) {
        var dy = gradientA!, dx = gradientB!
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            layers[i].backward(activations[i], activations[i + 1], dy, i == 0 ? nil : dx, batch: batch)
            swap(&dy, &dx)
        }
    }

    public var description: String {
        var lines = ["Sequential("]
        for (i, layer) in layers.enumerated() { lines.append("  (\(i)): \(layer)") }
        lines.append(")")
        return lines.joined(separator: "\n")
    }
}
