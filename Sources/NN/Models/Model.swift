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
    /// Names of PyTorch's `num_batches_tracked` counters (one per BatchNorm layer).
    public let batchCounterNames: [String]
    /// Training steps whose statistics were folded into the buffers: the value of every
    /// `num_batches_tracked` (all BatchNorm layers see every training batch).
    public var trainingSteps: Int64 = 0
    /// Threads for the kernels.
    public var compute: Compute {
        didSet {
            reserveScratch()
            parameterSplit = Self.split(parameters, compute)
        }
    }
    /// How the threads share the parameters in the update and the gradients' zeroing: each
    /// tensor by its rows, as the layers share their outputs (`ParameterSplit.byRows`).
    public private(set) var parameterSplit: ParameterSplit

    private static func split(_ parameters: TensorStore, _ compute: Compute) -> ParameterSplit {
        .byRows(shapes: parameters.entries.map(\.shape), compute: compute)
    }
    public private(set) var maxBatch = 0
    private var inputBuffer: UnsafeMutablePointer<Float>?
    private var outputBuffer: UnsafeMutablePointer<Float>?
    private var outputGradientBuffer: UnsafeMutablePointer<Float>?
    /// `LayerContext.scratch`: the largest need of any layer, shared by all.
    private var scratch = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)

    /// Names every tensor from the layer tree, lays them out and binds each layer to its offsets.
    /// Values start at zero; `initialize(seed:)` sets them as PyTorch would.
    public init(_ root: Layer, maxBatch: Int, compute: Compute) throws {
        self.root = root
        self.compute = compute
        var parameterSpecs: [(name: String, spec: ParameterSpec)] = []
        var bufferSpecs: [(name: String, spec: ParameterSpec)] = []
        var offsets: [(layer: Layer, parameter: Int, buffer: Int)] = []
        var parameterOffset = 0, bufferOffset = 0
        var counters: [String] = []
        for (prefix, layer) in Model.walk(root) {
            offsets.append((layer, parameterOffset, bufferOffset))
            if layer.tracksBatches { counters.append(prefix + "num_batches_tracked") }
            for spec in layer.parameterSpecs {
                parameterSpecs.append((prefix + spec.suffix, spec))
                parameterOffset += spec.count
            }
            for spec in layer.bufferSpecs {
                bufferSpecs.append((prefix + spec.suffix, spec))
                bufferOffset += spec.count
            }
        }
        let names = parameterSpecs.map(\.name) + bufferSpecs.map(\.name) + counters
        var seen = Set<String>()
        if let clash = names.first(where: { !seen.insert($0).inserted }) {
            throw ShapeError("two tensors are both named \(clash)")
        }
        parameters = TensorStore(parameterSpecs)
        buffers = TensorStore(bufferSpecs)
        parameterSplit = Self.split(parameters, compute)
        batchCounterNames = counters
        for (layer, parameter, buffer) in offsets { layer.bind(parameterOffset: parameter, bufferOffset: buffer) }
        reserve(maxBatch: maxBatch)
    }

    deinit {
        release()
        scratch.deallocate()
    }

    private func release() {
        inputBuffer?.deallocate()
        outputBuffer?.deallocate()
        outputGradientBuffer?.deallocate()
    }

    /// Sizes the shared scratch for `maxBatch` and the current threads (grows only); call it
    /// after changing what a layer needs (`Conv2d.algorithm`).
    public func reserveScratch() {
        // At least one cache line, so that the scratch always has an address.
        let needed = max(16, Model.walk(root).map { $0.layer.scratchSize(maxBatch: maxBatch, threads: compute.threads) }.max() ?? 0)
        guard needed > scratch.count else { return }
        scratch.deallocate()
        scratch = .allocate(capacity: needed)
        scratch.initialize(repeating: 0)
    }

    /// Floats of scratch memory shared by the layers.
    public var scratchCount: Int { scratch.count }

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
        trainingSteps = 0
    }

    /// Floats a training forward may write as per-batch statistics (the layout of `buffers`).
    public var statisticsCount: Int { buffers.count }

    /// Folds per-batch statistics, summed over ranks, of a training step of `instances`
    /// instances in all into the buffers (BatchNorm running statistics), and counts the step.
    public func foldStatistics(_ statistics: UnsafeBufferPointer<Float>, instances: Int) {
        precondition(statistics.count == statisticsCount)
        guard instances > 0 else { return }
        trainingSteps += 1
        guard statisticsCount > 0, let base = statistics.baseAddress else { return }
        for (_, layer) in Model.walk(root) where !layer.bufferSpecs.isEmpty {
            layer.foldStatistics(base, into: buffers.base, instances: instances)
        }
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
        reserveScratch()
    }

    /// Where the caller writes a batch of inputs [B, inputShape].
    public var input: UnsafeMutablePointer<Float> { inputBuffer! }
    /// The last forward's outputs [B, outputShape].
    public var output: UnsafePointer<Float> { UnsafePointer(outputBuffer!) }
    /// Where the caller writes dL/doutput before `backward`.
    public var outputGradient: UnsafeMutablePointer<Float> { outputGradientBuffer! }

    /// How a training pass is run beyond the batch itself.
    public struct TrainingOptions {
        /// Where per-batch statistics go (`statisticsCount` floats), for `foldStatistics`.
        public var statistics: UnsafeMutableBufferPointer<Float>?
        /// The batch's instances (Dropout masks follow them).
        public var identity: BatchIdentity?
        /// Sums over all ranks, for synchronized BatchNorm; nil: each rank normalizes with its own batch.
        public var synchronize: ((UnsafeMutableBufferPointer<Double>) -> Void)?
        /// Told, during backward, each layer whose parameter gradients are final.
        public var backwardFinished: ((Layer) -> Void)?
        /// Measures the time inside leaf layers (`ies bench --layers`).
        public var leafTimer: LeafTimer?

        public init(
            statistics: UnsafeMutableBufferPointer<Float>? = nil, identity: BatchIdentity? = nil,
            synchronize: ((UnsafeMutableBufferPointer<Double>) -> Void)? = nil,
            backwardFinished: ((Layer) -> Void)? = nil, leafTimer: LeafTimer? = nil
        ) {
            self.statistics = statistics
            self.identity = identity
            self.synchronize = synchronize
            self.backwardFinished = backwardFinished
            self.leafTimer = leafTimer
        }
    }

    /// Runs the layers on `input` for `batch` samples; training mode keeps what backward needs.
    /// With synchronized BatchNorm a rank whose batch is empty still calls this (batch 0), so
    /// that it takes part in every reduction.
    public func forward(batch: Int, training: Bool, options: TrainingOptions = TrainingOptions()) {
        precondition(batch <= maxBatch, "batch \(batch) exceeds the reserved \(maxBatch)")
        precondition(options.statistics.map { $0.count == statisticsCount } ?? true)
        withContext(gradients: nil, training: training, options: options) {
            root.forward(UnsafePointer(input), outputBuffer!, batch: batch, context: $0)
        }
    }

    /// Backpropagates `outputGradient` through all layers, accumulating (+=) the parameter
    /// gradients into `gradients` (`parameters.count` floats). Follows a training forward
    /// with the same `options`.
    public func backward(
        batch: Int, into gradients: UnsafeMutableBufferPointer<Float>, options: TrainingOptions = TrainingOptions()
    ) {
        precondition(gradients.count == parameters.count, "gradients hold \(gradients.count) floats, not \(parameters.count)")
        withContext(gradients: gradients, training: true, options: options) {
            root.backward(UnsafePointer(input), output, UnsafePointer(outputGradient), nil, batch: batch, context: $0)
            $0.backwardFinished?(root)
        }
    }

    /// The layers of the tree that own parameters, each with the range of its parameters
    /// in the flat buffer.
    public var parameterRanges: [(layer: Layer, range: Range<Int>)] {
        var result: [(Layer, Range<Int>)] = []
        var offset = 0
        for (_, layer) in Model.walk(root) {
            let count = layer.parameterSpecs.reduce(0) { $0 + $1.count }
            if count > 0 { result.append((layer, offset..<(offset + count))) }
            offset += count
        }
        return result
    }

    /// Runs `body` with the context the model's layers see (for calling a layer directly:
    /// tests, per-layer benchmarks). `gradients` must hold `parameters.count` floats.
    public func withContext<R>(
        gradients: UnsafeMutableBufferPointer<Float>?, training: Bool, options: TrainingOptions = TrainingOptions(),
        _ body: (LayerContext) throws -> R
    ) rethrows -> R {
        precondition(gradients.map { $0.count == parameters.count } ?? true)
        var context = LayerContext(
            parameters: UnsafePointer(parameters.base), gradients: gradients?.baseAddress, buffers: buffers.base,
            training: training, compute: compute, scratch: scratch)
        context.statistics = options.statistics?.baseAddress
        context.identity = options.identity
        context.synchronize = options.synchronize
        context.backwardFinished = options.backwardFinished
        context.leafTimer = options.leafTimer
        return try body(context)
    }

    public var description: String { "\(root)" }
}
