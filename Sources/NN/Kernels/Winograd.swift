/// Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for
/// Convolutional Neural Networks", 2016) for a 3x3 stride-1 convolution over NCHW images.
///
/// The output is cut into 2x2 tiles; tile t reads a 4x4 input patch d (rows 2 th - p ...,
/// overlapping its neighbours by 2) and
///   y_t = A^T [ sum_ci U[co, ci] (.) V[ci, t] ] A,   U = G g G^T,   V = B^T d B
/// with 4x4 element-wise products. Gathering the 16 positions xi of the 4x4 products turns
/// the sum into 16 independent matrix products over a block of T tiles:
///   M[xi][Cout, T] = U[xi][Cout, Cin] V[xi][Cin, T]
/// which is 16 Cin Cout multiply-adds per tile instead of 36 (2.25x fewer).
///
///   B^T = [1  0 -1  0]   G = [ 1    0    0 ]   A^T = [1 1  1  0]
///         [0  1  1  0]       [1/2  1/2  1/2]         [0 1 -1 -1]
///         [0 -1  1  0]       [1/2 -1/2  1/2]
///         [0  1  0 -1]       [ 0    0    1 ]
///
/// The weight gradient comes from the same transforms: dM = A dY A^T of each 2x2 tile
/// of dy, dU[xi] += dM[xi] V[xi]^T over the tiles, dW += G^T dU G. The input gradient is
/// itself a 3x3 stride-1 convolution (of dy, with the weights flipped and transposed,
/// padding 2 - p), computed by this same code.
///
/// The same pass runs F(4x4, 3x3) with `tile` 4 (Winograd+Transforms4.swift): 4x4 output
/// tiles from 6x6 input patches (overlapping by 2), 36 positions, so 36 sgemms per block
/// and 36 Cin Cout multiply-adds per 16 outputs instead of 144 (4x fewer than direct,
/// where F(2x2) has 2.25x), at the price of larger rounding errors (points 0, +-1, +-2).
///
/// Transforms run 8 tiles of a tile row at a time in SIMD registers: 16-float loads of a
/// row split into even and odd columns give the 4 columns of 8 neighbouring tiles (F(4x4):
/// 32-float loads split four ways; on rows of fewer than 8 tiles, 8 tiles of consecutive
/// rows, Winograd+GroupedRows4.swift).
/// V and M hold one block of tile rows, each row of tiles padded so that the 8-wide
/// stores of a partial chunk land in the next tile row (written after) or in the slack.
struct WinogradPass {
    /// Output tile side m of F(m x m, 3x3): 2 or 4.
    let tile: Int
    /// Input patch side, m + 2, and the number of positions xi (sgemms per block).
    var alpha: Int { tile + 2 }
    var positions: Int { alpha * alpha }
    let inChannels: Int, outChannels: Int
    /// Input plane, padding, output plane (Ho = H + 2 p - 2).
    let height: Int, width: Int, padding: Int
    let outHeight: Int, outWidth: Int
    /// m x m output tiles per image: ceil(Ho / m) x ceil(Wo / m).
    let tilesHigh: Int, tilesWide: Int
    /// 8-tile chunks per tile row.
    let chunks: Int
    /// Floats of one zero-padded row buffer (room for the 16-float loads of every chunk).
    let rowFloats: Int
    /// Tile rows per block (one block goes through the 16 sgemms at once).
    let rowsPerBlock: Int
    /// Tile rows whose tiles share the SIMD lanes of the F(4x4) transforms (1: one row at a time).
    let groupedRows: Int
    /// Row stride of V and M: the tiles of a block plus slack for the last partial chunk.
    let tileStride: Int
    /// Output channels per tile GEMM (`Int.max`: all in one), see `rowPanel(splitsChannels:)`.
    let rowPanel: Int

    /// Tiles per block aimed at: enough columns for sgemm to run near its peak, few enough
    /// that V and M stay in the core's L2 for small channel counts (measured, 1 thread:
    /// sgemm [64, 64] x [64, T] runs at 100+ GFLOP/s for T = 64...128), and more for large
    /// channel counts, where each sgemm packs a large U[xi] for only T columns (512>512 at
    /// 4x4: 141 direct-equivalent GFLOP/s with T = 64, 165 with T = 256).
    /// F(4x4): twice as many tiles per block, at most 256 (measured on 2 threads, 64>64 at
    /// 32x32: 64 tiles 16.5 / 31.4 ms forward / backward, 128 and 256 tiles 15.8-16.0 / 31.0;
    /// 128>128 at 16x16 the same within the noise from 32 to 256 tiles).
    static func tileTarget(tile: Int, inChannels: Int, outChannels: Int) -> Int {
        let channels = inChannels + outChannels
        let f2 = min(256, max(64, 12_288 / channels, channels / 4))
        return tile == 2 ? f2 : min(256, 2 * f2)
    }

    /// `imagesPerPiece`: the most images one thread convolves at a time. A block never holds
    /// more tile rows than they have: a larger block would only spread the same tiles over
    /// longer rows of V and M (measured, 256>256 at 8x8, F(4x4), 2 threads of 32 images: 128
    /// tiles in rows of 272 floats 1.14-1.19x slower than in rows of 144). The blocks a thread
    /// goes through, and so every sum, are the same either way.
    init(
        tile: Int, inChannels: Int, outChannels: Int, height: Int, width: Int, padding: Int, tileTarget: Int,
        imagesPerPiece: Int, splitsChannels: Bool = false
    ) {
        precondition(tile == 2 || tile == 4, "Winograd F(m x m, 3x3) is built for m = 2 and 4")
        self.tile = tile
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.height = height
        self.width = width
        self.padding = padding
        outHeight = height + 2 * padding - 2
        outWidth = width + 2 * padding - 2
        tilesHigh = (outHeight + tile - 1) / tile
        tilesWide = (outWidth + tile - 1) / tile
        chunks = (tilesWide + 7) / 8
        // The last chunk's loads end at 16 chunks + 2 (F(2x2)) or 32 chunks + 4 (F(4x4)) floats.
        rowFloats = tile == 2 ? 16 * chunks + 16 : 32 * chunks + 32
        rowsPerBlock = max(1, min(tileTarget / tilesWide, imagesPerPiece * tilesHigh))
        tileStride = (rowsPerBlock * tilesWide + 8 + 15) / 16 * 16
        groupedRows = WinogradPass.groupedRows(tile: tile, tilesWide: tilesWide)
        rowPanel = WinogradPass.rowPanel(splitsChannels: splitsChannels)
    }

    /// Distance between the planes of V [positions][Cin][tileStride] and M [positions][Cout][tileStride].
    /// An odd number of cache lines: the transforms read or write all planes at once, and
    /// a multiple of 4 KiB would put all 16 streams into one set of the L1 cache (measured:
    /// Cin = 64, T = 96 gave 7 x 4 KiB and a 1.6x slower input transform).
    var inputPlane: Int { WinogradPass.planeStride(inChannels * tileStride) }
    var outputPlane: Int { WinogradPass.planeStride(outChannels * tileStride) }
    static func planeStride(_ floats: Int) -> Int {
        let lines = (floats + 15) / 16
        return 16 * (lines | 1)
    }
    /// Floats of V and of M.
    var inputBlockFloats: Int { positions * inputPlane }
    var weightPlane: Int { WinogradPass.weightPlane(inChannels: inChannels, outChannels: outChannels) }
    /// Floats of U or dU.
    var weightFloats: Int { positions * weightPlane }
    var outputBlockFloats: Int { positions * outputPlane }
    /// Floats of the row buffers: alpha transformed rows, m gradient rows, one zero row;
    /// for F(2x2) then a second set of alpha transformed rows (`inputTransform` uses both
    /// sets in turn; the same for F(4x4), tried, was no faster: its layers have many channels).
    /// For F(4x4) on narrow planes then the group buffers (`groupBufferFloats`).
    var rowBufferFloats: Int {
        (tile == 2 ? 2 * alpha + tile + 1 : alpha + tile + 1) * rowFloats + groupBufferFloats
    }
    /// Where the second set of transformed rows begins in the row buffers (F(2x2)).
    var secondRowSet: Int { (alpha + tile + 1) * rowFloats }

    // MARK: Weights

    /// Distance between the planes of U or dU ([positions][Cout][Cin] or [positions][Cin][Cout]).
    static func weightPlane(inChannels: Int, outChannels: Int) -> Int { planeStride(inChannels * outChannels) }

    /// U[xi][o, i] = (G g G^T)[xi] for the 3x3 kernel g of output channel o and input channel i:
    /// g = w[o, i] (weights [Cout, Cin, 3, 3]) or, when `flipped`, the kernel of the
    /// input-gradient convolution, g[a][b] = w[i, o, 2 - a, 2 - b] (o < Cin, i < Cout).
    /// Planes are `weightPlane` apart; `tile` 2 gives 16 of them, 4 gives 36 (G is 6x3 then).
    /// Eight kernels at a time in SIMD registers.
    static func transformWeights(
        _ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int, flipped: Bool, tile: Int,
        into u: UnsafeMutablePointer<Float>, compute: Compute
    ) {
        // The transformed matrices are [rows, columns] = [Cout, Cin], or [Cin, Cout] flipped.
        let rows = flipped ? inChannels : outChannels, columns = flipped ? outChannels : inChannels
        let plane = weightPlane(inChannels: inChannels, outChannels: outChannels)
        // Kernel (r, c) starts at w + r rowStep + c columnStep; tap k is read at k or 8 - k.
        let rowStep = flipped ? 9 : 9 * inChannels, columnStep = flipped ? 9 * inChannels : 9
        compute.chunks(rows, minimumPerChunk: 16) { range in
            for r in range {
                var c = 0
                while c < columns {
                    let lanes = min(8, columns - c)
                    @inline(__always) func g(_ k: Int) -> SIMD8<Float> {
                        let tap = w + r * rowStep + c * columnStep + (flipped ? 8 - k : k)
                        var v = SIMD8<Float>()
                        for lane in 0..<lanes { v[lane] = tap[lane * columnStep] }
                        return v
                    }
                    let out = u + r * columns + c
                    // Row a of t = G g (4x3) as (t0, t1, t2), then U[a][.] = (t0, (t0+t1+t2)/2, (t0-t1+t2)/2, t2).
                    @inline(__always) func store(_ a: Int, _ t0: SIMD8<Float>, _ t1: SIMD8<Float>, _ t2: SIMD8<Float>) {
                        let values = (t0, 0.5 * (t0 + t1 + t2), 0.5 * (t0 - t1 + t2), t2)
                        if lanes == 8 {
                            store8(values.0, out + (4 * a) * plane)
                            store8(values.1, out + (4 * a + 1) * plane)
                            store8(values.2, out + (4 * a + 2) * plane)
                            store8(values.3, out + (4 * a + 3) * plane)
                        } else {
                            for lane in 0..<lanes {
                                out[(4 * a) * plane + lane] = values.0[lane]
                                out[(4 * a + 1) * plane + lane] = values.1[lane]
                                out[(4 * a + 2) * plane + lane] = values.2[lane]
                                out[(4 * a + 3) * plane + lane] = values.3[lane]
                            }
                        }
                    }
                    let (g00, g01, g02, g10, g11, g12, g20, g21, g22) = (g(0), g(1), g(2), g(3), g(4), g(5), g(6), g(7), g(8))
                    if tile == 4 {
                        // Column j of G g, then row a of it times G^T into U[6 a + b].
                        let c0 = g6(g00, g10, g20), c1 = g6(g01, g11, g21), c2 = g6(g02, g12, g22)
                        @inline(__always) func store6(_ a: Int, _ values: Float8x6) {
                            let o = out + 6 * a * plane
                            if lanes == 8 {
                                store8x6(values, o, stride: plane)
                            } else {
                                for lane in 0..<lanes {
                                    o[lane] = values.0[lane]
                                    o[plane + lane] = values.1[lane]
                                    o[2 * plane + lane] = values.2[lane]
                                    o[3 * plane + lane] = values.3[lane]
                                    o[4 * plane + lane] = values.4[lane]
                                    o[5 * plane + lane] = values.5[lane]
                                }
                            }
                        }
                        store6(0, g6(c0.0, c1.0, c2.0))
                        store6(1, g6(c0.1, c1.1, c2.1))
                        store6(2, g6(c0.2, c1.2, c2.2))
                        store6(3, g6(c0.3, c1.3, c2.3))
                        store6(4, g6(c0.4, c1.4, c2.4))
                        store6(5, g6(c0.5, c1.5, c2.5))
                        c += lanes
                        continue
                    }
                    store(0, g00, g01, g02)
                    store(1, 0.5 * (g00 + g10 + g20), 0.5 * (g01 + g11 + g21), 0.5 * (g02 + g12 + g22))
                    store(2, 0.5 * (g00 - g10 + g20), 0.5 * (g01 - g11 + g21), 0.5 * (g02 - g12 + g22))
                    store(3, g20, g21, g22)
                    c += lanes
                }
            }
        }
    }

    /// dW[o, i] += G^T dU[o, i] G, weights [Cout, Cin, 3, 3], dU [16][Cout][Cin] (planes
    /// `weightPlane` apart); `tile` 4 hands over to `accumulateWeightGradient4` (dU [36][Cout][Cin]).
    static func accumulateWeightGradient(
        _ du: UnsafePointer<Float>, outChannels: Int, inChannels: Int, tile: Int, into dw: UnsafeMutablePointer<Float>,
        compute: Compute
    ) {
        if tile == 4 {
            return accumulateWeightGradient4(du, outChannels: outChannels, inChannels: inChannels, into: dw, compute: compute)
        }
        let plane = weightPlane(inChannels: inChannels, outChannels: outChannels)
        compute.chunks(outChannels, minimumPerChunk: 16) { range in
            for o in range {
                for i in 0..<inChannels {
                    let src = du + o * inChannels + i
                    // t[a] = (dU[a][.] G): (u0 + (u1 + u2)/2, (u1 - u2)/2, (u1 + u2)/2 + u3) for rows a = 0..3,
                    // held as three SIMD4 columns over a; then dW[.][j] = G^T t[.][j] the same way.
                    let u0 = SIMD4(src[0], src[4 * plane], src[8 * plane], src[12 * plane])
                    let u1 = SIMD4(src[plane], src[5 * plane], src[9 * plane], src[13 * plane])
                    let u2 = SIMD4(src[2 * plane], src[6 * plane], src[10 * plane], src[14 * plane])
                    let u3 = SIMD4(src[3 * plane], src[7 * plane], src[11 * plane], src[15 * plane])
                    let t0 = u0 + 0.5 * (u1 + u2), t1 = 0.5 * (u1 - u2), t2 = 0.5 * (u1 + u2) + u3
                    let out = dw + (o * inChannels + i) * 9
                    @inline(__always) func column(_ j: Int, _ t: SIMD4<Float>) {
                        out[j] += t[0] + 0.5 * (t[1] + t[2])
                        out[3 + j] += 0.5 * (t[1] - t[2])
                        out[6 + j] += 0.5 * (t[1] + t[2]) + t[3]
                    }
                    column(0, t0)
                    column(1, t1)
                    column(2, t2)
                }
            }
        }
    }

    // MARK: Blocked convolution

    /// output = conv(input) for `images` of the batch: [Cin, H, W] -> [Cout, Ho, Wo] per image,
    /// U from `transformWeights`, optional bias. Single-threaded (call it from a chunk).
    /// `v`, `m` and `rows` are scratch of `inputBlockFloats`, `outputBlockFloats`, `rowBufferFloats`.
    func convolve(
        _ input: UnsafePointer<Float>, images: Range<Int>, u: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        into output: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>,
        rows: UnsafeMutablePointer<Float>
    ) {
        forEachBlock(images) { block in
            transformInput(input, rows: block, channels: 0..<inChannels, into: v, buffers: rows)
            multiply(u: u, v: v, into: m, outputChannels: 0..<outChannels, tiles: block.count * tilesWide)
            transformOutput(m, rows: block, channels: 0..<outChannels, bias: bias, into: output, buffers: rows)
        }
    }

    /// Output channels per tile GEMM, counted from channel 0, for a convolution whose threads
    /// may split its output channels (`WinogradChannelPlan`): where libxsmm runs the tile
    /// GEMMs, its code (and so the rounding of a row) depends on how many rows one call has,
    /// so such a convolution issues panels of 16 rows on one thread as on several, and the
    /// threads split channels at panel boundaries: every row comes from the same kernel on any
    /// number of threads. Other convolutions (and OpenBLAS, whose rows do not depend on their
    /// neighbours and which packs its operands anew for every call) take all rows at once.
    static func rowPanel(splitsChannels: Bool) -> Int {
        splitsChannels && BLAS.libxsmmRoute != .none ? 16 : .max
    }

    /// `channels` in panels of `rowPanel` rows aligned to multiples of it.
    func forEachRowPanel(of channels: Range<Int>, _ body: (Range<Int>) -> Void) {
        var start = channels.lowerBound
        while start < channels.upperBound {
            let end = rowPanel == .max ? channels.upperBound : min(channels.upperBound, (start / rowPanel + 1) * rowPanel)
            body(start..<end)
            start = end
        }
    }

    /// M[xi][co][t] = sum_ci U[xi][co, ci] V[xi][ci, t] for the output channels `outputChannels`
    /// and the first `tiles` tiles of a block.
    func multiply(
        u: UnsafePointer<Float>, v: UnsafePointer<Float>, into m: UnsafeMutablePointer<Float>,
        outputChannels: Range<Int>, tiles: Int
    ) {
        for xi in 0..<positions {
            forEachRowPanel(of: outputChannels) { rows in
                BLAS.tileSGEMM(
                    transA: false, transB: false, m: rows.count, n: tiles, k: inChannels,
                    a: u + xi * weightPlane + rows.lowerBound * inChannels, lda: inChannels,
                    b: v + xi * inputPlane, ldb: tileStride,
                    beta: 0, c: m + xi * outputPlane + rows.lowerBound * tileStride, ldc: tileStride)
            }
        }
    }

    /// dU[xi][co][ci] (+)= sum_t dM[xi][co, t] V[xi][ci, t] for the output channels
    /// `outputChannels` and the first `tiles` tiles of a block: `beta` 0 writes, 1 adds.
    func multiplyGradient(
        dm: UnsafePointer<Float>, v: UnsafePointer<Float>, into du: UnsafeMutablePointer<Float>,
        outputChannels: Range<Int>, tiles: Int, beta: Float
    ) {
        for xi in 0..<positions {
            // V[xi]^T once for all panels where they go to libxsmm (which would copy it for each).
            let transposed = outputChannels.count > rowPanel
                ? BLAS.transposedForTiles(v + xi * inputPlane, rows: inChannels, columns: tiles, stride: tileStride) : nil
            forEachRowPanel(of: outputChannels) { rows in
                BLAS.tileSGEMM(
                    transA: false, transB: transposed == nil, m: rows.count, n: inChannels, k: tiles,
                    a: dm + xi * outputPlane + rows.lowerBound * tileStride, lda: tileStride,
                    b: transposed ?? v + xi * inputPlane, ldb: transposed == nil ? tileStride : inChannels,
                    beta: beta, c: du + xi * weightPlane + rows.lowerBound * inChannels, ldc: inChannels)
            }
        }
    }

    /// V = B^T d B of the input channels `channels` of the tile rows `rows` (F(2x2) or F(4x4)).
    func transformInput(
        _ input: UnsafePointer<Float>, rows: Range<Int>, channels: Range<Int>, into v: UnsafeMutablePointer<Float>,
        buffers: UnsafeMutablePointer<Float>
    ) {
        if tile == 2 {
            inputTransform(input, rows: rows, channels: channels, into: v, buffers: buffers)
        } else {
            inputTransform4(input, rows: rows, channels: channels, into: v, buffers: buffers)
        }
    }

    /// The output tiles A^T M A (+ bias) of the output channels `channels`.
    func transformOutput(
        _ m: UnsafePointer<Float>, rows: Range<Int>, channels: Range<Int>, bias: UnsafePointer<Float>?,
        into output: UnsafeMutablePointer<Float>, buffers: UnsafeMutablePointer<Float>
    ) {
        if tile == 2 {
            outputTransform(m, rows: rows, channels: channels, bias: bias, into: output)
        } else {
            outputTransform4(m, rows: rows, channels: channels, bias: bias, into: output, buffers: buffers)
        }
    }

    /// dM = A dY A^T of the output channels `channels`.
    func transformGradient(
        _ dy: UnsafePointer<Float>, rows: Range<Int>, channels: Range<Int>, into m: UnsafeMutablePointer<Float>,
        buffers: UnsafeMutablePointer<Float>
    ) {
        if tile == 2 {
            gradientTransform(dy, rows: rows, channels: channels, into: m, buffers: buffers)
        } else {
            gradientTransform4(dy, rows: rows, channels: channels, into: m, buffers: buffers)
        }
    }

    /// dU[xi] += dM[xi] V[xi]^T over the tiles of `images`: dU [positions][Cout][Cin].
    func accumulateTransformedWeightGradient(
        _ input: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, images: Range<Int>,
        into du: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>,
        rows: UnsafeMutablePointer<Float>
    ) {
        forEachBlock(images) { block in
            transformInput(input, rows: block, channels: 0..<inChannels, into: v, buffers: rows)
            transformGradient(dy, rows: block, channels: 0..<outChannels, into: m, buffers: rows)
            multiplyGradient(dm: m, v: v, into: du, outputChannels: 0..<outChannels, tiles: block.count * tilesWide, beta: 1)
        }
    }

    /// Calls `body` on consecutive blocks of at most `rowsPerBlock` tile rows of `images`
    /// (global tile row r = n tilesHigh + th; blocks may span images).
    func forEachBlock(_ images: Range<Int>, _ body: (Range<Int>) -> Void) {
        forEachPiece(of: (images.lowerBound * tilesHigh)..<(images.upperBound * tilesHigh), atMost: rowsPerBlock, body)
    }
}

/// Calls `body` on consecutive pieces of `range`, each of at most `length` items (the blocks of
/// tile rows of a Winograd pass, the groups of tile rows of its grouped transforms).
@inline(__always)
func forEachPiece(of range: Range<Int>, atMost length: Int, _ body: (Range<Int>) -> Void) {
    var start = range.lowerBound
    while start < range.upperBound {
        let end = min(start + length, range.upperBound)
        body(start..<end)
        start = end
    }
}
