/// Winograd's minimal filtering for a 3x3 convolution with stride 2 (the ResNets' first
/// convolution of every stage after the first): 2x2 output tiles from 5x5 input patches.
///
/// In one dimension, y0 = w0 x0 + w1 x1 + w2 x2 and y1 = w0 x2 + w1 x3 + w2 x4: the even
/// samples x0, x2, x4 meet the taps (w0, w2), a 2-tap filter over two outputs that F(2, 2)
/// computes with 3 multiplications instead of 4, and the odd samples x1, x3 meet w1 alone
/// (2 more). So 5 multiplications per 2 outputs instead of 6, and in two dimensions 25 per
/// 2x2 tile instead of 36 (1.44x fewer), with
///
///   B^T = [1  0 -1  0  0]   G = [1 0 0]   A^T = [1 1 0 1 0]
///         [0  0  1  0  0]       [1 0 1]         [0 1 1 0 1]
///         [0  0 -1  0  1]       [0 0 1]
///         [0  1  0  0  0]       [0 1 0]
///         [0  0  0  1  0]       [0 1 0]
///
///   y_t = A^T [ sum_ci U[co, ci] (.) V[ci, t] ] A,   U = G g G^T,   V = B^T d B
///
/// for the 5x5 patch d of tile t (rows 4 th - p ..., overlapping its neighbours by one).
/// The transforms only add and subtract (no fractions), so the rounding error stays that of
/// the direct sums. As for stride 1 (`WinogradPass`), the 25 positions xi turn the sum into
/// 25 matrix products per block of T tiles:
///   forward          M[xi][Cout, T] = U[xi][Cout, Cin] V[xi][Cin, T]
///   weight gradient  dU[xi] += dM[xi] V[xi]^T,  dM = A dY A^T,  dW += G^T dU G
///   input gradient   dV[xi][Cin, T] = U[xi]^T dM[xi],  dx += B dV B^T (patches overlapping
///                    their neighbours by one row and column add up, the upper or left first)
///
/// Transforms run 8 tiles of a tile row at a time in SIMD registers: a 32-float load of a
/// row split four ways gives columns 4 tw + j, j < 4, of 8 neighbouring tiles, a load 4
/// floats on gives j = 4.
struct StrideTwoWinogradPass {
    static let positions = 25
    let inChannels: Int, outChannels: Int
    /// Input plane, padding, output plane (Ho = (H + 2 p - 3) / 2 + 1).
    let height: Int, width: Int, padding: Int
    let outHeight: Int, outWidth: Int
    /// 2x2 output tiles per image: ceil(Ho / 2) x ceil(Wo / 2).
    let tilesHigh: Int, tilesWide: Int
    /// 8-tile chunks per tile row.
    let chunks: Int
    /// Floats of one zero-padded row buffer: the 32-float loads of every chunk and the
    /// 4-float-later load of the last one.
    let rowFloats: Int
    /// Tile rows per block, and the row stride of V and M (the block's tiles plus slack for
    /// the 8-wide stores of a last partial chunk).
    let rowsPerBlock: Int
    let tileStride: Int

    /// 3x3 kernel, stride 2, padding at most 2 (every patch overlaps the image).
    static func applies(to geometry: ConvGeometry) -> Bool {
        geometry.kernel == 3 && geometry.stride == 2 && geometry.padding <= 2
    }

    /// Where it is faster than the lowered path (measured on 2 threads, see BENCHMARKS.md):
    /// channels on both sides (a GEMM with k = Cin = 1 gains nothing from fewer
    /// multiplications) and output sides of at least 7 (16>32 at 14x14 and 16x16 1.45-1.73x,
    /// 64>128 at 16x16 1.35-1.41x, 32>64 at 8x8 1.28-1.33x and at 7x7 1.06-1.09x, 128>256 at
    /// 8x8 1.03-1.08x). Sides of 4 and 6, which 2x2 tiles cover without waste, only where
    /// libxsmm runs the tile GEMMs (4x4 outputs 64>128 1.30x, 128>256 1.12x, 256>512 1.06x;
    /// 6x6 1.04-1.33x): OpenBLAS packs a large U[xi] for the few tiles of each image on every
    /// call (4x4 outputs 128>256 0.73-0.78x, 256>512 0.92-1.00x). Sides 2, 3 and 5 stay
    /// lowered: one tile per image, or up to 1.8x of the outputs computed (0.5-0.97x).
    static func pays(for geometry: ConvGeometry, outChannels: Int) -> Bool {
        let evenSides = BLAS.libxsmmRoute != .none
        func side(_ outputs: Int) -> Bool { outputs >= 7 || evenSides && (outputs == 4 || outputs == 6) }
        return applies(to: geometry) && geometry.inChannels >= 8 && outChannels >= 8
            && side(geometry.outHeight) && side(geometry.outWidth)
    }

    /// `imagesPerPiece`: the most images one thread convolves at a time (a block never
    /// holds more tile rows than those).
    init(
        inChannels: Int, outChannels: Int, height: Int, width: Int, padding: Int, outHeight: Int, outWidth: Int,
        imagesPerPiece: Int
    ) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.height = height
        self.width = width
        self.padding = padding
        self.outHeight = outHeight
        self.outWidth = outWidth
        tilesHigh = (outHeight + 1) / 2
        tilesWide = (outWidth + 1) / 2
        chunks = (tilesWide + 7) / 8
        rowFloats = 32 * chunks + 48
        let target = WinogradPass.tileTarget(tile: 2, inChannels: inChannels, outChannels: outChannels)
        rowsPerBlock = max(1, min(target / tilesWide, imagesPerPiece * tilesHigh))
        tileStride = (rowsPerBlock * tilesWide + 8 + 15) / 16 * 16
    }

    /// Plane strides of V [25][Cin][tileStride], M [25][Cout][tileStride] and U [25][Cout][Cin]
    /// (odd numbers of cache lines, as for stride 1).
    var inputPlane: Int { WinogradPass.planeStride(inChannels * tileStride) }
    var outputPlane: Int { WinogradPass.planeStride(outChannels * tileStride) }
    var weightPlane: Int { WinogradPass.planeStride(inChannels * outChannels) }
    var inputBlockFloats: Int { Self.positions * inputPlane }
    var outputBlockFloats: Int { Self.positions * outputPlane }
    var weightFloats: Int { Self.positions * weightPlane }
    /// Five transformed rows, two gradient rows and one zero row.
    var rowBufferFloats: Int { 8 * rowFloats }

    // MARK: Weights

    /// U[5 a + b][o, i] = (G g G^T)[a][b] for the kernel g = w[o, i]: rows (g0, g0 + g2, g2, g1, g1).
    func transformWeights(_ w: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>, compute: Compute) {
        let (cin, plane) = (inChannels, weightPlane)
        compute.chunks(outChannels, minimumPerChunk: 16) { range in
            for o in range {
                for i in 0..<cin {
                    let g = w + (o * cin + i) * 9
                    let out = u + o * cin + i
                    @inline(__always) func row(_ a: Int, _ t0: Float, _ t1: Float, _ t2: Float) {
                        let p = out + 5 * a * plane
                        p[0] = t0
                        p[plane] = t0 + t2
                        p[2 * plane] = t2
                        p[3 * plane] = t1
                        p[4 * plane] = t1
                    }
                    row(0, g[0], g[1], g[2])
                    row(1, g[0] + g[6], g[1] + g[7], g[2] + g[8])
                    row(2, g[6], g[7], g[8])
                    row(3, g[3], g[4], g[5])
                    row(4, g[3], g[4], g[5])
                }
            }
        }
    }

    /// dW[o, i] += G^T dU[o, i] G: in each dimension (u0 + u1, u3 + u4, u1 + u2) of the five.
    func accumulateWeightGradient(_ du: UnsafePointer<Float>, into dw: UnsafeMutablePointer<Float>, compute: Compute) {
        let (cin, plane) = (inChannels, weightPlane)
        compute.chunks(outChannels, minimumPerChunk: 16) { range in
            for o in range {
                for i in 0..<cin {
                    let src = du + o * cin + i
                    @inline(__always) func u(_ a: Int, _ b: Int) -> Float { src[(5 * a + b) * plane] }
                    // Row a of dU G: (u0 + u1, u3 + u4, u1 + u2).
                    @inline(__always) func row(_ a: Int) -> (Float, Float, Float) {
                        (u(a, 0) + u(a, 1), u(a, 3) + u(a, 4), u(a, 1) + u(a, 2))
                    }
                    let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3), r4 = row(4)
                    let out = dw + (o * cin + i) * 9
                    out[0] += r0.0 + r1.0
                    out[1] += r0.1 + r1.1
                    out[2] += r0.2 + r1.2
                    out[3] += r3.0 + r4.0
                    out[4] += r3.1 + r4.1
                    out[5] += r3.2 + r4.2
                    out[6] += r1.0 + r2.0
                    out[7] += r1.1 + r2.1
                    out[8] += r1.2 + r2.2
                }
            }
        }
    }

    // MARK: Blocked passes

    /// output = conv(input) for `images` of the batch (single-threaded: call it from a chunk).
    func convolve(
        _ input: UnsafePointer<Float>, images: Range<Int>, u: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        into output: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>,
        rows: UnsafeMutablePointer<Float>
    ) {
        forEachBlock(images) { block in
            let tiles = block.count * tilesWide
            inputTransform(input, rows: block, into: v, buffers: rows)
            for xi in 0..<Self.positions {
                BLAS.tileSGEMM(
                    transA: false, transB: false, m: outChannels, n: tiles, k: inChannels,
                    a: u + xi * weightPlane, lda: inChannels, b: v + xi * inputPlane, ldb: tileStride,
                    beta: 0, c: m + xi * outputPlane, ldc: tileStride)
            }
            outputTransform(m, rows: block, bias: bias, into: output)
        }
    }

    /// dU[xi] += dM[xi] V[xi]^T over the tiles of `images` and, with `dx`, the input gradient
    /// of those images (overwritten): dV[xi] = U[xi]^T dM[xi] scattered back through B.
    func backward(
        _ input: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, images: Range<Int>, u: UnsafePointer<Float>,
        du: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?, v: UnsafeMutablePointer<Float>,
        m: UnsafeMutablePointer<Float>, rows: UnsafeMutablePointer<Float>
    ) {
        let inSize = inChannels * height * width
        dx?.advanced(by: images.lowerBound * inSize).update(repeating: 0, count: images.count * inSize)
        forEachBlock(images) { block in
            let tiles = block.count * tilesWide
            inputTransform(input, rows: block, into: v, buffers: rows)
            gradientTransform(dy, rows: block, into: m, buffers: rows)
            for xi in 0..<Self.positions {
                BLAS.tileSGEMM(
                    transA: false, transB: true, m: outChannels, n: inChannels, k: tiles,
                    a: m + xi * outputPlane, lda: tileStride, b: v + xi * inputPlane, ldb: tileStride,
                    beta: 1, c: du + xi * weightPlane, ldc: inChannels)
            }
            guard let dx else { return }
            // dV over V, which the weight gradient no longer needs.
            for xi in 0..<Self.positions {
                BLAS.tileSGEMM(
                    transA: true, transB: false, m: inChannels, n: tiles, k: outChannels,
                    a: u + xi * weightPlane, lda: inChannels, b: m + xi * outputPlane, ldb: tileStride,
                    beta: 0, c: v + xi * inputPlane, ldc: tileStride)
            }
            inputGradientTransform(v, rows: block, into: dx, buffers: rows)
        }
    }

    /// Calls `body` on consecutive blocks of at most `rowsPerBlock` tile rows of `images`
    /// (global tile row r = n tilesHigh + th; blocks may span images).
    private func forEachBlock(_ images: Range<Int>, _ body: (Range<Int>) -> Void) {
        forEachPiece(of: (images.lowerBound * tilesHigh)..<(images.upperBound * tilesHigh), atMost: rowsPerBlock, body)
    }

    // MARK: Transforms

    /// V[xi][c][k tilesWide + tw] = (B^T d B)[xi] for the 5x5 patch d of tile (th, tw) of the
    /// k-th tile row of `rows`, input channel c: in each dimension (d0 - d2, d2, d4 - d2, d1, d3).
    func inputTransform(
        _ input: UnsafePointer<Float>, rows: Range<Int>, into v: UnsafeMutablePointer<Float>,
        buffers: UnsafeMutablePointer<Float>
    ) {
        let (h, w, p, stride) = (height, width, padding, rowFloats)
        let t = (buffers, buffers + stride, buffers + 2 * stride, buffers + 3 * stride, buffers + 4 * stride)
        let zero = buffers + 7 * stride
        // Padding columns stay zero: only [p, p + W) of the transformed rows is written below.
        buffers.update(repeating: 0, count: 5 * stride)
        zero.update(repeating: 0, count: stride)
        let xiStride = inputPlane
        for c in 0..<inChannels {
            for (k, r) in rows.enumerated() {
                let n = r / tilesHigh, th = r % tilesHigh
                let plane = input + (n * inChannels + c) * h * w
                let top = 4 * th - p
                func row(_ i: Int) -> UnsafePointer<Float> {
                    let ih = top + i
                    return ih >= 0 && ih < h ? plane + ih * w : UnsafePointer(zero)
                }
                // Rows of B^T d: d0 - d2, d2, d4 - d2, d1, d3.
                let d = (row(0), row(1), row(2), row(3), row(4))
                var i = 0
                while i + 8 <= w {
                    let d2 = load8(d.2 + i)
                    store8(load8(d.0 + i) - d2, t.0 + p + i)
                    store8(d2, t.1 + p + i)
                    store8(load8(d.4 + i) - d2, t.2 + p + i)
                    store8(load8(d.1 + i), t.3 + p + i)
                    store8(load8(d.3 + i), t.4 + p + i)
                    i += 8
                }
                while i < w {
                    (t.0 + p)[i] = d.0[i] - d.2[i]
                    (t.1 + p)[i] = d.2[i]
                    (t.2 + p)[i] = d.4[i] - d.2[i]
                    (t.3 + p)[i] = d.1[i]
                    (t.4 + p)[i] = d.3[i]
                    i += 1
                }
                let out = v + c * tileStride + k * tilesWide
                // Row a of B^T d times B: columns 4 tw .. 4 tw + 4 of 8 tiles into V[5 a + b].
                @inline(__always) func columns(_ a: Int, _ row: UnsafePointer<Float>, _ tw0: Int) {
                    let x = load32(row + 4 * tw0)
                    let c0 = everyFourth(x, 0), c1 = everyFourth(x, 1), c2 = everyFourth(x, 2), c3 = everyFourth(x, 3)
                    let c4 = everyFourth(load32(row + 4 * tw0 + 4), 0)
                    let o = out + 5 * a * xiStride + tw0
                    store8(c0 - c2, o)
                    store8(c2, o + xiStride)
                    store8(c4 - c2, o + 2 * xiStride)
                    store8(c1, o + 3 * xiStride)
                    store8(c3, o + 4 * xiStride)
                }
                for chunk in 0..<chunks {
                    columns(0, t.0, 8 * chunk)
                    columns(1, t.1, 8 * chunk)
                    columns(2, t.2, 8 * chunk)
                    columns(3, t.3, 8 * chunk)
                    columns(4, t.4, 8 * chunk)
                }
            }
        }
    }

    /// Output tile (th, tw) of channel co = A^T M[.][co][tile] A (+ bias), exactly the outputs
    /// inside [Ho, Wo]: in each dimension (m0 + m1 + m3, m1 + m2 + m4).
    func outputTransform(
        _ m: UnsafePointer<Float>, rows: Range<Int>, bias: UnsafePointer<Float>?,
        into output: UnsafeMutablePointer<Float>
    ) {
        let (cout, oH, oW) = (outChannels, outHeight, outWidth)
        let xiStride = outputPlane
        for co in 0..<cout {
            let b = SIMD8<Float>(repeating: bias?[co] ?? 0)
            for (k, r) in rows.enumerated() {
                let n = r / tilesHigh, th = r % tilesHigh
                let top = output + ((n * cout + co) * oH + 2 * th) * oW
                let hasBottom = 2 * th + 1 < oH
                let src = m + co * tileStride + k * tilesWide
                for chunk in 0..<chunks {
                    let tw0 = 8 * chunk
                    let s = src + tw0
                    // Column c of A^T M over the rows a.
                    @inline(__always) func column(_ c: Int) -> (SIMD8<Float>, SIMD8<Float>) {
                        let m0 = load8(s + c * xiStride), m1 = load8(s + (5 + c) * xiStride)
                        let m2 = load8(s + (10 + c) * xiStride), m3 = load8(s + (15 + c) * xiStride)
                        let m4 = load8(s + (20 + c) * xiStride)
                        return (m0 + m1 + m3, m1 + m2 + m4)
                    }
                    let (u0, l0) = column(0), (u1, l1) = column(1), (u2, l2) = column(2)
                    let (u3, l3) = column(3), (u4, l4) = column(4)
                    let y00 = u0 + u1 + u3 + b, y01 = u1 + u2 + u4 + b
                    let y10 = l0 + l1 + l3 + b, y11 = l1 + l2 + l4 + b
                    let x = 2 * tw0
                    let count = min(16, oW - x)
                    writeRow(interleave(y00, y01), top + x, count: count)
                    if hasBottom { writeRow(interleave(y10, y11), top + oW + x, count: count) }
                }
            }
        }
    }

    /// dM[xi][co][k tilesWide + tw] = (A dY A^T)[xi] for the 2x2 tile of dy (zero outside
    /// [Ho, Wo]): in each dimension (d0, d0 + d1, d1, d0, d1).
    func gradientTransform(
        _ dy: UnsafePointer<Float>, rows: Range<Int>, into m: UnsafeMutablePointer<Float>,
        buffers: UnsafeMutablePointer<Float>
    ) {
        let (cout, oH, oW) = (outChannels, outHeight, outWidth)
        let upperRow = buffers + 5 * rowFloats, lowerRow = buffers + 6 * rowFloats
        // Columns past Wo stay zero: only [0, Wo) is copied below.
        upperRow.update(repeating: 0, count: 2 * rowFloats)
        let xiStride = outputPlane
        for co in 0..<cout {
            for (k, r) in rows.enumerated() {
                let n = r / tilesHigh, th = r % tilesHigh
                copyGradientRows(
                    dy + (n * cout + co) * oH * oW, tileRow: th, height: oH, width: oW, into: upperRow, lowerRow)
                let out = m + co * tileStride + k * tilesWide
                for chunk in 0..<chunks {
                    let tw0 = 8 * chunk
                    let upper = load16(upperRow + 2 * tw0), lower = load16(lowerRow + 2 * tw0)
                    let d00 = everySecond(upper, 0), d01 = everySecond(upper, 1)
                    let d10 = everySecond(lower, 0), d11 = everySecond(lower, 1)
                    // Row a of A dY is (c0, c1); times A^T: (c0, c0 + c1, c1, c0, c1).
                    @inline(__always) func store(_ a: Int, _ c0: SIMD8<Float>, _ c1: SIMD8<Float>) {
                        let o = out + 5 * a * xiStride + tw0
                        store8(c0, o)
                        store8(c0 + c1, o + xiStride)
                        store8(c1, o + 2 * xiStride)
                        store8(c0, o + 3 * xiStride)
                        store8(c1, o + 4 * xiStride)
                    }
                    let s0 = d00 + d10, s1 = d01 + d11
                    store(0, d00, d01)
                    store(1, s0, s1)
                    store(2, d10, d11)
                    store(3, d00, d01)
                    store(4, d10, d11)
                }
            }
        }
    }

    /// dx += (B dV B^T) of every tile of `rows` at its patch (zero padding dropped): in each
    /// dimension (v0, v3, v1 - v0 - v2, v4, v2). Neighbouring patches share a column and a
    /// row: a tile's last column is added to the next tile's first in registers, and a tile
    /// row's last row to the next one's first in dx, always the left or upper tile first.
    func inputGradientTransform(
        _ dv: UnsafePointer<Float>, rows: Range<Int>, into dx: UnsafeMutablePointer<Float>,
        buffers: UnsafeMutablePointer<Float>
    ) {
        let (h, w, p, stride) = (height, width, padding, rowFloats)
        let t = (buffers, buffers + stride, buffers + 2 * stride, buffers + 3 * stride, buffers + 4 * stride)
        // Floats past the last tile's column stay zero: the rows are written up to 32 chunks.
        buffers.update(repeating: 0, count: 5 * stride)
        let xiStride = inputPlane
        let lane = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
        for c in 0..<inChannels {
            for (k, r) in rows.enumerated() {
                let n = r / tilesHigh, th = r % tilesHigh
                let src = dv + c * tileStride + k * tilesWide
                // Row a of dV times B^T: (v0, v3, v1 - v0 - v2, v4, v2) over the columns, tiles
                // laid side by side with the shared column summed, into t[a].
                @inline(__always) func row(_ a: Int, _ out: UnsafeMutablePointer<Float>) {
                    var carry: Float = 0
                    for chunk in 0..<chunks {
                        let tw0 = 8 * chunk
                        let s = src + 5 * a * xiStride + tw0
                        var v0 = load8(s), v1 = load8(s + xiStride), v2 = load8(s + 2 * xiStride)
                        var v3 = load8(s + 3 * xiStride), v4 = load8(s + 4 * xiStride)
                        let valid = tilesWide - tw0
                        if valid < 8 {
                            // Lanes past the tile row hold other tiles' values.
                            let outside = lane .>= SIMD8<Int32>(repeating: Int32(valid))
                            v0.replace(with: 0, where: outside)
                            v1.replace(with: 0, where: outside)
                            v2.replace(with: 0, where: outside)
                            v3.replace(with: 0, where: outside)
                            v4.replace(with: 0, where: outside)
                        }
                        let before = SIMD8(carry, v2[0], v2[1], v2[2], v2[3], v2[4], v2[5], v2[6])
                        carry = v2[7]
                        let joined = interleave4(v0 + before, v3, v1 - v0 - v2, v4)
                        UnsafeMutableRawPointer(out + 4 * tw0).storeBytes(of: joined, as: SIMD32<Float>.self)
                    }
                    out[32 * chunks] = carry
                }
                row(0, t.0)
                row(1, t.1)
                row(2, t.2)
                row(3, t.3)
                row(4, t.4)
                // Rows of B (.) : (t0, t3, t1 - t0 - t2, t4, t2), added into dx rows 4 th - p + i.
                let plane = dx + (n * inChannels + c) * h * w
                let top = 4 * th - p
                @inline(__always) func add(_ i: Int, _ value: (Int) -> SIMD8<Float>, _ scalar: (Int) -> Float) {
                    let ih = top + i
                    guard ih >= 0 && ih < h else { return }
                    let o = plane + ih * w
                    var j = 0
                    while j + 8 <= w {
                        store8(load8(o + j) + value(p + j), o + j)
                        j += 8
                    }
                    while j < w {
                        o[j] += scalar(p + j)
                        j += 1
                    }
                }
                add(0, { load8(t.0 + $0) }, { t.0[$0] })
                add(1, { load8(t.3 + $0) }, { t.3[$0] })
                add(2, { load8(t.1 + $0) - load8(t.0 + $0) - load8(t.2 + $0) }, { t.1[$0] - t.0[$0] - t.2[$0] })
                add(3, { load8(t.4 + $0) }, { t.4[$0] })
                add(4, { load8(t.2 + $0) }, { t.2[$0] })
            }
        }
    }
}


// MARK: Lanes

// Built lane by lane (the compiler emits one shuffle each) rather than with the standard
// library's `evenHalf` / `oddHalf`: with more callers the compiler stops inlining its
// specialization of `SIMD32<Float>.evenHalf`, and the F(4x4) transforms, which use it, ran
// 8-10% slower through the call (measured when this pass was added).

/// Lanes j, j + 2, ..., j + 14 of x: column j of 8 neighbouring 2-wide tiles.
@inline(__always)
func everySecond(_ x: SIMD16<Float>, _ j: Int) -> SIMD8<Float> {
    SIMD8(x[j], x[j + 2], x[j + 4], x[j + 6], x[j + 8], x[j + 10], x[j + 12], x[j + 14])
}
