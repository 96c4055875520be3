/// One learnable tensor a layer asks for: its PyTorch suffix ("weight", "bias"), its
/// shape in PyTorch's layout, and how PyTorch initializes it.
public struct ParameterSpec: Sendable, Equatable {
    public let suffix: String
    public let shape: [Int]
    public let initialization: Initialization
    public var count: Int { shape.reduce(1, *) }

    public init(suffix: String, shape: [Int], initialization: Initialization) {
        self.suffix = suffix
        self.shape = shape
        self.initialization = initialization
    }
}

/// PyTorch's default initializations.
public enum Initialization: Sendable, Equatable {
    /// U(-1/sqrt(fanIn), 1/sqrt(fanIn)): Linear and Conv2d weights and biases
    /// (kaiming_uniform with a = sqrt(5) gives bound sqrt(6 / ((1 + 5) fanIn)) = 1/sqrt(fanIn)).
    case uniformFanIn(Int)
    /// Every element set to the value (BatchNorm: weight 1, bias 0, running_var 1).
    case constant(Float)
}

/// The model's flat storage as one layer call sees it. Layers keep only offsets into
/// these buffers (given once by `bind`), so no layer holds a pointer that could outlive
/// the model; the model hands the base addresses over for the duration of each call.
public struct LayerContext {
    /// All parameter values of the model (a layer reads its own at its offsets).
    public let parameters: UnsafePointer<Float>
    /// Where `backward` accumulates parameter gradients (same layout as `parameters`);
    /// nil in forward-only passes.
    public let gradients: UnsafeMutablePointer<Float>?
    /// Non-learnable buffers (BatchNorm running statistics).
    public let buffers: UnsafeMutablePointer<Float>
    /// Training mode (batch statistics, saved state for backward) or evaluation mode.
    public let training: Bool
    /// Threads for the kernels.
    public let compute: Compute
    /// Where a training forward writes per-batch statistics (same layout as `buffers`),
    /// which the model folds into its buffers after they were summed over ranks
    /// (`Model.foldStatistics`); nil when not needed.
    public var statistics: UnsafeMutablePointer<Float>? = nil
    /// Who is in the batch, for layers whose randomness must follow the instance (Dropout).
    public var identity: BatchIdentity? = nil
    /// Sums a buffer over all ranks in place (synchronized BatchNorm); nil: this rank only.
    public var synchronize: ((UnsafeMutableBufferPointer<Double>) -> Void)? = nil
    /// Told after each child's backward by composite layers: that layer's parameter gradients
    /// are final (a trainer starts reducing them while backward goes on).
    public var backwardFinished: ((Layer) -> Void)? = nil
    /// Measures the time inside leaf layers (benchmarks); nil in training.
    public var leafTimer: LeafTimer? = nil
    /// Scratch memory shared by all layers of the model, at least the largest
    /// `scratchSize(maxBatch:threads:)` of them: a layer may overwrite all of it during a
    /// call, so nothing in it survives from one call to the next (a composite must not
    /// keep data there while its children run).
    public let scratch: UnsafeMutableBufferPointer<Float>

    public init(
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>?, buffers: UnsafeMutablePointer<Float>,
        training: Bool, compute: Compute, scratch: UnsafeMutableBufferPointer<Float> = .init(start: nil, count: 0)
    ) {
        self.parameters = parameters
        self.gradients = gradients
        self.buffers = buffers
        self.training = training
        self.compute = compute
        self.scratch = scratch
    }
}

/// The instances of a batch and the (seed, epoch) of the run, so that random choices
/// made for an instance depend only on (seed, epoch, global id): not on its rank or slot.
public struct BatchIdentity {
    public let seed: UInt64
    public let epoch: Int
    /// Global id of each instance of the batch, in batch order.
    public let ids: UnsafePointer<Int32>

    public init(seed: UInt64, epoch: Int, ids: UnsafePointer<Int32>) {
        self.seed = seed
        self.epoch = epoch
        self.ids = ids
    }
}

/// A layer: a forward/backward pair over a batch of samples of fixed per-sample shape.
///
/// Buffers are raw, batch-major and sized by the caller (`batch * shape product`), so
/// the training loop allocates nothing per step. `backward` accumulates parameter
/// gradients with `+=` into `context.gradients` and writes the input gradient only when
/// `dx` is non-nil (the first layer of a model needs none). Composite layers (`Sequential`)
/// list their sub-layers in `children`; the model names every tensor from that tree.
public protocol Layer: AnyObject, CustomStringConvertible {
    /// Per-sample input shape (C, H, W) or (features).
    var inputShape: [Int] { get }
    /// Per-sample output shape.
    var outputShape: [Int] { get }
    /// Sub-layers in PyTorch registration order, with their attribute names; a nil name
    /// puts the child's tensors directly under this layer's prefix.
    var children: [(name: String?, layer: Layer)] { get }
    /// This layer's own parameters (not its children's), in PyTorch order; empty for none.
    var parameterSpecs: [ParameterSpec] { get }
    /// This layer's own non-learnable buffers, in PyTorch order.
    var bufferSpecs: [ParameterSpec] { get }
    /// The offsets of this layer's first parameter and first buffer in the model's flat
    /// stores; its tensors follow each other in spec order.
    func bind(parameterOffset: Int, bufferOffset: Int)
    /// Sizes the workspaces for batches of up to `maxBatch` samples (children included).
    func reserve(maxBatch: Int)
    /// Folds per-batch `statistics` (summed over ranks, written by training forwards of
    /// `instances` instances in all) into this layer's own buffers; both pointers are the
    /// model's, the layer uses its own offsets.
    func foldStatistics(_ statistics: UnsafePointer<Float>, into buffers: UnsafeMutablePointer<Float>, instances: Int)
    /// True for layers with a PyTorch `num_batches_tracked` counter (BatchNorm): the model
    /// keeps one count of training steps and writes it under each such layer's name.
    var tracksBatches: Bool { get }
    /// True when a training forward/backward talks to the other ranks (synchronized
    /// BatchNorm), so that a rank with an empty batch must still take part.
    var communicates: Bool { get }
    /// True when the output is the input's bytes unchanged (a reshape such as Flatten): a
    /// chain then hands its input on as its output, and its output gradient back as its
    /// input gradient, instead of calling it to copy them (on a node whose cores are far
    /// apart, the copy costs the cache lines another core last touched).
    var isView: Bool { get }
    /// True when `forward` may write its output over its input (`x` and `y` the same
    /// buffer) and `backward` its input gradient over its output gradient, reading only `y`
    /// and `dy` (elementwise layers such as ReLU): a chain then runs it in place on the
    /// output of a layer whose `backwardReadsOutput` is false, as PyTorch's `inplace=True`,
    /// saving a pass that writes a new buffer and the cache it would take.
    var runsInPlace: Bool { get }
    /// True when `backward` reads its `y` (the output of `forward`): a chain then never
    /// lets the next layer run in place over that output. Conservatively true by default.
    var backwardReadsOutput: Bool { get }
    /// Floats of `LayerContext.scratch` this layer itself (not its children) needs in a call
    /// on up to `maxBatch` samples with `threads` threads. Memory that only lives for one
    /// call belongs there rather than in the layer, so that a deep model needs the largest
    /// layer's scratch once instead of every layer's.
    func scratchSize(maxBatch: Int, threads: Int) -> Int
    /// y = f(x) for `batch` samples.
    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext)
    /// Given dL/dy, accumulates dL/dparameters and writes dL/dx when `dx` is non-nil.
    /// Must follow a `forward` in training mode on the same `x`.
    func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext)
}

extension Layer {
    public var children: [(name: String?, layer: Layer)] { [] }
    public var parameterSpecs: [ParameterSpec] { [] }
    public var bufferSpecs: [ParameterSpec] { [] }
    public func bind(parameterOffset: Int, bufferOffset: Int) {}
    public func reserve(maxBatch: Int) {}
    public func foldStatistics(_ statistics: UnsafePointer<Float>, into buffers: UnsafeMutablePointer<Float>, instances: Int) {}
    public var tracksBatches: Bool { false }
    public var communicates: Bool { false }
    public var isView: Bool { false }
    public var runsInPlace: Bool { false }
    public var backwardReadsOutput: Bool { true }
    public func scratchSize(maxBatch: Int, threads: Int) -> Int { 0 }
    public var inputSize: Int { inputShape.reduce(1, *) }
    public var outputSize: Int { outputShape.reduce(1, *) }
}

/// Errors building a model from shapes that do not fit.
public struct ShapeError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
