/// Conv2d by im2col + sgemm over small groups of images.
///
/// For a group of g images starting at n (P = Ho Wo, K = Cin k k):
///   forward   col[K, g P] = im2col(x[n..<n+g]),  out[Cout, g P] = W[Cout, K] col,
///             y[n + j, co, p] = out[co, j P + p] + b[co]
///   backward  dyT[co, j P + p] = dy[n + j, co, p],  db += rowsum(dyT),  dW += dyT col^T,
///             dcol = W^T dyT,  dx[n..<n+g] = col2im(dcol)
/// A group of one image needs no transposes (out IS y[n], dyT IS dy[n]), so images with
/// P >= `LoweredPlan.columnTarget` go one at a time; smaller images are grouped until the
/// sgemm has about that many columns, which it needs to run near its peak. A 1x1 stride-1
/// convolution on one image multiplies x[n] ([Cin, P]) itself: no im2col, no col2im (and
/// goes one image at a time for any P while its weight is small).
///
/// Threads: the batch is split into one contiguous range of images per thread; each thread
/// runs single-threaded sgemm on its own scratch, and weight/bias gradients are summed per
/// thread and added in thread order (deterministic for a given thread count).
struct LoweredPlan {
    /// Columns an sgemm needs to run near its peak (measured: P = 16 images gain 1.4x from
    /// groups of 16, P = 49 gain 1.1x from groups of 6; P >= 196 gain nothing).
    static let columnTarget = 256
    /// Largest Cout Cin of a 1x1 stride-1 convolution that multiplies one image at a time
    /// whatever P (512 KiB of weight).
    static let pointwiseWeightLimit = 131_072

    /// Images per sgemm.
    let group: Int
    /// Floats of col [K, group P], of out/dyT [Cout, group P] (zero for single images),
    /// and of the per-thread weight + bias gradient.
    let columnFloats: Int, productFloats: Int, gradientFloats: Int
    /// Floats of one thread's scratch (each part rounded to a 64-byte multiple).
    var perPiece: Int { columnFloats + productFloats + gradientFloats }

    init(geometry: ConvGeometry, outChannels: Int, hasBias: Bool) {
        let P = geometry.positions
        if P >= LoweredPlan.columnTarget * 3 / 4 {
            group = 1
        } else if geometry.isPointwise && outChannels * geometry.inChannels <= LoweredPlan.pointwiseWeightLimit {
            // Multiplying each image in place beats gathering a group while the weight (and
            // the dW each image updates) stays in L2 (measured: 256>64 at 8x8 1.35x faster).
            group = 1
        } else {
            group = (LoweredPlan.columnTarget + P - 1) / P
        }
        func rounded(_ floats: Int) -> Int { (floats + 15) / 16 * 16 }
        columnFloats = group == 1 && geometry.isPointwise ? 0 : rounded(geometry.patchSize * group * P)
        productFloats = group == 1 ? 0 : rounded(outChannels * group * P)
        gradientFloats = rounded(outChannels * geometry.patchSize + (hasBias ? outChannels : 0))
    }
}

extension Conv2d {
    var loweredPlan: LoweredPlan { LoweredPlan(geometry: geometry, outChannels: outChannels, hasBias: hasBias) }

    func forwardLowered(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        let plan = loweredPlan, g = geometry
        let cout = outChannels, K = patchSize, P = positions, inSize = inputSize
        let weight = context.parameters + weightOffset
        let bias: UnsafePointer<Float>? = hasBias ? context.parameters + biasOffset : nil
        let pieces = context.compute.chunkCount(batch)
        precondition(context.scratch.count >= pieces * plan.perPiece, "Conv2d: the model's scratch is too small")
        let scratch = context.scratch.baseAddress!
        context.compute.indexedChunks(batch) { piece, images in
            let col = scratch + piece * plan.perPiece
            let product = col + plan.columnFloats
            var n = images.lowerBound
            while n < images.upperBound {
                let count = min(plan.group, images.upperBound - n)
                let xn = x + n * inSize, yn = y + n * cout * P
                if count == 1 {
                    // y[n] = W col (+ b): NCHW straight out of the sgemm.
                    var columns = UnsafePointer(col)
                    if g.isPointwise { columns = xn } else { g.im2col(xn, count: 1, into: col) }
                    if let bias { for co in 0..<cout { (yn + co * P).update(repeating: bias[co], count: P) } }
                    BLAS.sgemm(
                        transA: false, transB: false, m: cout, n: P, k: K, a: weight, lda: K, b: columns, ldb: P,
                        beta: bias == nil ? 0 : 1, c: yn, ldc: P)
                } else {
                    let N = count * P
                    g.im2col(xn, count: count, into: col)
                    BLAS.sgemm(
                        transA: false, transB: false, m: cout, n: N, k: K, a: weight, lda: K, b: col, ldb: N,
                        beta: 0, c: product, ldc: N)
                    for j in 0..<count {
                        for co in 0..<cout {
                            Vector.addScalar(product + co * N + j * P, bias?[co] ?? 0, yn + (j * cout + co) * P, count: P)
                        }
                    }
                }
                n += count
            }
        }
    }

    func backwardLowered(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>?,
        gradients: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext
    ) {
        let plan = loweredPlan, g = geometry
        let cout = outChannels, cin = inChannels, K = patchSize, P = positions, inSize = inputSize
        let weight = context.parameters + weightOffset
        let gradientCount = cout * K + (hasBias ? cout : 0)
        let pieces = context.compute.chunkCount(batch)
        precondition(context.scratch.count >= pieces * plan.perPiece, "Conv2d: the model's scratch is too small")
        let scratch = context.scratch.baseAddress!
        context.compute.indexedChunks(batch) { piece, images in
            let col = scratch + piece * plan.perPiece
            let product = col + plan.columnFloats
            // The first thread accumulates into the model's gradients, the others into scratch.
            let dW: UnsafeMutablePointer<Float>
            if piece == 0 {
                dW = gradients + weightOffset
            } else {
                dW = product + plan.productFloats
                dW.update(repeating: 0, count: gradientCount)
            }
            let db: UnsafeMutablePointer<Float>? = hasBias ? dW + cout * K : nil
            var n = images.lowerBound
            while n < images.upperBound {
                let count = min(plan.group, images.upperBound - n)
                let N = count * P
                let xn = x + n * inSize, dyn = dy + n * cout * P
                var dyT = dyn
                var columns = UnsafePointer(col)
                if count == 1 {
                    if let db { for co in 0..<cout { db[co] += Vector.sum(dyn + co * P, count: P) } }
                    if g.isPointwise { columns = xn } else { g.im2col(xn, count: 1, into: col) }
                } else {
                    for co in 0..<cout {
                        var sum: Float = 0
                        for j in 0..<count {
                            sum += Vector.copySum(dyn + (j * cout + co) * P, product + co * N + j * P, count: P)
                        }
                        db?[co] += sum
                    }
                    dyT = UnsafePointer(product)
                    g.im2col(xn, count: count, into: col)
                }
                // dW[Cout, K] += dyT[Cout, N] col[K, N]^T
                BLAS.sgemm(
                    transA: false, transB: true, m: cout, n: K, k: N, a: dyT, lda: N, b: columns, ldb: N,
                    beta: 1, c: dW, ldc: K)
                if let dx {
                    let dxn = dx + n * inSize
                    if count == 1 && g.isPointwise {
                        // dx[n][Cin, P] = W^T dy[n]
                        BLAS.sgemm(
                            transA: true, transB: false, m: cin, n: P, k: cout, a: weight, lda: K, b: dyT, ldb: P,
                            beta: 0, c: dxn, ldc: P)
                    } else {
                        // dcol[K, N] = W^T dyT, written over col (no longer needed).
                        BLAS.sgemm(
                            transA: true, transB: false, m: K, n: N, k: cout, a: weight, lda: K, b: dyT, ldb: N,
                            beta: 0, c: col, ldc: N)
                        g.col2im(col, count: count, into: dxn)
                    }
                }
                n += count
            }
        }
        context.compute.addPartials(
            pieces - 1, from: scratch + plan.perPiece + plan.columnFloats + plan.productFloats, stride: plan.perPiece,
            into: gradients + weightOffset, floats: gradientCount)
    }
}
