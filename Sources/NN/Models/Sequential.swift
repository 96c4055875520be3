/// A chain of layers, PyTorch `nn.Sequential`: each layer's output is the next one's
/// input. Children are named "0", "1", ... as in PyTorch, or given explicit attribute
/// names (a nil name puts a child's tensors under the chain's own prefix).
///
/// The chain owns the activations between its layers (sized by `reserve`) and two
/// gradient buffers that alternate during backward.
public final class Sequential: Layer {
    public let children: [(name: String?, layer: Layer)]
    public var layers: [Layer] { children.map(\.layer) }
    /// The first child with parameters (or talking to other ranks) in its subtree, or
    /// `children.count`: backward computes no input gradient below it unless the caller asks
    /// for dx (PyTorch does not backpropagate into a network's input either).
    private let firstWithParameters: Int
    /// Whether child i is a leaf (no children of its own), for `LayerContext.leafTimer`.
    private let isLeaf: [Bool]
    /// Whether child i is a view before the last child (`Layer.isView`): never called, its
    /// input is handed on as its output and its output gradient back as its input gradient.
    private let isHandedOn: [Bool]
    /// The activation that holds child i's input: the output of child source[i], or the
    /// chain's input x when -1 (views looked through).
    private let source: [Int]
    /// Whether child i runs in place (`Layer.runsInPlace`) over the output of child
    /// source[i], whose backward does not read it (`Layer.backwardReadsOutput`), before the
    /// last child: its output is that buffer, and its input gradient overwrites its output
    /// gradient unless that is the caller's dy.
    private let isInPlace: [Bool]
    /// activations[i] is the output of layer i, for i < count - 1 (the last writes into y);
    /// empty for a view that is handed on, activations[source[i]] for a layer in place.
    private var activations: [UnsafeMutablePointer<Float>] = []
    /// The indices of the children that run in place over the output before them.
    public var childrenInPlace: [Int] { isInPlace.indices.filter { isInPlace[$0] } }
    private var gradientA: UnsafeMutablePointer<Float>?
    private var gradientB: UnsafeMutablePointer<Float>?
    private var capacity = 0

    /// PyTorch `nn.Sequential(*layers)`: children named by their index.
    public convenience init(_ layers: [Layer]) throws {
        try self.init(named: layers.enumerated().map { (String($0.offset), $0.element) })
    }

    /// A chain whose children have the given attribute names.
    public init(named children: [(String?, Layer)]) throws {
        guard !children.isEmpty else { throw ShapeError("Sequential needs at least one layer") }
        for (i, pair) in zip(children, children.dropFirst()).enumerated()
        where pair.0.1.outputShape != pair.1.1.inputShape {
            throw ShapeError(
                "layer \(pair.0.0 ?? String(i)) outputs \(pair.0.1.outputShape) but layer \(pair.1.0 ?? String(i + 1)) "
                    + "expects \(pair.1.1.inputShape)")
        }
        self.children = children.map { (name: $0.0, layer: $0.1) }
        firstWithParameters = children.firstIndex { child in
            Model.walk(child.1).contains { !$0.layer.parameterSpecs.isEmpty || $0.layer.communicates }
        } ?? children.count
        isLeaf = children.map { $0.1.children.isEmpty }
        let handedOn = children.indices.map { $0 < children.count - 1 && children[$0].1.isView }
        isHandedOn = handedOn
        let source = children.indices.map { i in
            var j = i - 1
            while j >= 0 && handedOn[j] { j -= 1 }
            return j
        }
        self.source = source
        isInPlace = children.indices.map { i in
            i < children.count - 1 && !handedOn[i] && children[i].1.runsInPlace && source[i] >= 0
                && !children[source[i]].1.backwardReadsOutput
        }
    }

    deinit { release() }

    private func release() {
        for (i, activation) in activations.enumerated() where !isInPlace[i] { activation.deallocate() }
        activations = []
        gradientA?.deallocate()
        gradientB?.deallocate()
    }

    public var inputShape: [Int] { children[0].layer.inputShape }
    public var outputShape: [Int] { children[children.count - 1].layer.outputShape }

    public func reserve(maxBatch: Int) {
        for child in children { child.layer.reserve(maxBatch: maxBatch) }
        guard maxBatch > capacity else { return }
        release()
        capacity = maxBatch
        let inner = children.dropLast().map { $0.layer.outputSize }
        activations = []
        for i in inner.indices {
            activations.append(
                isInPlace[i] ? activations[source[i]] : .allocate(capacity: isHandedOn[i] ? 0 : maxBatch * inner[i]))
        }
        let largest = inner.max() ?? 0
        if largest > 0 {
            gradientA = .allocate(capacity: maxBatch * largest)
            gradientB = .allocate(capacity: maxBatch * largest)
        }
    }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        precondition(batch <= capacity, "Sequential: batch \(batch) exceeds the reserved \(capacity)")
        let last = children.count - 1
        for (i, child) in children.enumerated() where !isHandedOn[i] && Sequential.runs(child.layer, batch: batch) {
            let timer = isLeaf[i] ? context.leafTimer : nil
            timer?.start()
            child.layer.forward(input(of: i, x), i == last ? y : activations[i], batch: batch, context: context)
            timer?.stop(child.layer, forward: true)
        }
    }

    /// Child i's input: x or an earlier child's output, looking through views handed on.
    @inline(__always)
    private func input(of i: Int, _ x: UnsafePointer<Float>) -> UnsafePointer<Float> {
        source[i] < 0 ? x : UnsafePointer(activations[source[i]])
    }

    public func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) {
        let last = children.count - 1
        var gradient = dy
        var spare = gradientA, other = gradientB
        for i in stride(from: last, through: 0, by: -1) where Sequential.runs(children[i].layer, batch: batch) {
            // Below the first layer with parameters, gradients only matter if the caller wants dx.
            if dx == nil && i < firstWithParameters { break }
            let input = input(of: i, x)
            let output = i == last ? y : isHandedOn[i] ? input : UnsafePointer(activations[i])
            let toCaller = i == 0 || (dx == nil && i == firstWithParameters)
            let overwrites = isInPlace[i] && !toCaller && gradient != dy
            let inputGradient = toCaller ? dx : overwrites ? UnsafeMutablePointer(mutating: gradient) : spare
            // A view handed on passes the gradient through, unless it is the caller's dx.
            if isHandedOn[i] && inputGradient != dx {
                context.backwardFinished?(children[i].layer)
                continue
            }
            let timer = isLeaf[i] ? context.leafTimer : nil
            timer?.start()
            children[i].layer.backward(input, output, gradient, inputGradient, batch: batch, context: context)
            timer?.stop(children[i].layer, forward: false)
            context.backwardFinished?(children[i].layer)
            if overwrites { continue }
            if let inputGradient { gradient = UnsafePointer(inputGradient) }
            swap(&spare, &other)
        }
    }

    /// An empty batch (batch 0) only visits layers that talk to other ranks, and the
    /// composites holding them, in the usual order, so that every rank joins every reduction.
    static func runs(_ layer: Layer, batch: Int) -> Bool {
        batch > 0 || layer.communicates || !layer.children.isEmpty
    }

    public var description: String {
        var lines = ["Sequential("]
        for (i, child) in children.enumerated() {
            let text = "\(child.layer)".split(separator: "\n", omittingEmptySubsequences: false)
                .joined(separator: "\n  ")
            lines.append("  (\(child.name ?? String(i))): \(text)")
        }
        lines.append(")")
        return lines.joined(separator: "\n")
    }
}
