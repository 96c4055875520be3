/// Fully connected layer, PyTorch `nn.Linear`: y[B,out] = x[B,in] W[out,in]^T + b[out].
public final class Linear: Layer {
    public let inFeatures: Int
    public let outFeatures: Int
    /// Offset of the weight in the model's parameters; the bias follows it.
    private var weightOffset = 0

    public init(inFeatures: Int, outFeatures: Int) {
        precondition(inFeatures > 0 && outFeatures > 0)
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    public var inputShape: [Int] { [inFeatures] }
    public var outputShape: [Int] { [outFeatures] }
    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(suffix: "weight", shape: [outFeatures, inFeatures], initialization: .uniformFanIn(inFeatures)),
         ParameterSpec(suffix: "bias", shape: [outFeatures], initialization: .uniformFanIn(inFeatures))]
    }
    public func bind(parameterOffset: Int, bufferOffset: Int) { weightOffset = parameterOffset }
    private var biasOffset: Int { weightOffset + outFeatures * inFeatures }
    /// Backward needs x, the weight and dy, never y: a ReLU after it may run in place.
    public var backwardReadsOutput: Bool { false }
    public var description: String { "Linear(in_features=\(inFeatures), out_features=\(outFeatures), bias=True)" }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        // y = 1 * broadcast(b) then y += x W^T, so the bias costs one pass; each thread
        // computes its own columns (outputs) of y.
        let b = context.parameters + biasOffset, weight = context.parameters + weightOffset
        context.compute.alignedChunks(outFeatures, minimumPerChunk: Self.minimumColumns(batch * inFeatures)) { o, count in
            for n in 0..<batch { (y + n * outFeatures + o).update(from: b + o, count: count) }
            let widest = BLAS.smallKernelWidest(transA: false, transB: true)
            BLAS.inSmallKernelPieces(o, count, otherSides: batch * inFeatures, widest: widest) { o, count in
                BLAS.sgemm(
                    transA: false, transB: true, m: batch, n: count, k: inFeatures,
                    a: x, lda: inFeatures, b: weight + o * inFeatures, ldb: inFeatures, beta: 1, c: y + o,
                    ldc: outFeatures)
            }
        }
    }

    public func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) {
        guard let gradients = context.gradients else { return }
        let weight = context.parameters + weightOffset
        // dW[out,in] += dy^T[out,B] x[B,in] and db[out] += sum_B dy[B,out], each thread on its
        // own rows (outputs): whole rows of the flat gradient buffer, as the step's zeroing and
        // the optimizer split it, so a thread finds its part of dW and db in its own cache.
        // db adds the batch's rows in order, as one thread would: the same bits on any threads.
        let db = gradients + biasOffset
        context.compute.alignedChunks(outFeatures, minimumPerChunk: Self.minimumColumns(inFeatures * batch)) { o, count in
            let widest = BLAS.smallKernelWidest(transA: true, transB: false)
            BLAS.inSmallKernelPieces(o, count, otherSides: inFeatures * batch, widest: widest) { o, count in
                BLAS.sgemm(
                    transA: true, transB: false, m: count, n: inFeatures, k: batch,
                    a: dy + o, lda: outFeatures, b: x, ldb: inFeatures, beta: 1,
                    c: gradients + weightOffset + o * inFeatures, ldc: inFeatures)
            }
            for n in 0..<batch { Vector.accumulate(dy + n * outFeatures + o, into: db + o, count: count) }
        }
        // dx[B,in] = dy[B,out] W[out,in], each thread on its own columns (inputs).
        if let dx {
            context.compute.alignedChunks(inFeatures, minimumPerChunk: Self.minimumColumns(outFeatures * batch)) { i, count in
                let widest = BLAS.smallKernelWidest(transA: false, transB: false)
                BLAS.inSmallKernelPieces(i, count, otherSides: batch * outFeatures, widest: widest) { i, count in
                    BLAS.sgemm(
                        transA: false, transB: false, m: batch, n: count, k: outFeatures,
                        a: dy, lda: outFeatures, b: weight + i, ldb: inFeatures, beta: 0, c: dx + i, ldc: inFeatures)
                }
            }
        }
    }

    /// Rows or columns per thread for about 64k multiply-adds each in a GEMM whose other two
    /// sides multiply to `rowsTimesDepth` (smaller products stay on one thread).
    private static func minimumColumns(_ rowsTimesDepth: Int) -> Int { 65_536 / max(1, rowsTimesDepth) }
}
