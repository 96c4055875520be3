/// 2-D convolution, PyTorch `nn.Conv2d(in, out, kernel, stride, padding, bias)`, via im2col + sgemm.
///
/// Shapes: x [B, Cin, H, W], weight [Cout, Cin, kh, kw], bias [Cout], y [B, Cout, Ho, Wo]
/// with Ho = (H + 2 pad - kh) / stride + 1. The whole batch is lowered into one
/// column matrix col [K = Cin kh kw, B Ho Wo] so that each pass is ONE large sgemm:
///   forward   out[Cout, B P] = W[Cout, K] col[K, B P], y[n, co, p] = out[co, n P + p] + b[co]
///   backward  dW += dyT col^T,  db += rowsum(dyT),  dcol = W^T dyT,  dx = col2im(dcol)
/// where P = Ho Wo and dyT[co, n P + p] = dy[n, co, p].
public final class Conv2d: Layer {
    public let inChannels: Int, outChannels: Int
    public let height: Int, width: Int
    public let kernel: Int, stride: Int, padding: Int
    public let outHeight: Int, outWidth: Int
    public let hasBias: Bool
    /// Offset of the weight in the model's parameters; the bias (if any) follows it.
    private var weightOffset = 0
    /// [K, maxBatch P]: im2col of the last forward; reused for dcol in backward.
    private var columns: UnsafeMutablePointer<Float>?
    /// [Cout, maxBatch P]: GEMM output in forward, dy transposed in backward.
    private var product: UnsafeMutablePointer<Float>?
    private var capacity = 0

    public init(
        inputShape shape: [Int], outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true
    ) throws {
        guard shape.count == 3 else { throw ShapeError("Conv2d expects (C, H, W) input, got \(shape)") }
        inChannels = shape[0]; height = shape[1]; width = shape[2]
        self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        hasBias = bias
        guard kernel > 0, stride > 0, padding >= 0, outChannels > 0,
              height + 2 * padding >= kernel, width + 2 * padding >= kernel
        else {
            throw ShapeError("Conv2d(kernel=\(kernel), stride=\(stride), padding=\(padding)) does not fit input \(shape)")
        }
        outHeight = (height + 2 * padding - kernel) / stride + 1
        outWidth = (width + 2 * padding - kernel) / stride + 1
    }
    deinit {
        columns?.deallocate()
        product?.deallocate()
    }

    public var inputShape: [Int] { [inChannels, height, width] }
    public var outputShape: [Int] { [outChannels, outHeight, outWidth] }
    private var patchSize: Int { inChannels * kernel * kernel }
    private var positions: Int { outHeight * outWidth }
    public var parameterSpecs: [ParameterSpec] {
        let weight = ParameterSpec(
            suffix: "weight", shape: [outChannels, inChannels, kernel, kernel], initialization: .uniformFanIn(patchSize))
        guard hasBias else { return [weight] }
        return [weight, ParameterSpec(suffix: "bias", shape: [outChannels], initialization: .uniformFanIn(patchSize))]
    }
    public func bind(parameterOffset: Int, bufferOffset: Int) { weightOffset = parameterOffset }
    private var biasOffset: Int { weightOffset + outChannels * patchSize }
    public var description: String {
        "Conv2d(\(inChannels), \(outChannels), kernel_size=(\(kernel), \(kernel)), stride=(\(stride), \(stride)), "
            + "padding=(\(padding), \(padding))\(hasBias ? "" : ", bias=False"))"
    }

    public func reserve(maxBatch: Int) {
        guard maxBatch > capacity else { return }
        columns?.deallocate()
        product?.deallocate()
        columns = .allocate(capacity: patchSize * maxBatch * positions)
        product = .allocate(capacity: outChannels * maxBatch * positions)
        capacity = maxBatch
    }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        precondition(batch <= capacity, "Conv2d: reserve(maxBatch:) first")
        guard let columns, let product else { return }
        let P = positions, BP = batch * positions
        im2col(x, batch: batch, into: columns, compute: context.compute)
        BLAS.sgemm(
            transA: false, transB: false, m: outChannels, n: BP, k: patchSize,
            a: context.parameters + weightOffset, lda: patchSize, b: columns, ldb: BP, beta: 0, c: product, ldc: BP)
        let b: UnsafePointer<Float>? = hasBias ? context.parameters + biasOffset : nil
        let channels = outChannels
        context.compute.chunks(channels, minimumPerChunk: 4) { range in
            for co in range {
                for n in 0..<batch {
                    Vector.addScalar(product + co * BP + n * P, b?[co] ?? 0, y + (n * channels + co) * P, count: P)
                }
            }
        }
    }

    public func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) {
        guard let columns, let product, let gradients = context.gradients else { return }
        let P = positions, BP = batch * positions
        let db: UnsafeMutablePointer<Float>? = hasBias ? gradients + biasOffset : nil
        // dyT[co, n P + p] = dy[n, co, p]; db accumulates on the way.
        let channels = outChannels
        context.compute.chunks(channels, minimumPerChunk: 4) { range in
            for co in range {
                var sum: Float = 0
                for n in 0..<batch {
                    sum += Vector.copySum(dy + (n * channels + co) * P, product + co * BP + n * P, count: P)
                }
                db?[co] += sum
            }
        }
        // dW[Cout, K] += dyT[Cout, BP] col[K, BP]^T
        BLAS.sgemm(
            transA: false, transB: true, m: outChannels, n: patchSize, k: BP,
            a: product, lda: BP, b: columns, ldb: BP, beta: 1, c: gradients + weightOffset, ldc: patchSize)
        guard let dx else { return }
        // dcol[K, BP] = W[Cout, K]^T dyT[Cout, BP], written over col (no longer needed).
        BLAS.sgemm(
            transA: true, transB: false, m: patchSize, n: BP, k: outChannels,
            a: context.parameters + weightOffset, lda: patchSize, b: product, ldb: BP, beta: 0, c: columns, ldc: BP)
        col2im(columns, batch: batch, into: dx, compute: context.compute)
    }

    /// The output columns ow in [lo, hi) whose input column ow*stride - pad + j lies inside [0, width).
    @inline(__always)
    private func validRange(offset j: Int, outSize: Int, inSize: Int) -> (Int, Int) {
        // need 0 <= o*stride - padding + j < inSize
        let shift = padding - j
        let lo = min(outSize, shift > 0 ? (shift + stride - 1) / stride : 0)
        let limit = inSize + padding - j  // o*stride < limit
        let hi = limit > 0 ? min(outSize, (limit + stride - 1) / stride) : 0
        return (lo, max(lo, hi))
    }

    /// col[(ci kh + i) kw + j, n P + oh Wo + ow] = x[n, ci, oh s - pad + i, ow s - pad + j], zero outside.
    private func im2col(_ x: UnsafePointer<Float>, batch: Int, into col: UnsafeMutablePointer<Float>, compute: Compute) {
        let P = positions, BP = batch * positions
        let (k, s, pad) = (kernel, stride, padding)
        let (cin, h, w, oH, oW) = (inChannels, height, width, outHeight, outWidth)
        compute.chunks(patchSize) { rows in
            for r in rows {
                let ci = r / (k * k), i = (r / k) % k, j = r % k
                let (ohLo, ohHi) = validRange(offset: i, outSize: oH, inSize: h)
                let (owLo, owHi) = validRange(offset: j, outSize: oW, inSize: w)
                let row = col + r * BP
                for n in 0..<batch {
                    let plane = x + (n * cin + ci) * h * w
                    let out = row + n * P
                    for oh in 0..<oH {
                        let dst = out + oh * oW
                        guard oh >= ohLo && oh < ohHi else {
                            dst.update(repeating: 0, count: oW)
                            continue
                        }
                        let src = plane + (oh * s - pad + i) * w + (j - pad)
                        for ow in 0..<owLo { dst[ow] = 0 }
                        if s == 1 {
                            (dst + owLo).update(from: src + owLo, count: owHi - owLo)
                        } else {
                            for ow in owLo..<owHi { dst[ow] = src[ow * s] }
                        }
                        for ow in owHi..<oW { dst[ow] = 0 }
                    }
                }
            }
        }
    }

    /// The adjoint of im2col: dx = 0, then dx[n, ci, ih, iw] += dcol[row, column] over all taps.
    private func col2im(_ col: UnsafePointer<Float>, batch: Int, into dx: UnsafeMutablePointer<Float>, compute: Compute) {
        let P = positions, BP = batch * positions
        let (k, s, pad) = (kernel, stride, padding)
        let (cin, h, w, oW) = (inChannels, height, width, outWidth)
        // Each input channel's planes are written by one chunk only.
        compute.chunks(cin) { channels in
            for ci in channels {
                for n in 0..<batch { (dx + (n * cin + ci) * h * w).update(repeating: 0, count: h * w) }
                for i in 0..<k {
                    let (ohLo, ohHi) = validRange(offset: i, outSize: outHeight, inSize: h)
                    for j in 0..<k {
                        let (owLo, owHi) = validRange(offset: j, outSize: oW, inSize: w)
                        let row = col + ((ci * k + i) * k + j) * BP
                        for n in 0..<batch {
                            let plane = dx + (n * cin + ci) * h * w
                            let src = row + n * P
                            for oh in ohLo..<ohHi {
                                let d = plane + (oh * s - pad + i) * w + (j - pad)
                                let sr = src + oh * oW
                                if s == 1 {
                                    Vector.accumulate(sr + owLo, into: d + owLo, count: owHi - owLo)
                                } else {
                                    for ow in owLo..<owHi { d[ow * s] += sr[ow] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
