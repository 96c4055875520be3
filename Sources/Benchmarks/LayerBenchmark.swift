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
    /// GFLOP/s of OpenBLAS sgemm at `cost.forwardGEMM`, and at the backward shapes
    /// together (backward flops over the summed sgemm times); nil without GEMM work.
    public var sgemmForward: Double?
    public var sgemmBackward: Double?

    public static func summary(of layer: Layer) -> String {
        if let conv = layer as? Conv2d {
            return "Conv2d \(conv.inChannels)>\(conv.outChannels) \(conv.kernel)x\(conv.kernel) s\(conv.stride) p\(conv.padding)"
                + (conv.hasBias ? "" : " nb") + " " + (conv.resolvedAlgorithm == .winograd ? "wino" : "low")
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
    public var leafSeconds: Double { layers.reduce(0) { $0 + $1.forwardSeconds + $1.backwardSeconds } }
    public var modelSeconds: Double { modelForwardSeconds + modelBackwardSeconds }
}

extension Benchmark {
    /// Median over `repeats` runs of the mean seconds per call of `body`, each run calling it
    /// for about `seconds` (at least once), after one warm-up call.
    public static func secondsPerCall(repeats: Int, seconds: Double, _ body: () -> Void) -> Double {
        body()
        let runs = (0..<repeats).map { _ -> Double in
            let start = monotonicSeconds()
            var calls = 0
            repeat {
                body()
                calls += 1
            } while monotonicSeconds() - start < seconds
            return (monotonicSeconds() - start) / Double(calls)
        }
        return median(runs)
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

    /// Median GFLOP/s of one sgemm of `shape` with OpenBLAS on `threads` threads.
    public static func sgemmGFLOPS(_ shape: LayerCost.GEMM, threads: Int, repeats: Int, seconds: Double) -> Double {
        var generator = SeededGenerator(seed: 7)
        let a = (0..<(shape.m * shape.k)).map { _ in generator.uniform(-1, 1) }
        let b = (0..<(shape.k * shape.n)).map { _ in generator.uniform(-1, 1) }
        var c = [Float](repeating: 0, count: shape.m * shape.n)
        let perCall = BLAS.withThreads(threads) { a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    secondsPerCall(repeats: repeats, seconds: seconds) {
                        BLAS.sgemm(
                            transA: shape.transA, transB: shape.transB, m: shape.m, n: shape.n, k: shape.k,
                            a: pa.baseAddress!, lda: shape.transA ? shape.m : shape.k,
                            b: pb.baseAddress!, ldb: shape.transB ? shape.k : shape.n,
                            beta: 0, c: pc.baseAddress!, ldc: shape.n)
                    }
                }
            }
        } }
        return shape.flops / perCall / 1e9
    }

    /// Times every leaf of `model` alone on `batch` samples of random data: forward in
    /// training mode, then backward (parameter gradients, and the input gradient when a leaf
    /// before it has parameters, as in a training step); also the whole model's forward
    /// and backward. With `sgemm`, measures OpenBLAS at each layer's GEMM shapes as well
    /// (shapes shared by several layers are measured once). `firstInputGradient` makes every
    /// leaf compute its input gradient (layers timed as if inside a network).
    public static func profileLayers(
        model: Model, batch: Int, repeats: Int, seconds: Double, sgemm: Bool, firstInputGradient: Bool = false
    ) -> ModelProfile {
        precondition(batch <= model.maxBatch)
        var generator = SeededGenerator(seed: 13)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in generator.uniform(-1, 1) } }
        var gradients = [Float](repeating: 0, count: model.parameters.count)
        var profiles: [LayerProfile] = []
        // Dropout draws its masks from the batch's instance ids.
        let ids = [Int32](0..<Int32(batch))
        let idPointer = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, batch))
        defer { idPointer.deallocate() }
        idPointer.update(from: ids, count: batch)
        let options = Model.TrainingOptions(identity: BatchIdentity(seed: 1, epoch: 0, ids: idPointer))
        let leaves = Model.walk(model.root).filter { $0.layer.children.isEmpty }
        var parametersBefore = firstInputGradient
        for (prefix, layer) in leaves {
            let inputGradient = parametersBefore
            parametersBefore = parametersBefore || !layer.parameterSpecs.isEmpty
            let x = random(batch * layer.inputSize)
            var y = [Float](repeating: 0, count: batch * layer.outputSize)
            let dy = random(batch * layer.outputSize)
            var dx = [Float](repeating: 0, count: inputGradient ? batch * layer.inputSize : 0)
            let (forward, backward) = gradients.withUnsafeMutableBufferPointer { g in
                model.withContext(gradients: g, training: true, options: options) { context in
                    x.withUnsafeBufferPointer { x in
                        y.withUnsafeMutableBufferPointer { y in
                            dy.withUnsafeBufferPointer { dy in
                                dx.withUnsafeMutableBufferPointer { dx in
                                    let forward = secondsPerCall(repeats: repeats, seconds: seconds) {
                                        layer.forward(x.baseAddress!, y.baseAddress!, batch: batch, context: context)
                                    }
                                    let backward = secondsPerCall(repeats: repeats, seconds: seconds) {
                                        layer.backward(
                                            x.baseAddress!, UnsafePointer(y.baseAddress!), dy.baseAddress!,
                                            inputGradient ? dx.baseAddress! : nil, batch: batch, context: context)
                                    }
                                    return (forward, backward)
                                }
                            }
                        }
                    }
                }
            }
            let name = prefix.hasSuffix(".") ? String(prefix.dropLast()) : prefix
            profiles.append(LayerProfile(
                name: name.isEmpty ? "(root)" : name, summary: LayerProfile.summary(of: layer),
                outputShape: layer.outputShape, cost: LayerCost(layer, batch: batch, inputGradient: inputGradient),
                forwardSeconds: forward, backwardSeconds: backward))
        }

        let input = random(batch * model.inputSize)
        model.input.update(from: input, count: input.count)
        let outputGradient = random(batch * model.outputSize)
        model.outputGradient.update(from: outputGradient, count: outputGradient.count)
        let modelForward = secondsPerCall(repeats: repeats, seconds: seconds) {
            model.forward(batch: batch, training: true, options: options)
        }
        let modelBackward = gradients.withUnsafeMutableBufferPointer { g in
            secondsPerCall(repeats: repeats, seconds: seconds) { model.backward(batch: batch, into: g, options: options) }
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
        return ModelProfile(
            batch: batch, threads: model.compute.threads, layers: profiles, modelForwardSeconds: modelForward,
            modelBackwardSeconds: modelBackward)
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
        func padded(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
        }
        var lines = [
            padded("layer", 18) + padded("kind", 30) + padded("output", 13)
                + "  fwd ms GFLOP/s   sgemm   bwd ms GFLOP/s   sgemm  share"
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
                    + String(format: "%6.1f%%", 100 * (layer.forwardSeconds + layer.backwardSeconds) / modelSeconds))
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
        return lines
    }
}
