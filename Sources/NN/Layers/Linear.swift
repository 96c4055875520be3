/// Fully connected layer, PyTorch `nn.Linear`: y[B,out] = x[B,in] W[out,in]^T + b[out].
public final class Linear: Layer {
    public let inFeatures: Int
    public let outFeatures: Int
    private var weight: ParameterView!
    private var bias: ParameterView!

    public init(inFeatures: Int, outFeatures: Int) {
        precondition(inFeatures > 0 && outFeatures > 0)
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    public var inputShape: [Int] { [inFeatures] }
    public var outputShape: [Int] { [outFeatures] }
    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(suffix: "weight", shape: [outFeatures, inFeatures], fanIn: inFeatures),
         ParameterSpec(suffix: "bias", shape: [outFeatures], fanIn: inFeatures)]
    }
    public func bind(_ views: [ParameterView]) {
        weight = views[0]
        bias = views[1]
    }
    public var description: String { "Linear(in_features=\(inFeatures), out_features=\(outFeatures), bias=True)" }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, training: Bool) {
        // y = 1 * broadcast(b) then y += x W^T, so the bias costs one pass.
        let b = bias.value
        for n in 0..<batch { (y + n * outFeatures).update(from: b, count: outFeatures) }
        BLAS.sgemm(
            transA: false, transB: true, m: batch, n: outFeatures, k: inFeatures,
            a: x, lda: inFeatures, b: weight.value, ldb: inFeatures, beta: 1, c: y, ldc: outFeatures)
    }

    public func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int
    ) {
        // dW[out,in] += dy^T[out,B] x[B,in]
        BLAS.sgemm(
            transA: true, transB: false, m: outFeatures, n: inFeatures, k: batch,
            a: dy, lda: outFeatures, b: x, ldb: inFeatures, beta: 1, c: weight.gradient, ldc: inFeatures)
        // db[out] += sum_B dy[B,out]
        let db = bias.gradient
        for n in 0..<batch {
            let row = dy + n * outFeatures
            for o in 0..<outFeatures { db[o] += row[o] }
        }
        // dx[B,in] = dy[B,out] W[out,in]
        if let dx {
            BLAS.sgemm(
                transA: false, transB: false, m: batch, n: inFeatures, k: outFeatures,
                a: dy, lda: outFeatures, b: weight.value, ldb: inFeatures, beta: 0, c: dx, ldc: inFeatures)
        }
    }
}
