/// The geometry of a 2-D convolution over one image: x [Cin, H, W] -> y [Cout, Ho, Wo]
/// with a k x k kernel, stride s and zero padding p on every side, and the im2col
/// lowering that turns it into a matrix product.
struct ConvGeometry {
    let inChannels: Int, height: Int, width: Int
    let kernel: Int, stride: Int, padding: Int
    let outHeight: Int, outWidth: Int

    /// Output positions per channel, P = Ho Wo.
    var positions: Int { outHeight * outWidth }
    /// Rows of the column matrix, K = Cin k k.
    var patchSize: Int { inChannels * kernel * kernel }
    var inputPlane: Int { height * width }
    /// A 1x1 kernel with stride 1 and no padding: the image [Cin, H W] is its own column matrix.
    var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }

    /// The outputs o in [lo, hi) whose input index o s - p + offset lies in [0, inSize).
    @inline(__always)
    func validRange(offset: Int, outSize: Int, inSize: Int) -> (lo: Int, hi: Int) {
        let shift = padding - offset
        let lo = min(outSize, shift > 0 ? (shift + stride - 1) / stride : 0)
        let limit = inSize + padding - offset  // o s < limit
        let hi = limit > 0 ? min(outSize, (limit + stride - 1) / stride) : 0
        return (lo, max(lo, hi))
    }

    /// col[(ci k + i) k + j, n P + oh Wo + ow] = x[n, ci, oh s - p + i, ow s - p + j] (zero
    /// outside) for the `count` images starting at `x`; rows of col are `count` P long.
    func im2col(_ x: UnsafePointer<Float>, count: Int, into col: UnsafeMutablePointer<Float>) {
        let P = positions, columns = count * positions
        let (k, s, pad, w, oW) = (kernel, stride, padding, width, outWidth)
        for r in 0..<patchSize {
            let ci = r / (k * k), i = (r / k) % k, j = r % k
            let (ohLo, ohHi) = validRange(offset: i, outSize: outHeight, inSize: height)
            let (owLo, owHi) = validRange(offset: j, outSize: oW, inSize: w)
            let row = col + r * columns
            for n in 0..<count {
                let plane = x + (n * inChannels + ci) * inputPlane
                let out = row + n * P
                if ohLo > 0 { out.update(repeating: 0, count: ohLo * oW) }
                for oh in ohLo..<ohHi {
                    let dst = out + oh * oW
                    let src = plane + (oh * s - pad + i) * w + (j - pad)
                    for ow in 0..<owLo { dst[ow] = 0 }
                    if s == 1 {
                        (dst + owLo).update(from: src + owLo, count: owHi - owLo)
                    } else if s == 2 {
                        ConvGeometry.gatherEven(src, into: dst, outputs: owLo..<owHi, firstColumn: j - pad, width: w)
                    } else {
                        for ow in owLo..<owHi { dst[ow] = src[ow * s] }
                    }
                    for ow in owHi..<oW { dst[ow] = 0 }
                }
                if ohHi < outHeight { (out + ohHi * oW).update(repeating: 0, count: (outHeight - ohHi) * oW) }
            }
        }
    }

    /// dst[ow] = src[2 ow] for ow in `outputs` (a stride-2 row of im2col), where src[0] is
    /// input column `firstColumn` of a row `width` long and every src[2 ow] lies inside it.
    /// Eight outputs at a time from a 16-float load that stays inside the row: its even
    /// lanes, or the odd lanes of the load one float earlier at the row's right end; a last
    /// partial group is done again from its end (the same values), and rows of fewer than
    /// 8 outputs go one at a time.
    @inline(__always)
    static func gatherEven(
        _ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, outputs: Range<Int>, firstColumn: Int,
        width: Int
    ) {
        guard outputs.count >= 8 else {
            for ow in outputs { dst[ow] = src[2 * ow] }
            return
        }
        @inline(__always) func group(_ a: Int) {
            let column = firstColumn + 2 * a
            if column + 15 < width {
                store8(load16(src + 2 * a).evenHalf, dst + a)
            } else if column >= 1 {
                store8(load16(src + 2 * a - 1).oddHalf, dst + a)
            } else {
                for ow in a..<(a + 8) { dst[ow] = src[2 * ow] }
            }
        }
        var a = outputs.lowerBound
        while a + 8 <= outputs.upperBound {
            group(a)
            a += 8
        }
        if a < outputs.upperBound { group(outputs.upperBound - 8) }
    }

    /// The adjoint of `im2col`: dx = 0, then dx[n, ci, ih, iw] += dcol[row, column] over every
    /// tap, for the `count` images starting at `dx`.
    func col2im(_ col: UnsafePointer<Float>, count: Int, into dx: UnsafeMutablePointer<Float>) {
        let P = positions, columns = count * positions
        let (k, s, pad, w, oW) = (kernel, stride, padding, width, outWidth)
        dx.update(repeating: 0, count: count * inChannels * inputPlane)
        for ci in 0..<inChannels {
            for i in 0..<k {
                let (ohLo, ohHi) = validRange(offset: i, outSize: outHeight, inSize: height)
                for j in 0..<k {
                    let (owLo, owHi) = validRange(offset: j, outSize: oW, inSize: w)
                    let row = col + ((ci * k + i) * k + j) * columns
                    for n in 0..<count {
                        let plane = dx + (n * inChannels + ci) * inputPlane
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
