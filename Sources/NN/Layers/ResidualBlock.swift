/// A residual block of the ResNet family: y = relu(main(x) + shortcut(x)), with the
/// shortcut the identity or a 1x1 convolution and BatchNorm when the shape changes.
///
/// The main path's layers are named directly under the block (`conv1`, `bn1`, ...), the
/// shortcut's as `shortcut.0`, `shortcut.1`, as in the IES reference's CIFAR ResNets.
/// Backward: g = dy · [y > 0]; the main path and the shortcut each get g, and
/// dx = dx_main + dx_shortcut (or + g for the identity).
public final class ResidualBlock: Layer {
    public let name: String
    public let main: Sequential
    public let shortcut: Sequential?
    private var mainOutput: [Float] = []
    private var shortcutOutput: [Float] = []
    private var gradient: [Float] = []
    private var shortcutGradient: [Float] = []

    public init(name: String, main: Sequential, shortcut: Sequential?) throws {
        guard (shortcut?.inputShape ?? main.inputShape) == main.inputShape,
              (shortcut?.outputShape ?? main.inputShape) == main.outputShape
        else {
            throw ShapeError(
                "\(name): the shortcut must map \(main.inputShape) to \(main.outputShape) like the main path")
        }
        self.name = name
        self.main = main
        self.shortcut = shortcut
    }

    public var inputShape: [Int] { main.inputShape }
    public var outputShape: [Int] { main.outputShape }
    public var children: [(name: String?, layer: Layer)] {
        [(nil, main)] + (shortcut.map { [("shortcut", $0)] } ?? [])
    }

    public func reserve(maxBatch: Int) {
        main.reserve(maxBatch: maxBatch)
        shortcut?.reserve(maxBatch: maxBatch)
        let out = maxBatch * outputSize, input = maxBatch * inputSize
        if mainOutput.count < out {
            mainOutput = [Float](repeating: 0, count: out)
            gradient = [Float](repeating: 0, count: out)
            if shortcut != nil { shortcutOutput = [Float](repeating: 0, count: out) }
        }
        if shortcut != nil && shortcutGradient.count < input { shortcutGradient = [Float](repeating: 0, count: input) }
    }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        let count = batch * outputSize
        mainOutput.withUnsafeMutableBufferPointer { m in
            main.forward(x, m.baseAddress!, batch: batch, context: context)
            if let shortcut {
                shortcutOutput.withUnsafeMutableBufferPointer { s in
                    shortcut.forward(x, s.baseAddress!, batch: batch, context: context)
                    context.compute.alignedChunks(count, minimumPerChunk: Compute.elementwiseMinimum) {
                        Vector.addRelu(m.baseAddress! + $0, s.baseAddress! + $0, y + $0, count: $1)
                    }
                }
            } else {
                context.compute.alignedChunks(count, minimumPerChunk: Compute.elementwiseMinimum) {
                    Vector.addRelu(m.baseAddress! + $0, x + $0, y + $0, count: $1)
                }
            }
        }
    }

    public func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) {
        let count = batch * outputSize
        gradient.withUnsafeMutableBufferPointer { g in
            let g = g.baseAddress!
            Vector.reluBackward(y, dy, g, count: count, compute: context.compute)
            mainOutput.withUnsafeBufferPointer { m in
                main.backward(x, m.baseAddress!, g, dx, batch: batch, context: context)
                context.backwardFinished?(main)
            }
            if let shortcut {
                shortcutOutput.withUnsafeBufferPointer { s in
                    shortcutGradient.withUnsafeMutableBufferPointer { ds in
                        shortcut.backward(
                            x, s.baseAddress!, g, dx == nil ? nil : ds.baseAddress!, batch: batch, context: context)
                        context.backwardFinished?(shortcut)
                        if let dx {
                            context.compute.alignedChunks(batch * inputSize, minimumPerChunk: Compute.elementwiseMinimum) {
                                Vector.accumulate(ds.baseAddress! + $0, into: dx + $0, count: $1)
                            }
                        }
                    }
                }
            } else if let dx {
                context.compute.alignedChunks(count, minimumPerChunk: Compute.elementwiseMinimum) {
                    Vector.accumulate(g + $0, into: dx + $0, count: $1)
                }
            }
        }
    }

    public var description: String {
        var lines = ["\(name)("]
        for child in main.children where child.name != nil { lines.append("  (\(child.name!)): \(child.layer)") }
        if let shortcut {
            let text = "\(shortcut)".split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n  ")
            lines.append("  (shortcut): \(text)")
        } else {
            lines.append("  (shortcut): Sequential()")
        }
        lines.append(")")
        return lines.joined(separator: "\n")
    }
}
