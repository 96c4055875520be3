import Dispatch
import NN
import RunFormat
import Training

/// The arithmetic of one leaf layer on a batch: floating-point operations of its forward
/// and backward passes, and the shapes of the single sgemm calls that would do the same
/// work (for a convolution, its im2col lowering over the whole batch), which give the
/// rate the layer could reach if it ran at sgemm speed.
public struct LayerCost: Sendable {
    /// C[m, n] = op(A)[m, k] op(B)[k, n], row-major, A stored [k, m] when `transA`,
    /// B stored [n, k] when `transB`.
    public struct GEMM: Hashable, Sendable, CustomStringConvertible {
        public let m: Int, n: Int, k: Int
        public let transA: Bool, transB: Bool
        public init(m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false) {
            self.m = m; self.n = n; self.k = k; self.transA = transA; self.transB = transB
        }
        public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
        public var description: String { "\(m)x\(n)x\(k)" }
    }

    public var forwardFlops = 0.0
    /// Parameter gradients, plus the input gradient when it is asked for.
    public var backwardFlops = 0.0
    public var forwardGEMM: GEMM?
    public var backwardGEMMs: [GEMM] = []

    /// The cost of `layer` on `batch` samples; `inputGradient` false for a model's first
    /// layer, whose backward computes parameter gradients only. Layers without GEMM-shaped
    /// work (activations, pooling, reshapes) cost zero flops.
    public init(_ layer: Layer, batch: Int, inputGradient: Bool) {
        if let conv = layer as? Conv2d {
            let k = conv.inChannels * conv.kernel * conv.kernel
            let columns = batch * conv.outHeight * conv.outWidth
            forwardGEMM = GEMM(m: conv.outChannels, n: columns, k: k)
            backwardGEMMs = [GEMM(m: conv.outChannels, n: k, k: columns, transB: true)]
            if inputGradient { backwardGEMMs.append(GEMM(m: k, n: columns, k: conv.outChannels, transA: true)) }
        } else if let linear = layer as? Linear {
            forwardGEMM = GEMM(m: batch, n: linear.outFeatures, k: linear.inFeatures, transB: true)
            backwardGEMMs = [GEMM(m: linear.outFeatures, n: linear.inFeatures, k: batch, transA: true)]
            if inputGradient { backwardGEMMs.append(GEMM(m: batch, n: linear.inFeatures, k: linear.outFeatures)) }
        }
        forwardFlops = forwardGEMM?.flops ?? 0
        backwardFlops = backwardGEMMs.reduce(0) { $0 + $1.flops }
    }
}

/// One leaf layer timed alone on a batch (see `Benchmark.profileLayers`).
public struct LayerProfile: Sendable {
    /// The tensor-name prefix of the layer ("0", "layer1.0.conv1").
    public var name: String
    /// A compact description: "Conv2d 32>64 3x3 s1 p1", "Linear 784>256", "ReLU".
    public let summary: String
    public let outputShape: [Int]
    public let cost: LayerCost
    /// Median seconds of one forward (training mode) and one backward call.
    public let forwardSeconds: Double
    public let backwardSeconds: Double
    /// Median seconds of its forward and backward inside the whole model's passes (nil when
    /// not measured).
    public var insideSeconds: (forward: Double, backward: Double)?
    /// GFLOP/s of OpenBLAS sgemm at `cost.forwardGEMM`, and at the backward shapes
    /// together (backward flops over the summed sgemm times); nil without GEMM work.
    public var sgemmForward: Double?
    public var sgemmBackward: Double?

    public static func summary(of layer: Layer) -> String {
        if let conv = layer as? Conv2d {
            return "Conv2d \(conv.inChannels)>\(conv.outChannels) \(conv.kernel)x\(conv.kernel) s\(conv.stride) p\(conv.padding)"
                + (conv.hasBias ? "" : " nb") + " " + conv.resolvedAlgorithm.shortName
        }
        if let linear = layer as? Linear { return "Linear \(linear.inFeatures)>\(linear.outFeatures)" }
        return String(describing: type(of: layer))
    }

    public var forwardGFLOPS: Double { cost.forwardFlops / forwardSeconds / 1e9 }
    public var backwardGFLOPS: Double { cost.backwardFlops / backwardSeconds / 1e9 }
}

/// Every leaf of a model timed alone, beside the whole model's forward and backward.
public struct ModelProfile: Sendable {
    public init(
        batch: Int, threads: Int, layers: [LayerProfile], modelForwardSeconds: Double, modelBackwardSeconds: Double
    ) {
        self.batch = batch
        self.threads = threads
        self.layers = layers
        self.modelForwardSeconds = modelForwardSeconds
        self.modelBackwardSeconds = modelBackwardSeconds
    }

    public let batch: Int
    public let threads: Int
    public let layers: [LayerProfile]
    /// Median seconds of the model's own forward (training) and backward on one batch:
    /// the leaves plus what composites do between them.
    public let modelForwardSeconds: Double
    public let modelBackwardSeconds: Double
    /// Median seconds the leaves take inside the model's forward and backward (nil when the
    /// profile is not of a whole model).
    public var leavesInsideSeconds: (forward: Double, backward: Double)?
    public var leafSeconds: Double { layers.reduce(0) { $0 + $1.forwardSeconds + $1.backwardSeconds } }
    public var modelSeconds: Double { modelForwardSeconds + modelBackwardSeconds }
}

extension Benchmark {
    /// Median over `repeats` runs of the mean seconds per call of `body`, each run calling it
    /// for about `seconds` (at least once), after one warm-up call.
    public static func secondsPerCall(repeats: Int, seconds: Double, _ body: () -> Void) -> Double {
        body()
        return median((0..<repeats).map { _ in perCall(seconds: seconds, body).seconds })
    }

    /// Single-thread GFLOP/s of fused multiply-adds in registers (`BLAS.fmaChains`): the
    /// peak one core reaches; median of `repeats` runs of about `seconds`.
    public static func fmaPeakGFLOPS(repeats: Int, seconds: Double) -> Double {
        let flopsPerRound = 24.0 * Double(BLAS.fmaLanes)
        var sink: Float = 0
        var rounds = 1 << 16
        // Size the run so that one call takes about `seconds`.
        while true {
            let start = monotonicSeconds()
            sink += BLAS.fmaChains(rounds: rounds)
            let elapsed = monotonicSeconds() - start
            if elapsed > seconds / 4 || rounds > 1 << 40 {
                rounds = max(1, Int(Double(rounds) * seconds / max(elapsed, 1e-9)))
                break
            }
            rounds *= 4
        }
        let rates = (0..<repeats).map { _ -> Double in
            let start = monotonicSeconds()
            sink += BLAS.fmaChains(rounds: rounds)
            return flopsPerRound * Double(rounds) / (monotonicSeconds() - start) / 1e9
        }
        if sink.isNaN { print("") }  // keeps the result alive
        return median(rates)
    }

    /// Median GFLOP/s of one sgemm of `shape` on `threads` threads, through `BLAS.sgemm`:
    /// OpenBLAS's own threads, or where libxsmm runs the GEMMs (single-threaded kernels), the
    /// rows of C split over `threads` threads, as NN's layers split them.
    public static func sgemmGFLOPS(_ shape: LayerCost.GEMM, threads: Int, repeats: Int, seconds: Double) -> Double {
        var generator = SeededGenerator(seed: 7)
        let a = (0..<(shape.m * shape.k)).map { _ in generator.uniform(-1, 1) }
        let b = (0..<(shape.k * shape.n)).map { _ in generator.uniform(-1, 1) }
        var c = [Float](repeating: 0, count: shape.m * shape.n)
        let lda = shape.transA ? shape.m : shape.k, ldb = shape.transB ? shape.k : shape.n
        let parts = BLAS.usesLibxsmm ? max(1, min(threads, shape.m)) : 1
        let perCall = BLAS.withThreads(parts > 1 ? 1 : threads) { a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    let (pa, pb, pc) = (pa.baseAddress!, pb.baseAddress!, pc.baseAddress!)
                    return secondsPerCall(repeats: repeats, seconds: seconds) {
                        DispatchQueue.concurrentPerform(iterations: parts) { part in
                            let first = shape.m * part / parts, rows = shape.m * (part + 1) / parts - first
                            BLAS.sgemm(
                                transA: shape.transA, transB: shape.transB, m: rows, n: shape.n, k: shape.k,
                                a: pa + (shape.transA ? first : first * lda), lda: lda, b: pb, ldb: ldb,
                                beta: 0, c: pc + first * shape.n, ldc: shape.n)
                        }
                    }
                }
            }
        } }
        return shape.flops / perCall / 1e9
    }

    /// Times every leaf of `model` alone on `batch` samples of random data: forward in
    /// training mode, then backward (parameter gradients, and the input gradient when a leaf
    /// before it has parameters, as in a training step); also the whole model's forward
    /// and backward, with the time its leaves take inside it (`LeafTimer`). The leaves and
    /// the model are timed in turn in each of `repeats` rounds, so that a machine whose
    /// speed drifts affects both alike. With `sgemm`, measures OpenBLAS at each layer's
    /// GEMM shapes as well (shapes shared by several layers are measured once).
    /// `firstInputGradient` makes every leaf compute its input gradient (layers timed as if
    /// inside a network).
    public static func profileLayers(
        model: Model, batch: Int, repeats: Int, seconds: Double, sgemm: Bool, firstInputGradient: Bool = false
    ) -> ModelProfile {
        precondition(batch <= model.maxBatch)
        var generator = SeededGenerator(seed: 13)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in generator.uniform(-1, 1) } }
        var gradients = [Float](repeating: 0, count: model.parameters.count)
        // Dropout draws its masks from the batch's instance ids.
        let ids = [Int32](0..<Int32(batch))
        let idPointer = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, batch))
        defer { idPointer.deallocate() }
        idPointer.update(from: ids, count: batch)
        let timer = LeafTimer()
        let options = Model.TrainingOptions(identity: BatchIdentity(seed: 1, epoch: 0, ids: idPointer), leafTimer: timer)
        let leaves = Model.walk(model.root).filter { $0.layer.children.isEmpty }.map { $0.layer }
        var inputGradients: [Bool] = []
        var parametersBefore = firstInputGradient
        for layer in leaves {
            inputGradients.append(parametersBefore)
            parametersBefore = parametersBefore || !layer.parameterSpecs.isEmpty
        }
        // One set of buffers, as large as the largest leaf needs: a leaf's backward follows
        // its own forward, so nothing of another leaf's is needed in between.
        let inputs = leaves.map { batch * $0.inputSize }.max() ?? 0
        let outputs = leaves.map { batch * $0.outputSize }.max() ?? 0
        let x = random(inputs), dy = random(outputs)
        var y = [Float](repeating: 0, count: outputs), dx = [Float](repeating: 0, count: inputs)
        let input = random(batch * model.inputSize)
        model.input.update(from: input, count: input.count)
        let outputGradient = random(batch * model.outputSize)
        model.outputGradient.update(from: outputGradient, count: outputGradient.count)

        var leafForward = [[Double]](repeating: [], count: leaves.count)
        var leafBackward = leafForward
        var modelForward: [Double] = [], modelBackward: [Double] = []
        var insideForward: [Double] = [], insideBackward: [Double] = []
        var leafInsideForward = leafForward, leafInsideBackward = leafForward
        gradients.withUnsafeMutableBufferPointer { g in
            x.withUnsafeBufferPointer { x in
                y.withUnsafeMutableBufferPointer { y in
                    dy.withUnsafeBufferPointer { dy in
                        dx.withUnsafeMutableBufferPointer { dx in
                            let (x, y, dy, dx) = (x.baseAddress!, y.baseAddress!, dy.baseAddress!, dx.baseAddress!)
                            for round in 0...repeats {  // round 0 warms up
                                model.withContext(gradients: g, training: true, options: options) { context in
                                    for (i, layer) in leaves.enumerated() {
                                        let forward = perCall(seconds: round == 0 ? 0 : seconds) {
                                            layer.forward(x, y, batch: batch, context: context)
                                        }
                                        let backward = perCall(seconds: round == 0 ? 0 : seconds) {
                                            layer.backward(
                                                x, UnsafePointer(y), dy, inputGradients[i] ? dx : nil, batch: batch,
                                                context: context)
                                        }
                                        guard round > 0 else { continue }
                                        leafForward[i].append(forward.seconds)
                                        leafBackward[i].append(backward.seconds)
                                    }
                                }
                                timer.reset()
                                let forward = perCall(seconds: round == 0 ? 0 : seconds) {
                                    model.forward(batch: batch, training: true, options: options)
                                }
                                let forwardInside = timer.forwardSeconds
                                let backward = perCall(seconds: round == 0 ? 0 : seconds) {
                                    model.backward(batch: batch, into: g, options: options)
                                }
                                guard round > 0 else { continue }
                                modelForward.append(forward.seconds)
                                modelBackward.append(backward.seconds)
                                insideForward.append(forwardInside / Double(forward.calls))
                                insideBackward.append(timer.backwardSeconds / Double(backward.calls))
                                for (i, layer) in leaves.enumerated() {
                                    let inside = timer.perLeaf[ObjectIdentifier(layer)] ?? (0, 0)
                                    leafInsideForward[i].append(inside.forward / Double(forward.calls))
                                    leafInsideBackward[i].append(inside.backward / Double(backward.calls))
                                }
                            }
                        }
                    }
                }
            }
        }
        let names = Model.walk(model.root).filter { $0.layer.children.isEmpty }.map { $0.prefix }
        var profiles = zip(names, leaves).enumerated().map { i, pair -> LayerProfile in
            let name = pair.0.hasSuffix(".") ? String(pair.0.dropLast()) : pair.0
            return LayerProfile(
                name: name.isEmpty ? "(root)" : name, summary: LayerProfile.summary(of: pair.1),
                outputShape: pair.1.outputShape, cost: LayerCost(pair.1, batch: batch, inputGradient: inputGradients[i]),
                forwardSeconds: median(leafForward[i]), backwardSeconds: median(leafBackward[i]),
                insideSeconds: (median(leafInsideForward[i]), median(leafInsideBackward[i])))
        }

        if sgemm {
            let threads = model.compute.threads
            var rates: [LayerCost.GEMM: Double] = [:]
            func rate(_ shape: LayerCost.GEMM) -> Double {
                if let known = rates[shape] { return known }
                let measured = sgemmGFLOPS(shape, threads: threads, repeats: repeats, seconds: seconds)
                rates[shape] = measured
                return measured
            }
            for i in profiles.indices {
                let cost = profiles[i].cost
                if let shape = cost.forwardGEMM { profiles[i].sgemmForward = rate(shape) }
                if !cost.backwardGEMMs.isEmpty {
                    let seconds = cost.backwardGEMMs.reduce(0) { $0 + $1.flops / (rate($1) * 1e9) }
                    profiles[i].sgemmBackward = cost.backwardFlops / seconds / 1e9
                }
            }
        }
        var profile = ModelProfile(
            batch: batch, threads: model.compute.threads, layers: profiles, modelForwardSeconds: median(modelForward),
            modelBackwardSeconds: median(modelBackward))
        profile.leavesInsideSeconds = (median(insideForward), median(insideBackward))
        return profile
    }

    /// Calls `body` for about `seconds` (at least once); the mean seconds per call and the calls.
    static func perCall(seconds: Double, _ body: () -> Void) -> (seconds: Double, calls: Int) {
        let start = monotonicSeconds()
        var calls = 0
        repeat {
            body()
            calls += 1
        } while monotonicSeconds() - start < seconds
        return ((monotonicSeconds() - start) / Double(calls), calls)
    }
}

extension ModelProfile {
    /// The profile as a text table: per leaf, forward and backward milliseconds, GFLOP/s
    /// and OpenBLAS sgemm GFLOP/s at the layer's GEMM shapes, and its share of the
    /// model's forward + backward time; then the totals.
    public var table: [String] {
        func cell(_ value: Double?, _ format: String) -> String {
            guard let value, value.isFinite, value > 0 else { return String(repeating: " ", count: 7) + "-" }
            return String(format: format, value)
        }
        /// `text` filled to `width`, or followed by one space when it is as long or longer.
        func padded(_ text: String, _ width: Int) -> String {
            text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
        }
        var lines = [
            padded("layer", 18) + padded("kind", 30) + padded("output", 13)
                + "  fwd ms GFLOP/s   sgemm   bwd ms GFLOP/s   sgemm  share  in model ms"
        ]
        for layer in layers {
            let gemm = layer.cost.forwardFlops > 0
            lines.append(
                padded(layer.name, 18) + padded(layer.summary, 30)
                    + padded(layer.outputShape.map(String.init).joined(separator: "x"), 13)
                    + String(format: "%8.3f", layer.forwardSeconds * 1e3)
                    + cell(gemm ? layer.forwardGFLOPS : nil, "%8.1f") + cell(layer.sgemmForward, "%8.1f")
                    + String(format: "%9.3f", layer.backwardSeconds * 1e3)
                    + cell(gemm ? layer.backwardGFLOPS : nil, "%8.1f") + cell(layer.sgemmBackward, "%8.1f")
                    + String(format: "%6.1f%%", 100 * (layer.forwardSeconds + layer.backwardSeconds) / modelSeconds)
                    + (layer.insideSeconds.map { String(format: "%13.3f", ($0.forward + $0.backward) * 1e3) } ?? ""))
        }
        let forwardFlops = layers.reduce(0) { $0 + $1.cost.forwardFlops }
        let backwardFlops = layers.reduce(0) { $0 + $1.cost.backwardFlops }
        lines.append(String(
            format: "leaves: forward %.3f ms, backward %.3f ms; model: forward %.3f ms (%.1f GFLOP/s), "
                + "backward %.3f ms (%.1f GFLOP/s); outside the leaves %.3f ms",
            layers.reduce(0) { $0 + $1.forwardSeconds } * 1e3, layers.reduce(0) { $0 + $1.backwardSeconds } * 1e3,
            modelForwardSeconds * 1e3, forwardFlops / modelForwardSeconds / 1e9,
            modelBackwardSeconds * 1e3, backwardFlops / modelBackwardSeconds / 1e9,
            (modelSeconds - leafSeconds) * 1e3))
        if let inside = leavesInsideSeconds {
            lines.append(String(
                format: "inside the model: leaves forward %.3f ms, backward %.3f ms (%+.3f ms against alone); "
                    + "between the leaves (residual sums, their gradients, calls) %.3f ms",
                inside.forward * 1e3, inside.backward * 1e3, (inside.forward + inside.backward - leafSeconds) * 1e3,
                (modelSeconds - inside.forward - inside.backward) * 1e3))
        }
        return lines
    }
}

extension Conv2d.Algorithm {
    /// The algorithm's tag in the layer tables.
    fileprivate var shortName: String {
        switch self {
        case .automatic: return "auto"
        case .lowered: return "low"
        case .winograd: return "wino"
        case .winograd4: return "wino4"
        }
    }
}
